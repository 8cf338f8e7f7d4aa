//! Reading a task's JSONL file into [`TaskExample`]s.
//!
//! Each non-blank line is one JSON object in one of three shapes (other keys are ignored), each a
//! serde type:
//!
//! | shape | keys | example |
//! |---|---|---|
//! | instruction (Alpaca) | `instruction`, `input` (optional, string or null), `output` | the prompt is [`alpaca_prompt`], the completion `output` |
//! | prompt / completion | `prompt`, `completion` | both used verbatim |
//! | multiple choice | `question`, `choices` (2 to 26 strings), `answer` | the prompt is [`multiple_choice_prompt`], the completion `" A"`, `" B"`, … |
//!
//! A multiple-choice `answer` is a 0-based index or a letter (`"A"` to `"Z"`, either case).
//!
//! The shape is the first (in the table's order) whose keys are all present; failing that, the
//! first with any of its keys present, and the error names the field it lacks. Blank lines
//! (whitespace only) are skipped and counted, `\r\n` endings and a leading byte-order mark are
//! accepted. Every error names the file, and for a record its 1-based line.
//!
//! The file is read a line at a time, and a line longer than a cap
//! ([`DEFAULT_MAX_LINE_BYTES`] unless raised) is an error as soon as the cap is reached: memory
//! holds the examples kept and one line, never a whole file or an unbounded line.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use thiserror::Error;

use super::TaskExample;
use super::prompt::{
    MAX_CHOICES, alpaca_prompt, choice_label, multiple_choice_example, multiple_choice_prompt,
};

/// An instruction record (Alpaca's).
#[derive(Deserialize)]
struct Instruction {
    instruction: String,
    #[serde(default)]
    input: Option<String>,
    output: String,
}

/// A prompt and its completion, used verbatim.
#[derive(Deserialize)]
struct PromptCompletion {
    prompt: String,
    completion: String,
}

/// A question, its options and the correct one.
#[derive(Deserialize)]
struct MultipleChoice {
    question: String,
    choices: Vec<String>,
    answer: Answer,
}

/// A multiple-choice answer as written: an index or a letter.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Index(u64),
    Letter(String),
}

/// One key of a record shape: its name, what its value must be, and whether it is required.
type Field = (&'static str, &'static str, bool);

/// The keys of each record shape, in the order the shapes are tried and their types declare them.
const SHAPES: [&[Field]; 3] = [
    &[
        ("instruction", "a string", true),
        ("input", "a string or null", false),
        ("output", "a string", true),
    ],
    &[
        ("prompt", "a string", true),
        ("completion", "a string", true),
    ],
    &[
        ("question", "a string", true),
        ("choices", "an array of strings", true),
        ("answer", "a 0-based index or a letter", true),
    ],
];

/// The longest line [`read_jsonl`] reads by default, in bytes (1 MiB: far more than any example
/// that fits a context window, so a longer line is a broken file or a task that needs the cap
/// raised on purpose).
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

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
    /// No task was named.
    #[error("no tasks: name a task file or the built-in suite")]
    NoTasks,
    /// Two tasks share a name.
    #[error("two tasks are named `{0}`")]
    DuplicateTask(String),
}

/// What is wrong with one line of a JSONL file (shown after `file:line: `).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The line is longer than the cap (its end was not read).
    #[error("the line is longer than {limit} bytes, the cap on a line")]
    LineTooLong {
        /// The cap, in bytes.
        limit: usize,
    },
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

/// Reads a JSONL file of records (see the module docs); a line longer than
/// `max_line_bytes` (its newline not counted) is an error naming the file and the line.
pub fn read_jsonl(path: &Path, max_line_bytes: usize) -> Result<ReadOutcome, DataError> {
    let io = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut outcome = ReadOutcome {
        examples: Vec::new(),
        blank_lines: 0,
    };
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let limit = max_line_bytes as u64 + 1;
        if (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .map_err(io)?
            == 0
        {
            break;
        }
        let record = |problem| DataError::Record {
            path: path.to_owned(),
            line: number,
            problem,
        };
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if line.len() > max_line_bytes {
            return Err(record(RecordError::LineTooLong {
                limit: max_line_bytes,
            }));
        }
        let bytes = match number {
            1 => line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line),
            _ => &line,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| record(RecordError::NotUtf8))?;
        if text.trim().is_empty() {
            outcome.blank_lines += 1;
            continue;
        }
        outcome.examples.push(parse_record(text).map_err(record)?);
    }
    if outcome.examples.is_empty() {
        return Err(DataError::NoRecords {
            path: path.to_owned(),
        });
    }
    Ok(outcome)
}

/// Parses one non-blank line into an example.
fn parse_record(line: &str) -> Result<TaskExample, RecordError> {
    let value: Value = serde_json::from_str(line).map_err(json_error)?;
    let Value::Object(record) = &value else {
        return Err(RecordError::NotAnObject {
            found: type_name(&value),
        });
    };
    let shape = shape_of(record)?;
    match shape {
        0 => {
            let r: Instruction = typed(&value, shape)?;
            Ok(TaskExample {
                prompt: alpaca_prompt(&r.instruction, r.input.as_deref()),
                completion: r.output,
                choices: None,
            })
        }
        1 => {
            let r: PromptCompletion = typed(&value, shape)?;
            Ok(TaskExample {
                prompt: r.prompt,
                completion: r.completion,
                choices: None,
            })
        }
        _ => multiple_choice(typed(&value, shape)?),
    }
}

/// The index in [`SHAPES`] of the first shape with all its required keys, else of the first
/// with any of its keys.
fn shape_of(record: &Map<String, Value>) -> Result<usize, RecordError> {
    let complete = |keys: &&[Field]| {
        keys.iter()
            .all(|&(key, _, required)| !required || record.contains_key(key))
    };
    let partial = |keys: &&[Field]| keys.iter().any(|&(key, _, _)| record.contains_key(key));
    (SHAPES.iter().position(complete))
        .or_else(|| SHAPES.iter().position(partial))
        .ok_or(RecordError::UnknownShape)
}

/// `value` as the record type of shape `shape`. A failure names its field: the first required
/// key that is absent, else the key (or `choices[i]` element) whose value has the wrong type.
fn typed<T: DeserializeOwned>(value: &Value, shape: usize) -> Result<T, RecordError> {
    let keys = SHAPES[shape];
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let missing = keys
            .iter()
            .find(|&&(key, _, required)| required && value.get(key).is_none());
        match missing {
            Some(&(field, _, _)) if path == "." => RecordError::MissingField { field },
            _ => wrong_type(value, keys, path),
        }
    })
}

/// The error of field `path` (`answer`, `choices[1]`) of `value`, which is not what `keys` say.
fn wrong_type(value: &Value, keys: &[Field], path: String) -> RecordError {
    let expected = match path.split_once('[') {
        Some(_) => "a string",
        None => keys
            .iter()
            .find(|&&(key, _, _)| key == path)
            .map_or("a valid value", |&(_, expected, _)| expected),
    };
    let pointer: String = path
        .split(['[', ']', '.'])
        .filter(|part| !part.is_empty())
        .map(|part| format!("/{part}"))
        .collect();
    RecordError::WrongType {
        found: value.pointer(&pointer).map_or("null", type_name),
        field: path,
        expected,
    }
}

/// Checks the options and the answer of a multiple-choice record.
fn multiple_choice(record: MultipleChoice) -> Result<TaskExample, RecordError> {
    let count = record.choices.len();
    if !(2..=MAX_CHOICES).contains(&count) {
        return Err(RecordError::ChoiceCount { count });
    }
    let (index, written) = match &record.answer {
        // An index too large for `usize` is out of range like any other.
        Answer::Index(index) => (
            usize::try_from(*index).unwrap_or(usize::MAX),
            index.to_string(),
        ),
        Answer::Letter(text) => (letter_index(text)?, format!("{text:?}")),
    };
    if index >= count {
        return Err(RecordError::AnswerOutOfRange {
            answer: written,
            count,
        });
    }
    let prompt = multiple_choice_prompt(&record.question, &record.choices);
    Ok(multiple_choice_example(prompt, count, index))
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

/// `0 to N-1 or A to <letter>` for `count` choices, for messages.
fn choice_range(count: &usize) -> String {
    let last = count.saturating_sub(1);
    let letter = choice_label(last).unwrap_or('?');
    format!("0 to {last} or A to {letter}")
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
