//! [`TrainingConfig`]: the optimization and schedule of a run, and the training stream it makes
//! of [`TrainingData`].

use std::path::PathBuf;

use burn::config::Config;
use rlora_llama::LlamaBackend;

use super::group::GroupError;
use crate::data::{Mixing, TokenizedExample, mix};

/// Optimization and schedule of a fine-tuning run (the R-LoRA paper's values as defaults).
#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    /// Peak learning rate.
    #[config(default = 2e-4)]
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay.
    #[config(default = 0.0)]
    pub min_learning_rate: f64,
    /// Fraction of the steps spent warming up linearly.
    #[config(default = 0.03)]
    pub warmup_ratio: f64,
    /// AdamW's decoupled weight decay.
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Examples per micro-batch on each device (one forward and backward pass).
    #[config(default = 8)]
    pub batch_size: usize,
    /// Micro-batches per device whose gradients make one optimizer update: the update is the
    /// one a single batch of `batch_size × grad_accumulation` rows would give.
    #[config(default = 1)]
    pub grad_accumulation: usize,
    /// Clip the global L2 norm over all trainable parameters' gradients to this value.
    #[config(default = "Some(1.0)")]
    pub max_grad_norm: Option<f64>,
    /// Passes over the task mixture.
    #[config(default = 1)]
    pub epochs: usize,
    /// Stop after this many optimizer updates (overrides `epochs`: the mixture repeats as
    /// needed).
    #[config(default = "None")]
    pub max_steps: Option<usize>,
    /// Write a checkpoint every this many optimizer updates (and at the end).
    #[config(default = 100)]
    pub checkpoint_every: usize,
    /// Keep this many most recent checkpoints.
    #[config(default = 2)]
    pub keep_checkpoints: usize,
    /// How the tasks are mixed.
    #[config(default = "Mixing::Proportional")]
    pub mixing: Mixing,
    /// Seeds the data order and dropout.
    #[config(default = 0)]
    pub seed: u64,
    /// Cut every batch into this many shards of rows whose backward passes run in parallel
    /// (one per CPU core on a CPU backend; 1 on a GPU). The step is the same as the whole batch's.
    #[config(default = 1)]
    pub batch_shards: usize,
    /// Keep only each decoder layer's input from the forward pass and recompute the layer in the
    /// backward ([`Llama::checkpointed_gradients`](rlora_llama::Llama::checkpointed_gradients)):
    /// the same gradients for a fraction of the activations' memory and about 1.4-1.5x the
    /// compute (measured). The batch's shards then run one after the other.
    #[config(default = false)]
    pub activation_checkpointing: bool,
    /// Print a progress line every this many optimizer updates (when stdout is not a terminal;
    /// a terminal gets burn's dashboard).
    #[config(default = 10)]
    pub log_every: usize,
}

/// The tokenized training and validation sets of a run.
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// Task names, indexed by `TokenizedExample::task`.
    pub task_names: Vec<String>,
    /// Training examples of every task.
    pub train: Vec<TokenizedExample>,
    /// Validation examples of every task.
    pub validation: Vec<TokenizedExample>,
}

/// Why a run ended early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration or data cannot make a run.
    #[error("{0}")]
    Invalid(String),
    /// The run stopped (a non-finite loss); the last checkpoint is the last good state.
    #[error("{0}")]
    Stopped(String),
    /// The run was stopped for another reason than its values (burn's checkpointer could not
    /// delete or restore a checkpoint, the updates' checks timed out, the dashboard was
    /// quit); the last checkpoint is intact.
    #[error("{0}")]
    Interrupted(String),
    /// The process group failed: a process stopped, the network between them failed, or the
    /// processes disagree; the last checkpoint is the last good state.
    #[error("{0}")]
    Group(GroupError),
    /// A resumed run found checkpoints in `dir`, and none of them reads back (each one's
    /// reason).
    #[error(
        "no checkpoint in {} can be resumed ({}); start the run anew",
        .dir.display(),
        .reasons.join("; ")
    )]
    NoIntactCheckpoint {
        /// The checkpoint folder.
        dir: PathBuf,
        /// Each checkpoint and why it does not read back.
        reasons: Vec<String>,
    },
    /// A checkpoint could not be written (the path and the system's reason); the earlier
    /// checkpoints are intact.
    #[error("{0}")]
    Checkpoint(String),
}

/// How many shards of rows a training batch is best cut into on backend `B`
/// ([`TrainingConfig::batch_shards`]): one per core on the CPU, whose backends run element-wise
/// operations on one thread; 1 on a GPU.
pub fn batch_shards<B: LlamaBackend>() -> usize {
    if B::computes_on_cpu() {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

impl TrainingConfig {
    /// Checks every setting against its domain; the error names the setting.
    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        let counts = [
            ("batch size", self.batch_size),
            ("gradient accumulation", self.grad_accumulation),
            ("checkpoint interval", self.checkpoint_every),
            ("epochs", self.epochs),
            ("max steps", self.max_steps.unwrap_or(1)),
            ("batch shards", self.batch_shards),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, count)| *count == 0) {
            return Err(TrainError::Invalid(format!(
                "{name} must be at least 1, got 0"
            )));
        }
        let clip = self.max_grad_norm.unwrap_or(1.0);
        let reals = [
            (
                "learning rate",
                self.learning_rate,
                "positive",
                self.learning_rate > 0.0,
            ),
            (
                "minimum learning rate",
                self.min_learning_rate,
                "≥ 0",
                self.min_learning_rate >= 0.0,
            ),
            (
                "warmup ratio",
                self.warmup_ratio,
                "in [0, 1)",
                (0.0..1.0).contains(&self.warmup_ratio),
            ),
            (
                "weight decay",
                self.weight_decay,
                "≥ 0",
                self.weight_decay >= 0.0,
            ),
            ("gradient norm limit", clip, "positive", clip > 0.0),
        ];
        match reals
            .iter()
            .find(|(_, value, _, ok)| !(value.is_finite() && *ok))
        {
            Some((name, value, domain, _)) => Err(TrainError::Invalid(format!(
                "{name} must be finite and {domain}, got {value}"
            ))),
            None => Ok(()),
        }
    }

    /// The examples of one optimizer update over `replicas` devices.
    pub fn examples_per_step(&self, replicas: usize) -> usize {
        self.batch_size * self.grad_accumulation * replicas.max(1)
    }

    /// The training stream on `replicas` devices (of every process): `epochs` passes over the mixture (or as many
    /// as `max_steps` updates need), cut to whole updates.
    pub(crate) fn stream(
        &self,
        data: &TrainingData,
        replicas: usize,
    ) -> Result<TrainingStream, TrainError> {
        let mut sizes = vec![0usize; data.task_names.len()];
        let mut by_task: Vec<Vec<usize>> = vec![Vec::new(); data.task_names.len()];
        for (i, example) in data.train.iter().enumerate() {
            sizes[example.task] += 1;
            by_task[example.task].push(i);
        }
        let per_step = self.examples_per_step(replicas);
        let wanted = self.max_steps.map(|s| s * per_step);
        let mut order = Vec::new();
        let mut pass_ends = Vec::new();
        while wanted.map_or(pass_ends.len() < self.epochs, |w| order.len() < w) {
            let pass = pass_ends.len() as u64;
            let stream = mix(&sizes, &self.mixing, self.seed.wrapping_add(pass))
                .map_err(TrainError::Invalid)?;
            if stream.is_empty() {
                break;
            }
            order.extend(stream.into_iter().map(|(task, i)| by_task[task][i]));
            pass_ends.push(order.len());
        }
        let steps = wanted.map_or(order.len(), |w| w.min(order.len())) / per_step;
        if steps == 0 {
            return Err(TrainError::Invalid(format!(
                "{} training examples make no full optimizer update of {per_step} \
                 (batch size {} × gradient accumulation {} × {} devices)",
                data.train.len(),
                self.batch_size,
                self.grad_accumulation,
                replicas.max(1)
            )));
        }
        order.truncate(steps * per_step);
        Ok(TrainingStream {
            order,
            pass_ends,
            per_step,
        })
    }
}

/// The example indices of a run in training order, whole optimizer updates only, and where each
/// pass over the mixture ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrainingStream {
    /// Indices into [`TrainingData::train`], `per_step` per update.
    pub order: Vec<usize>,
    /// The stream position after each pass over the mixture.
    pub pass_ends: Vec<usize>,
    /// Examples per optimizer update (all devices).
    pub per_step: usize,
}

impl TrainingStream {
    /// The optimizer updates of the run.
    pub fn steps(&self) -> usize {
        self.order.len() / self.per_step
    }

    /// The update (1-based) after which each pass over the mixture is complete:
    /// update `s` belongs to the first pass whose entry is ≥ `s`.
    pub fn pass_ends_in_steps(&self) -> Vec<usize> {
        self.pass_ends
            .iter()
            .map(|&end| end / self.per_step)
            .collect()
    }
}
