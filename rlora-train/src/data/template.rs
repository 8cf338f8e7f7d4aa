//! [`PromptTemplate`]: how the fields of a record become a prompt.
//!
//! A template has three forms, each a text with `{name}` placeholders (`{{` and `}}` stand for
//! literal braces):
//!
//! | form | used for | placeholders |
//! |---|---|---|
//! | `instruction` | instruction records with an input | `{instruction}` (required), `{input}` |
//! | `instruction_no_input` (optional) | instruction records without an input | `{instruction}` (required) |
//! | `multiple_choice` | multiple-choice records | `{question}`, `{choices}` (both required) |
//!
//! When `instruction_no_input` is absent, records without an input use `instruction` with
//! `{input}` replaced by the empty string. An input that is absent, empty or whitespace only
//! counts as "no input".
//!
//! [`PromptTemplate::alpaca`] (the default) is Alpaca's two forms ([`ALPACA_WITH_INPUT`],
//! [`ALPACA_WITHOUT_INPUT`]) and [`DEFAULT_MULTIPLE_CHOICE`].
//!
//! Multiple choice: `{choices}` becomes one line per option, `A. first\nB. second…`, without a
//! trailing newline; the correct completion is a space then the letter (`" A"`, `" B"`, …), so
//! a multiple-choice form should end with a cue such as `Answer:`.
//!
//! In a run config (serde) a template is [`TemplateConfig`]: `"alpaca"`, or
//! `{"custom": {"instruction": "…", "instruction_no_input": "…", "multiple_choice": "…"}}` with
//! the last two optional (TOML: `template = "alpaca"` or a `[template.custom]` table).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Choices, TaskExample};

/// Alpaca's prompt for an instruction with an input.
pub const ALPACA_WITH_INPUT: &str = "Below is an instruction that describes a task, paired with an \
input that provides further context. Write a response that appropriately completes the \
request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";

/// Alpaca's prompt for an instruction without an input.
pub const ALPACA_WITHOUT_INPUT: &str = "Below is an instruction that describes a task. Write a \
response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n\
### Response:\n";

/// The multiple-choice form of [`PromptTemplate::alpaca`] (and of [`PromptTemplate::custom`]
/// unless replaced).
pub const DEFAULT_MULTIPLE_CHOICE: &str =
    "### Question:\n{question}\n\n### Choices:\n{choices}\n\nAnswer:";

/// The most options a multiple-choice example can have (letters `A` to `Z`).
pub const MAX_CHOICES: usize = 26;

/// A validated prompt template (see the [module docs](self) for its forms and placeholders).
///
/// (De)serializes as [`TemplateConfig`]; deserializing validates the custom texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TemplateConfig", into = "TemplateConfig")]
pub struct PromptTemplate {
    instruction: Pattern,
    instruction_no_input: Option<Pattern>,
    multiple_choice: Pattern,
}

/// The serde form of a [`PromptTemplate`], as written in a run config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateConfig {
    /// [`PromptTemplate::alpaca`].
    Alpaca,
    /// User texts; see the [module docs](self) for the placeholders of each form.
    Custom {
        /// The form for instruction records (with an input, and without one unless
        /// `instruction_no_input` is given).
        instruction: String,
        /// The form for instruction records without an input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instruction_no_input: Option<String>,
        /// The form for multiple-choice records; [`DEFAULT_MULTIPLE_CHOICE`] when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        multiple_choice: Option<String>,
    },
}

/// Why a template text is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// A `{name}` that the form does not know.
    #[error(
        "unknown placeholder `{{{name}}}` in the {form} template; it accepts {allowed} \
         (write `{{{{` and `}}}}` for literal braces)"
    )]
    UnknownPlaceholder {
        /// The form (`instruction`, `instruction_no_input` or `multiple_choice`).
        form: &'static str,
        /// The placeholder's name, without braces.
        name: String,
        /// The placeholders the form accepts.
        allowed: &'static str,
    },
    /// A `{` without its closing `}`.
    #[error(
        "unclosed `{{` at byte {offset} of the {form} template (write `{{{{` for a literal brace)"
    )]
    UnclosedBrace {
        /// The form.
        form: &'static str,
        /// The brace's byte offset in the text.
        offset: usize,
    },
    /// A `}` that closes nothing.
    #[error(
        "unmatched `}}` at byte {offset} of the {form} template (write `}}}}` for a literal brace)"
    )]
    UnmatchedBrace {
        /// The form.
        form: &'static str,
        /// The brace's byte offset in the text.
        offset: usize,
    },
    /// A required placeholder is missing.
    #[error("the {form} template must contain `{{{name}}}`")]
    MissingPlaceholder {
        /// The form.
        form: &'static str,
        /// The missing placeholder's name, without braces.
        name: &'static str,
    },
}

impl Default for PromptTemplate {
    fn default() -> Self {
        Self::alpaca()
    }
}

impl PromptTemplate {
    /// Alpaca's prompts ([`ALPACA_WITH_INPUT`], [`ALPACA_WITHOUT_INPUT`]) and
    /// [`DEFAULT_MULTIPLE_CHOICE`].
    pub fn alpaca() -> Self {
        Self {
            instruction: Pattern::builtin(Form::Instruction, ALPACA_WITH_INPUT),
            instruction_no_input: Some(Pattern::builtin(
                Form::InstructionNoInput,
                ALPACA_WITHOUT_INPUT,
            )),
            multiple_choice: Pattern::builtin(Form::MultipleChoice, DEFAULT_MULTIPLE_CHOICE),
        }
    }

    /// A user template for instruction records (`{instruction}` required, `{input}` optional;
    /// an absent input renders as the empty string), with [`DEFAULT_MULTIPLE_CHOICE`] for
    /// multiple-choice records.
    pub fn custom(instruction: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            instruction: Pattern::parse(Form::Instruction, instruction)?,
            instruction_no_input: None,
            multiple_choice: Pattern::parse(Form::MultipleChoice, DEFAULT_MULTIPLE_CHOICE)?,
        })
    }

    /// This template with a separate form for instruction records without an input
    /// (`{instruction}` required, no other placeholder).
    pub fn with_instruction_no_input(self, text: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            instruction_no_input: Some(Pattern::parse(Form::InstructionNoInput, text)?),
            ..self
        })
    }

    /// This template with another multiple-choice form (`{question}` and `{choices}`
    /// required).
    pub fn with_multiple_choice(self, text: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            multiple_choice: Pattern::parse(Form::MultipleChoice, text)?,
            ..self
        })
    }

    /// The prompt for an instruction and its optional input.
    pub fn render_instruction(&self, instruction: &str, input: Option<&str>) -> String {
        let input = input.filter(|text| !text.trim().is_empty());
        let pattern = match (input, &self.instruction_no_input) {
            (None, Some(no_input)) => no_input,
            _ => &self.instruction,
        };
        pattern.render(&Values {
            instruction,
            input: input.unwrap_or(""),
            ..Values::default()
        })
    }

    /// The prompt for a multiple-choice question: `{choices}` becomes `A. first\nB. second…`.
    ///
    /// # Panics
    ///
    /// If there are more than [`MAX_CHOICES`] choices.
    pub fn render_choice(&self, question: &str, choices: &[String]) -> String {
        let choices = format_choices(choices);
        self.multiple_choice.render(&Values {
            question,
            choices: &choices,
            ..Values::default()
        })
    }

    /// A complete multiple-choice example: the prompt of [`render_choice`](Self::render_choice),
    /// the completion `" A"`, `" B"`, … of the correct choice, and every option's completion.
    ///
    /// # Panics
    ///
    /// If there are more than [`MAX_CHOICES`] choices or `correct` is not one of their indices.
    pub fn multiple_choice_example(
        &self,
        question: &str,
        choices: &[String],
        correct: usize,
    ) -> TaskExample {
        assert!(
            correct < choices.len(),
            "correct choice {correct} out of {}",
            choices.len()
        );
        let options = choice_completions(choices.len());
        TaskExample {
            prompt: self.render_choice(question, choices),
            completion: options[correct].clone(),
            choices: Some(Choices { options, correct }),
        }
    }
}

/// The letter of the choice at `index` (`0 → 'A'`), or `None` past [`MAX_CHOICES`].
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
/// If `count` exceeds [`MAX_CHOICES`].
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

fn format_choices(choices: &[String]) -> String {
    let lines: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(index, text)| format!("{}. {text}", label(index)))
        .collect();
    lines.join("\n")
}

impl TryFrom<TemplateConfig> for PromptTemplate {
    type Error = TemplateError;

    fn try_from(config: TemplateConfig) -> Result<Self, TemplateError> {
        match config {
            TemplateConfig::Alpaca => Ok(Self::alpaca()),
            TemplateConfig::Custom {
                instruction,
                instruction_no_input,
                multiple_choice,
            } => {
                let mut template = Self::custom(&instruction)?;
                if let Some(text) = instruction_no_input {
                    template = template.with_instruction_no_input(&text)?;
                }
                if let Some(text) = multiple_choice {
                    template = template.with_multiple_choice(&text)?;
                }
                Ok(template)
            }
        }
    }
}

impl From<PromptTemplate> for TemplateConfig {
    fn from(template: PromptTemplate) -> Self {
        if template == PromptTemplate::alpaca() {
            return Self::Alpaca;
        }
        Self::Custom {
            instruction: template.instruction.source,
            instruction_no_input: template.instruction_no_input.map(|pattern| pattern.source),
            multiple_choice: Some(template.multiple_choice.source),
        }
    }
}

/// Which of the three texts a pattern is; decides the accepted and required placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Instruction,
    InstructionNoInput,
    MultipleChoice,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Self::Instruction => "instruction",
            Self::InstructionNoInput => "instruction_no_input",
            Self::MultipleChoice => "multiple_choice",
        }
    }

    fn accepts(self) -> &'static [Slot] {
        match self {
            Self::Instruction => &[Slot::Instruction, Slot::Input],
            Self::InstructionNoInput => &[Slot::Instruction],
            Self::MultipleChoice => &[Slot::Question, Slot::Choices],
        }
    }

    fn requires(self) -> &'static [Slot] {
        match self {
            Self::Instruction | Self::InstructionNoInput => &[Slot::Instruction],
            Self::MultipleChoice => &[Slot::Question, Slot::Choices],
        }
    }

    fn accepted_list(self) -> &'static str {
        match self {
            Self::Instruction => "{instruction} and {input}",
            Self::InstructionNoInput => "only {instruction}",
            Self::MultipleChoice => "{question} and {choices}",
        }
    }
}

/// A placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Instruction,
    Input,
    Question,
    Choices,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Self::Instruction => "instruction",
            Self::Input => "input",
            Self::Question => "question",
            Self::Choices => "choices",
        }
    }
}

/// The text each placeholder renders as.
#[derive(Default)]
struct Values<'a> {
    instruction: &'a str,
    input: &'a str,
    question: &'a str,
    choices: &'a str,
}

impl Values<'_> {
    fn get(&self, slot: Slot) -> &str {
        match slot {
            Slot::Instruction => self.instruction,
            Slot::Input => self.input,
            Slot::Question => self.question,
            Slot::Choices => self.choices,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Slot),
}

/// A parsed template text; `source` is kept for serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    source: String,
    pieces: Vec<Piece>,
}

impl Pattern {
    /// Parses a text known to be valid (one of this module's constants).
    fn builtin(form: Form, text: &str) -> Self {
        match Self::parse(form, text) {
            Ok(pattern) => pattern,
            Err(error) => panic!("built-in template is invalid: {error}"),
        }
    }

    fn parse(form: Form, source: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            match c {
                '{' if chars.next_if(|&(_, next)| next == '{').is_some() => text.push('{'),
                '}' if chars.next_if(|&(_, next)| next == '}').is_some() => text.push('}'),
                '{' => {
                    let name = read_placeholder(&mut chars, form, offset)?;
                    let slot = resolve_slot(form, &name)?;
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Slot(slot));
                }
                '}' => {
                    return Err(TemplateError::UnmatchedBrace {
                        form: form.name(),
                        offset,
                    });
                }
                _ => text.push(c),
            }
        }
        pieces.push(Piece::Text(text));
        pieces.retain(|piece| *piece != Piece::Text(String::new()));
        check_required(form, &pieces)?;
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }

    fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Slot(slot) => out.push_str(values.get(*slot)),
            }
        }
        out
    }
}

/// Reads a placeholder's name after its `{` (at `open`), through the closing `}`.
fn read_placeholder(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    form: Form,
    open: usize,
) -> Result<String, TemplateError> {
    let mut name = String::new();
    for (_, c) in chars.by_ref() {
        match c {
            '}' => return Ok(name),
            '{' => break,
            _ => name.push(c),
        }
    }
    Err(TemplateError::UnclosedBrace {
        form: form.name(),
        offset: open,
    })
}

fn resolve_slot(form: Form, name: &str) -> Result<Slot, TemplateError> {
    form.accepts()
        .iter()
        .copied()
        .find(|slot| slot.name() == name)
        .ok_or_else(|| TemplateError::UnknownPlaceholder {
            form: form.name(),
            name: name.to_owned(),
            allowed: form.accepted_list(),
        })
}

fn check_required(form: Form, pieces: &[Piece]) -> Result<(), TemplateError> {
    match form
        .requires()
        .iter()
        .find(|slot| !pieces.contains(&Piece::Slot(**slot)))
    {
        Some(slot) => Err(TemplateError::MissingPlaceholder {
            form: form.name(),
            name: slot.name(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn alpaca_with_input() {
        let prompt = PromptTemplate::alpaca().render_instruction("Add.", Some("2 and 3"));
        assert_eq!(
            prompt,
            "Below is an instruction that describes a task, paired with an input that provides \
             further context. Write a response that appropriately completes the request.\n\n\
             ### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n"
        );
    }

    #[test]
    fn alpaca_without_input_for_absent_empty_or_blank_input() {
        let template = PromptTemplate::default();
        let expected = "Below is an instruction that describes a task. Write a response that \
                        appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n\
                        ### Response:\n";
        for input in [None, Some(""), Some("  \n")] {
            assert_eq!(template.render_instruction("Say hi.", input), expected);
        }
    }

    #[test]
    fn alpaca_multiple_choice() {
        let template = PromptTemplate::alpaca();
        let prompt = template.render_choice("2+2?", &strings(&["3", "4", "5"]));
        assert_eq!(
            prompt,
            "### Question:\n2+2?\n\n### Choices:\nA. 3\nB. 4\nC. 5\n\nAnswer:"
        );
    }

    #[test]
    fn multiple_choice_example_sets_completion_and_options() {
        let example =
            PromptTemplate::alpaca().multiple_choice_example("2+2?", &strings(&["3", "4"]), 1);
        assert_eq!(example.completion, " B");
        let choices = example.choices.expect("multiple choice");
        assert_eq!(choices.options, strings(&[" A", " B"]));
        assert_eq!(choices.correct, 1);
        assert!(example.prompt.ends_with("Answer:"));
    }

    #[test]
    fn choice_labels() {
        assert_eq!(choice_label(0), Some('A'));
        assert_eq!(choice_label(25), Some('Z'));
        assert_eq!(choice_label(26), None);
        assert_eq!(choice_label(usize::MAX), None);
        assert_eq!(choice_completions(3), strings(&[" A", " B", " C"]));
    }

    #[test]
    fn custom_without_separate_no_input_form() {
        let template = PromptTemplate::custom("{instruction}|{input}|").expect("valid");
        assert_eq!(template.render_instruction("do", Some("this")), "do|this|");
        assert_eq!(template.render_instruction("do", None), "do||");
        assert_eq!(
            template.render_choice("q", &strings(&["x", "y"])),
            PromptTemplate::alpaca().render_choice("q", &strings(&["x", "y"]))
        );
    }

    #[test]
    fn custom_with_every_form() {
        let template = PromptTemplate::custom("I: {instruction} / {input}\nR:")
            .and_then(|t| t.with_instruction_no_input("I: {instruction}\nR:"))
            .and_then(|t| t.with_multiple_choice("{question}\n{choices}\nAnswer:"))
            .expect("valid");
        assert_eq!(template.render_instruction("a", Some("b")), "I: a / b\nR:");
        assert_eq!(template.render_instruction("a", None), "I: a\nR:");
        assert_eq!(
            template.render_choice("q?", &strings(&["yes", "no"])),
            "q?\nA. yes\nB. no\nAnswer:"
        );
    }

    #[test]
    fn escaped_braces_are_literal() {
        let template = PromptTemplate::custom("{{json}}: {{\"a\": {instruction}}}").expect("valid");
        assert_eq!(template.render_instruction("1", None), "{json}: {\"a\": 1}");
        // Values are inserted verbatim: braces in them are not placeholders.
        assert_eq!(
            template.render_instruction("{input}", None),
            "{json}: {\"a\": {input}}"
        );
    }

    #[test]
    fn unknown_placeholder_is_named() {
        let error = PromptTemplate::custom("{instruction} {output}").unwrap_err();
        assert_eq!(
            error,
            TemplateError::UnknownPlaceholder {
                form: "instruction",
                name: "output".into(),
                allowed: "{instruction} and {input}",
            }
        );
        let message = error.to_string();
        assert!(message.contains("`{output}`"), "{message}");
        assert!(message.contains("instruction template"), "{message}");
    }

    #[test]
    fn placeholder_of_another_form_is_rejected() {
        let error = PromptTemplate::custom("{instruction} {question}").unwrap_err();
        assert!(error.to_string().contains("`{question}`"), "{error}");
        let error = PromptTemplate::alpaca()
            .with_instruction_no_input("{instruction} {input}")
            .unwrap_err();
        assert!(
            error.to_string().contains("instruction_no_input"),
            "{error}"
        );
        let error = PromptTemplate::alpaca()
            .with_multiple_choice("{question} {choices} {instruction}")
            .unwrap_err();
        assert!(error.to_string().contains("`{instruction}`"), "{error}");
    }

    #[test]
    fn unbalanced_braces() {
        assert_eq!(
            PromptTemplate::custom("{instruction} {input").unwrap_err(),
            TemplateError::UnclosedBrace {
                form: "instruction",
                offset: 14
            }
        );
        assert_eq!(
            PromptTemplate::custom("{instruction} }").unwrap_err(),
            TemplateError::UnmatchedBrace {
                form: "instruction",
                offset: 14
            }
        );
        assert!(matches!(
            PromptTemplate::custom("{instr{instruction}}").unwrap_err(),
            TemplateError::UnclosedBrace { offset: 0, .. }
        ));
        let message = PromptTemplate::custom("{").unwrap_err().to_string();
        assert!(message.contains("`{{`"), "{message}");
    }

    #[test]
    fn required_placeholders() {
        assert_eq!(
            PromptTemplate::custom("no placeholders").unwrap_err(),
            TemplateError::MissingPlaceholder {
                form: "instruction",
                name: "instruction"
            }
        );
        let error = PromptTemplate::alpaca()
            .with_multiple_choice("{question}\nAnswer:")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the multiple_choice template must contain `{choices}`"
        );
    }

    #[test]
    fn serde_round_trip() {
        let alpaca = serde_json::to_string(&PromptTemplate::alpaca()).expect("serialize");
        assert_eq!(alpaca, "\"alpaca\"");
        let back: PromptTemplate = serde_json::from_str(&alpaca).expect("deserialize");
        assert_eq!(back, PromptTemplate::alpaca());

        let custom = PromptTemplate::custom("{instruction}:")
            .and_then(|t| t.with_multiple_choice("{question} {choices} ->"))
            .expect("valid");
        let json = serde_json::to_string(&custom).expect("serialize");
        let back: PromptTemplate = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, custom);
    }

    #[test]
    fn deserializing_validates_and_defaults() {
        let json = r#"{"custom": {"instruction": "{instruction}\n"}}"#;
        let template: PromptTemplate = serde_json::from_str(json).expect("deserialize");
        assert_eq!(template.render_instruction("x", None), "x\n");
        assert!(
            template
                .render_choice("q", &strings(&["a", "b"]))
                .ends_with("Answer:")
        );

        let json = r#"{"custom": {"instruction": "{instruction} {nope}"}}"#;
        let error = serde_json::from_str::<PromptTemplate>(json).unwrap_err();
        assert!(error.to_string().contains("`{nope}`"), "{error}");
    }
}
