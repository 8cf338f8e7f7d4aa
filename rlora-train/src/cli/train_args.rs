//! The flags of `rlora train`, and what they make: the adapters' settings, the training config and
//! the tasks.

use std::path::PathBuf;

use clap::{Args, FromArgMatches};
use rlora::{Preset, RLoraHyperparameters, RouterInit};
use rlora_llama::BaseDtype;
use serde::Serialize;

use super::{CliError, values};
use crate::data::{
    DEFAULT_MAX_LINE_BYTES, Mixing, SplitSizes, TaskData, TaskExample, hold_out, load_tasks,
};
use crate::trainer::TrainingConfig;

/// Arguments of `rlora train`.
#[derive(Debug, Args, Serialize)]
pub struct TrainArgs {
    /// A TOML or JSON file of these flags (`lr = 1e-4`, `task = ["a=a.jsonl"]`); flags on the
    /// command line win. A run's `run_config.json` is one.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// A Hugging Face model folder (config.json, weights, tokenizer.json) (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A task: NAME=TRAIN.jsonl, or NAME=TRAIN.jsonl,VALID.jsonl[,TEST.jsonl] (repeatable).
    #[arg(long = "task", value_name = "NAME=FILES")]
    pub tasks: Vec<String>,
    /// Add the built-in synthetic multi-task suite.
    #[arg(long)]
    pub builtin: bool,
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
    /// The adapter variant.
    #[arg(long, value_enum, default_value_t = Preset::RLora)]
    #[serde(with = "super::values::flag")]
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
    #[serde(serialize_with = "super::values::serialize_optional_flag")]
    pub router_init: Option<RouterInit>,
    /// Target projections, comma-separated (PEFT names, or all-linear).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gate_proj,up_proj,down_proj"
    )]
    pub targets: Vec<String>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4, value_parser = values::positive)]
    pub lr: f64,
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
    /// Checkpoint every this many optimizer updates.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: u32,
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
    /// At most this many evaluation examples per task.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_examples: u32,
    /// New tokens for exact-match evaluation.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_max_new_tokens: u32,
    /// Seeds the adapters, the data order and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seeds the built-in suite and the held-out splits (default: --seed).
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Skip evaluating the base model (only the adapted one is scored).
    #[arg(long)]
    pub skip_base_eval: bool,
    /// Test examples per task of the built-in suite (drawn first, distinct from the training
    /// and validation examples).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub builtin_test_examples: u32,
    /// After training, also score each task with the model merged under that task's mean
    /// routing per projection (`merged.json`), beside the routed adapter.
    #[arg(long)]
    pub eval_merged: bool,
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
    /// The float type of the frozen base: its matrices are held and multiplied in it, while the
    /// adapters, norms, optimizer state and loss stay f32 (`auto`: the checkpoint's own 16-bit
    /// type where the backend computes in it, else f32). `q8` and `q4` hold the decoder's
    /// projections block-wise quantized to 8 or 4 bits (QLoRA's frozen base: 1.125 and 0.625
    /// bytes per parameter), the rest as `auto`.
    #[arg(long, value_enum, default_value_t = BaseDtype::Auto)]
    #[serde(with = "super::values::flag")]
    pub base_dtype: BaseDtype,
}

/// Whether a count is 1 (the default, which `run_config.json` leaves out).
fn is_one(count: &u32) -> bool {
    *count == 1
}

impl TrainArgs {
    /// `rlora train`'s flags as a command of their own (`rlora train` in messages), negative
    /// numbers accepted as values (for their parsers to judge).
    pub fn command() -> clap::Command {
        let command = Self::augment_args(clap::Command::new("train").bin_name("rlora train"));
        values::numbers_may_be_negative(command.args_override_self(true))
    }

    /// Parses `argv` (the program's name first) as `rlora train`'s flags.
    pub fn try_parse_from(argv: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        Self::from_arg_matches(&Self::command().try_get_matches_from(argv)?)
    }

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

    /// The seed of the data: `--data-seed`, else `--seed`.
    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(self.seed)
    }

    pub(super) fn training_config(&self) -> TrainingConfig {
        TrainingConfig::new()
            .with_learning_rate(self.lr)
            .with_warmup_ratio(self.warmup_ratio)
            .with_weight_decay(self.weight_decay)
            .with_batch_size(self.batch_size as usize)
            .with_grad_accumulation(self.grad_accumulation as usize)
            .with_activation_checkpointing(self.activation_checkpointing)
            .with_max_grad_norm((self.max_grad_norm > 0.0).then_some(self.max_grad_norm))
            .with_epochs(self.epochs as usize)
            .with_max_steps(self.max_steps.map(|s| s as usize))
            .with_checkpoint_every(self.checkpoint_every as usize)
            .with_mixing(self.mixing.clone())
            .with_seed(self.seed)
            .with_batch_shards(crate::backend::batch_shards())
    }

    /// The tasks: files named by --task, then the built-in suite with --builtin.
    pub(super) fn tasks(&self) -> Result<Vec<TaskData>, CliError> {
        let sizes = SplitSizes {
            test: self.builtin_test_examples as usize,
            ..SplitSizes::default()
        };
        let builtin = self.builtin.then(|| (self.data_seed(), sizes));
        Ok(load_tasks(
            &self.tasks,
            builtin,
            self.max_line_bytes as usize,
        )?)
    }
}

/// Train, train split cut to `max_examples`, validation (given or held out), and the examples to
/// evaluate (test, else validation) of one task.
pub(super) fn splits(
    task: &TaskData,
    args: &TrainArgs,
    seed: u64,
) -> (Vec<TaskExample>, Vec<TaskExample>, Vec<TaskExample>) {
    let (mut train, validation) = match &task.validation {
        Some(validation) => (task.train.clone(), validation.clone()),
        None => {
            let (train, held) = hold_out(task.train.len(), args.holdout, seed);
            let pick =
                |indices: Vec<usize>| indices.into_iter().map(|i| task.train[i].clone()).collect();
            (pick(train), pick(held))
        }
    };
    if let Some(cap) = args.max_examples {
        train.truncate(cap as usize);
    }
    let mut eval = task.test.clone().unwrap_or_else(|| validation.clone());
    eval.truncate(args.eval_examples as usize);
    (train, validation, eval)
}
