//! [`train`]: multi-task fine-tuning of a Llama's adapters with burn's `Learner`.

use std::path::Path;
use std::sync::Arc;

use burn::config::Config;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::AdamWConfig;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::AutodiffBackend;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::LearningRateMetric;
use burn::train::{ExecutionStrategy, Interrupter, Learner, MultiDeviceOptim, SupervisedTraining};
use rlora_llama::Llama;

use crate::batch::LmBatcher;
use crate::checkpoint::AtomicRecorder;
use crate::data::{Mixing, TokenizedExample, mix};
use crate::loader::StreamLoader;
use crate::metrics::{
    head_similarity_metric, loss_metric, task_loss_metric, tokens_per_second_metric,
};
use crate::model::{CausalLm, StopSignal};
use crate::renderer::ProgressLines;
use crate::schedule::WarmupCosine;

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
    /// Clip the gradient norm to this value.
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
    fn validate(&self) -> Result<(), TrainError> {
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
}

impl TrainingConfig {
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

/// The latest checkpoint epoch in `dir/checkpoint`, if any.
pub fn latest_checkpoint(dir: &Path) -> Option<usize> {
    std::fs::read_dir(dir.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .max()
}

/// Fine-tunes the adapters of `model` on `data`, writing metrics and checkpoints under `dir`;
/// with `resume`, continues from the latest checkpoint there. Returns the trained model.
pub fn train<B: AutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
) -> Result<Llama<B::InnerBackend>, TrainError> {
    let device = model.embed_tokens.weight.device();
    train_on_devices(model, data, config, dir, resume, vec![device])
}

/// [`train`], data-parallel over `devices` (the model's device first) with burn's multi-device
/// strategy: every step, each device runs the forward and backward pass of its own batch, the
/// gradients are averaged on the first device, and it takes the optimizer step. A step thus
/// consumes `devices.len()` batches; the schedule, checkpoints (every `checkpoint_every` steps)
/// and `max_steps` count steps, the logs count batches.
pub fn train_on_devices<B: AutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
    devices: Vec<B::Device>,
) -> Result<Llama<B::InnerBackend>, TrainError> {
    config.validate()?;
    let Some(device) = devices.first().cloned() else {
        return Err(TrainError::Invalid("no device to train on".into()));
    };
    let replicas = devices.len();
    let mut order = config.stream(data)?;
    let total_steps = config.steps_of(&order, replicas)?;
    order.truncate(total_steps * replicas * config.batch_size);
    let batches_per_epoch = config.checkpoint_every * replicas;
    let epochs = total_steps.div_ceil(config.checkpoint_every);
    let checkpoint = if resume { latest_checkpoint(dir) } else { None };

    let examples = Arc::new(data.train.clone());
    let first_epoch = checkpoint.map_or(1, |c| c + 1);
    let train_loader = StreamLoader::<B>::new(
        examples,
        order,
        config.batch_size,
        batches_per_epoch,
        first_epoch,
        device.clone(),
    )
    .with_seed(config.seed);
    let valid_loader = DataLoaderBuilder::new(LmBatcher)
        .batch_size(config.batch_size)
        .build(InMemDataset::new(data.validation.clone()));

    let mut head_modules: Vec<String> = Vec::new();
    for (path, adapter) in model.adapters() {
        let module = crate::report::module_type(&path);
        if adapter.config.heads > 1 && !head_modules.iter().any(|m| m == module) {
            head_modules.push(module.to_string());
        }
    }
    let interrupter = Interrupter::new();
    let model = CausalLm {
        llama: model,
        loss_scale: 1.0 / (config.grad_accumulation * replicas) as f64,
        stop: Some(StopSignal(interrupter.clone())),
    };
    let optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping(
            config
                .max_grad_norm
                .map(|n| GradientClippingConfig::Norm(n as f32)),
        )
        .init();
    let schedule = WarmupCosine::new(
        config.learning_rate,
        config.min_learning_rate,
        config.warmup_ratio,
        total_steps,
    );

    let mut training = SupervisedTraining::new(dir, Arc::new(train_loader), valid_loader)
        .with_interrupter(interrupter.clone())
        .metric_train_numeric(loss_metric())
        .metric_valid_numeric(loss_metric())
        .metric_train_numeric(tokens_per_second_metric())
        .metric_train_numeric(head_similarity_metric(None))
        .metric_train_numeric(LearningRateMetric::new())
        .num_epochs(epochs)
        .with_file_checkpointer(AtomicRecorder::new(NamedMpkFileRecorder::<
            FullPrecisionSettings,
        >::new()))
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(config.keep_checkpoints))
        .with_application_logger(None);
    for module in &head_modules {
        training = training.metric_train_numeric(head_similarity_metric(Some(module)));
    }
    for (task, name) in data.task_names.iter().enumerate() {
        training = training.metric_valid_numeric(task_loss_metric(task, name));
    }
    if let Some(epoch) = checkpoint {
        training = training.checkpoint(epoch);
    }
    if !ProgressLines::terminal() {
        training = training.renderer(ProgressLines::new(
            config.log_every * replicas,
            batches_per_epoch,
            total_steps * replicas,
        ));
    }
    if replicas > 1 {
        training = training.with_training_strategy(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice).into(),
        );
    }
    if config.grad_accumulation > 1 {
        training = training.grads_accumulation(config.grad_accumulation);
    }
    let result = training.launch(Learner::new(model, optimizer, schedule));
    if interrupter.should_stop() {
        let message = interrupter
            .get_message()
            .unwrap_or_else(|| "training was interrupted".into());
        return Err(TrainError::Stopped(message));
    }
    Ok(result.model.llama)
}
