//! Multi-task data: task files and their record shapes, prompt templates, the built-in synthetic
//! suite, tokenization with prompt masking, and mixing tasks into one training stream.

mod example;

pub use example::{Choices, TaskData, TaskExample};
