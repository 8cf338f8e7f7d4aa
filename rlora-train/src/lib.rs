#![warn(missing_docs)]
//! # rlora-train: multi-task R-LoRA fine-tuning, evaluation and the `rlora` command
//!
//! The `rlora` command line lives in [`cli`]; [`backend`] picks the backend by cargo feature.

pub mod backend;
pub mod cli;
