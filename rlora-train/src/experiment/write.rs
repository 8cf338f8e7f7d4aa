//! The experiment's report: `report.md`, `report.json`, `accuracy.png` and
//! `head_similarity.png`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Arm, ArmSummary, ExperimentReport, Stat};
use crate::cli::CliError;
use crate::report::{Series, heat_map_png, line_chart_png, write_json};
use crate::run::values::flag_value;

/// Writes the report files into `dir`; returns the pictures' paths.
pub fn write_report(report: &ExperimentReport, dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    write_json(&dir.join("report.json"), report)?;
    let pictures = draw_pictures(report, dir)?;
    rlora::io::write_atomically(&dir.join("report.md"), markdown(report).as_bytes())?;
    Ok(pictures)
}

/// `62.3 ± 1.4` (percent), or `62.3` with one seed.
fn percent(stat: &Stat) -> String {
    match stat.std {
        Some(std) => format!("{:.1} ± {:.1}", 100.0 * stat.mean, 100.0 * std),
        None => format!("{:.1}", 100.0 * stat.mean),
    }
}

/// The report as Markdown: setup, accuracy table, cost, head similarity, the paper's claims.
pub fn markdown(report: &ExperimentReport) -> String {
    let s = &report.settings;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# R-LoRA, HydraLoRA and LoRA on the built-in multi-task suite\n"
    );
    let _ = writeln!(
        md,
        "Base model: {}; adapters on {}; {} heads of rank {} (LoRA: rank {} and the parameter-matched \
         rank {}); α = {}, {}, dropout {}, router init {} for every arm; AdamW, lr {} (warmup 3 %, cosine), batch \
         {}, {} steps; seeds {:?}; up to {} test examples per task. Backend {} on {}; the runs' training \
         loops took {:.1} minutes in all, this invocation {:.1} minutes.\n",
        match &s.model {
            Some(model) => format!("`{}`", model.display()),
            None => "the shipped tiny base (`assets/tiny-base`)".to_string(),
        },
        s.targets.join(", "),
        s.heads,
        s.rank,
        s.rank,
        report.matched_rank,
        s.alpha,
        if s.rslora {
            "scaling α/√r"
        } else {
            "scaling α/r"
        },
        s.dropout,
        flag_value(&s.router_init),
        s.lr,
        s.batch_size,
        s.steps,
        s.seeds,
        report
            .base
            .tasks
            .iter()
            .map(|t| t.examples)
            .max()
            .unwrap_or(0),
        report.backend,
        report.machine,
        report.train_seconds / 60.0,
        report.wall_seconds / 60.0
    );
    accuracy_table(report, &mut md);
    power_table(report, &mut md);
    routing_table(report, &mut md);
    cost_table(report, &mut md);
    similarity_table(report, &mut md);
    paper_claims(report, &mut md);
    let _ = writeln!(md, "![accuracy per task](accuracy.png)\n");
    let _ = writeln!(md, "![head similarity over training](head_similarity.png)");
    md
}

fn accuracy_table(report: &ExperimentReport, md: &mut String) {
    let seeds = report.settings.seeds.len();
    let _ = writeln!(
        md,
        "## Accuracy (%, mean{} over {seeds} seed{})\n",
        if seeds > 1 { " ± std" } else { "" },
        if seeds > 1 { "s" } else { "" }
    );
    let _ = write!(md, "| task | base |");
    for arm in &report.arms {
        let _ = write!(md, " {} |", arm.label);
    }
    let _ = writeln!(md, "\n|---|---:|{}", "---:|".repeat(report.arms.len()));
    for (i, score) in report.base.tasks.iter().enumerate() {
        let _ = write!(md, "| {} | {:.1} |", score.task, 100.0 * score.accuracy);
        for arm in &report.arms {
            let cell = arm
                .tasks
                .get(i)
                .map_or("–".to_string(), |(_, stat)| percent(stat));
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    for (name, base, pick) in [
        (
            "macro average",
            report.base.macro_average,
            (|a: &ArmSummary| &a.macro_average) as fn(&ArmSummary) -> &Stat,
        ),
        (
            "micro average",
            report.base.micro_average,
            |a: &ArmSummary| &a.micro_average,
        ),
    ] {
        let _ = write!(md, "| **{name}** | **{:.1}** |", 100.0 * base);
        for arm in &report.arms {
            let _ = write!(md, " **{}** |", percent(pick(arm)));
        }
        md.push('\n');
    }
    md.push('\n');
}

/// `[61.2, 63.0]` (percent), or `–` with one seed.
fn interval(ci: Option<(f64, f64)>) -> String {
    ci.map_or("–".to_string(), |(low, high)| {
        format!("[{:+.2}, {:+.2}]", 100.0 * low, 100.0 * high)
    })
}

/// Each arm's macro average with its 95% interval, and the paired differences, resolved or not.
fn power_table(report: &ExperimentReport, md: &mut String) {
    let _ = writeln!(
        md,
        "## Macro average with 95% confidence intervals (Student's t over seeds)\n\n| arm | macro average (%) | 95% CI |\n|---|---:|---:|"
    );
    for arm in &report.arms {
        let ci = arm.macro_average.ci95.map_or("–".to_string(), |(l, h)| {
            format!("[{:.2}, {:.2}]", 100.0 * l, 100.0 * h)
        });
        let _ = writeln!(
            md,
            "| {} | {:.2} | {ci} |",
            arm.label,
            100.0 * arm.macro_average.mean
        );
    }
    if report.differences.is_empty() {
        md.push('\n');
        return;
    }
    let _ = writeln!(
        md,
        "\n### Paired differences per seed (macro average, points)\n\n| difference | per seed | mean | 95% CI | seeds agreeing in sign | resolved |\n|---|---|---:|---:|---:|---|"
    );
    let name = |arm| {
        report
            .arm(arm)
            .map_or_else(|| format!("{arm:?}"), |a| a.label.clone())
    };
    for d in &report.differences {
        let per_seed: Vec<String> = d
            .differences
            .iter()
            .map(|v| format!("{:+.2}", 100.0 * v))
            .collect();
        let _ = writeln!(
            md,
            "| {} − {} | {} | {:+.2} | {} | {} of {} | {} |",
            name(d.arm),
            name(d.baseline),
            per_seed.join(", "),
            100.0 * d.mean,
            interval(d.ci95),
            d.seeds_agreeing,
            d.differences.len(),
            if d.resolved {
                "**yes**: the interval excludes 0"
            } else {
                "no: the interval contains 0"
            }
        );
    }
    md.push('\n');
}

/// Per arm: the trained routers' task separation, and the merged-per-task models' macro average
/// beside the routed adapters'.
fn routing_table(report: &ExperimentReport, md: &mut String) {
    let _ = writeln!(
        md,
        "## Routing per task and merging under it\n\nTask separation: the mean pairwise Jensen–Shannon divergence of the tasks' mean routings per layer (nats; 0 = every task routes alike, ln 2 = 0.693 the most), from each run's `routing.json`. Merged: each task scored by the plain model folded under that task's mean routing per projection (`merged.json`).\n\n| arm | task separation | routed macro (%) | merged macro (%) |\n|---|---:|---:|---:|"
    );
    for arm in &report.arms {
        let separation = arm
            .routing_separation
            .as_ref()
            .map_or("–".to_string(), |s| match s.std {
                Some(std) => format!("{:.4} ± {:.4}", s.mean, std),
                None => format!("{:.4}", s.mean),
            });
        let merged = arm
            .merged_macro_average
            .as_ref()
            .map_or("–".to_string(), percent);
        let _ = writeln!(
            md,
            "| {} | {separation} | {} | {merged} |",
            arm.label,
            percent(&arm.macro_average)
        );
    }
    md.push('\n');
}

fn cost_table(report: &ExperimentReport, md: &mut String) {
    let _ = writeln!(md, "## Cost\n");
    let _ = writeln!(
        md,
        "| arm | heads × rank | trainable parameters | s / step | peak memory (MiB) |\n|---|---:|---:|---:|---:|"
    );
    for arm in &report.arms {
        let memory = arm
            .peak_memory_mib
            .as_ref()
            .map_or("–".to_string(), |m| format!("{:.0}", m.mean));
        let _ = writeln!(
            md,
            "| {} | {} × {} | {} | {:.3} | {memory} |",
            arm.label, arm.heads, arm.rank, arm.trainable_params, arm.seconds_per_step.mean
        );
    }
    let _ = writeln!(
        md,
        "\nSeconds per step: the training loop's wall time (validation every {} steps and \
         checkpoints included) over its steps; peak memory: the run's whole process.\n",
        report.settings.checkpoint_every
    );
}

fn similarity_table(report: &ExperimentReport, md: &mut String) {
    let multi: Vec<&ArmSummary> = report
        .arms
        .iter()
        .filter(|a| !a.head_similarity.is_empty())
        .collect();
    let Some(first) = multi.first() else {
        return;
    };
    let _ = writeln!(
        md,
        "## Head similarity\n\nMean pairwise cosine similarity of an adapter's heads (off-diagonal, \
         mean over layers and seeds), at the first logged step → at the end.\n"
    );
    let modules: Vec<&str> = first
        .head_similarity
        .iter()
        .map(|h| h.module.as_str())
        .collect();
    let _ = writeln!(md, "| arm | {} |", modules.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(modules.len()));
    for arm in multi {
        let _ = write!(md, "| {} |", arm.label);
        for module in &modules {
            let cell = arm
                .head_similarity
                .iter()
                .find(|h| h.module == *module)
                .and_then(|h| Some(format!("{:.3} → {:.3}", h.first()?, h.last()?)))
                .unwrap_or_else(|| "–".into());
            let _ = write!(md, " {cell} |");
        }
        md.push('\n');
    }
    md.push('\n');
}

/// The paper's claims that this experiment can test, each marked as it came out here.
fn paper_claims(report: &ExperimentReport, md: &mut String) {
    let _ = writeln!(
        md,
        "## The paper's claims, as measured here\n\nThe paper's ablation (Qwen2.5-0.5B, 8 tasks): \
         HydraLoRA 64.13, + multi-head dropout 66.22, + random init 66.31, R-LoRA 67.31; \
         HydraLoRA's heads stay alike (mean cosine ≈ 0.8), R-LoRA's do not.\n"
    );
    let macro_of = |arm: Arm| report.arm(arm).map(|a| &a.macro_average);
    let mut claims = Vec::new();
    for (arm, claim) in [
        (Arm::HydraMhd, "multi-head dropout improves on HydraLoRA"),
        (Arm::HydraInit, "random init improves on HydraLoRA"),
        (Arm::Rlora, "R-LoRA improves on HydraLoRA"),
    ] {
        if let (Some(with), Some(without)) = (macro_of(arm), macro_of(Arm::Hydra)) {
            let spread = with.std.unwrap_or(0.0).max(without.std.unwrap_or(0.0));
            let delta = with.mean - without.mean;
            let verdict = if delta > spread && delta > 0.0 {
                "holds"
            } else if delta > 0.0 {
                "holds, within the seeds' spread"
            } else {
                "does not hold"
            };
            claims.push(format!(
                "- {claim}: **{verdict}** (macro {} vs {}, Δ {:+.1} points)",
                percent(with),
                percent(without),
                100.0 * delta
            ));
        }
    }
    let last = |arm: Arm| {
        report
            .arm(arm)
            .and_then(|a| a.head_similarity.first())
            .and_then(|h| h.last())
    };
    if let (Some(rlora), Some(hydra)) = (last(Arm::Rlora), last(Arm::Hydra)) {
        claims.push(format!(
            "- R-LoRA's heads end less alike than HydraLoRA's: **{}** (mean cosine {rlora:.3} vs \
             {hydra:.3})",
            if rlora < hydra {
                "holds"
            } else {
                "does not hold"
            }
        ));
    }
    let best = report
        .arms
        .iter()
        .max_by(|a, b| a.macro_average.mean.total_cmp(&b.macro_average.mean));
    if let (Some(best), true) = (best, report.arm(Arm::Rlora).is_some()) {
        claims.push(format!(
            "- R-LoRA has the best macro average: **{}** (best: {}, {})",
            if best.arm == Arm::Rlora {
                "holds"
            } else {
                "does not hold"
            },
            best.label,
            percent(&best.macro_average)
        ));
    }
    for claim in claims {
        let _ = writeln!(md, "{claim}");
    }
    md.push('\n');
}

/// `accuracy.png` (arms × tasks, with the averages) and `head_similarity.png` (the mean over
/// all adapters against the step, one line per multi-head arm).
fn draw_pictures(report: &ExperimentReport, dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut columns: Vec<String> = report.base.tasks.iter().map(|t| t.task.clone()).collect();
    columns.extend(["macro".to_string(), "micro".to_string()]);
    let mut rows = vec!["base".to_string()];
    let mut matrix = vec![
        report
            .base
            .tasks
            .iter()
            .map(|t| t.accuracy)
            .chain([report.base.macro_average, report.base.micro_average])
            .collect::<Vec<f64>>(),
    ];
    for arm in &report.arms {
        rows.push(arm.label.clone());
        matrix.push(
            arm.tasks
                .iter()
                .map(|(_, s)| s.mean)
                .chain([arm.macro_average.mean, arm.micro_average.mean])
                .collect(),
        );
    }
    let accuracy = dir.join("accuracy.png");
    heat_map_png(
        &accuracy,
        "test accuracy per task (mean over seeds)",
        &matrix,
        &rows,
        &columns,
        (0.0, 1.0),
    )?;
    let series: Vec<Series> = report
        .arms
        .iter()
        .filter_map(|arm| {
            let all = arm.head_similarity.first()?;
            Some(Series {
                name: arm.label.clone(),
                points: all.points.clone(),
            })
        })
        .collect();
    let similarity = dir.join("head_similarity.png");
    line_chart_png(
        &similarity,
        "mean pairwise cosine similarity of the heads (all adapters, mean over seeds)",
        "step",
        "cosine",
        &series,
    )?;
    Ok(vec![accuracy, similarity])
}
