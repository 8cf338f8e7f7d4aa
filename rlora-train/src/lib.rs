#![warn(missing_docs)]
//! # rlora-train: multi-task R-LoRA fine-tuning, evaluation and the `rlora` command
//!
//! The `rlora` command line lives in [`cli`]; [`backend`] picks the backend by cargo feature.

pub mod backend;
pub mod cli;
pub mod data;

/// The README's Rust examples, compiled (and run unless marked `no_run`) as doc tests so they
/// cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
