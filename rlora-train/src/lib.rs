#![warn(missing_docs)]
//! # rlora-train: multi-task R-LoRA fine-tuning, evaluation and the `rlora` command
//!
//! ## What a library user calls
//!
//! - A whole run, as `rlora train` makes it: [`run::RunSpec`] (its settings in typed parts, one
//!   field per flag; [`run::RunSpec::tiny_base`], [`run::RunSpec::new`] or a run file read by
//!   [`run::RunSpec::from_file`] to start from, [`run::RunSpec::check`] for its values),
//!   [`run::train`] on any burn autodiff backend, [`run::RunOutcome`] (the adapter's folder, the
//!   scores, the cost) or [`run::RunError`] (refused before anything was written, stopped on
//!   values that are not finite or for another reason, with the checkpoint to continue from, or
//!   failed; [`run::RunError::exit_status`] for a program's exit status). A program that trains
//!   in a group of processes sets [`trainer::ENGINE_THREADS_VARIABLE`] to 1 first thing in `main`.
//! - The parts, for a loop of one's own: [`data`] (task files, the built-in suite, prompts,
//!   tokenization, mixing), [`trainer::train`] and [`trainer::train_on`] (burn's `Learner` on
//!   [`trainer::TrainingData`] with a [`trainer::TrainingConfig`], where a
//!   [`trainer::Placement`] says), [`trainer::evaluate`], the routing analysis
//!   ([`trainer::routing_analysis`]) and the logged metrics ([`trainer::metric_history`]);
//!   [`report`] for the tables and pictures.
//! - The models themselves are `rlora_llama`'s, the layer `rlora`'s.
//! - No backend: every call is generic over burn's backend. The `rlora` executable, the benchmark
//!   and the root package's examples pick one by their cargo features (`flex`, the default, or
//!   `ndarray` on the CPU; `wgpu`, `vulkan`, `metal`, `cuda`, `ddp`).
//!
//! ## From task files to the report
//!
//! ```text
//! task files (JSONL, --task NAME=TRAIN[,VALID[,TEST]])   the built-in suite (--builtin)
//!   │ data::parse_task_spec, data::read_jsonl               │ data::builtin_suite
//!   └──────────────► TaskData { train, validation, test } ◄─┘   (TaskExample: prompt, completion)
//!                      │ data::hold_out (no validation file), data::tokenize_examples
//!                      ▼
//!                    trainer::TrainingData ── TrainingConfig's stream (data::mix), in updates
//!                      │ trainer::train: burn's Learner, CausalLm's TrainStep on data::LmBatch,
//!                      │ AdamW + WarmupCosine, metrics logged under train/ valid/, checkpoint/
//!                      ▼
//!                    trainer::Trained { model, steps, seconds } ── save_adapter ──► adapter/
//!                      │ trainer::evaluate (base and adapted)
//!                      ▼
//!                    trainer::TrainOutcome ──► eval.json           (run::train: all of it)
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
//! | [`data`] | task files, prompts, the built-in suite, tokenization, mixing, batches | — |
//! | [`trainer`] | the Learner step, training, checkpoints, metrics, evaluation, the run's outcome | `data` |
//! | [`base`] | the tiny base model: its config, tokenizer, corpus, pretraining, embedded copy | `data`, `trainer` |
//! | [`report`] | tables, pictures (plotters, an embedded font) and JSON files | `trainer` |
//! | [`run`] | a whole training run as one call: [`run::RunSpec`] (typed settings), [`run::train`], the checks, the output folder, process groups | `data`, `trainer`, `base`, `report` |
//! | [`cli`] | the subcommands' flags and what they run, `--config` files | `data`, `trainer`, `base`, `report`, `run` |
//! | [`experiment`] | the paper's comparison, over child `rlora train` runs | `trainer`, `base`, `report`, `run`, `cli` |
//! | [`program`] | the `rlora` command's line: every subcommand | `run`, `cli`, `experiment` |

pub mod base;
pub mod cli;
pub mod data;
pub mod experiment;
pub mod program;
pub mod report;
pub mod run;
pub mod trainer;

/// The README's Rust examples, compiled (and run unless marked `no_run`) as doc tests so they
/// cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
