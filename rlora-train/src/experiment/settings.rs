//! [`ExperimentSettings`]: what every arm shares, and the `rlora train` and `rlora eval`
//! arguments of its runs.

use std::path::{Path, PathBuf};

use clap::Args;
use rlora::{Preset, RouterInit};
use rlora_llama::{LlamaConfig, Targets};
use serde::{Deserialize, Serialize};

use super::Arm;
use crate::cli::CliError;
use crate::cli::values::{self, flag_value};

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

    /// The `rlora train` arguments of one run.
    pub fn train_args(
        &self,
        model: &Path,
        arm: Arm,
        matched_rank: usize,
        seed: u64,
        output: &Path,
    ) -> Vec<String> {
        let rank = match arm {
            Arm::LoraMatched => matched_rank,
            _ => self.rank as usize,
        };
        let pairs = [
            ("--model", model.display().to_string()),
            ("--output", output.display().to_string()),
            ("--variant", flag_value(&arm.preset())),
            ("--heads", self.heads.to_string()),
            ("--rank", rank.to_string()),
            ("--alpha", self.alpha.to_string()),
            ("--dropout", self.dropout.to_string()),
            ("--rslora", self.rslora.to_string()),
            ("--router-init", flag_value(&self.router_init)),
            ("--targets", self.targets.join(",")),
            ("--lr", self.lr.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--max-steps", self.steps.to_string()),
            ("--checkpoint-every", self.checkpoint_every.to_string()),
            ("--max-seq-len", self.max_seq_len.to_string()),
            ("--eval-examples", self.eval_examples.to_string()),
            ("--builtin-test-examples", self.eval_examples.to_string()),
            (
                "--eval-max-new-tokens",
                self.eval_max_new_tokens.to_string(),
            ),
            ("--seed", seed.to_string()),
            ("--data-seed", self.data_seed.to_string()),
            ("--warmup-ratio", "0.03".into()),
            ("--mixing", "proportional".into()),
            ("--epochs", "1".into()),
        ];
        arguments(
            &["train", "--builtin", "--skip-base-eval", "--eval-merged"],
            pairs,
        )
    }

    /// The `rlora eval` arguments of the base model's evaluation.
    pub fn base_eval_args(&self, model: &Path, output: &Path) -> Vec<String> {
        let pairs = [
            ("--model", model.display().to_string()),
            ("--seed", self.data_seed.to_string()),
            ("--eval-examples", self.eval_examples.to_string()),
            ("--builtin-test-examples", self.eval_examples.to_string()),
            ("--max-new-tokens", self.eval_max_new_tokens.to_string()),
            ("--output", output.display().to_string()),
        ];
        arguments(&["eval", "--builtin"], pairs)
    }
}

/// The words `leading`, then `flag value` for each pair.
fn arguments<const N: usize>(leading: &[&str], pairs: [(&str, String); N]) -> Vec<String> {
    let mut args: Vec<String> = leading.iter().map(|word| word.to_string()).collect();
    for (flag, value) in pairs {
        args.push(flag.into());
        args.push(value);
    }
    args
}
