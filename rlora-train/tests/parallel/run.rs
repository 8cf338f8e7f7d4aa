//! Running `rlora train` and `rlora launch` for the tests, and comparing two runs.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use burn::train::metric::store::Split;
use rlora_train::trainer::{LogLayout, metric_history};

/// Checkpoints every this many steps.
pub const EVERY: usize = 2;

/// The small Llama (grouped-query attention) the runs fine-tune: under `CARGO_MANIFEST_DIR` as it
/// is when the test runs (cargo sets it; the GPU bundle's `run.sh` points it into the bundle),
/// else where the test was built.
pub fn model() -> String {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{manifest}/../rlora-llama/tests/fixtures/llama-gqa")
}

/// The `rlora` command: `CARGO_BIN_EXE_rlora` when the test runs (the GPU bundle's `run.sh` sets
/// it), else the one cargo built beside the test; burn's engine threads are left to it, whatever
/// the environment of the tests says.
pub fn rlora_command() -> Command {
    let mut command = Command::new(rlora_program());
    command.env_remove(rlora_train::trainer::ENGINE_THREADS_VARIABLE);
    command
}

/// The `rlora` executable that [`rlora_command`] runs.
pub fn rlora_program() -> std::ffi::OsString {
    std::env::var_os("CARGO_BIN_EXE_rlora").unwrap_or_else(|| env!("CARGO_BIN_EXE_rlora").into())
}

/// A fresh output folder for the run `name` of this test process.
pub fn output_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-parallel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `rlora train`'s flags for a short run into `output` with `batch` rows per process (per device
/// with `--devices`).
pub fn train_flags(output: &Path, batch: usize, steps: usize) -> Vec<String> {
    let fixed = [
        "--builtin",
        "--max-seq-len",
        "48",
        "--heads",
        "3",
        "--rank",
        "4",
        "--dropout",
        "0",
        "--eval-examples",
        "2",
        "--eval-max-new-tokens",
        "4",
        "--skip-base-eval",
    ];
    let mut flags: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    flags.extend([
        "--model".into(),
        model(),
        "--output".into(),
        output.to_string_lossy().into(),
        "--batch-size".into(),
        batch.to_string(),
        "--max-steps".into(),
        steps.to_string(),
        "--checkpoint-every".into(),
        EVERY.to_string(),
    ]);
    flags
}

/// `rlora ARGS`, run to its end.
pub fn rlora(args: &[String]) -> Output {
    rlora_command().args(args).output().expect("rlora runs")
}

/// `rlora train FLAGS`.
pub fn train(flags: Vec<String>) -> Output {
    rlora(&[vec!["train".to_string()], flags].concat())
}

/// `rlora launch --nprocs N -- train FLAGS`, not yet run.
pub fn launch_command(nprocs: usize, flags: Vec<String>) -> Command {
    let head = ["launch", "--nprocs", &nprocs.to_string(), "--", "train"];
    let mut command = rlora_command();
    command.args([head.map(String::from).to_vec(), flags].concat());
    command
}

/// `rlora launch --nprocs N -- train FLAGS`.
pub fn launch(nprocs: usize, flags: Vec<String>) -> Output {
    launch_command(nprocs, flags).output().expect("rlora runs")
}

/// A run's standard output and error.
pub fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Fails the test with the run's output unless it succeeded.
pub fn succeeded(output: &Output) {
    assert!(output.status.success(), "{}", text(output));
}

/// The training loss of every step of the run in `dir` (one process or rank 0 of a group, on one
/// device).
pub fn losses(dir: &Path) -> Vec<(f64, f64)> {
    device_losses(dir, 1)
}

/// The training loss of every step of a run in `dir` on `devices` devices (the devices' log
/// entries of a step, averaged).
pub fn device_losses(dir: &Path, devices: usize) -> Vec<(f64, f64)> {
    metric_history(dir, Split::Train, "Loss", LogLayout::new(EVERY, devices))
}

/// Every tensor of a run's adapter, by name.
fn adapter(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(dir.join("adapter/adapter_model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// The largest absolute difference between two adapters' values, and the largest value.
fn adapter_difference(a: &Path, b: &Path) -> (f32, f32) {
    let (a, b) = (adapter(a), adapter(b));
    assert_eq!(
        a.iter().map(|t| &t.0).collect::<Vec<_>>(),
        b.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    let mut largest = (0.0f32, 0.0f32);
    for ((_, x), (_, y)) in a.iter().zip(&b) {
        for (u, v) in x.iter().zip(y) {
            largest = (largest.0.max((u - v).abs()), largest.1.max(u.abs()));
        }
    }
    largest
}

/// `other` (on `devices` devices) trained as `alone` (on one) did: `steps` steps, each loss and
/// every adapter weight within `tolerance` (the adapters must hold weights of at least 1e-2 for
/// that to mean anything).
pub fn assert_same_training(
    alone: &Path,
    other: &Path,
    devices: usize,
    steps: usize,
    tolerance: f64,
) {
    let (one, two) = (losses(alone), device_losses(other, devices));
    assert_eq!(one.len(), steps, "{one:?}");
    assert_eq!(two.len(), steps, "{two:?}");
    for ((step, a), (_, b)) in one.iter().zip(&two) {
        assert!(
            (a - b).abs() < tolerance,
            "step {step}: loss {a} in {}, {b} in {}",
            alone.display(),
            other.display()
        );
    }
    let (difference, largest) = adapter_difference(alone, other);
    assert!(
        largest > 1e-2,
        "the adapters hold no weights to compare: {largest}"
    );
    assert!(
        f64::from(difference) < tolerance,
        "the adapters differ by up to {difference:e} (largest weight {largest})"
    );
}

/// The process id `rlora launch` reported for `rank` in its standard error.
pub fn rank_process(stderr: &str, rank: usize) -> Option<u32> {
    let marker = format!("[launch] rank {rank} is process ");
    let line = stderr.lines().find(|l| l.starts_with(&marker))?;
    line[marker.len()..].trim().parse().ok()
}

/// A port that is free now, with the next five (the coordinator's second, the two ranks' two
/// tensor services): each call's apart from every other call's of this test process, and below
/// the ports the system gives outgoing connections (32768 and up on Linux), so that no
/// connection of a test running beside it takes one before its rank serves it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Test processes run one after another start apart (their groups' ports may still be in
    // TIME_WAIT).
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 8;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(8, Ordering::SeqCst);
        assert!(port < 32_000, "no six free ports below 32000");
        if (0..6).all(|i| TcpListener::bind(("0.0.0.0", port + i)).is_ok()) {
            return port;
        }
    }
}

/// Rank `rank`'s flags of a group of 2 training `steps` steps into `dir`, its coordinator on
/// `port`.
pub fn rank_flags(dir: &Path, rank: usize, port: u16, steps: usize, extra: &[&str]) -> Vec<String> {
    let mut flags = train_flags(dir, 8, steps);
    flags.extend(
        [
            "--nodes",
            "2",
            "--node-rank",
            &rank.to_string(),
            "--coordinator",
            &format!("127.0.0.1:{port}"),
            "--group-timeout",
            "20",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string()),
    );
    flags
}

/// Waits for `child` at most `limit`; past that, kills it and fails the test, saying `what` did
/// not end.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the process `pid` still exists (`kill -0`).
pub fn process_exists(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The process id of the group's coordinator that rank 0 announced in `stdout`.
pub fn coordinator_process(stdout: &str) -> Option<u32> {
    let marker = "the group's coordinator is process ";
    let start = stdout.find(marker)? + marker.len();
    let digits: String = stdout[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The folders of ranks and launchers (`rlora-rank-*`, `rlora-launch-*`) left in `tmp`, at any
/// depth.
pub fn rank_folders_left(tmp: &Path) -> Vec<PathBuf> {
    let mut left = Vec::new();
    let mut pending = vec![tmp.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("rlora-rank-") || name.starts_with("rlora-launch-") {
                left.push(entry.path());
            }
            if entry.path().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    left
}

/// `rlora launch --nprocs N -- train FLAGS` with the temporary folder `tmp` (`TMPDIR`).
pub fn launch_in_tmp(tmp: &Path, nprocs: usize, flags: Vec<String>) -> Output {
    let head = ["launch", "--nprocs", &nprocs.to_string(), "--", "train"];
    rlora_command()
        .args([head.map(String::from).to_vec(), flags].concat())
        .env("TMPDIR", tmp)
        .output()
        .expect("rlora runs")
}

/// Every file below `dir` with its bytes.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}
