//! [`TrainingConfig`]: the optimization and schedule of a run, and the training stream it makes
//! of [`TrainingData`].

use burn::config::Config;

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
    /// Examples per step.
    #[config(default = 8)]
    pub batch_size: usize,
    /// Steps whose gradients are averaged into one optimizer update.
    #[config(default = 1)]
    pub grad_accumulation: usize,
    /// Clip the global L2 norm over all trainable parameters' gradients to this value.
    #[config(default = "Some(1.0)")]
    pub max_grad_norm: Option<f64>,
    /// Passes over the task mixture.
    #[config(default = 1)]
    pub epochs: usize,
    /// Stop after this many steps (overrides `epochs`: the mixture repeats as needed).
    #[config(default = "None")]
    pub max_steps: Option<usize>,
    /// Write a checkpoint every this many steps (and at the end).
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
    /// Print a progress line every this many steps (when stdout is not a terminal; a terminal
    /// gets burn's dashboard).
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
}

impl TrainingConfig {
    pub(crate) fn validate(&self) -> Result<(), TrainError> {
        let invalid = |m: String| Err(TrainError::Invalid(m));
        if self.batch_size == 0 || self.grad_accumulation == 0 || self.checkpoint_every == 0 {
            return invalid(
                "batch size, gradient accumulation and checkpoint interval must be ≥ 1".into(),
            );
        }
        if !self.checkpoint_every.is_multiple_of(self.grad_accumulation) {
            return invalid(format!(
                "checkpoint_every ({}) must be a multiple of grad_accumulation ({})",
                self.checkpoint_every, self.grad_accumulation
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return invalid(format!(
                "learning rate must be positive, got {}",
                self.learning_rate
            ));
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return invalid(format!(
                "warmup ratio must be in [0, 1), got {}",
                self.warmup_ratio
            ));
        }
        Ok(())
    }

    /// The training stream: example indices, `epochs` passes over the mixture (or as many as
    /// `max_steps` needs), cut to whole steps.
    pub fn stream(&self, data: &TrainingData) -> Result<Vec<usize>, TrainError> {
        let mut sizes = vec![0usize; data.task_names.len()];
        let mut by_task: Vec<Vec<usize>> = vec![Vec::new(); data.task_names.len()];
        for (i, example) in data.train.iter().enumerate() {
            sizes[example.task] += 1;
            by_task[example.task].push(i);
        }
        let wanted = self.max_steps.map(|s| s * self.batch_size);
        let mut order = Vec::new();
        let mut pass = 0;
        while wanted.map_or(pass < self.epochs, |w| order.len() < w) {
            let stream = mix(&sizes, &self.mixing, self.seed.wrapping_add(pass as u64))
                .map_err(TrainError::Invalid)?;
            order.extend(stream.into_iter().map(|(task, i)| by_task[task][i]));
            pass += 1;
        }
        let steps = wanted.map_or(order.len(), |w| w.min(order.len())) / self.batch_size;
        if steps == 0 {
            return Err(TrainError::Invalid(format!(
                "{} training examples make no full batch of {}",
                data.train.len(),
                self.batch_size
            )));
        }
        order.truncate(steps * self.batch_size);
        Ok(order)
    }

    /// The optimizer steps that `stream` (from [`TrainingConfig::stream`]) makes on `replicas`
    /// devices: each step takes one batch per device.
    pub fn steps_of(&self, stream: &[usize], replicas: usize) -> Result<usize, TrainError> {
        let batches = stream.len() / self.batch_size;
        match batches / replicas.max(1) {
            0 => Err(TrainError::Invalid(format!(
                "{batches} batches make no step on {replicas} devices"
            ))),
            steps => Ok(steps),
        }
    }
}
