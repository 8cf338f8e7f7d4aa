//! The `NAME=TRAIN[,VALID[,TEST]]` task specs of the command line, and reading a task's files.

use std::path::{Path, PathBuf};

use super::records::{DataError, read_jsonl};
use super::synthetic::{SplitSizes, builtin_suite};
use super::{TaskData, TaskExample};

/// A task named on the command line: `NAME=TRAIN` or `NAME=TRAIN,VALID[,TEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// The task's name.
    pub name: String,
    /// The training file.
    pub train: PathBuf,
    /// The validation file, if given.
    pub validation: Option<PathBuf>,
    /// The test file, if given.
    pub test: Option<PathBuf>,
}

/// Parses `NAME=TRAIN` or `NAME=TRAIN,VALID[,TEST]` (paths cannot contain commas).
pub fn parse_task_spec(spec: &str) -> Result<TaskSpec, DataError> {
    let fail = |problem: &str| DataError::TaskSpec {
        spec: spec.to_owned(),
        problem: problem.to_owned(),
    };
    let (name, paths) = spec.split_once('=').ok_or_else(|| fail("missing `=`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(fail("empty task name"));
    }
    let paths: Vec<&str> = paths.split(',').map(str::trim).collect();
    if paths.iter().any(|path| path.is_empty()) {
        return Err(fail("empty file path"));
    }
    let (train, validation, test) = match paths.as_slice() {
        [train] => (train, None, None),
        [train, validation] => (train, Some(validation), None),
        [train, validation, test] => (train, Some(validation), Some(test)),
        _ => return Err(fail("more than three files")),
    };
    Ok(TaskSpec {
        name: name.to_owned(),
        train: PathBuf::from(train),
        validation: validation.map(PathBuf::from),
        test: test.map(PathBuf::from),
    })
}

impl TaskSpec {
    /// Reads the task's files (see [`load_task`]), lines of at most `max_line_bytes`.
    pub fn load(&self, max_line_bytes: usize) -> Result<TaskData, DataError> {
        load_task(
            &self.name,
            &self.train,
            self.validation.as_deref(),
            self.test.as_deref(),
            max_line_bytes,
        )
    }
}

/// The tasks of a command: those of `specs` (`NAME=TRAIN[,VALID[,TEST]]`, files read with lines
/// of at most `max_line_bytes`), then the built-in suite of `builtin`'s seed and split sizes.
/// Errors when there is no task or two share a name.
pub fn load_tasks(
    specs: &[String],
    builtin: Option<(u64, SplitSizes)>,
    max_line_bytes: usize,
) -> Result<Vec<TaskData>, DataError> {
    let mut tasks = specs
        .iter()
        .map(|spec| parse_task_spec(spec)?.load(max_line_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((seed, sizes)) = builtin {
        tasks.extend(builtin_suite(seed, sizes));
    }
    if tasks.is_empty() {
        return Err(DataError::NoTasks);
    }
    let mut names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(DataError::DuplicateTask(pair[0].to_owned()));
    }
    Ok(tasks)
}

/// Each task's examples to evaluate or probe (its test split, else its validation split, else its
/// training split), at most `limit` of them.
pub fn evaluation_examples(tasks: Vec<TaskData>, limit: usize) -> Vec<(String, Vec<TaskExample>)> {
    tasks
        .into_iter()
        .map(|task| {
            let mut examples = task.test.or(task.validation).unwrap_or(task.train);
            examples.truncate(limit);
            (task.name, examples)
        })
        .collect()
}

/// Reads a task's files (lines of at most `max_line_bytes`): `train` is required, `validation`
/// and `test` optional.
pub fn load_task(
    name: &str,
    train: &Path,
    validation: Option<&Path>,
    test: Option<&Path>,
    max_line_bytes: usize,
) -> Result<TaskData, DataError> {
    let read = |path: &Path| read_jsonl(path, max_line_bytes).map(|outcome| outcome.examples);
    Ok(TaskData {
        name: name.to_owned(),
        train: read(train)?,
        validation: validation.map(read).transpose()?,
        test: test.map(read).transpose()?,
    })
}
