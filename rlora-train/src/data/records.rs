//! Reading a task's JSONL files into [`TaskExample`]s, and the `NAME=TRAIN[,VALID[,TEST]]` task
//! specs of the command line.
//!
//! Each non-blank line is one JSON object in one of three shapes (other keys are ignored):
//!
//! | shape | keys | example |
//! |---|---|---|
//! | instruction (Alpaca) | `instruction`, `input` (optional, string or null), `output` | the prompt is [`PromptTemplate::render_instruction`], the completion `output` |
//! | prompt / completion | `prompt`, `completion` | both used verbatim, no template |
//! | multiple choice | `question`, `choices` (2 to 26 strings), `answer` | the prompt is [`PromptTemplate::render_choice`], the completion `" A"`, `" B"`, … |
//!
//! A multiple-choice `answer` is a 0-based index or a letter (`"A"` to `"Z"`, either case).
//!
//! The shape is the first (in the table's order) whose keys are all present; failing that, the
//! first with any of its keys present, and the error names the field it lacks. Blank lines
//! (whitespace only) are skipped and counted, `\r\n` endings and a leading byte-order mark are
//! accepted. Every error names the file, and for a record its 1-based line.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

use super::template::{MAX_CHOICES, TemplateError};
use super::{PromptTemplate, TaskData, TaskExample};

/// The keys of each record shape, required ones first (`input` is optional).
const SHAPES: [(Shape, &[&str]); 3] = [
    (Shape::Instruction, &["instruction", "output"]),
    (Shape::PromptCompletion, &["prompt", "completion"]),
    (Shape::MultipleChoice, &["question", "choices", "answer"]),
];

/// The record shapes, as listed in error messages.
const EXPECTED_SHAPES: &str = "{\"instruction\", \"input\"?, \"output\"}, \
{\"prompt\", \"completion\"} or {\"question\", \"choices\", \"answer\"}";

/// What reading a JSONL file gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The records, in file order (never empty).
    pub examples: Vec<TaskExample>,
    /// How many blank (whitespace-only) lines were skipped.
    pub blank_lines: usize,
}

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

/// Why task data could not be read.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a valid record.
    #[error("{path}:{line}: {problem}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        problem: RecordError,
    },
    /// A file is empty or has only blank lines.
    #[error("{path}: no records")]
    NoRecords {
        /// The file.
        path: PathBuf,
    },
    /// A command-line task spec is malformed.
    #[error("task spec `{spec}`: {problem} (expected NAME=TRAIN or NAME=TRAIN,VALID[,TEST])")]
    TaskSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A prompt template is invalid.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// What is wrong with one line of a JSONL file (shown after `file:line: `).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The line is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The line is not valid JSON.
    #[error("malformed JSON at column {column}: {message}")]
    Json {
        /// serde's 1-based column.
        column: usize,
        /// serde's message, without its position.
        message: String,
    },
    /// The line is JSON but not an object.
    #[error("expected a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// The object's keys match no record shape.
    #[error("record matches no known shape; expected {EXPECTED_SHAPES}")]
    UnknownShape,
    /// A required field is absent.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}, got {found}")]
    WrongType {
        /// The field (`choices[2]` for an element).
        field: String,
        /// What it must be.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// `choices` has too few or too many options.
    #[error("field `choices` must have 2 to {MAX_CHOICES} options, got {count}")]
    ChoiceCount {
        /// How many options it has.
        count: usize,
    },
    /// `answer` is not one of the choices.
    #[error("field `answer` is {answer}, but the {count} choices are {}", choice_range(.count))]
    AnswerOutOfRange {
        /// The answer as written.
        answer: String,
        /// How many choices there are.
        count: usize,
    },
    /// `answer` is a string but not a single letter.
    #[error("field `answer` must be a 0-based index or a letter A to Z, got {answer:?}")]
    BadAnswerLetter {
        /// The answer as written.
        answer: String,
    },
}

/// Reads a JSONL file of records (see the [module docs](self)).
pub fn read_jsonl(path: &Path, template: &PromptTemplate) -> Result<ReadOutcome, DataError> {
    let bytes = fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    // The empty piece after a final newline is not a line.
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut outcome = ReadOutcome {
        examples: Vec::new(),
        blank_lines: 0,
    };
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        let record = |problem| DataError::Record {
            path: path.to_owned(),
            line: index + 1,
            problem,
        };
        let text = std::str::from_utf8(line).map_err(|_| record(RecordError::NotUtf8))?;
        if text.trim().is_empty() {
            outcome.blank_lines += 1;
            continue;
        }
        let example = parse_record(text, template).map_err(record)?;
        outcome.examples.push(example);
    }
    if outcome.examples.is_empty() {
        return Err(DataError::NoRecords {
            path: path.to_owned(),
        });
    }
    Ok(outcome)
}

/// Reads a task's files: `train` is required, `validation` and `test` optional.
pub fn load_task(
    name: &str,
    train: &Path,
    validation: Option<&Path>,
    test: Option<&Path>,
    template: &PromptTemplate,
) -> Result<TaskData, DataError> {
    let read = |path: &Path| read_jsonl(path, template).map(|outcome| outcome.examples);
    Ok(TaskData {
        name: name.to_owned(),
        train: read(train)?,
        validation: validation.map(read).transpose()?,
        test: test.map(read).transpose()?,
    })
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
    /// Reads the task's files (see [`load_task`]).
    pub fn load(&self, template: &PromptTemplate) -> Result<TaskData, DataError> {
        load_task(
            &self.name,
            &self.train,
            self.validation.as_deref(),
            self.test.as_deref(),
            template,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Instruction,
    PromptCompletion,
    MultipleChoice,
}

/// Parses one non-blank line into an example.
fn parse_record(line: &str, template: &PromptTemplate) -> Result<TaskExample, RecordError> {
    let value: Value = serde_json::from_str(line).map_err(json_error)?;
    let Value::Object(record) = value else {
        return Err(RecordError::NotAnObject {
            found: type_name(&value),
        });
    };
    match shape_of(&record)? {
        Shape::Instruction => instruction_record(&record, template),
        Shape::PromptCompletion => Ok(TaskExample {
            prompt: string_field(&record, "prompt")?.to_owned(),
            completion: string_field(&record, "completion")?.to_owned(),
            choices: None,
        }),
        Shape::MultipleChoice => multiple_choice_record(&record, template),
    }
}

fn json_error(error: serde_json::Error) -> RecordError {
    let position = format!(" at line {} column {}", error.line(), error.column());
    let message = error.to_string();
    RecordError::Json {
        column: error.column(),
        message: message
            .strip_suffix(&position)
            .unwrap_or(&message)
            .to_owned(),
    }
}

/// The first shape with all its keys, else the first with any of them.
fn shape_of(record: &Map<String, Value>) -> Result<Shape, RecordError> {
    let complete = SHAPES
        .iter()
        .find(|(_, keys)| keys.iter().all(|key| record.contains_key(*key)));
    let partial = || {
        SHAPES
            .iter()
            .find(|(_, keys)| keys.iter().any(|key| record.contains_key(*key)))
    };
    complete
        .or_else(partial)
        .map(|(shape, _)| *shape)
        .ok_or(RecordError::UnknownShape)
}

fn instruction_record(
    record: &Map<String, Value>,
    template: &PromptTemplate,
) -> Result<TaskExample, RecordError> {
    let instruction = string_field(record, "instruction")?;
    let input = match record.get("input") {
        None | Some(Value::Null) => None,
        Some(Value::String(input)) => Some(input.as_str()),
        Some(other) => return Err(wrong_type("input", "a string or null", other)),
    };
    Ok(TaskExample {
        prompt: template.render_instruction(instruction, input),
        completion: string_field(record, "output")?.to_owned(),
        choices: None,
    })
}

fn multiple_choice_record(
    record: &Map<String, Value>,
    template: &PromptTemplate,
) -> Result<TaskExample, RecordError> {
    let question = string_field(record, "question")?;
    let choices = choices_field(record)?;
    let answer = answer_field(record, choices.len())?;
    Ok(template.multiple_choice_example(question, &choices, answer))
}

fn string_field<'a>(
    record: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, RecordError> {
    match record.get(field) {
        None => Err(RecordError::MissingField { field }),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(wrong_type(field, "a string", other)),
    }
}

fn choices_field(record: &Map<String, Value>) -> Result<Vec<String>, RecordError> {
    let items = match record.get("choices") {
        None => return Err(RecordError::MissingField { field: "choices" }),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong_type("choices", "an array of strings", other)),
    };
    if !(2..=MAX_CHOICES).contains(&items.len()) {
        return Err(RecordError::ChoiceCount { count: items.len() });
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::String(text) => Ok(text.clone()),
            other => Err(wrong_type(&format!("choices[{index}]"), "a string", other)),
        })
        .collect()
}

/// The 0-based index of the correct choice among `count`.
fn answer_field(record: &Map<String, Value>, count: usize) -> Result<usize, RecordError> {
    let index = match record.get("answer") {
        None => return Err(RecordError::MissingField { field: "answer" }),
        Some(Value::String(text)) => letter_index(text)?,
        // An index too large for `usize` is out of range like any other.
        Some(Value::Number(number)) if number.is_u64() => number
            .as_u64()
            .and_then(|index| usize::try_from(index).ok())
            .unwrap_or(usize::MAX),
        Some(other) => return Err(wrong_type("answer", "a 0-based index or a letter", other)),
    };
    if index >= count {
        return Err(RecordError::AnswerOutOfRange {
            answer: answer_text(record),
            count,
        });
    }
    Ok(index)
}

fn letter_index(text: &str) -> Result<usize, RecordError> {
    let bad = || RecordError::BadAnswerLetter {
        answer: text.to_owned(),
    };
    let mut chars = text.trim().chars();
    let (Some(letter), None) = (chars.next(), chars.next()) else {
        return Err(bad());
    };
    let letter = letter.to_ascii_uppercase();
    if !letter.is_ascii_uppercase() {
        return Err(bad());
    }
    Ok(usize::from(letter as u8 - b'A'))
}

/// The answer as written in the file, for messages.
fn answer_text(record: &Map<String, Value>) -> String {
    match record.get("answer") {
        Some(Value::String(text)) => format!("{text:?}"),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// `0 to N-1 or A to <letter>` for `count` choices, for messages.
fn choice_range(count: &usize) -> String {
    let last = count.saturating_sub(1);
    let letter = super::template::choice_label(last).unwrap_or('?');
    format!("0 to {last} or A to {letter}")
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> RecordError {
    RecordError::WrongType {
        field: field.to_owned(),
        expected,
        found: type_name(found),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::data::Choices;

    /// A fresh file under the temp dir with `contents`; removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(stem: &str, contents: &[u8]) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("rlora-records-{}-{unique}-{stem}.jsonl", std::process::id());
            let path = std::env::temp_dir().join(name);
            fs::write(&path, contents).expect("write temp file");
            Self(path)
        }

        fn name(&self) -> String {
            self.0.display().to_string()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    fn read(contents: &str) -> Result<ReadOutcome, DataError> {
        let file = TempFile::new("read", contents.as_bytes());
        read_jsonl(&file.0, &PromptTemplate::alpaca())
    }

    /// Reads `contents` (one bad line) and returns the error message, checking it names the file
    /// and the line.
    fn error_at(contents: &str, line: usize) -> String {
        let file = TempFile::new("error", contents.as_bytes());
        let error = read_jsonl(&file.0, &PromptTemplate::alpaca()).unwrap_err();
        let message = error.to_string();
        let location = format!("{}:{line}: ", file.name());
        assert!(
            message.starts_with(&location),
            "{message} (expected {location})"
        );
        assert!(
            matches!(error, DataError::Record { line: at, .. } if at == line),
            "{error:?}"
        );
        message
    }

    #[test]
    fn instruction_records_use_the_template() {
        let outcome = read(concat!(
            r#"{"instruction": "Add.", "input": "2 and 3", "output": "5"}"#,
            "\n",
            r#"{"instruction": "Say hi.", "output": "hi", "source": "extra"}"#,
            "\n",
            r#"{"instruction": "Say hi.", "input": null, "output": "hi"}"#,
            "\n",
        ))
        .expect("valid");
        let template = PromptTemplate::alpaca();
        assert_eq!(outcome.blank_lines, 0);
        assert_eq!(outcome.examples.len(), 3);
        assert_eq!(
            outcome.examples[0],
            TaskExample {
                prompt: template.render_instruction("Add.", Some("2 and 3")),
                completion: "5".into(),
                choices: None,
            }
        );
        assert_eq!(
            outcome.examples[1].prompt,
            template.render_instruction("Say hi.", None)
        );
        assert_eq!(outcome.examples[2], outcome.examples[1]);
    }

    #[test]
    fn prompt_completion_records_are_verbatim() {
        let outcome = read(r#"{"prompt": "2+2=", "completion": "4", "id": 7}"#).expect("valid");
        assert_eq!(
            outcome.examples,
            vec![TaskExample {
                prompt: "2+2=".into(),
                completion: "4".into(),
                choices: None
            }]
        );
    }

    #[test]
    fn multiple_choice_with_index_and_letters() {
        let outcome = read(concat!(
            r#"{"question": "2+2?", "choices": ["3", "4", "5"], "answer": 1}"#,
            "\n",
            r#"{"question": "2+2?", "choices": ["3", "4", "5"], "answer": "B"}"#,
            "\n",
            r#"{"question": "2+2?", "choices": ["3", "4", "5"], "answer": "b"}"#,
        ))
        .expect("valid");
        let expected = TaskExample {
            prompt: "### Question:\n2+2?\n\n### Choices:\nA. 3\nB. 4\nC. 5\n\nAnswer:".into(),
            completion: " B".into(),
            choices: Some(Choices {
                options: vec![" A".into(), " B".into(), " C".into()],
                correct: 1,
            }),
        };
        assert_eq!(
            outcome.examples,
            vec![expected.clone(), expected.clone(), expected]
        );
    }

    #[test]
    fn custom_template_applies_to_instruction_and_choice_records() {
        let template = PromptTemplate::custom("{{{instruction}}} {input}=>")
            .and_then(|t| t.with_multiple_choice("{question} {choices} ?"))
            .expect("valid");
        let file = TempFile::new(
            "custom",
            concat!(
                r#"{"instruction": "f", "input": "x", "output": "y"}"#,
                "\n",
                r#"{"question": "q", "choices": ["a", "b"], "answer": 0}"#,
            )
            .as_bytes(),
        );
        let outcome = read_jsonl(&file.0, &template).expect("valid");
        assert_eq!(outcome.examples[0].prompt, "{f} x=>");
        assert_eq!(outcome.examples[1].prompt, "q A. a\nB. b ?");
        assert_eq!(outcome.examples[1].completion, " A");
    }

    #[test]
    fn blank_lines_are_skipped_and_counted() {
        let outcome = read(concat!(
            "\n",
            r#"{"prompt": "a", "completion": "b"}"#,
            "\r\n   \n\t\r\n",
            r#"{"prompt": "c", "completion": "d"}"#,
            "\r\n",
        ))
        .expect("valid");
        assert_eq!(outcome.examples.len(), 2);
        assert_eq!(outcome.examples[1].prompt, "c");
        assert_eq!(outcome.blank_lines, 3);
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let file = TempFile::new(
            "bom",
            b"\xEF\xBB\xBF{\"prompt\": \"a\", \"completion\": \"b\"}",
        );
        let outcome = read_jsonl(&file.0, &PromptTemplate::alpaca()).expect("valid");
        assert_eq!(outcome.examples[0].prompt, "a");
    }

    #[test]
    fn line_numbers_count_blank_lines() {
        let message = error_at(
            "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"a\"}\n",
            3,
        );
        assert!(message.ends_with("missing field `completion`"), "{message}");
    }

    #[test]
    fn wrong_field_type() {
        let message = error_at(r#"{"instruction": "Add.", "output": 5}"#, 1);
        assert!(
            message.ends_with("field `output` must be a string, got number"),
            "{message}"
        );
        let message = error_at(r#"{"instruction": "Add.", "input": [1], "output": "5"}"#, 1);
        assert!(
            message.contains("field `input` must be a string or null, got array"),
            "{message}"
        );
        let message = error_at(r#"{"prompt": true, "completion": "x"}"#, 1);
        assert!(
            message.contains("field `prompt` must be a string, got boolean"),
            "{message}"
        );
    }

    #[test]
    fn missing_field_of_the_nearest_shape() {
        let message = error_at(r#"{"instruction": "Add."}"#, 1);
        assert!(message.ends_with("missing field `output`"), "{message}");
        let message = error_at(r#"{"completion": "x"}"#, 1);
        assert!(message.ends_with("missing field `prompt`"), "{message}");
        let message = error_at(r#"{"question": "q", "answer": 0}"#, 1);
        assert!(message.ends_with("missing field `choices`"), "{message}");
        let message = error_at(r#"{"question": "q", "choices": ["a", "b"]}"#, 1);
        assert!(message.ends_with("missing field `answer`"), "{message}");
    }

    #[test]
    fn complete_shape_wins_over_extra_keys() {
        let outcome =
            read(r#"{"prompt": "p", "completion": "c", "answer": 3, "output": 1}"#).expect("valid");
        assert_eq!(outcome.examples[0].completion, "c");
    }

    #[test]
    fn unknown_shape_lists_the_expected_shapes() {
        let message = error_at(r#"{"text": "hello"}"#, 1);
        assert!(message.contains("no known shape"), "{message}");
        for key in ["\"instruction\"", "\"prompt\"", "\"question\""] {
            assert!(message.contains(key), "{message}");
        }
    }

    #[test]
    fn malformed_json_has_the_column() {
        let message = error_at("{\"prompt\": \"a\", \"completion\": }", 1);
        assert!(message.contains("malformed JSON at column 31"), "{message}");
        assert!(!message.contains("at line"), "{message}");
    }

    #[test]
    fn not_an_object() {
        let message = error_at("[1, 2]", 1);
        assert!(
            message.ends_with("expected a JSON object, got array"),
            "{message}"
        );
    }

    #[test]
    fn invalid_utf8() {
        let file = TempFile::new(
            "utf8",
            b"{\"prompt\": \"a\", \"completion\": \"b\"}\n\xFF\xFE\n",
        );
        let message = read_jsonl(&file.0, &PromptTemplate::alpaca())
            .unwrap_err()
            .to_string();
        assert_eq!(message, format!("{}:2: not valid UTF-8", file.name()));
    }

    #[test]
    fn choice_count() {
        let message = error_at(r#"{"question": "q", "choices": ["only"], "answer": 0}"#, 1);
        assert!(
            message.ends_with("field `choices` must have 2 to 26 options, got 1"),
            "{message}"
        );
        let many: Vec<String> = (0..27).map(|i| format!("\"{i}\"")).collect();
        let line = format!(
            r#"{{"question": "q", "choices": [{}], "answer": 0}}"#,
            many.join(",")
        );
        let message = error_at(&line, 1);
        assert!(message.contains("got 27"), "{message}");
        let message = error_at(r#"{"question": "q", "choices": "a,b", "answer": 0}"#, 1);
        assert!(message.contains("field `choices` must be an array of strings, got string"));
        let message = error_at(r#"{"question": "q", "choices": ["a", 2], "answer": 0}"#, 1);
        assert!(
            message.ends_with("field `choices[1]` must be a string, got number"),
            "{message}"
        );
    }

    #[test]
    fn answer_out_of_range() {
        let message = error_at(
            r#"{"question": "q", "choices": ["a", "b", "c"], "answer": 3}"#,
            1,
        );
        assert!(
            message.ends_with("field `answer` is 3, but the 3 choices are 0 to 2 or A to C"),
            "{message}"
        );
        let message = error_at(
            r#"{"question": "q", "choices": ["a", "b"], "answer": "d"}"#,
            1,
        );
        assert!(message.contains("field `answer` is \"d\""), "{message}");
    }

    #[test]
    fn bad_answer() {
        for answer in [r#""AB""#, r#""""#, r#""1""#, r#""é""#] {
            let line = format!(r#"{{"question": "q", "choices": ["a", "b"], "answer": {answer}}}"#);
            let message = error_at(&line, 1);
            assert!(message.contains("field `answer` must be a 0-based index or a letter"));
        }
        for answer in ["-1", "1.5", "null", "[0]"] {
            let line = format!(r#"{{"question": "q", "choices": ["a", "b"], "answer": {answer}}}"#);
            let message = error_at(&line, 1);
            assert!(message.contains("field `answer` must be a 0-based index or a letter, got"));
        }
    }

    #[test]
    fn empty_files_have_no_records() {
        for contents in ["", "\n", "  \n\t\n"] {
            let file = TempFile::new("empty", contents.as_bytes());
            let error = read_jsonl(&file.0, &PromptTemplate::alpaca()).unwrap_err();
            assert_eq!(error.to_string(), format!("{}: no records", file.name()));
        }
    }

    #[test]
    fn missing_file_is_named() {
        let path = std::env::temp_dir().join("rlora-records-does-not-exist.jsonl");
        let error = read_jsonl(&path, &PromptTemplate::alpaca()).unwrap_err();
        assert!(matches!(error, DataError::Io { .. }));
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: ", path.display()))
        );
    }

    #[test]
    fn load_task_reads_every_split() {
        let train = TempFile::new("train", br#"{"prompt": "t", "completion": "1"}"#);
        let test = TempFile::new("test", br#"{"prompt": "x", "completion": "2"}"#);
        let task = load_task(
            "demo",
            &train.0,
            None,
            Some(&test.0),
            &PromptTemplate::alpaca(),
        )
        .expect("valid");
        assert_eq!(task.name, "demo");
        assert_eq!(task.train[0].prompt, "t");
        assert_eq!(task.validation, None);
        assert_eq!(task.test.expect("test split")[0].prompt, "x");

        let empty = TempFile::new("valid", b"");
        let spec = TaskSpec {
            name: "demo".into(),
            train: train.0.clone(),
            validation: Some(empty.0.clone()),
            test: None,
        };
        let error = spec.load(&PromptTemplate::alpaca()).unwrap_err();
        assert_eq!(error.to_string(), format!("{}: no records", empty.name()));
    }

    #[test]
    fn task_specs() {
        assert_eq!(
            parse_task_spec("math=data/math.jsonl").expect("valid"),
            TaskSpec {
                name: "math".into(),
                train: "data/math.jsonl".into(),
                validation: None,
                test: None,
            }
        );
        let spec = parse_task_spec(" qa = a.jsonl, b.jsonl ,c.jsonl").expect("valid");
        assert_eq!(spec.name, "qa");
        assert_eq!(spec.train, PathBuf::from("a.jsonl"));
        assert_eq!(spec.validation, Some(PathBuf::from("b.jsonl")));
        assert_eq!(spec.test, Some(PathBuf::from("c.jsonl")));
        let spec = parse_task_spec("x=a=b.jsonl,v.jsonl").expect("valid");
        assert_eq!(spec.train, PathBuf::from("a=b.jsonl"));
        assert_eq!(spec.test, None);
    }

    #[test]
    fn bad_task_specs() {
        let cases = [
            ("math.jsonl", "missing `=`"),
            ("=math.jsonl", "empty task name"),
            ("  =math.jsonl", "empty task name"),
            ("math=", "empty file path"),
            ("math=a.jsonl,", "empty file path"),
            ("math=a,b,c,d", "more than three files"),
        ];
        for (spec, problem) in cases {
            let message = parse_task_spec(spec).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("task spec `{spec}`: {problem}")),
                "{message}"
            );
            assert!(message.contains("NAME=TRAIN"), "{message}");
        }
    }
}
