//! `cargo xtask soak [--runs 3] [--steps 1500] [--max-restarts 20] [--exchanges 3000]
//! [--no-introduction]`: how
//! long a group of processes trains before burn's collective engine fails, and whether the
//! launcher's restarts carry a run to its end (outside CI: about 10 minutes a run on 2 cores).
//!
//! First the exchanges alone (`rlora-train`'s `exchange_soak` example: two processes exchanging
//! the tiny base's gradient bucket until `--exchanges`, a new group after each failure), then
//! `--runs` runs of `rlora launch --nprocs 2 --max-restarts K -- --builtin --max-steps STEPS
//! --batch-size 4 --skip-base-eval` (the tiny base), each in a fresh folder: whether it
//! finished, its updates, the restarts it took and their causes, and its wall time.
//!
//! `--no-introduction` measures burn-collective as it is: the processes skip the handshake's
//! introduction of their tensor addresses and the wait before each exchange (the example's flag
//! and the training's `RLORA_NO_INTRODUCTION`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{cargo, run, workspace_root};

/// The settings of a soak.
struct Plan {
    runs: usize,
    steps: usize,
    max_restarts: usize,
    exchanges: usize,
    no_introduction: bool,
}

impl Plan {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut plan = Self {
            runs: 3,
            steps: 1500,
            max_restarts: 20,
            exchanges: 3000,
            no_introduction: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--no-introduction" {
                plan.no_introduction = true;
                continue;
            }
            let value = args
                .next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("soak: {flag} needs a number"))?;
            match flag.as_str() {
                "--runs" => plan.runs = value,
                "--steps" => plan.steps = value,
                "--max-restarts" => plan.max_restarts = value,
                "--exchanges" => plan.exchanges = value,
                other => return Err(format!("soak: unknown flag {other}")),
            }
        }
        Ok(plan)
    }
}

/// One training run of the soak.
struct RunResult {
    finished: bool,
    updates: usize,
    restarts: Vec<String>,
    seconds: f64,
}

pub fn soak(args: &[String]) -> Result<(), String> {
    let plan = Plan::parse(args)?;
    run(
        "building the rlora command and the exchange soak (release)",
        cargo().args([
            "build",
            "--release",
            "-p",
            "rlora-train",
            "--bin",
            "rlora",
            "--example",
            "exchange_soak",
        ]),
    )?;
    let release = target_dir().join("release");
    let mut exchanges = Command::new(release.join("examples/exchange_soak"));
    exchanges.args(["--exchanges", &plan.exchanges.to_string()]);
    if plan.no_introduction {
        exchanges.arg("--no-introduction");
    }
    if plan.exchanges > 0 {
        run("exchanges between two processes", &mut exchanges)?;
    }
    let results: Vec<RunResult> = (1..=plan.runs)
        .map(|index| train_run(&release.join("rlora"), &plan, index))
        .collect::<Result<_, _>>()?;
    println!(
        "\n| run | finished | updates | restarts | updates per failure | wall time |\n|---|---|---:|---:|---:|---:|"
    );
    for (index, result) in results.iter().enumerate() {
        let per_failure = match result.restarts.len() + usize::from(!result.finished) {
            0 => "none".to_string(),
            failures => format!("{:.0}", result.updates as f64 / failures as f64),
        };
        println!(
            "| {} | {} | {} | {} | {per_failure} | {:.0} s |",
            index + 1,
            if result.finished { "yes" } else { "no" },
            result.updates,
            result.restarts.len(),
            result.seconds
        );
    }
    for (index, result) in results.iter().enumerate() {
        for restart in &result.restarts {
            println!("run {}: {restart}", index + 1);
        }
    }
    Ok(())
}

/// `rlora launch` of the plan's run into a fresh folder.
fn train_run(rlora: &Path, plan: &Plan, index: usize) -> Result<RunResult, String> {
    let output = std::env::temp_dir().join(format!("rlora-soak-{}-{index}", std::process::id()));
    let _ = std::fs::remove_dir_all(&output);
    eprintln!(
        "xtask: == soak run {index} of {}: {} updates into {}",
        plan.runs,
        plan.steps,
        output.display()
    );
    let started = Instant::now();
    let mut launch = Command::new(rlora);
    if plan.no_introduction {
        launch.env("RLORA_NO_INTRODUCTION", "1");
    }
    let ran = launch
        .args(["launch", "--nprocs", "2", "--max-restarts"])
        .arg(plan.max_restarts.to_string())
        .args(["--", "--builtin", "--batch-size", "4", "--skip-base-eval"])
        .args(["--max-steps", &plan.steps.to_string()])
        .arg("--output")
        .arg(&output)
        .output()
        .map_err(|e| format!("cannot start {}: {e}", rlora.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let restarts: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("[launch] ") && l.contains(": restart "))
        .map(str::to_string)
        .collect();
    let updates = last_step(&text).unwrap_or(0);
    let finished = ran.status.success();
    if !finished {
        eprintln!(
            "xtask: soak run {index} failed: {}",
            causes(&text).join(" / ")
        );
    }
    let _ = std::fs::remove_dir_all(&output);
    Ok(RunResult {
        finished,
        updates,
        restarts,
        seconds,
    })
}

/// What a failed run printed about its failure: each panic's place and message, each error and
/// warning line, the last line.
fn causes(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut causes: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(at) = line.find("panicked at ") {
            let message = lines.get(i + 1).map_or("", |m| m.trim());
            causes.push(format!("{} {message}", &line[at..]));
        } else if line.contains("error:") || line.contains("warning: burn") {
            causes.push(line.trim().to_string());
        }
    }
    if let Some(last) = lines.last() {
        causes.push(last.trim().to_string());
    }
    causes.dedup();
    causes
}

/// The last `step N/…` the run's rank 0 printed.
fn last_step(text: &str) -> Option<usize> {
    text.lines()
        .rev()
        .filter_map(|line| {
            let at = line.find("step ")?;
            let digits: String = line[at + 5..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            line[at + 5 + digits.len()..]
                .starts_with('/')
                .then(|| digits.parse().ok())
                .flatten()
        })
        .next()
}

/// Cargo's target folder for this workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
