//! [`RunSpec`]: a training run described by typed parts (the model, the adapters, the data, the
//! schedule, the evaluation, the output folder and the placement), each a group of `rlora
//! train`'s flags and of `run_config.json`'s keys: the command line parses into it and the run
//! file is it serialized, so a setting is typed once.

use std::path::PathBuf;

use clap::Args;
use rlora::{Preset, RLoraHyperparameters, RouterInit};
use rlora_llama::BaseDtype;
use serde::Serialize;

use super::{Failure, load_flagged_tasks, values};
use crate::data::{DEFAULT_MAX_LINE_BYTES, Mixing, SplitSizes, TaskData, TaskExample, hold_out};
use crate::trainer::TrainingConfig;

/// A training run: what it fine-tunes, on what, how, how it is scored, where it writes and on
/// which devices and processes. Its flags are `rlora train`'s; serialized, it is the run's
/// `run_config.json` (one flat object, a key per flag).
#[derive(Debug, Clone, Args, Serialize)]
pub struct RunSpec {
    /// The base model and the float type of its frozen weights.
    #[command(flatten)]
    #[serde(flatten)]
    pub model: ModelSettings,
    /// The adapters: variant, shape, scaling and targets.
    #[command(flatten)]
    #[serde(flatten)]
    pub adapter: AdapterSettings,
    /// The tasks and how they are split, cut and mixed.
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataSettings,
    /// The learning rate's schedule and the run's length (what a resume may change).
    #[command(flatten)]
    #[serde(flatten)]
    pub schedule: ScheduleSettings,
    /// The batches, checkpoints and seed.
    #[command(flatten)]
    #[serde(flatten)]
    pub batches: BatchSettings,
    /// The evaluation after training.
    #[command(flatten)]
    #[serde(flatten)]
    pub evaluation: EvaluationSettings,
    /// The run's folder and what may happen to a run already in it.
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputSettings,
    /// The devices of this process and its group of processes.
    #[command(flatten)]
    #[serde(flatten)]
    pub placement: PlacementSettings,
}

/// The base model.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Model")]
pub struct ModelSettings {
    /// A Hugging Face model folder (config.json, weights, tokenizer.json) (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The float type of the frozen base: its matrices are held and multiplied in it, while the
    /// adapters, norms, optimizer state and loss stay f32 (`auto`: the checkpoint's own 16-bit
    /// type where the backend computes in it, else f32). `q8` and `q4` hold the decoder's
    /// projections block-wise quantized to 8 or 4 bits (QLoRA's frozen base: 1.125 and 0.625
    /// bytes per parameter), the rest as `auto`.
    #[arg(long, value_enum, default_value_t = BaseDtype::Auto)]
    #[serde(with = "values::flag")]
    pub base_dtype: BaseDtype,
}

/// The adapters put on the model's target projections.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Adapters")]
pub struct AdapterSettings {
    /// The adapter variant.
    #[arg(long, value_enum, default_value_t = Preset::RLora)]
    #[serde(with = "values::flag")]
    pub variant: Preset,
    /// Heads per adapter (ignored by `lora`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub heads: u32,
    /// Adapter rank.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub rank: u32,
    /// LoRA alpha.
    #[arg(long, default_value_t = 32.0, value_parser = values::non_negative)]
    pub alpha: f64,
    /// Dropout (default: the variant's).
    #[arg(long, value_parser = values::fraction)]
    pub dropout: Option<f64>,
    /// Rank-stabilized scaling α/√r instead of α/r: true or false (default: the variant's).
    #[arg(long)]
    pub rslora: Option<bool>,
    /// How the router starts (default: zeros).
    #[arg(long, value_enum)]
    #[serde(serialize_with = "values::serialize_optional_flag")]
    pub router_init: Option<RouterInit>,
    /// Target projections, comma-separated (PEFT names, or all-linear).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gate_proj,up_proj,down_proj"
    )]
    pub targets: Vec<String>,
}

/// The tasks, and the examples a run takes from them.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Data")]
pub struct DataSettings {
    /// A task: NAME=TRAIN.jsonl, or NAME=TRAIN.jsonl,VALID.jsonl[,TEST.jsonl] (repeatable).
    #[arg(long = "task", value_name = "NAME=FILES")]
    pub tasks: Vec<String>,
    /// Add the built-in synthetic multi-task suite.
    #[arg(long)]
    pub builtin: bool,
    /// proportional, uniform, temperature:T or weights:W1,W2,…
    #[arg(long, default_value = "proportional", value_parser = values::mixing)]
    #[serde(serialize_with = "values::serialize_display")]
    pub mixing: Mixing,
    /// At most this many training examples per task (the paper samples 8000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_examples: Option<u32>,
    /// Held-out fraction of a task's training file when it has no validation file.
    #[arg(long, default_value_t = 0.05, value_parser = values::fraction)]
    pub holdout: f64,
    /// The longest line of a task file, in bytes (a longer one is an error naming the file and
    /// the line).
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: u64,
    /// Longest tokenized example.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_seq_len: u32,
    /// Seeds the built-in suite and the held-out splits (default: --seed).
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Test examples per task of the built-in suite (drawn first, distinct from the training
    /// and validation examples).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub builtin_test_examples: u32,
}

/// The learning rate's schedule and the run's length: what a resumed run may change (applied
/// from the checkpoint's step on, since the checkpoint does not fix it).
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Schedule (may change on --resume)")]
pub struct ScheduleSettings {
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4, value_parser = values::positive)]
    pub lr: f64,
    /// Fraction of the steps (optimizer updates) of linear warmup.
    #[arg(long, default_value_t = 0.03, value_parser = values::fraction)]
    pub warmup_ratio: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = values::non_negative)]
    pub weight_decay: f64,
    /// Clip the global L2 norm of all adapter gradients to this (0 turns clipping off).
    #[arg(long, default_value_t = 1.0, value_parser = values::non_negative)]
    pub max_grad_norm: f64,
    /// Passes over the mixture.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Stop after this many optimizer updates (overrides --epochs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_steps: Option<u32>,
}

/// The batches of every update, the checkpoints and the seed: fixed for the life of a run (a
/// resumed run must train on the same stream of batches).
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Batches")]
pub struct BatchSettings {
    /// Examples per micro-batch and device (one forward and backward pass).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Micro-batches per optimizer update (one step): the update is that of one batch of
    /// --batch-size × --grad-accumulation examples.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub grad_accumulation: u32,
    /// Keep only each decoder layer's input from the forward pass and recompute the layer in
    /// the backward (Hugging Face's gradient_checkpointing): the same gradients with far less
    /// activation memory, for about 1.4-1.5x the compute of a step (measured).
    #[arg(long)]
    pub activation_checkpointing: bool,
    /// Checkpoint every this many optimizer updates.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: u32,
    /// Seeds the adapters, the data order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The evaluation of the base and the adapted model after training.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Evaluation")]
pub struct EvaluationSettings {
    /// At most this many evaluation examples per task.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_examples: u32,
    /// New tokens for exact-match evaluation.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_max_new_tokens: u32,
    /// Skip evaluating the base model (only the adapted one is scored).
    #[arg(long)]
    pub skip_base_eval: bool,
    /// After training, also score each task with the model merged under that task's mean
    /// routing per projection (`merged.json`), beside the routed adapter.
    #[arg(long)]
    pub eval_merged: bool,
}

/// The run's folder.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Output")]
pub struct OutputSettings {
    /// Where the adapter, checkpoints, metrics and evaluation go: a new or empty folder (or one
    /// without a run), unless --resume or --overwrite.
    #[arg(long)]
    pub output: PathBuf,
    /// Continue the run in --output from its latest checkpoint. Its settings must match the
    /// run's run_config.json, except the learning rate and the steps, which may change.
    #[arg(long, conflicts_with = "overwrite")]
    #[serde(skip)]
    pub resume: bool,
    /// Replace the run already in --output: its adapter, checkpoints, logs, evaluation and
    /// pictures are deleted first (other files there are left alone).
    #[arg(long)]
    #[serde(skip)]
    pub overwrite: bool,
}

/// The devices of this process, and the group of processes it trains with.
#[derive(Debug, Clone, Args, Serialize)]
#[command(next_help_heading = "Devices and processes")]
pub struct PlacementSettings {
    /// Train data-parallel on this many devices (CUDA or wgpu GPUs 0..N; on the CPU backend, N
    /// workers): each step takes a batch per device and sums their gradients of the whole
    /// update's loss (burn's multi-device strategy; its DDP strategy in a `--features ddp`
    /// build).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub devices: u32,
    /// Train as one of N processes of a group (torchrun's --nnodes × --nproc-per-node): each
    /// takes its shard of every step's batch on its --devices, and their gradients are summed
    /// with burn's collective all-reduce. Start every process with the same flags, its own
    /// --node-rank and the same --coordinator (or use `rlora launch` on one machine).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    #[serde(skip_serializing_if = "is_one")]
    pub nodes: u32,
    /// This process's rank in the group, 0..N: rank 0 serves the coordinator and writes the
    /// checkpoints, logs, adapter and evaluation into --output; the others write nothing there.
    #[arg(long, default_value_t = 0)]
    #[serde(skip)]
    pub node_rank: u32,
    /// HOST:PORT of the group's coordinator, which rank 0 serves on PORT (torchrun's
    /// --master-addr and --master-port).
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip)]
    pub coordinator: Option<String>,
    /// HOST:PORT where the other processes reach this one's tensor service (default: this
    /// machine's address towards the coordinator, and the coordinator's port + 1 + rank).
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip)]
    pub node_address: Option<String>,
    /// Seconds to wait for the coordinator, for the whole group to join, and for one exchange
    /// of gradients, before the run stops with an error.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(skip)]
    pub group_timeout: u64,
}

/// Whether a count is 1 (the default, which `run_config.json` leaves out).
fn is_one(count: &u32) -> bool {
    *count == 1
}

impl RunSpec {
    /// A run writing into `output` with every other setting at its flag's default: R-LoRA with 5
    /// heads of rank 8 on the MLP projections of the embedded tiny base, the paper's schedule,
    /// and no task yet (add `data.tasks` or set `data.builtin`).
    pub fn new(output: impl Into<PathBuf>) -> Self {
        use clap::FromArgMatches;
        // The flags' defaults, as clap fills them in (the output is required: a stand-in here).
        let matches = Self::command().get_matches_from(["train", "--output", "."]);
        let mut spec = Self::from_arg_matches(&matches).expect("the flags' defaults parse");
        spec.output.output = output.into();
        spec
    }

    /// The run of `cargo run --example train`: the shipped tiny base on the built-in suite,
    /// R-LoRA on the MLP with 5 heads of rank 8 and the paper's α, rank stabilization and
    /// dropout, a higher learning rate and more updates than a large model needs (a few minutes
    /// on a laptop CPU).
    pub fn tiny_base(output: impl Into<PathBuf>) -> Self {
        let mut spec = Self::new(output);
        spec.use_tiny_base(|_| false);
        spec
    }

    /// Puts the tiny base's run settings (see [`RunSpec::tiny_base`]) in place of those whose
    /// flag's id `keep` does not name.
    pub(crate) fn use_tiny_base(&mut self, keep: impl Fn(&str) -> bool) {
        let mut set = |id: &str, apply: &mut dyn FnMut(&mut Self)| {
            if !keep(id) {
                apply(self);
            }
        };
        set("model", &mut |s| {
            s.model.model = Some(crate::base::tiny_base_dir())
        });
        set("builtin", &mut |s| s.data.builtin = true);
        set("variant", &mut |s| s.adapter.variant = Preset::RLora);
        set("heads", &mut |s| s.adapter.heads = 5);
        set("rank", &mut |s| s.adapter.rank = 8);
        set("lr", &mut |s| s.schedule.lr = 5e-3);
        set("batch_size", &mut |s| s.batches.batch_size = 16);
        set("max_steps", &mut |s| s.schedule.max_steps = Some(2400));
        set("checkpoint_every", &mut |s| {
            s.batches.checkpoint_every = 200
        });
        set("warmup_ratio", &mut |s| s.schedule.warmup_ratio = 0.03);
        set("max_seq_len", &mut |s| s.data.max_seq_len = 96);
        set("eval_examples", &mut |s| s.evaluation.eval_examples = 50);
        set("eval_max_new_tokens", &mut |s| {
            s.evaluation.eval_max_new_tokens = 12
        });
    }

    /// Checks every setting against its flag's domain, so that a spec built in Rust is refused
    /// as the command line refuses it (its parsers give the same domains): the training
    /// settings through the trainer's own check, the rest here; the adapters' against the
    /// model come later, with its config ([`rlora_llama::AdapterSpec::check`]).
    ///
    /// # Errors
    /// The first setting out of its domain, named by its flag.
    pub fn check(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (data, evaluation, placement) = (&self.data, &self.evaluation, &self.placement);
        let counts = [
            ("max-seq-len", u64::from(data.max_seq_len), 2),
            ("max-line-bytes", data.max_line_bytes, 1),
            ("max-examples", data.max_examples.map_or(1, u64::from), 1),
            (
                "builtin-test-examples",
                u64::from(data.builtin_test_examples),
                1,
            ),
            ("heads", u64::from(self.adapter.heads), 1),
            ("rank", u64::from(self.adapter.rank), 1),
            ("eval-examples", u64::from(evaluation.eval_examples), 1),
            (
                "eval-max-new-tokens",
                u64::from(evaluation.eval_max_new_tokens),
                1,
            ),
            ("devices", u64::from(placement.devices), 1),
            ("nodes", u64::from(placement.nodes), 1),
            ("group-timeout", placement.group_timeout, 1),
        ];
        if let Some((flag, value, least)) = counts.iter().find(|(_, value, least)| value < least) {
            return Err(format!("--{flag} is {value}: it must be at least {least}").into());
        }
        values::fraction(&data.holdout.to_string()).map_err(|e| format!("--holdout: {e}"))?;
        values::non_negative(&self.adapter.alpha.to_string())
            .map_err(|e| format!("--alpha: {e}"))?;
        if let Some(dropout) = self.adapter.dropout {
            values::fraction(&dropout.to_string()).map_err(|e| format!("--dropout: {e}"))?;
        }
        values::mixing(&data.mixing.to_string()).map_err(|e| format!("--mixing: {e}"))?;
        if self.output.resume && self.output.overwrite {
            return Err(
                "--resume and --overwrite: continue the run or replace it, not both".into(),
            );
        }
        self.training_config().validate()?;
        Ok(())
    }

    /// `rlora train`'s flags as a clap command named `train` (a number's flag takes a value
    /// starting with `-`, for its parser to judge).
    pub(crate) fn command() -> clap::Command {
        values::numbers_may_be_negative(Self::augment_args(clap::Command::new("train")))
    }

    /// The seed of the data: `--data-seed`, else `--seed`.
    pub fn data_seed(&self) -> u64 {
        self.data.data_seed.unwrap_or(self.batches.seed)
    }

    /// The trainer's config of this run (one shard per batch: the backend's count is set where
    /// the backend is known, [`train`](super::train)).
    pub fn training_config(&self) -> TrainingConfig {
        let (schedule, batches) = (&self.schedule, &self.batches);
        TrainingConfig::new()
            .with_learning_rate(schedule.lr)
            .with_warmup_ratio(schedule.warmup_ratio)
            .with_weight_decay(schedule.weight_decay)
            // 0 turns clipping off; a negative or NaN limit reaches the trainer's check.
            .with_max_grad_norm((schedule.max_grad_norm != 0.0).then_some(schedule.max_grad_norm))
            .with_epochs(schedule.epochs as usize)
            .with_max_steps(schedule.max_steps.map(|s| s as usize))
            .with_batch_size(batches.batch_size as usize)
            .with_grad_accumulation(batches.grad_accumulation as usize)
            .with_activation_checkpointing(batches.activation_checkpointing)
            .with_checkpoint_every(batches.checkpoint_every as usize)
            .with_seed(batches.seed)
            .with_mixing(self.data.mixing.clone())
    }

    /// The tasks: files named by --task, then the built-in suite with --builtin.
    ///
    /// # Errors
    /// A task cannot be read (naming the file, line and the flag that answers it).
    pub fn tasks(&self) -> Result<Vec<TaskData>, Failure> {
        let sizes = SplitSizes {
            test: self.data.builtin_test_examples as usize,
            ..SplitSizes::default()
        };
        let builtin = self.data.builtin.then(|| (self.data_seed(), sizes));
        load_flagged_tasks(&self.data.tasks, builtin, self.data.max_line_bytes)
    }

    /// Train (cut to `--max-examples`), validation (given or held out) and the examples to
    /// evaluate (test, else validation; at most `--eval-examples`) of the `index`-th task.
    pub fn splits(
        &self,
        task: &TaskData,
        index: usize,
    ) -> (Vec<TaskExample>, Vec<TaskExample>, Vec<TaskExample>) {
        let seed = self.data_seed().wrapping_add(index as u64);
        let (mut train, validation) = match &task.validation {
            Some(validation) => (task.train.clone(), validation.clone()),
            None => {
                let (train, held) = hold_out(task.train.len(), self.data.holdout, seed);
                let pick = |indices: Vec<usize>| {
                    indices.into_iter().map(|i| task.train[i].clone()).collect()
                };
                (pick(train), pick(held))
            }
        };
        if let Some(cap) = self.data.max_examples {
            train.truncate(cap as usize);
        }
        let mut eval = task.test.clone().unwrap_or_else(|| validation.clone());
        eval.truncate(self.evaluation.eval_examples as usize);
        (train, validation, eval)
    }
}

#[cfg(test)]
impl RunSpec {
    /// The spec of `rlora train`'s `flags` (the program's name left out), for tests.
    pub(crate) fn parse_flags(flags: &[&str]) -> Self {
        use clap::FromArgMatches;
        let argv = std::iter::once("train").chain(flags.iter().copied());
        Self::from_arg_matches(&Self::command().get_matches_from(argv)).expect("the flags parse")
    }
}

impl AdapterSettings {
    /// The adapters' settings: the variant's, with the flags' overrides.
    pub fn hyperparameters(&self) -> RLoraHyperparameters {
        let mut settings = self
            .variant
            .hyperparameters(self.heads as usize)
            .with_rank(self.rank as usize)
            .with_alpha(self.alpha);
        if let Some(rslora) = self.rslora {
            settings.use_rslora = rslora;
        }
        if let Some(start) = self.router_init {
            settings.router_init = start;
        }
        if let Some(p) = self.dropout {
            settings.dropout = p;
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunError, train};
    use crate::trainer::DataParallel;

    /// A change to a default spec that puts one setting out of its flag's domain.
    type Edit = fn(&mut RunSpec);

    /// Each setting out of its domain, set in code: `check` refuses it naming the flag (or, for
    /// the trainer's settings, the trainer's name for it), as the command line refuses the flag
    /// with that value; and a run of such a spec is refused before it writes anything.
    #[test]
    fn a_spec_built_in_code_is_checked_as_its_flags_are() {
        let cases: [(&str, &str, &str, Edit); 26] = [
            ("max-seq-len", "1", "--max-seq-len", |s| {
                s.data.max_seq_len = 1
            }),
            ("max-line-bytes", "0", "--max-line-bytes", |s| {
                s.data.max_line_bytes = 0
            }),
            ("max-examples", "0", "--max-examples", |s| {
                s.data.max_examples = Some(0)
            }),
            (
                "builtin-test-examples",
                "0",
                "--builtin-test-examples",
                |s| s.data.builtin_test_examples = 0,
            ),
            ("holdout", "1", "--holdout", |s| s.data.holdout = 1.0),
            ("holdout", "NaN", "--holdout", |s| s.data.holdout = f64::NAN),
            ("mixing", "temperature:-1", "--mixing", |s| {
                s.data.mixing = Mixing::Temperature(-1.0)
            }),
            ("heads", "0", "--heads", |s| s.adapter.heads = 0),
            ("rank", "0", "--rank", |s| s.adapter.rank = 0),
            ("alpha", "-1", "--alpha", |s| s.adapter.alpha = -1.0),
            ("dropout", "1", "--dropout", |s| {
                s.adapter.dropout = Some(1.0)
            }),
            ("lr", "0", "learning rate", |s| s.schedule.lr = 0.0),
            ("lr", "inf", "learning rate", |s| {
                s.schedule.lr = f64::INFINITY
            }),
            ("warmup-ratio", "1", "warmup ratio", |s| {
                s.schedule.warmup_ratio = 1.0
            }),
            ("weight-decay", "-1", "weight decay", |s| {
                s.schedule.weight_decay = -1.0
            }),
            ("max-grad-norm", "-1", "gradient norm limit", |s| {
                s.schedule.max_grad_norm = -1.0
            }),
            ("epochs", "0", "epochs", |s| s.schedule.epochs = 0),
            ("max-steps", "0", "max steps", |s| {
                s.schedule.max_steps = Some(0)
            }),
            ("batch-size", "0", "batch size", |s| {
                s.batches.batch_size = 0
            }),
            ("grad-accumulation", "0", "gradient accumulation", |s| {
                s.batches.grad_accumulation = 0
            }),
            ("checkpoint-every", "0", "checkpoint interval", |s| {
                s.batches.checkpoint_every = 0
            }),
            ("eval-examples", "0", "--eval-examples", |s| {
                s.evaluation.eval_examples = 0
            }),
            ("eval-max-new-tokens", "0", "--eval-max-new-tokens", |s| {
                s.evaluation.eval_max_new_tokens = 0
            }),
            ("devices", "0", "--devices", |s| s.placement.devices = 0),
            ("nodes", "0", "--nodes", |s| s.placement.nodes = 0),
            ("group-timeout", "0", "--group-timeout", |s| {
                s.placement.group_timeout = 0
            }),
        ];
        let command = RunSpec::command();
        let output = std::env::temp_dir().join(format!("rlora-spec-check-{}", std::process::id()));
        RunSpec::new(&output).check().expect("the defaults pass");
        for (flag, value, named, edit) in cases {
            let argv = ["train", "--output", ".", &format!("--{flag}={value}")];
            assert!(
                command.clone().try_get_matches_from(argv).is_err(),
                "the command line takes --{flag}={value}"
            );
            let mut spec = RunSpec::new(&output);
            edit(&mut spec);
            let error = spec.check().expect_err(flag).to_string();
            assert!(error.contains(named), "--{flag}={value}: {error}");
            let ran = train::<burn::backend::Autodiff<burn::backend::Flex>>(
                &spec,
                &[Default::default()],
                DataParallel::Gather,
            );
            assert!(matches!(ran, Err(RunError::Refused(_))), "--{flag}={value}");
            assert!(
                !output.exists(),
                "--{flag}={value} wrote {}",
                output.display()
            );
        }
    }
}
