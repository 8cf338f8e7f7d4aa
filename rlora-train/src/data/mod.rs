//! Multi-task data: task files and their record shapes, prompts, the built-in synthetic suite,
//! tokenization with prompt masking, mixing tasks into one training stream, and padded batches.
//!
//! The first room: it imports no other room of this crate.

mod batch;
mod example;
mod mixture;
mod prompt;
mod records;
mod step_batch;
mod synthetic;
mod task_spec;
mod tokenize;

pub use batch::{LmBatch, LmBatcher};
pub use example::{Choices, TaskData, TaskExample};
pub use mixture::{Mixing, hold_out, mix};
pub use prompt::{
    alpaca_prompt, choice_completions, choice_label, multiple_choice_example,
    multiple_choice_prompt,
};
pub use records::{DEFAULT_MAX_LINE_BYTES, DataError, ReadOutcome, RecordError, read_jsonl};
pub use step_batch::{StepBatch, StepBatcher};
pub use synthetic::{BUILTIN_TASKS, SplitSizes, builtin_suite, builtin_task};
pub use task_spec::{TaskSpec, evaluation_examples, load_task, load_tasks, parse_task_spec};
pub use tokenize::{Tokenize, TokenizeReport, TokenizedExample, tokenize_examples};
