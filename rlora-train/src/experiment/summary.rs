//! The experiment's numbers: per arm, accuracy per task as mean ± std over seeds, macro and micro
//! averages, cost, and head similarity over training.

use std::path::{Path, PathBuf};

use burn::train::metric::store::Split;
use serde::Serialize;

use super::power::{PairedDifference, ci95};
use super::{Arm, ExperimentSettings, RunResult};
use crate::run::{MERGED_FILE, MergedScore, ROUTING_FILE};
use crate::trainer::{
    EvalReport, HEAD_SIMILARITY, LogLayout, RoutingAnalysis, head_similarity_modules,
    metric_history,
};

/// A value measured once per seed: its mean, sample standard deviation and 95% confidence
/// interval (with two seeds or more) and the values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation over seeds (`None` with one seed).
    pub std: Option<f64>,
    /// The 95% confidence interval of the mean, Student's t (`None` with one seed).
    pub ci95: Option<(f64, f64)>,
    /// One value per seed, in seed order.
    pub values: Vec<f64>,
}

impl Stat {
    /// The statistics of `values` (at least one).
    pub fn of(values: Vec<f64>) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let std = (values.len() > 1)
            .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Self {
            mean,
            std,
            ci95: ci95(&values),
            values,
        }
    }
}

/// Mean head similarity against the training step, averaged over seeds: of all adapters
/// (`module` = `all`) or of one projection type (`mlp_up_proj`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeadHistory {
    /// `all`, or the projection type.
    pub module: String,
    /// `(step, similarity)`, every `stride` steps and the last.
    pub points: Vec<(f64, f64)>,
}

impl HeadHistory {
    /// The similarity at the last logged step.
    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }

    /// The similarity at the first logged step.
    pub fn first(&self) -> Option<f64> {
        self.points.first().map(|p| p.1)
    }
}

/// One arm over all seeds.
#[derive(Debug, Clone, Serialize)]
pub struct ArmSummary {
    /// The arm.
    pub arm: Arm,
    /// Its name in tables and pictures.
    pub label: String,
    /// Adapter rank.
    pub rank: usize,
    /// Heads per adapter.
    pub heads: usize,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Accuracy per task, in the suite's order.
    pub tasks: Vec<(String, Stat)>,
    /// Mean accuracy over tasks.
    pub macro_average: Stat,
    /// Accuracy over all examples.
    pub micro_average: Stat,
    /// Trainable parameters.
    pub trainable_params: usize,
    /// Seconds per training step (training-loop wall time, validation and checkpoints included,
    /// over steps).
    pub seconds_per_step: Stat,
    /// Peak resident memory of the run's process, in MiB.
    pub peak_memory_mib: Option<Stat>,
    /// Head similarity over training, `all` first (empty for one head).
    pub head_similarity: Vec<HeadHistory>,
    /// The task separation of the trained router (mean pairwise Jensen–Shannon divergence of the
    /// tasks' mean routings, nats), from each run's `routing.json`; `None` for one head.
    pub routing_separation: Option<Stat>,
    /// The macro average of the models merged per task under the task's mean routing, from each
    /// run's `merged.json`.
    pub merged_macro_average: Option<Stat>,
}

/// The whole experiment, as written to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentReport {
    /// The settings shared by every arm.
    pub settings: ExperimentSettings,
    /// The base model folder.
    pub model: PathBuf,
    /// The rank-matched LoRA's rank.
    pub matched_rank: usize,
    /// burn's name of the backend the runs trained on (`flex`, `fusion<cubecl<cuda>>`, …).
    pub backend: String,
    /// The machine: CPU model and cores.
    pub machine: String,
    /// Wall time of this invocation (runs reused from an earlier one take none of it).
    pub wall_seconds: f64,
    /// The training loops' wall time summed over every run, reused ones included.
    pub train_seconds: f64,
    /// The base model's scores.
    pub base: EvalReport,
    /// One summary per arm, in the settings' order.
    pub arms: Vec<ArmSummary>,
    /// R-LoRA against HydraLoRA and against LoRA (the rank-matched one, same trainable
    /// parameters, and r = rank), paired by seed, where both arms ran.
    pub differences: Vec<PairedDifference>,
}

impl ExperimentReport {
    /// The summary of `arm`, if it ran.
    pub fn arm(&self, arm: Arm) -> Option<&ArmSummary> {
        self.arms.iter().find(|a| a.arm == arm)
    }
}

/// The table name of an arm.
fn label(arm: Arm, rank: usize) -> String {
    match arm {
        Arm::Lora => format!("LoRA r={rank}"),
        Arm::LoraMatched => format!("LoRA r={rank} (matched)"),
        Arm::Hydra => "HydraLoRA".into(),
        Arm::HydraMhd => "+ multi-head dropout".into(),
        Arm::HydraInit => "+ random init".into(),
        Arm::Rlora => "R-LoRA".into(),
        Arm::RloraOfficial => "R-LoRA, official code's init".into(),
    }
}

/// Summarizes `runs` (every arm of the settings for every seed).
pub(crate) fn summarize(
    settings: &ExperimentSettings,
    model: &Path,
    matched_rank: usize,
    base: &EvalReport,
    runs: &[RunResult],
    wall_seconds: f64,
    backend: String,
) -> ExperimentReport {
    let arms = settings
        .arms
        .iter()
        .map(|&arm| {
            let runs: Vec<&RunResult> = runs.iter().filter(|r| r.arm == arm).collect();
            summarize_arm(settings, arm, matched_rank, &runs)
        })
        .collect();
    let macro_by_seed = |arm: Arm| -> Vec<(u64, f64)> {
        runs.iter()
            .filter(|r| r.arm == arm)
            .map(|r| (r.seed, r.outcome.adapted.macro_average))
            .collect()
    };
    let differences = [
        (Arm::Rlora, Arm::Hydra),
        (Arm::Rlora, Arm::LoraMatched),
        (Arm::Rlora, Arm::Lora),
        (Arm::Rlora, Arm::RloraOfficial),
    ]
    .into_iter()
    .filter(|(a, b)| settings.arms.contains(a) && settings.arms.contains(b))
    .map(|(a, b)| PairedDifference::of(a, b, &macro_by_seed(a), &macro_by_seed(b)))
    .collect();
    ExperimentReport {
        settings: settings.clone(),
        model: model.to_path_buf(),
        matched_rank,
        backend,
        machine: machine(),
        wall_seconds,
        train_seconds: runs.iter().map(|r| r.outcome.resources.train_seconds).sum(),
        base: base.clone(),
        arms,
        differences,
    }
}

fn summarize_arm(
    settings: &ExperimentSettings,
    arm: Arm,
    matched_rank: usize,
    runs: &[&RunResult],
) -> ArmSummary {
    let rank = if arm == Arm::LoraMatched {
        matched_rank
    } else {
        settings.rank as usize
    };
    let over_seeds =
        |pick: &dyn Fn(&RunResult) -> f64| Stat::of(runs.iter().map(|r| pick(r)).collect());
    let task_names: Vec<String> = runs
        .first()
        .map(|r| {
            r.outcome
                .adapted
                .tasks
                .iter()
                .map(|t| t.task.clone())
                .collect()
        })
        .unwrap_or_default();
    let tasks = task_names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                name.clone(),
                over_seeds(&|r| r.outcome.adapted.tasks[i].accuracy),
            )
        })
        .collect();
    let peak: Option<Vec<f64>> = runs
        .iter()
        .map(|r| {
            r.outcome
                .resources
                .peak_memory_bytes
                .map(|b| b as f64 / (1 << 20) as f64)
        })
        .collect();
    ArmSummary {
        arm,
        label: label(arm, rank),
        rank,
        heads: if arm.multi_head() {
            settings.heads as usize
        } else {
            1
        },
        seeds: runs.iter().map(|r| r.seed).collect(),
        tasks,
        macro_average: over_seeds(&|r| r.outcome.adapted.macro_average),
        micro_average: over_seeds(&|r| r.outcome.adapted.micro_average),
        trainable_params: runs
            .first()
            .map_or(0, |r| r.outcome.resources.trainable_params),
        seconds_per_step: over_seeds(&|r| {
            r.outcome.resources.train_seconds / r.outcome.resources.steps.max(1) as f64
        }),
        peak_memory_mib: peak.filter(|p| !p.is_empty()).map(Stat::of),
        head_similarity: head_histories(
            runs,
            settings.checkpoint_every as usize,
            settings.steps as usize,
        ),
        routing_separation: arm
            .multi_head()
            .then(|| {
                per_run(runs, |dir| {
                    read::<RoutingAnalysis>(&dir.join(ROUTING_FILE)).map(|a| a.separation)
                })
            })
            .flatten(),
        merged_macro_average: per_run(runs, |dir| {
            let scores = read::<Vec<MergedScore>>(&dir.join(MERGED_FILE))?;
            let n = scores.len().max(1) as f64;
            Some(scores.iter().map(|s| s.merged).sum::<f64>() / n)
        }),
    }
}

/// `value` of every run's folder, when every run has it.
fn per_run(runs: &[&RunResult], value: impl Fn(&Path) -> Option<f64>) -> Option<Stat> {
    let values: Option<Vec<f64>> = runs.iter().map(|r| value(&r.dir)).collect();
    values.filter(|v| !v.is_empty()).map(Stat::of)
}

/// A JSON file's value, if it is there and parses.
fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The head-similarity curves of `runs`, averaged over seeds step by step, one point every
/// `steps / 100` steps (and the last).
fn head_histories(runs: &[&RunResult], steps_per_epoch: usize, steps: usize) -> Vec<HeadHistory> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let stride = (steps / 100).max(1);
    let mut modules = vec![("all".to_string(), HEAD_SIMILARITY.to_string())];
    for module in head_similarity_modules(&first.dir) {
        modules.push((module.clone(), format!("{HEAD_SIMILARITY} {module}")));
    }
    modules
        .into_iter()
        .filter_map(|(module, metric)| {
            let curves: Vec<Vec<(f64, f64)>> = runs
                .iter()
                .map(|r| {
                    let layout = LogLayout::single(steps_per_epoch);
                    metric_history(&r.dir, Split::Train, &metric, layout)
                })
                .collect();
            let len = curves.iter().map(Vec::len).min().unwrap_or(0);
            let points: Vec<(f64, f64)> = (0..len)
                .filter(|&i| i == 0 || (i + 1) % stride == 0 || i + 1 == len)
                .map(|i| {
                    let mean = curves.iter().map(|c| c[i].1).sum::<f64>() / curves.len() as f64;
                    (curves[0][i].0, mean)
                })
                .collect();
            (!points.is_empty()).then_some(HeadHistory { module, points })
        })
        .collect()
}

/// The CPU model and the number of cores this process may use.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model}, {cores} cores")
}
