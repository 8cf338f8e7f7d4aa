//! Task files: every record shape, blank lines and byte-order marks, errors that name the file,
//! the line and the field, and the command line's task specs.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rlora_train::data::{
    Choices, DEFAULT_MAX_LINE_BYTES, DataError, ReadOutcome, RecordError, TaskExample, TaskSpec,
    alpaca_prompt, load_task, parse_task_spec, read_jsonl,
};

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
    read_jsonl(&file.0, DEFAULT_MAX_LINE_BYTES)
}

/// Reads `contents` (one bad line) and returns the error message, checking it names the file
/// and the line.
fn error_at(contents: &str, line: usize) -> String {
    let file = TempFile::new("error", contents.as_bytes());
    let error = read_jsonl(&file.0, DEFAULT_MAX_LINE_BYTES).unwrap_err();
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
fn instruction_records_use_the_alpaca_prompt() {
    let outcome = read(concat!(
        r#"{"instruction": "Add.", "input": "2 and 3", "output": "5"}"#,
        "\n",
        r#"{"instruction": "Say hi.", "output": "hi", "source": "extra"}"#,
        "\n",
        r#"{"instruction": "Say hi.", "input": null, "output": "hi"}"#,
        "\n",
    ))
    .expect("valid");
    assert_eq!(outcome.blank_lines, 0);
    assert_eq!(outcome.examples.len(), 3);
    assert_eq!(
        outcome.examples[0],
        TaskExample {
            prompt: alpaca_prompt("Add.", Some("2 and 3")),
            completion: "5".into(),
            choices: None,
        }
    );
    assert_eq!(outcome.examples[1].prompt, alpaca_prompt("Say hi.", None));
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
    let outcome = read_jsonl(&file.0, DEFAULT_MAX_LINE_BYTES).expect("valid");
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
    let message = read_jsonl(&file.0, DEFAULT_MAX_LINE_BYTES)
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
        let error = read_jsonl(&file.0, DEFAULT_MAX_LINE_BYTES).unwrap_err();
        assert_eq!(error.to_string(), format!("{}: no records", file.name()));
    }
}

#[test]
fn a_line_over_the_cap_is_an_error_naming_the_file_and_the_line() {
    let record = r#"{"prompt": "p", "completion": "c"}"#;
    let cap = record.len();
    let longer = r#"{"prompt": "p", "completion": "cc"}"#;
    // At the cap (with or without a final newline), the line is read.
    for contents in [
        format!("{record}\n{record}"),
        format!("{record}\n{record}\n"),
    ] {
        let file = TempFile::new("cap", contents.as_bytes());
        let outcome = read_jsonl(&file.0, cap).expect("at the cap");
        assert_eq!(outcome.examples.len(), 2);
    }
    // One byte over on the second line (last and without a newline, followed by another, or a
    // `\r` before its newline): an error there.
    for contents in [
        format!("{record}\n{longer}"),
        format!("{record}\n{longer}\n{record}\n"),
        format!("{record}\n{record}\r\n"),
    ] {
        let file = TempFile::new("cap", contents.as_bytes());
        let error = read_jsonl(&file.0, cap).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::Record {
                    line: 2,
                    problem: RecordError::LineTooLong { limit },
                    ..
                } if limit == cap
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{}:2: ", file.name())),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                "the line is longer than {cap} bytes, the cap on a line"
            )),
            "{message}"
        );
    }
}

#[test]
fn missing_file_is_named() {
    let path = std::env::temp_dir().join("rlora-records-does-not-exist.jsonl");
    let error = read_jsonl(&path, DEFAULT_MAX_LINE_BYTES).unwrap_err();
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
        DEFAULT_MAX_LINE_BYTES,
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
    let error = spec.load(DEFAULT_MAX_LINE_BYTES).unwrap_err();
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
