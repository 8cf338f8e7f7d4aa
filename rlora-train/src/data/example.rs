//! [`TaskExample`] and [`TaskData`]: the text of a task before tokenization.

/// One supervised example, as text: the model reads `prompt` and is trained to produce
/// `completion` (then EOS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskExample {
    /// The full prompt, template applied.
    pub prompt: String,
    /// The target text, without EOS.
    pub completion: String,
    /// For multiple-choice examples: every option's completion text and the correct one's
    /// index (`options[correct] == completion`).
    pub choices: Option<Choices>,
}

/// The options of a multiple-choice example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// Each option's completion text (for example `" A"`, `" B"`, …).
    pub options: Vec<String>,
    /// The index of the correct option.
    pub correct: usize,
}

/// A task: a name and its splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskData {
    /// The task's name (unique within a run).
    pub name: String,
    /// Training examples (never empty).
    pub train: Vec<TaskExample>,
    /// Validation examples, when the task has a validation file.
    pub validation: Option<Vec<TaskExample>>,
    /// Test examples, when the task has a test file.
    pub test: Option<Vec<TaskExample>>,
}
