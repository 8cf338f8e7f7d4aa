//! Training and evaluation: burn's `Learner` fine-tunes a model's adapters ([`train`]) on
//! tokenized multi-task data, with its training step ([`CausalLm`]), metrics, checkpoints, the
//! warmup-cosine schedule and progress lines; [`evaluate`] scores a model per task; the run's
//! logged metrics are read back with burn's logger ([`metric_history`]). [`train_on`] trains
//! where a [`Placement`] says: across the devices of a process, their gradients summed with
//! burn's multi-device or DDP strategy ([`DataParallel`]); across processes, every update's
//! gradients summed over a [`ProcessGroup`] with burn's collective all-reduce.
//!
//! Errors are values that name settings, files and tensors, never a flag of the `rlora` command:
//! [`TrainError`], and for a group [`GroupError`], whose [`GroupFault`] says what failed so that
//! a caller can answer it in its own terms (`rlora train` names the flags).
//!
//! Imports [`data`](crate::data) only.

mod adapter_record;
mod checkpoint;
mod clip;
mod config;
mod dashboard;
mod data_parallel;
mod eval;
mod gradients;
mod group;
mod heads;
mod history;
mod loader;
mod manifest;
mod metric_log;
mod metrics;
mod model;
mod outcome;
mod placement;
mod renderer;
mod resume;
mod routing;
mod schedule;
mod step_count;
mod train;
mod update_batch;
mod update_checks;

pub use checkpoint::latest_checkpoint;
pub use clip::{GlobalNormClip, clip_global_norm};
pub use config::{TrainError, TrainingConfig, TrainingData, batch_shards};
pub use data_parallel::DataParallel;
pub use eval::{EvalReport, TaskScore, evaluate, extract_answer, mean_token_loss};
pub use gradients::global_norm;
pub use group::{
    ENGINE_THREADS_VARIABLE, EngineError, EngineErrorKind, GroupError, GroupFault, GroupSettings,
    GroupSettingsError, GroupWatch, ProcessGroup, RunIdentity, quiet_engine_output, task_digests,
};
pub(crate) use heads::mean_off_diagonal;
pub use heads::{HeadSummary, head_summary};
pub use history::{LogLayout, last_logged_step, metric_history};
pub(crate) use history::{head_similarity_modules, non_finite_step};
pub use loader::Shards;
pub(crate) use metrics::{GRADIENT_NORM, HEAD_SIMILARITY};
pub use model::CausalLm;
pub use outcome::{RunResources, TrainOutcome, peak_memory_bytes};
pub use placement::{GroupMember, Placement};
pub use routing::{
    ProjectionRouting, RoutingAnalysis, entropy, js_divergence, mean_pairwise_js, routing_analysis,
};
pub use schedule::WarmupCosine;
pub use train::{Trained, train, train_on};
pub use update_batch::{UpdateBatch, UpdateChannels};
pub use update_checks::{UpdateChecks, VerifiedCheckpoints};
