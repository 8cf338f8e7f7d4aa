//! Training and evaluation: burn's `Learner` fine-tunes a model's adapters ([`train`]) on
//! tokenized multi-task data, with its training step ([`CausalLm`]), metrics, checkpoints, the
//! warmup-cosine schedule and progress lines; [`evaluate`] scores a model per task; the run's
//! logged metrics are read back with burn's logger ([`metric_history`]). Across the devices of a
//! process, [`train_data_parallel`] sums the gradients with burn's multi-device or DDP strategy
//! ([`DataParallel`]); across processes,
//! [`train_in_group`] sums every update's gradients over a [`ProcessGroup`] with burn's
//! collective all-reduce.
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
mod renderer;
mod resume;
mod routing;
mod schedule;
mod step_count;
mod train;
mod update_checks;

pub use adapter_record::{AdapterCheckpoint, AdapterState};
pub use checkpoint::{
    AtomicRecorder, WriteFailure, checkpoint_digest, checkpoint_epochs, latest_checkpoint,
};
pub use clip::{GlobalNormClip, clip_global_norm};
pub use config::{TrainError, TrainingConfig, TrainingData, TrainingStream};
pub use data_parallel::DataParallel;
pub use eval::{EvalReport, TaskScore, evaluate, extract_answer, mean_token_loss};
pub use gradients::global_norm;
pub use group::{
    GroupIdentity, GroupLoss, GroupSettings, GroupWatch, ProcessGroup, RunIdentity, UpdateExchange,
    digest_adapters, quiet_engine_output, task_digests,
};
pub use heads::{HeadSummary, head_summary, mean_off_diagonal, module_type};
pub use history::{
    LogLayout, head_similarity_modules, last_logged_step, metric_history, non_finite_step,
};
pub use loader::{Shards, StreamLoader};
pub use manifest::verify_manifest;
pub use metric_log::RunMetricLogger;
pub use metrics::{
    GRADIENT_NORM, GradientNorm, HEAD_SIMILARITY, HeadSimilarityValue, StatsMetric, StatsValue,
    TokenLoss, TokensPerSecond, gradient_norm_metric, head_similarity_metric, loss_metric,
    task_loss_metric, tokens_per_second_metric,
};
pub use model::{ALL_TASKS, CausalLm, GroupHandle, LmOutput, LmStats};
pub use outcome::{RunResources, TrainOutcome, peak_memory_bytes};
pub use renderer::ProgressLines;
pub use resume::intact_checkpoint;
pub use routing::{
    ProjectionRouting, RoutingAnalysis, entropy, js_divergence, mean_pairwise_js, routing_analysis,
};
pub use schedule::WarmupCosine;
pub use step_count::StepCount;
pub use train::{
    GroupMember, Trained, train, train_data_parallel, train_in_group, train_on_devices,
};
pub use update_checks::{NormCell, UpdateChecks, VerifiedCheckpoints};
