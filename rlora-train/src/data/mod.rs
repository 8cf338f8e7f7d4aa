//! Multi-task data: task files and their record shapes, prompt templates, the built-in synthetic
//! suite, tokenization with prompt masking, and mixing tasks into one training stream.

mod example;
mod mixture;
mod records;
mod synthetic;
mod template;
mod tokenize;

pub use example::{Choices, TaskData, TaskExample};
pub use mixture::{Mixing, hold_out, mix};
pub use records::{
    DataError, ReadOutcome, RecordError, TaskSpec, load_task, parse_task_spec, read_jsonl,
};
pub use synthetic::{BUILTIN_TASKS, SplitSizes, builtin_suite, builtin_task};
pub use template::{
    ALPACA_WITH_INPUT, ALPACA_WITHOUT_INPUT, DEFAULT_MULTIPLE_CHOICE, MAX_CHOICES, PromptTemplate,
    TemplateConfig, TemplateError, choice_completions, choice_label,
};
pub use tokenize::{Tokenize, TokenizeReport, TokenizedExample, tokenize_examples};
