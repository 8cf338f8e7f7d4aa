//! `cargo xtask bench --vs-pytorch`: rlora's benchmark (`rlora-train/benches/llama.rs`) and its
//! PyTorch twin (`xtask/bench/vs_pytorch.py`, transformers + PEFT, from a virtual environment this
//! task creates under `target/`) on the same shapes and work, each case in a fresh process, one
//! after the other on the same cores; prints both with their ratios and writes them to
//! `target/vs-pytorch.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{cargo, run, workspace_root};

/// The pinned reference (the same versions as the fixtures).
const PYTHON_PACKAGES: &[&str] = &[
    "torch==2.15.0",
    "transformers==5.24.0",
    "peft==0.21.0",
    "safetensors==0.8.0",
    "numpy==2.4.6",
];

/// The cases of the small benchmark shape.
const BENCH_CASES: &[&str] = &[
    "train-lora",
    "train-rlora",
    "forward",
    "prefill-64",
    "prefill-512",
    "decode-64",
    "decode-512",
];

/// The cases of the real model shapes.
const MODEL_CASES: &[&str] = &["train-lora", "train-rlora"];

/// What `--vs-pytorch` runs: shapes (`bench`, `qwen2.5-0.5b`, …), dtypes of the frozen base,
/// repetitions per case, and the batch's rows and tokens per row where not the shapes' own.
pub struct Plan {
    pub shapes: Vec<String>,
    pub dtypes: Vec<String>,
    pub iters: usize,
    pub batch: Option<String>,
    pub seq: Option<String>,
}

impl Plan {
    /// From the arguments after `--vs-pytorch`: `--shapes a,b`, `--dtypes f32,bf16`, `--iters N`,
    /// `--batch N`, `--seq N`.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut plan = Plan {
            shapes: vec!["bench".into(), "qwen2.5-0.5b".into()],
            dtypes: vec!["f32".into()],
            iters: 3,
            batch: None,
            seq: None,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            let list = |v: String| v.split(',').map(str::to_string).collect();
            match flag.as_str() {
                "--shapes" => plan.shapes = list(value()?),
                "--dtypes" => plan.dtypes = list(value()?),
                "--iters" => plan.iters = value()?.parse().map_err(|e| format!("--iters: {e}"))?,
                "--batch" => plan.batch = Some(value()?),
                "--seq" => plan.seq = Some(value()?),
                other => return Err(format!("unknown argument `{other}` for --vs-pytorch")),
            }
        }
        Ok(plan)
    }
}

/// One measured case of one implementation.
struct Measured {
    seconds: f64,
    peak_rss_bytes: Option<f64>,
}

/// Runs the plan and prints the table.
pub fn vs_pytorch(plan: &Plan) -> Result<(), String> {
    let python = virtual_env()?;
    run(
        "building rlora's benchmark",
        cargo().args(["bench", "-p", "rlora-train", "--bench", "llama", "--no-run"]),
    )?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::new();
    let mut records = Vec::new();
    for shape in &plan.shapes {
        let cases = if shape == "bench" {
            BENCH_CASES
        } else {
            MODEL_CASES
        };
        for dtype in &plan.dtypes {
            for case in cases {
                if dtype != "f32" && !case.starts_with("train") {
                    continue;
                }
                let mut common = vec![
                    "--shape".to_string(),
                    shape.clone(),
                    "--case".into(),
                    case.to_string(),
                    "--dtype".into(),
                    dtype.clone(),
                    "--iters".into(),
                    plan.iters.to_string(),
                ];
                for (flag, value) in [("--batch", &plan.batch), ("--seq", &plan.seq)] {
                    if let Some(value) = value {
                        common.extend([flag.to_string(), value.clone()]);
                    }
                }
                let mut rlora = cargo();
                rlora
                    .args(["bench", "-q", "-p", "rlora-train", "--bench", "llama", "--"])
                    .args(&common);
                let (ours, our_json) = measure(&mut rlora)?;
                let mut torch = Command::new(&python);
                torch
                    .current_dir(workspace_root())
                    .arg("xtask/bench/vs_pytorch.py")
                    .args(&common)
                    .args(["--threads", &threads.to_string()]);
                let (reference, torch_json) = measure(&mut torch)?;
                rows.push(row(shape, case, dtype, &ours, &reference));
                eprintln!("xtask: {}", rows.last().expect("a row"));
                records.push(serde_json::json!({"rlora": our_json, "pytorch": torch_json}));
            }
        }
    }
    println!("\n{}", machine());
    println!(
        "| shape | case | base | rlora | PyTorch | speed (PyTorch time / rlora time) | rlora peak RSS | PyTorch peak RSS | memory (rlora / PyTorch) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{r}");
    }
    let out = workspace_root().join("target/vs-pytorch.json");
    let text = serde_json::to_string_pretty(&records).map_err(|e| e.to_string())?;
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("xtask: results in {}", out.display());
    Ok(())
}

/// A table row: times per step (per token for decode), their ratio, peak memory and its ratio.
fn row(shape: &str, case: &str, dtype: &str, ours: &Measured, reference: &Measured) -> String {
    let time = |s: f64| {
        if s < 1.0 {
            format!("{:.1} ms", s * 1e3)
        } else {
            format!("{s:.2} s")
        }
    };
    let gib = |b: Option<f64>| b.map_or("?".into(), |b| format!("{:.2} GiB", b / 1024f64.powi(3)));
    let memory = match (ours.peak_rss_bytes, reference.peak_rss_bytes) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "?".into(),
    };
    format!(
        "| {shape} | {case} | {dtype} | {} | {} | {:.2}× | {} | {} | {memory} |",
        time(ours.seconds),
        time(reference.seconds),
        reference.seconds / ours.seconds,
        gib(ours.peak_rss_bytes),
        gib(reference.peak_rss_bytes),
    )
}

/// Runs a benchmark process and reads the JSON line it prints last.
fn measure(command: &mut Command) -> Result<(Measured, Value), String> {
    eprintln!("xtask: == {command:?}");
    let output = command
        .output()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{command:?} printed no JSON line:\n{stdout}"))?;
    let json: Value = serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))?;
    let seconds = json["seconds"]
        .as_f64()
        .ok_or_else(|| format!("no `seconds` in {line}"))?;
    Ok((
        Measured {
            seconds,
            peak_rss_bytes: json["peak_rss_bytes"].as_f64(),
        },
        json,
    ))
}

/// The reference's Python: `target/vs-pytorch-venv`, created with the pinned packages if missing.
fn virtual_env() -> Result<PathBuf, String> {
    let dir = workspace_root().join("target/vs-pytorch-venv");
    let python = dir.join("bin/python");
    if has_packages(&python) {
        return Ok(python);
    }
    run(
        "creating the PyTorch reference's virtual environment",
        Command::new("python3").arg("-m").arg("venv").arg(&dir),
    )?;
    run(
        "installing PyTorch, transformers and PEFT (pinned)",
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(PYTHON_PACKAGES),
    )?;
    Ok(python)
}

/// Whether `python` imports the reference's packages.
fn has_packages(python: &Path) -> bool {
    python.exists()
        && Command::new(python)
            .args(["-c", "import torch, transformers, peft"])
            .status()
            .is_ok_and(|s| s.success())
}

/// The machine the table was measured on.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("Measured on {cores} cores of {cpu}, one case per process, one process at a time.")
}
