//! [`train`]: multi-task fine-tuning of a Llama's adapters with burn's `Learner`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig};
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::LearningRateMetric;
use burn::train::{Interrupter, Learner, LearningComponentsMarker, SupervisedTraining};
use rlora_llama::Llama;

use super::checkpoint::{AtomicRecorder, WriteFailure, checkpoint_digest};
use super::clip::GlobalNormClip;
use super::config::{TrainError, TrainingConfig, TrainingData, TrainingStream};
use super::dashboard::StepDashboard;
use super::data_parallel::DataParallel;
use super::group::{GroupIdentity, ProcessGroup, UpdateExchange, digest_adapters};
use super::heads::module_type;
use super::loader::{Shards, StreamLoader};
use super::metric_log::RunMetricLogger;
use super::metrics::{
    gradient_norm_metric, head_similarity_metric, loss_metric, task_loss_metric,
    tokens_per_second_metric,
};
use super::model::CausalLm;
use super::placement::{GroupMember, Placement};
use super::renderer::ProgressLines;
use super::resume::intact_checkpoint;
use super::schedule::WarmupCosine;
use super::step_count::StepCount;
use super::update_batch::UpdateChannels;
use super::update_checks::{UpdateChecks, VerifiedCheckpoints};
use crate::data::{LmBatcher, StepBatcher};
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};

/// A finished run: the model with its trained adapters, and what the run took.
#[derive(Debug)]
pub struct Trained<B: LlamaBackend> {
    /// The model, on the inference backend.
    pub model: Llama<B>,
    /// The optimizer steps of the whole run (a resumed run made only those after its checkpoint).
    pub steps: usize,
    /// Wall time of the training loop, validation and checkpoints included, in seconds.
    pub seconds: f64,
}

/// AdamW's `ε` (PyTorch's and Hugging Face's default; burn's is 1e-5, which damps the first
/// updates of small, clipped gradients).
const ADAM_EPSILON: f32 = 1e-8;

/// burn's AdamW over a [`CausalLm`], its gradients clipped to the global norm.
type Optim<B> = GlobalNormClip<OptimizerAdaptor<AdamW, CausalLm<B>, B>, B>;

/// burn's supervised training of a [`CausalLm`] with AdamW and [`WarmupCosine`], before launch.
type Training<B> =
    SupervisedTraining<LearningComponentsMarker<B, WarmupCosine, CausalLm<B>, Optim<B>>>;

/// Fine-tunes the adapters of `model` on `data` on the model's device, writing metrics and
/// checkpoints under `dir`; with `resume`, continues from the latest checkpoint there.
pub fn train<B: LlamaAutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
) -> Result<Trained<B::InnerBackend>, TrainError> {
    let device = model.embed_tokens.weight.device();
    train_on(model, data, config, dir, resume, Placement::device(device))
}

/// [`train`] where `placement` says: data-parallel over its devices (the model's device first),
/// alone or as a member of a group. Every step, each device runs the forward and backward passes
/// of its own `grad_accumulation` micro-batches (its shard of the update, as the run's
/// `StreamLoader` cuts it), and the summed gradients make the optimizer update of one batch of
/// all the devices' rows (and, in a group, of all the processes'). A step is one update, whatever
/// the accumulation and the device count: the schedule, checkpoints (every `checkpoint_every`
/// steps), `max_steps` and the progress count updates; the metric logs have one entry per device
/// and update. In a group, each process writes its checkpoints and logs under its own `dir`.
pub fn train_on<B: LlamaAutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
    placement: Placement<B::Device>,
) -> Result<Trained<B::InnerBackend>, TrainError> {
    let Placement {
        devices,
        parallel,
        member,
    } = placement;
    config.validate()?;
    parallel.check(config).map_err(TrainError::Invalid)?;
    if devices.is_empty() {
        return Err(TrainError::Invalid("no device to train on".into()));
    }
    let replicas = devices.len();
    let scheduler_calls = parallel.scheduler_calls_per_update(replicas);
    let shards = member
        .as_ref()
        .map_or(Shards::of_process(0, 1, replicas), |m| {
            Shards::of_process(m.settings.rank, m.settings.nodes, replicas)
        });
    let stream = config.stream(data, shards.total)?;
    let steps = stream.steps();
    let interrupter = Interrupter::new();
    let head_modules = multi_head_modules(&model);
    let model = CausalLm {
        llama: model,
        shards: config.batch_shards,
        activation_checkpointing: config.activation_checkpointing,
    };
    let checkpoint = if resume {
        resume_point::<B>(dir, &model, config)?
    } else {
        None
    };
    let exchange = member
        .map(|member| join_group::<B>(member, &model, dir, checkpoint, &devices[0]))
        .transpose()?;
    let channels = UpdateChannels {
        checks: UpdateChecks::new(interrupter.clone()),
        exchange,
    };
    let failure = WriteFailure::default();
    let recorder = AtomicRecorder::stopping(interrupter.clone(), failure.clone());
    let part = ProcessPart {
        stream,
        shards,
        checkpoint,
    };
    let training = loops::<B>(data, config, dir, part, devices, parallel, channels.clone())
        .with_file_checkpointer(recorder)
        .with_interrupter(interrupter.clone());
    let training = with_metrics(training, &data.task_names, &head_modules, replicas);
    let optimizer = GlobalNormClip::new(
        AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .with_epsilon(ADAM_EPSILON)
            .init(),
        config.max_grad_norm,
    )
    .with_channels(channels.clone());
    let schedule = WarmupCosine::new(
        config.learning_rate,
        config.min_learning_rate,
        config.warmup_ratio,
        steps,
    )
    .with_calls_per_step(scheduler_calls);
    let started = Instant::now();
    let result = training.launch(Learner::new(model, optimizer, schedule));
    let seconds = started.elapsed().as_secs_f64();
    if let Some(message) = failure.message() {
        return Err(TrainError::Checkpoint(message));
    }
    if let Some(error) = channels.exchange.as_ref().and_then(|e| e.failure()) {
        return Err(TrainError::Group(error.clone()));
    }
    if interrupter.should_stop() {
        let message = interrupter
            .get_message()
            .unwrap_or_else(|| "training was interrupted".into());
        return Err(if channels.checks.found_non_finite() {
            TrainError::Stopped(message)
        } else {
            TrainError::Interrupted(message)
        });
    }
    Ok(Trained {
        model: result.model.llama,
        steps,
        seconds,
    })
}

/// Joins the group of `member` and checks at the handshake that every process has this one's
/// settings, data, base, initial adapters and resumed `checkpoint` (of `dir`).
fn join_group<B: LlamaAutodiffBackend>(
    member: GroupMember,
    model: &CausalLm<B>,
    dir: &Path,
    checkpoint: Option<usize>,
    device: &B::Device,
) -> Result<Arc<UpdateExchange<B::InnerBackend>>, TrainError> {
    let resume = match checkpoint {
        Some(epoch) => Some((
            epoch,
            checkpoint_digest(dir, epoch).map_err(TrainError::Invalid)?,
        )),
        None => None,
    };
    let identity = GroupIdentity {
        run: member.identity,
        adapters: digest_adapters(&model.llama),
        resume,
    };
    let group = ProcessGroup::<B::InnerBackend>::join(member.settings, device, member.watch)
        .map_err(TrainError::Group)?;
    identity.check(&group, device).map_err(TrainError::Group)?;
    Ok(Arc::new(UpdateExchange::new(group)))
}

/// The checkpoint epoch a resumed run continues from (see [`intact_checkpoint`]), saying which
/// newer checkpoints it skipped and why.
fn resume_point<B: LlamaAutodiffBackend>(
    dir: &Path,
    model: &CausalLm<B>,
    config: &TrainingConfig,
) -> Result<Option<usize>, TrainError> {
    let (epoch, skipped) = intact_checkpoint::<B, Optim<B>>(dir, model)?;
    if let (Some(epoch), false) = (epoch, skipped.is_empty()) {
        eprintln!(
            "resuming from the checkpoint of step {} (checkpoint {epoch}); skipped: {}",
            epoch * config.checkpoint_every,
            skipped.join("; ")
        );
    }
    Ok(epoch)
}

/// This process's part of a run: its shards of the training stream, and the checkpoint it
/// resumes after.
struct ProcessPart {
    stream: TrainingStream,
    shards: Shards,
    checkpoint: Option<usize>,
}

/// The Learner's loops over this process's `part` of the run (one update of `grad_accumulation`
/// micro-batches per device and iteration), in "epochs" of `checkpoint_every` updates with a
/// validation pass and a checkpoint after each (written once the `channels`' checks found every
/// update before it finite), from the epoch after the resumed checkpoint; on `devices`, summing
/// their gradients as `parallel` says.
fn loops<B: LlamaAutodiffBackend>(
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    part: ProcessPart,
    devices: Vec<B::Device>,
    parallel: DataParallel,
    channels: UpdateChannels<B::InnerBackend>,
) -> Training<B> {
    let ProcessPart {
        stream,
        shards,
        checkpoint,
    } = part;
    let checks = channels.checks.clone();
    let interrupter = checks.interrupter().clone();
    let replicas = devices.len();
    let steps = stream.steps();
    let count = StepCount::new(&stream, config.checkpoint_every, replicas);
    let train_loader = StreamLoader::<B>::new(
        Arc::new(data.train.clone()),
        stream.order,
        config.examples_per_step(1),
        StepBatcher {
            micro_batch: config.batch_size,
        },
        config.checkpoint_every,
        checkpoint.map_or(1, |c| c + 1),
        devices[0].clone(),
    )
    .with_shards(shards)
    .with_seed(config.seed)
    .with_channels(channels);
    let valid_loader = DataLoaderBuilder::new(LmBatcher)
        .batch_size(config.batch_size)
        .build(InMemDataset::new(data.validation.clone()));
    let mut training = SupervisedTraining::new(dir, Arc::new(train_loader), valid_loader)
        .num_epochs(steps.div_ceil(config.checkpoint_every))
        .with_checkpointing_strategy(VerifiedCheckpoints::new(
            KeepLastNCheckpoints::new(config.keep_checkpoints),
            checks,
            dir,
        ))
        .with_metric_logger(RunMetricLogger::new(dir, checkpoint.map_or(1, |c| c + 1)))
        .with_application_logger(None);
    if let Some(epoch) = checkpoint {
        training = training.checkpoint(epoch);
    }
    training = if ProgressLines::terminal() {
        training.renderer(StepDashboard::new(interrupter.clone(), checkpoint, count))
    } else {
        training.renderer(ProgressLines::new(config.log_every, count))
    };
    training.with_training_strategy(parallel.strategy(devices).into())
}

/// The run's metrics: loss (train and validation), tokens per second (of the updates of
/// `devices` devices), the gradient norm, learning rate, head similarity (over all adapters and per type in
/// `head_modules`) and each task's validation loss.
fn with_metrics<B: LlamaAutodiffBackend>(
    training: Training<B>,
    task_names: &[String],
    head_modules: &[String],
    devices: usize,
) -> Training<B> {
    let mut training = training
        .metric_train_numeric(loss_metric())
        .metric_valid_numeric(loss_metric())
        .metric_train_numeric(tokens_per_second_metric(devices))
        .metric_train_numeric(gradient_norm_metric())
        .metric_train_numeric(head_similarity_metric(None))
        .metric_train_numeric(LearningRateMetric::new());
    for module in head_modules {
        training = training.metric_train_numeric(head_similarity_metric(Some(module)));
    }
    for (task, name) in task_names.iter().enumerate() {
        training = training.metric_valid_numeric(task_loss_metric(task, name));
    }
    training
}

/// The projection types (`mlp.up_proj`, …) whose adapters have more than one head.
fn multi_head_modules<B: LlamaBackend>(model: &Llama<B>) -> Vec<String> {
    let mut modules: Vec<String> = Vec::new();
    for (path, adapter) in model.adapters() {
        let module = module_type(&path);
        if adapter.config.heads > 1 && !modules.iter().any(|m| m == module) {
            modules.push(module.to_string());
        }
    }
    modules
}
