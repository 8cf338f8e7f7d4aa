//! [`ExperimentSettings`]: what every arm shares, and the run of each arm and the base's
//! evaluation it makes.

use std::path::{Path, PathBuf};

use clap::Args;
use rlora::{Preset, RouterInit};
use rlora_llama::{LlamaConfig, Targets};
use serde::{Deserialize, Serialize};

use super::Arm;
use crate::cli::{CliError, EvalArgs};
use crate::data::{DEFAULT_MAX_LINE_BYTES, Mixing};
use crate::run::values;
use crate::run::{AdapterSettings, EvaluationSettings, RunSpec};

/// The settings shared by every arm: only the adapter variant (and, for the rank-matched LoRA,
/// the rank) differs between arms.
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
pub struct ExperimentSettings {
    /// The base model folder (default: the shipped tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The arms to run, comma-separated (default: all seven).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Arm::ALL)]
    pub arms: Vec<Arm>,
    /// Training seeds (adapter init, data order, dropout), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 2, 3, 4])]
    pub seeds: Vec<u64>,
    /// The seed of the built-in suite, the same for every run.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// Training steps per run.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Heads of the multi-head arms.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub heads: u32,
    /// Rank r of the multi-head arms and of `lora`.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub rank: u32,
    /// LoRA alpha.
    #[arg(long, default_value_t = 32.0, value_parser = values::non_negative)]
    pub alpha: f64,
    /// Dropout of every arm (where each arm puts it is what differs).
    #[arg(long, default_value_t = 0.1, value_parser = values::fraction)]
    pub dropout: f64,
    /// Rank-stabilized scaling α/√r for every arm.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rslora: bool,
    /// How every arm's router starts.
    #[arg(long, value_enum, default_value_t = RouterInit::Zeros)]
    #[serde(with = "values::flag")]
    pub router_init: RouterInit,
    /// Target projections, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gate_proj,up_proj,down_proj"
    )]
    pub targets: Vec<String>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-3, value_parser = values::positive)]
    pub lr: f64,
    /// Examples per step.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Steps between checkpoints (and validation passes).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub checkpoint_every: u32,
    /// Longest tokenized example.
    #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_seq_len: u32,
    /// Test examples per task (500: one example moves a task's accuracy by 0.2 points).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_examples: u32,
    /// New tokens for exact-match answers.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_max_new_tokens: u32,
}

impl ExperimentSettings {
    /// The base model folder: `model`, else the tiny base.
    pub fn model_dir(&self) -> Result<PathBuf, CliError> {
        Ok(crate::base::model_or_tiny_base(self.model.as_deref())?)
    }

    /// The multi-head arms' trainable parameters, and the LoRA rank whose parameters come
    /// closest to them (a LoRA adapter's parameters grow linearly with its rank).
    pub fn matched_lora_rank(&self) -> Result<(usize, usize), CliError> {
        let config = LlamaConfig::from_file(self.model_dir()?.join("config.json"))?;
        let targets = Targets::parse(&self.targets)?;
        let multi_head = Preset::RLora
            .hyperparameters(self.heads as usize)
            .with_rank(self.rank as usize);
        let budget = targets.num_trainable_params(&config, &multi_head);
        let rank_one = Preset::Lora.hyperparameters(1).with_rank(1);
        let per_rank = targets.num_trainable_params(&config, &rank_one);
        let rank = ((budget as f64 / per_rank as f64).round() as usize).max(1);
        Ok((budget, rank))
    }

    /// The run of `arm` with `seed` into `output` (the rank-matched LoRA with `matched_rank`).
    pub fn run_spec(
        &self,
        model: &Path,
        arm: Arm,
        matched_rank: usize,
        seed: u64,
        output: &Path,
    ) -> RunSpec {
        let mut spec = RunSpec::new(output);
        spec.model.model = Some(model.to_path_buf());
        spec.adapter = AdapterSettings {
            variant: arm.preset(),
            heads: self.heads,
            rank: match arm {
                Arm::LoraMatched => matched_rank as u32,
                _ => self.rank,
            },
            alpha: self.alpha,
            dropout: Some(self.dropout),
            rslora: Some(self.rslora),
            router_init: Some(self.router_init),
            targets: self.targets.clone(),
        };
        let data = &mut spec.data;
        data.builtin = true;
        data.mixing = Mixing::Proportional;
        data.max_seq_len = self.max_seq_len;
        data.builtin_test_examples = self.eval_examples;
        data.data_seed = Some(self.data_seed);
        let schedule = &mut spec.schedule;
        schedule.lr = self.lr;
        schedule.max_steps = Some(self.steps);
        schedule.epochs = 1;
        schedule.warmup_ratio = 0.03;
        let batches = &mut spec.batches;
        batches.batch_size = self.batch_size;
        batches.checkpoint_every = self.checkpoint_every;
        batches.seed = seed;
        spec.evaluation = EvaluationSettings {
            eval_examples: self.eval_examples,
            eval_max_new_tokens: self.eval_max_new_tokens,
            skip_base_eval: true,
            eval_merged: true,
        };
        spec
    }

    /// The evaluation of the base model into `output`.
    pub fn base_eval(&self, model: &Path, output: &Path) -> EvalArgs {
        EvalArgs {
            model: Some(model.to_path_buf()),
            adapter: None,
            tasks: Vec::new(),
            builtin: true,
            eval_examples: self.eval_examples,
            max_new_tokens: self.eval_max_new_tokens,
            output: Some(output.to_path_buf()),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES as u64,
            seed: self.data_seed,
            builtin_test_examples: self.eval_examples,
        }
    }
}
