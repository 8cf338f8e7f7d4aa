#![warn(missing_docs)]
//! # rlora-train: multi-task R-LoRA fine-tuning, evaluation and the `rlora` command
//!
//! The `rlora` command line lives in [`cli`]; [`backend`] picks the backend by cargo feature.

pub mod backend;
pub mod base;
pub mod batch;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod eval;
pub mod experiment;
pub mod loader;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod renderer;
pub mod report;
pub mod resources;
pub mod schedule;
pub mod train;

/// The README's Rust examples, compiled (and run unless marked `no_run`) as doc tests so they
/// cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
