//! Prompts: Alpaca's for instruction records, and lettered options for multiple-choice ones.
//!
//! Multiple choice: the options are listed one per line, `A. first\nB. second…`, and the correct
//! completion is a space then the letter (`" A"`, `" B"`, …), so a multiple-choice prompt ends
//! with a cue such as `Answer:`.

use super::{Choices, TaskExample};

/// The most options a multiple-choice example can have (letters `A` to `Z`).
pub const MAX_CHOICES: usize = 26;

/// Alpaca's prompt for an instruction and its input; an input that is absent, empty or
/// whitespace only gets Alpaca's form without an input.
pub fn alpaca_prompt(instruction: &str, input: Option<&str>) -> String {
    match input.filter(|text| !text.trim().is_empty()) {
        Some(input) => format!(
            "Below is an instruction that describes a task, paired with an input that provides \
             further context. Write a response that appropriately completes the request.\n\n\
             ### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        ),
        None => format!(
            "Below is an instruction that describes a task. Write a response that appropriately \
             completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        ),
    }
}

/// The prompt of a multiple-choice record:
/// `### Question:\n{question}\n\n### Choices:\n{A. …}\n\nAnswer:`.
///
/// # Panics
///
/// If there are more than `MAX_CHOICES` (26) choices.
pub fn multiple_choice_prompt(question: &str, choices: &[String]) -> String {
    format!(
        "### Question:\n{question}\n\n### Choices:\n{}\n\nAnswer:",
        choice_lines(choices)
    )
}

/// `A. first\nB. second…`, without a trailing newline.
///
/// # Panics
///
/// If there are more than `MAX_CHOICES` (26) choices.
pub fn choice_lines(choices: &[String]) -> String {
    let lines: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(index, text)| format!("{}. {text}", label(index)))
        .collect();
    lines.join("\n")
}

/// A multiple-choice example: `prompt`, the completion `" A"`, `" B"`, … of option `correct`,
/// and every option's completion.
///
/// # Panics
///
/// If `count` exceeds `MAX_CHOICES` (26) or `correct` is not below it.
pub fn multiple_choice_example(prompt: String, count: usize, correct: usize) -> TaskExample {
    assert!(correct < count, "correct choice {correct} out of {count}");
    let options = choice_completions(count);
    TaskExample {
        prompt,
        completion: options[correct].clone(),
        choices: Some(Choices { options, correct }),
    }
}

/// The letter of the choice at `index` (`0 → 'A'`), or `None` past `MAX_CHOICES` (26).
pub fn choice_label(index: usize) -> Option<char> {
    let offset = u8::try_from(index)
        .ok()
        .filter(|&i| usize::from(i) < MAX_CHOICES)?;
    Some(char::from(b'A' + offset))
}

/// The completions of `count` choices: `[" A", " B", …]`.
///
/// # Panics
///
/// If `count` exceeds `MAX_CHOICES` (26).
pub fn choice_completions(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!(" {}", label(index)))
        .collect()
}

fn label(index: usize) -> char {
    match choice_label(index) {
        Some(letter) => letter,
        None => panic!("at most {MAX_CHOICES} choices are supported, got index {index}"),
    }
}
