//! The R-LoRA paper's comparison in miniature: LoRA (rank r and rank-matched), HydraLoRA, its
//! two one-ingredient ablations and R-LoRA, trained with identical settings over several seeds
//! on the built-in multi-task suite, scored per task, and reported with head similarities over
//! training, cost, and pictures.
//!
//! Every run is a child process (`rlora train`), so that each one's peak memory is its own and
//! a failed run does not take the others down; a run whose `eval.json` exists is reused, so an
//! interrupted experiment continues where it stopped.

mod summary;
mod write;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{Args, ValueEnum};
use rlora::RLoraConfig;
use rlora_llama::{LlamaConfig, Targets};
use serde::{Deserialize, Serialize};

pub use summary::{ArmSummary, ExperimentReport, HeadHistory, Stat, summarize};
pub use write::{markdown, write_report};

use crate::cli::{CliError, RouterStart, TrainOutcome, Variant};
use crate::eval::EvalReport;

/// One arm of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arm {
    /// LoRA with the multi-head arms' rank r.
    Lora,
    /// LoRA with the rank that matches the multi-head arms' trainable parameters.
    LoraMatched,
    /// HydraLoRA: zero heads, one dropout on the input.
    Hydra,
    /// HydraLoRA + multi-head dropout.
    HydraMhd,
    /// HydraLoRA + multi-head random initialization.
    HydraInit,
    /// R-LoRA: both.
    Rlora,
}

impl Arm {
    /// Every arm, in the order of the report.
    pub const ALL: [Self; 6] = [
        Self::Lora,
        Self::LoraMatched,
        Self::Hydra,
        Self::HydraMhd,
        Self::HydraInit,
        Self::Rlora,
    ];

    /// The name of the arm's run folder and JSON key.
    pub fn id(self) -> &'static str {
        match self {
            Self::Lora => "lora",
            Self::LoraMatched => "lora-matched",
            Self::Hydra => "hydra",
            Self::HydraMhd => "hydra-mhd",
            Self::HydraInit => "hydra-init",
            Self::Rlora => "rlora",
        }
    }

    /// The `rlora train --variant` that makes this arm.
    fn variant(self) -> Variant {
        match self {
            Self::Lora | Self::LoraMatched => Variant::Lora,
            Self::Hydra => Variant::Hydra,
            Self::HydraMhd => Variant::RloraDropoutOnly,
            Self::HydraInit => Variant::RloraInitOnly,
            Self::Rlora => Variant::Rlora,
        }
    }

    /// Whether the arm has several heads.
    pub fn multi_head(self) -> bool {
        !matches!(self, Self::Lora | Self::LoraMatched)
    }
}

/// The settings shared by every arm: only the adapter variant (and, for the rank-matched LoRA,
/// the rank) differs between arms.
#[derive(Debug, Clone, PartialEq, Args, Serialize, Deserialize)]
pub struct ExperimentSettings {
    /// The base model folder (default: the shipped tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The arms to run, comma-separated (default: all six).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Arm::ALL)]
    pub arms: Vec<Arm>,
    /// Training seeds (adapter init, data order, dropout), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0, 1, 2])]
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
    #[arg(long, default_value_t = 32.0, value_parser = crate::cli::non_negative)]
    pub alpha: f64,
    /// Dropout of every arm (where each arm puts it is what differs).
    #[arg(long, default_value_t = 0.1, value_parser = crate::cli::dropout)]
    pub dropout: f64,
    /// Rank-stabilized scaling α/√r for every arm.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub rslora: bool,
    /// How every arm's router starts.
    #[arg(long, value_enum, default_value_t = RouterStart::Zeros)]
    pub router_init: RouterStart,
    /// Target projections, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "gate_proj,up_proj,down_proj"
    )]
    pub targets: Vec<String>,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-3, value_parser = crate::cli::positive)]
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
    /// Test examples per task.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
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
        let multi_head =
            RLoraConfig::r_lora(0, 0, self.heads as usize).with_rank(self.rank as usize);
        let budget = targets.num_trainable_params(&config, &multi_head);
        let per_rank = targets.num_trainable_params(&config, &RLoraConfig::lora(0, 0).with_rank(1));
        let rank = ((budget as f64 / per_rank as f64).round() as usize).max(1);
        Ok((budget, rank))
    }

    /// The `rlora train` arguments of one run.
    fn train_args(
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
        let mut args: Vec<String> = vec![
            "train".into(),
            "--builtin".into(),
            "--skip-base-eval".into(),
        ];
        let pairs: [(&str, String); 22] = [
            ("--model", model.display().to_string()),
            ("--output", output.display().to_string()),
            ("--variant", flag_value(arm.variant())),
            ("--heads", self.heads.to_string()),
            ("--rank", rank.to_string()),
            ("--alpha", self.alpha.to_string()),
            ("--dropout", self.dropout.to_string()),
            ("--rslora", self.rslora.to_string()),
            ("--router-init", flag_value(self.router_init)),
            ("--targets", self.targets.join(",")),
            ("--lr", self.lr.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--max-steps", self.steps.to_string()),
            ("--checkpoint-every", self.checkpoint_every.to_string()),
            ("--max-seq-len", self.max_seq_len.to_string()),
            ("--eval-examples", self.eval_examples.to_string()),
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
        for (flag, value) in pairs {
            args.push(flag.into());
            args.push(value);
        }
        args
    }

    /// The `rlora eval` arguments of the base model's evaluation.
    fn base_eval_args(&self, model: &Path, output: &Path) -> Vec<String> {
        [
            "eval",
            "--builtin",
            "--model",
            &model.display().to_string(),
            "--seed",
            &self.data_seed.to_string(),
            "--eval-examples",
            &self.eval_examples.to_string(),
            "--max-new-tokens",
            &self.eval_max_new_tokens.to_string(),
            "--output",
            &output.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// The command-line spelling of a flag's value (`kaiming-uniform`, `rlora-init-only`).
pub(crate) fn flag_value(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The arm.
    pub arm: Arm,
    /// The training seed.
    pub seed: u64,
    /// Its folder.
    pub dir: PathBuf,
    /// What `rlora train` wrote to `eval.json`.
    pub outcome: TrainOutcome,
}

/// The settings file of an experiment folder, which a continued experiment must match.
const SETTINGS_FILE: &str = "experiment.json";

/// Runs the experiment with the `rlora` executable `program` into `output`: the base model's
/// evaluation, then every arm for every seed (seed by seed, so that a partial experiment covers
/// every arm), then the report (`report.md`, `report.json`, pictures). Runs already finished in
/// `output` are reused when the settings are the same.
pub fn run_experiment(
    program: &Path,
    settings: &ExperimentSettings,
    output: &Path,
) -> Result<ExperimentReport, CliError> {
    check_settings(settings, output)?;
    let started = Instant::now();
    let model = settings.model_dir()?;
    let (budget, matched_rank) = settings.matched_lora_rank()?;
    println!(
        "experiment: {} arms × {} seeds, {} steps each; multi-head adapters have {budget} trainable \
         parameters, the matched LoRA rank is {matched_rank}",
        settings.arms.len(),
        settings.seeds.len(),
        settings.steps
    );
    let base_dir = output.join("base");
    let base: EvalReport = match read_json(&base_dir.join("eval.json")) {
        Some(report) => report,
        None => {
            println!("experiment: evaluating the base model");
            run_child(
                program,
                &settings.base_eval_args(&model, &base_dir),
                &base_dir,
            )?;
            read_json(&base_dir.join("eval.json"))
                .ok_or_else(|| format!("{}: no eval.json after `rlora eval`", base_dir.display()))?
        }
    };
    let total = settings.arms.len() * settings.seeds.len();
    let mut runs = Vec::new();
    for &seed in &settings.seeds {
        for &arm in &settings.arms {
            let dir = output
                .join("runs")
                .join(arm.id())
                .join(format!("seed-{seed}"));
            let outcome = match read_json::<TrainOutcome>(&dir.join("eval.json")) {
                Some(outcome) => {
                    println!(
                        "experiment: [{}/{total}] {} seed {seed}: reusing {}",
                        runs.len() + 1,
                        arm.id(),
                        dir.display()
                    );
                    outcome
                }
                None => {
                    println!(
                        "experiment: [{}/{total}] {} seed {seed}",
                        runs.len() + 1,
                        arm.id()
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    run_child(
                        program,
                        &settings.train_args(&model, arm, matched_rank, seed, &dir),
                        &dir,
                    )?;
                    read_json(&dir.join("eval.json")).ok_or_else(|| {
                        format!("{}: no eval.json after `rlora train`", dir.display())
                    })?
                }
            };
            runs.push(RunResult {
                arm,
                seed,
                dir,
                outcome,
            });
        }
    }
    let report = summarize(
        settings,
        &model,
        matched_rank,
        &base,
        &runs,
        started.elapsed().as_secs_f64(),
    );
    write_report(&report, output)?;
    Ok(report)
}

/// Writes the settings to a fresh `output`, or checks that they equal those of the experiment
/// already there.
fn check_settings(settings: &ExperimentSettings, output: &Path) -> Result<(), CliError> {
    let path = output.join(SETTINGS_FILE);
    if let Some(existing) = read_json::<ExperimentSettings>(&path) {
        if existing != *settings {
            return Err(format!(
                "{} holds an experiment with other settings; choose another --output or delete it",
                path.display()
            )
            .into());
        }
        return Ok(());
    }
    std::fs::create_dir_all(output).map_err(|e| format!("{}: {e}", output.display()))?;
    crate::cli::write_json(&path, settings)
}

/// Runs `program args`, its output going to ours; an error names the command and its log
/// folder when it fails.
fn run_child(program: &Path, args: &[String], dir: &Path) -> Result<(), CliError> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    if !status.success() {
        return Err(format!(
            "`{} {}` failed ({status}); its files are in {}",
            program.display(),
            args.join(" "),
            dir.display()
        )
        .into());
    }
    Ok(())
}

/// The JSON file at `path`, if it exists and parses.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Today's UTC date as `YYYY-MM-DD` (the default experiment folder's name).
pub fn utc_date() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    use clap::Parser;

    #[test]
    fn every_arm_has_its_variant_and_the_shared_settings() {
        let settings = ExperimentSettings {
            model: None,
            arms: Arm::ALL.to_vec(),
            seeds: vec![0],
            data_seed: 0,
            steps: 10,
            heads: 5,
            rank: 8,
            alpha: 32.0,
            dropout: 0.1,
            rslora: true,
            router_init: RouterStart::KaimingUniform,
            targets: vec!["gate_proj".into(), "up_proj".into(), "down_proj".into()],
            lr: 5e-3,
            batch_size: 4,
            checkpoint_every: 5,
            max_seq_len: 96,
            eval_examples: 3,
            eval_max_new_tokens: 4,
        };
        let (budget, rank) = settings.matched_lora_rank().unwrap();
        // The tiny base: 4 layers of gate/up [128 → 384] and down [384 → 128]; with 5 heads of
        // rank 8 a layer has 2·(128·8 + 5·8·384 + 128·5) + (384·8 + 5·8·128 + 384·5) = 44 160
        // parameters, and a rank-1 LoRA 3·512 = 1 536: the matched rank is 28.75 → 29.
        assert_eq!((budget, rank), (4 * 44_160, 29));
        for arm in Arm::ALL {
            let args = settings.train_args(Path::new("base"), arm, rank, 1, Path::new("out"));
            let cli = crate::cli::Cli::try_parse_from(
                ["rlora".to_string()]
                    .into_iter()
                    .chain(args.iter().cloned()),
            )
            .unwrap();
            let crate::cli::Command::Train(train) = cli.command else {
                panic!("not train");
            };
            let adapter = train.adapter_template();
            assert_eq!(train.variant, arm.variant());
            assert_eq!(adapter.rank, if arm == Arm::LoraMatched { 29 } else { 8 });
            assert_eq!(
                (adapter.alpha, adapter.dropout, adapter.use_rslora),
                (32.0, 0.1, true)
            );
            assert_eq!(adapter.router_init, rlora::RouterInit::KaimingUniform);
            assert_eq!(adapter.heads, if arm.multi_head() { 5 } else { 1 });
            assert_eq!(
                (train.seed, train.data_seed(), train.skip_base_eval),
                (1, 0, true)
            );
        }
    }
}
