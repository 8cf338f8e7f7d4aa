//! The R-LoRA paper's comparison in miniature: LoRA (rank r and rank-matched), HydraLoRA, its
//! two one-ingredient ablations and R-LoRA, trained with identical settings over several seeds
//! on the built-in multi-task suite, scored per task, and reported with head similarities over
//! training, cost, and pictures.
//!
//! Every run is a typed [`RunSpec`] trained by a child process (`rlora
//! train --config` of the spec written as a run file), so that each one's peak memory is its own
//! and a failed run does not take the others down; a run whose `eval.json` exists is reused, so
//! an interrupted experiment continues where it stopped. The base model is evaluated in this
//! process.

mod arm;
mod command;
mod power;
mod settings;
mod summary;
mod write;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub use arm::Arm;
pub use command::{ExperimentArgs, run_experiment_command};
pub use power::{PairedDifference, ci95, t_quantile_975};
pub use settings::ExperimentSettings;
pub(crate) use summary::summarize;
pub use summary::{ArmSummary, ExperimentReport, HeadHistory, Stat};
pub use write::markdown;
pub(crate) use write::write_report;

use rlora_llama::LlamaBackend;

use crate::cli::{CliError, run_eval};
use crate::report::write_json;
use crate::run::RunSpec;
use crate::trainer::{EvalReport, TrainOutcome};

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
/// evaluation (on backend `B`'s `device`), then every arm for every seed (seed by seed, so that a
/// partial experiment covers every arm), then the report (`report.md`, `report.json`,
/// pictures). Runs already finished in `output` are reused when the settings are the same.
pub fn run_experiment<B: LlamaBackend>(
    program: &Path,
    settings: &ExperimentSettings,
    output: &Path,
    device: &B::Device,
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
            run_eval::<B>(&settings.base_eval(&model, &base_dir), device)?
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
                    let spec = settings.run_spec(&model, arm, matched_rank, seed, &dir);
                    train_in_child(program, &spec)?;
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
        B::name(device),
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
    Ok(write_json(&path, settings)?)
}

/// Trains `spec` with `program train --config FILE` (the spec written as a run file), its
/// output going to ours; an error names the command and the run's folder when it fails.
fn train_in_child(program: &Path, spec: &RunSpec) -> Result<(), CliError> {
    let file = tempfile::Builder::new()
        .prefix("rlora-experiment-run-")
        .suffix(".json")
        .tempfile()
        .map_err(|e| format!("cannot write a run file: {e}"))?;
    write_json(file.path(), spec)?;
    let status = Command::new(program)
        .arg("train")
        .arg("--config")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    if !status.success() {
        return Err(format!(
            "`{} train` of {} failed ({status}); its files are in {}",
            program.display(),
            serde_json::to_string(spec)?,
            spec.output.output.display()
        )
        .into());
    }
    Ok(())
}

/// The JSON file at `path`, if it exists and parses.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
