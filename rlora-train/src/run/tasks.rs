//! The tasks of a run or a subcommand: [`data::load_tasks`](crate::data::load_tasks) with its
//! errors naming the flags that set what failed (the data layer names no flag).

use super::Failure;
use crate::data::{DataError, RecordError, SplitSizes, TaskData, load_tasks};

/// The tasks of the `--task` specs `tasks` and, when `builtin` is given (its seed and split
/// sizes), the built-in suite, each line of at most `max_line_bytes`.
///
/// # Errors
/// A task cannot be read: the data layer's error (naming the file and line), with the flag that
/// answers it.
pub(crate) fn load_flagged_tasks(
    tasks: &[String],
    builtin: Option<(u64, SplitSizes)>,
    max_line_bytes: u64,
) -> Result<Vec<TaskData>, Failure> {
    load_tasks(tasks, builtin, max_line_bytes as usize).map_err(|error| match flags(&error) {
        Some(flags) => format!("{error} ({flags})").into(),
        None => error.into(),
    })
}

/// The flags that answer `error`, as advice.
fn flags(error: &DataError) -> Option<&'static str> {
    match error {
        DataError::NoTasks => Some("give --task NAME=FILE (repeatable) or --builtin"),
        DataError::Record {
            problem: RecordError::LineTooLong { .. },
            ..
        } => Some("raise --max-line-bytes to read it"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_errors_that_a_flag_answers_name_it() {
        let error = load_flagged_tasks(&[], None, 1 << 20).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no tasks: name a task file or the built-in suite (give --task NAME=FILE \
             (repeatable) or --builtin)"
        );
        let dir = std::env::temp_dir().join(format!("rlora-flagged-tasks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("long.jsonl");
        std::fs::write(&file, format!("{{\"prompt\": \"{}\"}}\n", "x".repeat(100))).unwrap();
        let spec = format!("long={}", file.display());
        let error = load_flagged_tasks(&[spec], None, 64).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}:1: the line is longer than 64 bytes, the cap on a line (raise \
                 --max-line-bytes to read it)",
                file.display()
            )
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
