//! Training across processes on the CPU backend, over 127.0.0.1: two processes of batch 8 train
//! as one process of batch 16 (burn's collective all-reduce sums their gradients), a killed rank
//! stops the group in bounded time and the group resumes from its checkpoint, and bad group
//! settings are refused before training.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::train::metric::store::Split;
use rlora_train::trainer::{LogLayout, latest_checkpoint, metric_history};

/// Checkpoints every this many steps.
const EVERY: usize = 2;

fn model() -> String {
    format!(
        "{}/../rlora-llama/tests/fixtures/llama-gqa",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn output_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-group-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `rlora train`'s flags for a short run into `output` with `batch` rows per process.
fn train_flags(output: &Path, batch: usize, steps: usize) -> Vec<String> {
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

fn rlora(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args(args)
        .output()
        .expect("rlora runs")
}

fn train(flags: Vec<String>) -> Output {
    rlora(&[vec!["train".to_string()], flags].concat())
}

fn launch(nprocs: usize, flags: Vec<String>) -> Output {
    let head = ["launch", "--nprocs", &nprocs.to_string(), "--", "train"];
    rlora(&[head.map(String::from).to_vec(), flags].concat())
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn succeeded(output: &Output) {
    assert!(output.status.success(), "{}", text(output));
}

/// The training loss of every step of the run in `dir`.
fn losses(dir: &Path) -> Vec<(f64, f64)> {
    metric_history(dir, Split::Train, "Loss", LogLayout::single(EVERY))
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

#[test]
fn two_processes_of_batch_8_train_as_one_process_of_batch_16() {
    let (alone, group) = (output_dir("alone"), output_dir("pair"));
    succeeded(&train(train_flags(&alone, 16, 4)));
    let output = launch(2, train_flags(&group, 8, 4));
    succeeded(&output);
    let log = text(&output);
    for line in [
        "[rank 0] ",
        "[rank 1] ",
        "rank 1 of 2 processes",
        "step 4/4",
    ] {
        assert!(log.contains(line), "missing `{line}` in:\n{log}");
    }
    // Only rank 0 writes into --output; both ranks' results are one run's.
    assert!(group.join("adapter/adapter_model.safetensors").is_file());
    let (one, two) = (losses(&alone), losses(&group));
    assert_eq!(one.len(), 4, "{one:?}");
    assert_eq!(two.len(), 4, "{two:?}");
    for ((step, a), (_, b)) in one.iter().zip(&two) {
        assert!(
            (a - b).abs() < 1e-5,
            "step {step}: loss {a} alone, {b} in the group"
        );
    }
    let (difference, largest) = adapter_difference(&alone, &group);
    assert!(
        largest > 1e-2,
        "the adapters hold no weights to compare: {largest}"
    );
    assert!(
        difference < 1e-5,
        "the adapters differ by up to {difference:e} (largest weight {largest})"
    );
    let _ = std::fs::remove_dir_all(&alone);
    let _ = std::fs::remove_dir_all(&group);
}

/// The process id `rlora launch` reported for `rank` in its standard error.
fn rank_process(stderr: &str, rank: usize) -> Option<u32> {
    let marker = format!("[launch] rank {rank} is process ");
    let line = stderr.lines().find(|l| l.starts_with(&marker))?;
    line[marker.len()..].trim().parse().ok()
}

#[test]
fn a_killed_rank_stops_the_group_in_bounded_time_and_the_group_resumes() {
    let dir = output_dir("killed");
    let log = std::env::temp_dir().join(format!("rlora-group-killed-{}.log", std::process::id()));
    let head = ["launch", "--nprocs", "2", "--", "train"]
        .map(String::from)
        .to_vec();
    let mut launcher = Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args([head, train_flags(&dir, 8, 500)].concat())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while latest_checkpoint(&dir).is_none() {
        assert!(
            launcher.try_wait().unwrap().is_none(),
            "the group ended before its first checkpoint:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = std::fs::read_to_string(&log).unwrap();
    let rank_1 = rank_process(&stderr, 1).expect("the launcher names rank 1's process");
    assert!(
        Command::new("kill")
            .args(["-9", &rank_1.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = launcher.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the group still runs 60 s after"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("error: rank 1 was killed (signal 9); stopped rank 0"),
        "{stderr}"
    );

    let checkpoint = latest_checkpoint(&dir).unwrap();
    let resumed_steps = checkpoint * EVERY + 2;
    let mut flags = train_flags(&dir, 8, resumed_steps);
    flags.push("--resume".into());
    let output = launch(2, flags);
    succeeded(&output);
    let steps: Vec<f64> = losses(&dir).iter().map(|(step, _)| *step).collect();
    let expected: Vec<f64> = (1..=resumed_steps).map(|s| s as f64).collect();
    assert_eq!(
        steps,
        expected,
        "every step logged once:\n{}",
        text(&output)
    );
    assert!(text(&output).contains(&format!("step {resumed_steps}/{resumed_steps}")));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&log);
}

/// A port that is free now, with the next five (the coordinator's second, the two ranks' two
/// tensor services).
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if port < 65000 && (1..6).all(|i| TcpListener::bind(("0.0.0.0", port + i)).is_ok()) {
            return port;
        }
    }
}

fn rank_flags(dir: &Path, rank: usize, port: u16, extra: &[&str]) -> Vec<String> {
    let mut flags = train_flags(dir, 8, 2);
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

#[test]
fn bad_group_settings_are_refused_before_training() {
    let dir = output_dir("refused");
    let refused = |flags: Vec<String>, expected: &str| {
        let output = train(flags);
        assert!(!output.status.success());
        assert!(
            text(&output).contains(expected),
            "expected `{expected}` in:\n{}",
            text(&output)
        );
    };
    let mut flags = train_flags(&dir, 8, 2);
    flags.extend(
        [
            "--nodes",
            "2",
            "--node-rank",
            "2",
            "--coordinator",
            "127.0.0.1:29500",
        ]
        .map(String::from),
    );
    refused(
        flags,
        "--node-rank 2 is out of range for --nodes 2: ranks are 0..1",
    );
    let mut flags = train_flags(&dir, 8, 2);
    flags.extend(["--nodes", "2"].map(String::from));
    refused(flags, "--nodes needs --coordinator HOST:PORT");
    let mut flags = train_flags(&dir, 8, 2);
    flags.extend(["--node-rank", "1"].map(String::from));
    refused(flags, "--node-rank belongs to a group run");

    // Nothing listens on the coordinator's port: rank 1 gives up after --group-timeout.
    let port = free_port();
    let started = Instant::now();
    let expected =
        format!("rank 1 of 2: the coordinator 127.0.0.1:{port} cannot be reached within 2 s");
    refused(
        rank_flags(&dir, 1, port, &["--group-timeout", "2"]),
        &expected,
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(!dir.exists(), "rank 1 wrote into --output");

    // Two processes started with different learning rates: both refuse at the handshake.
    let port = free_port();
    let spawn = |rank: usize, lr: &str| {
        Command::new(env!("CARGO_BIN_EXE_rlora"))
            .args(
                [
                    vec!["train".to_string()],
                    rank_flags(&dir, rank, port, &["--lr", lr]),
                ]
                .concat(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(0, "1e-4"), spawn(1, "2e-4"));
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    for (output, other) in [(&first, 1), (&second, 0)] {
        assert!(!output.status.success(), "{}", text(output));
        let expected = format!("rank {other} was started with other settings");
        assert!(
            text(output).contains(&expected),
            "expected `{expected}` in:\n{}",
            text(output)
        );
    }
    assert!(latest_checkpoint(&dir).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
