#![warn(missing_docs)]
//! # rlora-train: multi-task R-LoRA fine-tuning, evaluation and the `rlora` command
//!
//! ## From task files to the report
//!
//! ```text
//! task files (JSONL, --task NAME=TRAIN[,VALID[,TEST]])   the built-in suite (--builtin)
//!   │ data::parse_task_spec, data::read_jsonl               │ data::builtin_suite
//!   └──────────────► TaskData { train, validation, test } ◄─┘   (TaskExample: prompt, completion)
//!                      │ data::hold_out (no validation file), data::tokenize_examples
//!                      ▼
//!                    trainer::TrainingData ── TrainingConfig::stream (data::mix) ──► StreamLoader
//!                      │ trainer::train: burn's Learner, CausalLm's TrainStep on data::LmBatch,
//!                      │ AdamW + WarmupCosine, metrics logged under train/ valid/, checkpoint/
//!                      ▼
//!                    trainer::Trained { model, steps, seconds } ── save_adapter ──► adapter/
//!                      │ trainer::evaluate (base and adapted)
//!                      ▼
//!                    trainer::TrainOutcome ──► eval.json
//!                      │ report::markdown_table ──► eval.md
//!                      │ report::training_curves (trainer::metric_history reads the logs with
//!                      │   burn's FileMetricLogger) ──► loss.png, head_similarity.png
//!                      │ report::head_heat_maps (trainer::head_summary) ──► heads_<module>.png
//!                      ▼
//!                    experiment: many runs (child `rlora train`s) ──► report.md, report.json,
//!                                accuracy.png, head_similarity.png
//! ```
//!
//! ## Rooms and what each may import
//!
//! Each room imports only the rooms listed before it (and never one after it), so there are no
//! import circles:
//!
//! | room | what | imports |
//! |---|---|---|
//! | [`backend`] | the backend picked by cargo feature | — |
//! | [`data`] | task files, prompts, the built-in suite, tokenization, mixing, batches | — |
//! | [`trainer`] | the Learner step, training, checkpoints, metrics, evaluation, the run's outcome | `data` |
//! | [`base`] | the tiny base model: its config, tokenizer, corpus, pretraining, embedded copy | `data`, `trainer` |
//! | [`report`] | tables, pictures (plotters, an embedded font) and JSON files | `trainer` |
//! | [`cli`] | the subcommands' flags and runs, `--config` files, value parsers | `backend`, `data`, `trainer`, `base`, `report` |
//! | [`experiment`] | the paper's comparison, over child `rlora train` runs | `backend`, `trainer`, `base`, `report`, `cli` |
//! | [`program`] | the `rlora` command: every subcommand, dispatched | `backend`, `cli`, `experiment` |

pub mod backend;
pub mod base;
pub mod cli;
pub mod data;
pub mod experiment;
pub mod program;
pub mod report;
pub mod trainer;

/// The README's Rust examples, compiled (and run unless marked `no_run`) as doc tests so they
/// cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
