//! `rlora train`: fine-tune a Hugging Face model's adapters on a task mixture, then evaluate the
//! base and the adapted model per task.

use crate::base::model_or_tiny_base;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use rlora::{RLoraConfig, RouterInit};
use rlora_llama::{AdapterSpec, Llama, Targets, TextTokenizer};
use serde::{Deserialize, Serialize};

use super::write_json;
use crate::data::{
    Mixing, PromptTemplate, SplitSizes, TaskData, TaskExample, builtin_suite, hold_out,
    parse_task_spec, tokenize_examples,
};
use crate::eval::{EvalReport, evaluate};
use crate::report;
use crate::resources::peak_memory_bytes;
use crate::train::{TrainingConfig, TrainingData, train_on_devices};

/// The adapter variants of the R-LoRA paper's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Plain LoRA: one head, zero B.
    Lora,
    /// HydraLoRA: zero heads, one dropout on the input.
    Hydra,
    /// R-LoRA: random heads and multi-head dropout.
    Rlora,
    /// Ablation: R-LoRA's random init with HydraLoRA's dropout.
    RloraInitOnly,
    /// Ablation: R-LoRA's multi-head dropout with zero heads.
    RloraDropoutOnly,
}

/// How the router starts (`--router-init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterStart {
    /// Zeros: uniform gates, so an adapter with random heads starts exactly at the base.
    Zeros,
    /// U(±1/√d_in), the official R-LoRA and HydraLoRA code's router (with random heads the
    /// start is then close to, not exactly, the base).
    KaimingUniform,
}

impl From<RouterStart> for RouterInit {
    fn from(start: RouterStart) -> Self {
        match start {
            RouterStart::Zeros => RouterInit::Zeros,
            RouterStart::KaimingUniform => RouterInit::KaimingUniform,
        }
    }
}

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
    /// Where the adapter, checkpoints, metrics and evaluation go.
    #[arg(long)]
    pub output: PathBuf,
    /// Continue from the latest checkpoint in --output.
    #[arg(long)]
    pub resume: bool,
    /// The adapter variant.
    #[arg(long, value_enum, default_value_t = Variant::Rlora)]
    pub variant: Variant,
    /// Heads per adapter (ignored by `lora`).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub heads: u32,
    /// Adapter rank.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub rank: u32,
    /// LoRA alpha.
    #[arg(long, default_value_t = 32.0, value_parser = super::non_negative)]
    pub alpha: f64,
    /// Dropout (default: the variant's).
    #[arg(long, value_parser = super::dropout)]
    pub dropout: Option<f64>,
    /// Rank-stabilized scaling α/√r instead of α/r: true or false (default: the variant's).
    #[arg(long)]
    pub rslora: Option<bool>,
    /// How the router starts (default: zeros).
    #[arg(long, value_enum)]
    pub router_init: Option<RouterStart>,
    /// Target projections, comma-separated (PEFT names, or all-linear).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gate_proj,up_proj,down_proj"
    )]
    pub targets: Vec<String>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4, value_parser = super::positive)]
    pub lr: f64,
    /// Examples per step.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Steps per optimizer update.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub grad_accumulation: u32,
    /// Fraction of steps of linear warmup.
    #[arg(long, default_value_t = 0.03, value_parser = super::fraction)]
    pub warmup_ratio: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = super::non_negative)]
    pub weight_decay: f64,
    /// Clip the gradient norm (0 turns clipping off).
    #[arg(long, default_value_t = 1.0, value_parser = super::non_negative)]
    pub max_grad_norm: f64,
    /// Passes over the mixture.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub epochs: u32,
    /// Stop after this many steps (overrides --epochs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_steps: Option<u32>,
    /// Checkpoint every this many steps.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: u32,
    /// proportional, uniform, temperature:T or weights:W1,W2,…
    #[arg(long, default_value = "proportional", value_parser = super::mixing)]
    #[serde(serialize_with = "serialize_display")]
    pub mixing: Mixing,
    /// At most this many training examples per task (the paper samples 8000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_examples: Option<u32>,
    /// Held-out fraction of a task's training file when it has no validation file.
    #[arg(long, default_value_t = 0.05, value_parser = super::fraction)]
    pub holdout: f64,
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
    /// Train data-parallel on this many devices (CUDA or wgpu GPUs 0..N; on the CPU backend, N
    /// workers): each step takes a batch per device and averages their gradients.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub devices: u32,
}

/// Serializes a value as its `Display` text (the form its flag takes).
fn serialize_display<S: serde::Serializer>(
    value: &impl std::fmt::Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// What a finished run produced (written as `eval.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// The base model's scores (`None` with `--skip-base-eval`).
    pub base: Option<EvalReport>,
    /// The adapted model's scores.
    pub adapted: EvalReport,
    /// Where the adapter was saved.
    pub adapter_dir: PathBuf,
    /// What the run cost.
    pub resources: RunResources,
}

/// The cost of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResources {
    /// Parameters that trained.
    pub trainable_params: usize,
    /// Training steps of the run (a resumed run did only those after its checkpoint).
    pub steps: usize,
    /// Wall time of the training loop, validation and checkpoints included, in seconds.
    pub train_seconds: f64,
    /// The process's peak resident memory in bytes (Linux; `None` elsewhere).
    pub peak_memory_bytes: Option<u64>,
}

/// An error of `rlora train`, with its context.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

impl TrainArgs {
    /// The R-LoRA settings of the chosen variant with the flags' overrides.
    pub fn adapter_template(&self) -> RLoraConfig {
        let heads = self.heads as usize;
        let base = match self.variant {
            Variant::Lora => RLoraConfig::lora(0, 0),
            Variant::Hydra => RLoraConfig::hydra_lora(0, 0, heads),
            Variant::Rlora => RLoraConfig::r_lora(0, 0, heads),
            Variant::RloraInitOnly => RLoraConfig::random_init_only(0, 0, heads),
            Variant::RloraDropoutOnly => RLoraConfig::multi_head_dropout_only(0, 0, heads),
        };
        let base = base.with_rank(self.rank as usize).with_alpha(self.alpha);
        let base = match self.rslora {
            Some(rslora) => base.with_use_rslora(rslora),
            None => base,
        };
        let base = match self.router_init {
            Some(start) => base.with_router_init(start.into()),
            None => base,
        };
        match self.dropout {
            Some(p) => base.with_dropout(p),
            None => base,
        }
    }

    /// The seed of the data: `--data-seed`, else `--seed`.
    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(self.seed)
    }

    fn training_config(&self) -> TrainingConfig {
        TrainingConfig::new()
            .with_learning_rate(self.lr)
            .with_warmup_ratio(self.warmup_ratio)
            .with_weight_decay(self.weight_decay)
            .with_batch_size(self.batch_size as usize)
            .with_grad_accumulation(self.grad_accumulation as usize)
            .with_max_grad_norm((self.max_grad_norm > 0.0).then_some(self.max_grad_norm))
            .with_epochs(self.epochs as usize)
            .with_max_steps(self.max_steps.map(|s| s as usize))
            .with_checkpoint_every(self.checkpoint_every as usize)
            .with_mixing(self.mixing.clone())
            .with_seed(self.seed)
    }

    /// The tasks: files named by --task, then the built-in suite with --builtin.
    fn tasks(&self) -> Result<Vec<TaskData>, CliError> {
        let template = PromptTemplate::alpaca();
        let mut tasks = Vec::new();
        for spec in &self.tasks {
            tasks.push(parse_task_spec(spec)?.load(&template)?);
        }
        if self.builtin {
            tasks.extend(builtin_suite(self.data_seed(), SplitSizes::default()));
        }
        if tasks.is_empty() {
            return Err("no tasks: give --task NAME=FILE (repeatable) or --builtin".into());
        }
        let mut names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("two tasks are named `{}`", pair[0]).into());
        }
        Ok(tasks)
    }
}

/// Train, train split cut to `max_examples`, validation (given or held out), and the examples to
/// evaluate (test, else validation) of one task.
fn splits(
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

/// Runs `rlora train` on backend `B`, printing progress; returns the evaluation. The model lives
/// on the first of `devices`; with more than one, training is data-parallel over them (the
/// `rlora` command passes [`crate::backend::devices`] of `--devices`).
pub fn run_train<B: AutodiffBackend>(
    args: &TrainArgs,
    devices: &[B::Device],
) -> Result<TrainOutcome, CliError> {
    let device = devices.first().ok_or("no device to train on")?;
    if let Some(file) = &args.config {
        return Err(format!(
            "--config {}: expand the file with cli::expand_config_file before parsing",
            file.display()
        )
        .into());
    }
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    std::fs::create_dir_all(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let tokenizer = TextTokenizer::from_dir(&model_dir)?;
    let tasks = args.tasks()?;
    let mut data = TrainingData {
        task_names: tasks.iter().map(|t| t.name.clone()).collect(),
        train: Vec::new(),
        validation: Vec::new(),
    };
    let mut eval_sets = Vec::new();
    let max_len = args.max_seq_len as usize;
    for (i, task) in tasks.iter().enumerate() {
        let (train, validation, eval) = splits(task, args, args.data_seed().wrapping_add(i as u64));
        let (train, report) = tokenize_examples(i, &train, &tokenizer, max_len)?;
        let (validation, _) = tokenize_examples(i, &validation, &tokenizer, max_len)?;
        println!(
            "task {:<12} train {:>6}  validation {:>5}  evaluation {:>5}  truncated {}  skipped (prompt > {max_len} tokens) {}",
            task.name,
            train.len(),
            validation.len(),
            eval.len(),
            report.truncated,
            report.skipped_too_long
        );
        if train.is_empty() {
            return Err(format!("task `{}` has no usable training examples", task.name).into());
        }
        data.train.extend(train);
        data.validation.extend(validation);
        eval_sets.push((task.name.clone(), eval));
    }
    write_json(&args.output.join("run_config.json"), args)?;

    B::seed(device, args.seed);
    let spec = AdapterSpec {
        targets: Targets::parse(&args.targets)?,
        template: args.adapter_template(),
    };
    let model = Llama::<B>::from_pretrained(&model_dir, Some(&spec), device)?;
    let trainable: usize = model
        .adapters()
        .iter()
        .map(|(_, a)| a.num_trainable_params())
        .sum();
    println!(
        "{} adapters, {trainable} trainable parameters; training on {} ({} device{})",
        model.adapters().len(),
        crate::backend::BACKEND_NAME,
        devices.len(),
        if devices.len() == 1 { "" } else { "s" }
    );
    let config = args.training_config();
    let steps = config.steps_of(&config.stream(&data)?, devices.len())?;
    let started = Instant::now();
    let trained = train_on_devices(
        model,
        &data,
        &config,
        &args.output,
        args.resume,
        devices.to_vec(),
    )?;
    let train_seconds = started.elapsed().as_secs_f64();

    let adapter_dir = args.output.join("adapter");
    trained.save_adapter(&adapter_dir)?;
    println!("evaluating the base and the adapted model …");
    let max_new = args.eval_max_new_tokens as usize;
    let base = if args.skip_base_eval {
        None
    } else {
        let base = Llama::<B::InnerBackend>::from_pretrained(&model_dir, None, device)?;
        Some(evaluate(&base, &tokenizer, &eval_sets, max_new)?)
    };
    let adapted = evaluate(&trained, &tokenizer, &eval_sets, max_new)?;
    let mut columns = Vec::new();
    if let Some(base) = &base {
        columns.push(("base", base));
    }
    columns.push(("adapted", &adapted));
    let table = EvalReport::markdown_table(&columns);
    let heads = report::head_summary(&trained);
    for (module, matrix) in &heads.by_module {
        println!(
            "{module}: mean head cosine similarity {:.3} (off-diagonal, mean over layers)",
            report::mean_off_diagonal(matrix)
        );
    }
    let batches_per_epoch = args.checkpoint_every as usize * devices.len();
    let mut pictures = report::training_curves(&args.output, batches_per_epoch)?;
    pictures.extend(report::head_heat_maps(&heads, &args.output)?);
    println!("\n{table}");
    let outcome = TrainOutcome {
        base,
        adapted,
        adapter_dir,
        resources: RunResources {
            trainable_params: trainable,
            steps,
            train_seconds,
            peak_memory_bytes: peak_memory_bytes(),
        },
    };
    write_json(&args.output.join("eval.json"), &outcome)?;
    std::fs::write(args.output.join("eval.md"), &table).map_err(|e| format!("eval.md: {e}"))?;
    println!(
        "adapter: {}\nevaluation: {}",
        outcome.adapter_dir.display(),
        args.output.join("eval.md").display()
    );
    for picture in pictures {
        println!("picture: {}", picture.display());
    }
    Ok(outcome)
}
