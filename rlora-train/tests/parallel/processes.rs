//! Training across processes on this build's backend (the CPU in CI), over 127.0.0.1: two
//! processes of batch 8 train as one process of batch 16 (burn's collective all-reduce sums
//! their gradients), a killed rank stops the group in bounded time (under `rlora launch`, and
//! alone through `--group-timeout`) and the group resumes from its checkpoint (by hand, or by
//! the launcher's restarts), and bad group settings are refused before training.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rlora_train::trainer::{ENGINE_THREADS_VARIABLE, latest_checkpoint};

use crate::run::{
    EVERY, assert_same_training, files, free_port, launch, launch_command, launch_in_tmp, losses,
    output_dir, rank_flags, rank_folders_left, rank_process, rlora, rlora_command, succeeded, text,
    train, train_flags, wait_bounded,
};

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
    // `rlora train` in a group runs burn's engine on one thread, so no rank warns of more.
    assert!(!log.contains(SEVERAL_ENGINE_THREADS), "{log}");
    // Only rank 0 writes into --output; both ranks' results are one run's.
    assert!(group.join("adapter/adapter_model.safetensors").is_file());
    assert_same_training(&alone, &group, 1, 4, 1e-5);
    let _ = std::fs::remove_dir_all(&alone);
    let _ = std::fs::remove_dir_all(&group);
}

/// `rlora launch FLAGS -- train TRAIN` started with its standard error in `log` and `TMPDIR` at
/// `tmp`, once the run in `dir` has its first checkpoint, and rank 1's process killed then
/// (SIGKILL).
fn launch_and_kill_rank_1(
    launch: &[&str],
    train: Vec<String>,
    dir: &Path,
    tmp: &Path,
    log: &Path,
) -> Child {
    let head: Vec<String> = ["launch", "--nprocs", "2"]
        .iter()
        .chain(launch)
        .chain(&["--", "train"])
        .map(|s| s.to_string())
        .collect();
    let mut launcher = rlora_command()
        .args([head, train].concat())
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while latest_checkpoint(dir).is_none() {
        assert!(
            launcher.try_wait().unwrap().is_none(),
            "the group ended before its first checkpoint:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = std::fs::read_to_string(log).unwrap();
    let rank_1 = rank_process(&stderr, 1).expect("the launcher names rank 1's process");
    assert!(
        Command::new("kill")
            .args(["-9", &rank_1.to_string()])
            .status()
            .unwrap()
            .success()
    );
    launcher
}

/// With `--max-restarts 0`, `rlora launch` stops the group when a rank is killed, the group
/// resumes from the checkpoint by hand, and the ranks' private folders (their checkpoints, the
/// resumed run's copies) are gone after both runs: the killed rank could not remove its own,
/// the launcher removes them.
#[test]
fn a_killed_rank_stops_the_group_in_bounded_time_and_the_group_resumes() {
    let dir = output_dir("killed");
    let tmp = output_dir("killed-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let log = std::env::temp_dir().join(format!("rlora-group-killed-{}.log", std::process::id()));
    let train = train_flags(&dir, 8, 500);
    let mut launcher = launch_and_kill_rank_1(&["--max-restarts", "0"], train, &dir, &tmp, &log);
    let status = wait_bounded(&mut launcher, Duration::from_secs(60), "the group");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("error: rank 1 was killed (signal 9); stopped rank 0 (--max-restarts 0)"),
        "{stderr}"
    );
    assert!(!stderr.contains("restart 1"), "{stderr}");
    assert_eq!(rank_folders_left(&tmp), Vec::<std::path::PathBuf>::new());

    let checkpoint = latest_checkpoint(&dir).unwrap();
    let resumed_steps = checkpoint * EVERY + 2;
    let mut flags = train_flags(&dir, 8, resumed_steps);
    flags.push("--resume".into());
    let output = launch_in_tmp(&tmp, 2, flags);
    succeeded(&output);
    assert_eq!(rank_folders_left(&tmp), Vec::<std::path::PathBuf>::new());
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
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_file(&log);
}

/// The warning of a rank whose burn engine will run on more than one thread.
const SEVERAL_ENGINE_THREADS: &str =
    "warning: burn's collective engine will run on several threads";

/// A loss that is not finite stops the group, and `rlora launch` does not start it again (from
/// the last checkpoint, the same flags meet it again): it says so after the rank's own error.
/// The ranks' engines run on the 2 threads that the environment asks for, as a user may set it:
/// each rank warns of it.
#[test]
fn a_group_stopped_by_a_loss_that_is_not_finite_is_not_restarted() {
    let dir = output_dir("not-finite");
    let mut flags = train_flags(&dir, 8, 20);
    flags.extend(
        [
            "--lr",
            "1e30",
            "--max-grad-norm",
            "0",
            "--warmup-ratio",
            "0",
        ]
        .map(String::from),
    );
    let output = launch_command(2, flags)
        .env(ENGINE_THREADS_VARIABLE, "2")
        .output()
        .expect("rlora runs");
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    for rank in 0..2 {
        let warning = format!("rank {rank} of 2: {SEVERAL_ENGINE_THREADS}");
        assert!(log.contains(&warning), "missing `{warning}` in:\n{log}");
    }
    assert!(log.contains("training stopped: the loss is"), "{log}");
    assert!(
        log.contains("stopped on values that are not finite")
            && log.contains("not restarted: the same flags meet them again"),
        "{log}"
    );
    assert!(!log.contains("restart 1"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
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
    let mut flags = train_flags(&dir, 8, 2);
    flags.extend(["--nodes", "2", "--coordinator", "127.0.0.1:65535"].map(String::from));
    refused(
        flags,
        "--coordinator 127.0.0.1:65535: the coordinator serves its port and the next one",
    );
    let mut flags = train_flags(&dir, 8, 2);
    let group = [
        "--nodes",
        "2",
        "--node-rank",
        "1",
        "--coordinator",
        "127.0.0.1:65533",
    ];
    flags.extend(group.map(String::from));
    refused(
        flags,
        "the tensor ports 65537 and 65538 are no ports: give a lower --coordinator port or \
         --node-address HOST:PORT",
    );

    // Nothing listens on the coordinator's port: rank 1 gives up after --group-timeout.
    let port = free_port();
    let started = Instant::now();
    let expected =
        format!("rank 1 of 2: the coordinator 127.0.0.1:{port} cannot be reached within 2 s");
    refused(
        rank_flags(&dir, 1, port, 2, &["--group-timeout", "2"]),
        &expected,
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(!dir.exists(), "rank 1 wrote into --output");

    // Two processes started with different learning rates and seeds: both refuse at the
    // handshake, naming each setting that differs with both values.
    let port = free_port();
    let spawn = |rank: usize, lr: &str, seed: &str| {
        rlora_command()
            .args(
                [
                    vec!["train".to_string()],
                    rank_flags(&dir, rank, port, 2, &["--lr", lr, "--seed", seed]),
                ]
                .concat(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(0, "1e-4", "0"), spawn(1, "2e-4", "3"));
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    for (output, other, there, here) in [
        (&first, 1, ["0.0002", "3"], ["0.0001", "0"]),
        (&second, 0, ["0.0001", "0"], ["0.0002", "3"]),
    ] {
        assert!(!output.status.success(), "{}", text(output));
        let expected = format!(
            "rank {other} was started with other settings (--lr: {} there, {} here; --seed: {} \
             there, {} here)",
            there[0], here[0], there[1], here[1]
        );
        assert!(
            text(output).contains(&expected),
            "expected `{expected}` in:\n{}",
            text(output)
        );
    }
    assert!(latest_checkpoint(&dir).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without `rlora launch` to stop the others, a process whose peer dies stops by itself within
/// `--group-timeout`, naming the failed exchange and the checkpoint to resume from, and the
/// failures of burn's engine threads on the way in a line each.
#[test]
fn a_rank_whose_peer_dies_stops_within_the_group_timeout() {
    let dir = output_dir("peer-died");
    // The killed rank 1 leaves its private folder here, removed with it.
    let tmp = output_dir("peer-died-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let port = free_port();
    let log = |rank: usize| tmp.join(format!("rank-{rank}.log"));
    let spawn = |rank: usize| {
        rlora_command()
            .args(
                [
                    vec!["train".to_string()],
                    rank_flags(&dir, rank, port, 500, &[]),
                ]
                .concat(),
            )
            .env_remove("RUST_BACKTRACE")
            .env("TMPDIR", &tmp)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log(rank)).unwrap())
            .spawn()
            .unwrap()
    };
    let (mut rank_0, mut rank_1) = (spawn(0), spawn(1));
    let started = Instant::now();
    while latest_checkpoint(&dir).is_none() {
        assert!(
            rank_0.try_wait().unwrap().is_none(),
            "rank 0 ended before its first checkpoint:\n{}\nrank 1:\n{}",
            std::fs::read_to_string(log(0)).unwrap_or_default(),
            std::fs::read_to_string(log(1)).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rank_1.kill().unwrap();
    rank_1.wait().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = rank_0.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(60) {
            let _ = rank_0.kill();
            panic!("rank 0 still runs 60 s after its peer died (--group-timeout 20)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(log(0)).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("error: rank 0 of 2: "), "{stderr}");
    assert!(
        stderr.contains("start every process again with the same flags and --resume"),
        "{stderr}"
    );
    // burn's engine threads that fail report one line each, without color codes in a file.
    assert!(!stderr.contains("panicked at"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A rank killed mid-run: `rlora launch` starts the whole group again from the run's last
/// checkpoint (torchrun's `--max-restarts`, 3 by default), says so with the cause, and the run
/// ends as one process of batch 16 would have, every step logged once, no rank folder left.
#[test]
fn a_killed_rank_restarts_the_group_from_its_checkpoint() {
    let steps = 24;
    let (alone, group) = (output_dir("restart-alone"), output_dir("restart-pair"));
    let tmp = output_dir("restart-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let log = tmp.join("launch.err");
    succeeded(&train(train_flags(&alone, 16, steps)));
    let mut launcher =
        launch_and_kill_rank_1(&[], train_flags(&group, 8, steps), &group, &tmp, &log);
    let status = wait_bounded(&mut launcher, Duration::from_secs(600), "the group");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{stderr}");
    let restart = "[launch] rank 1 was killed (signal 9); stopped rank 0: restart 1 of 3, \
                   resuming from the checkpoint of step ";
    assert!(
        stderr.contains(restart),
        "expected `{restart}` in:\n{stderr}"
    );
    assert_same_training(&alone, &group, 1, steps, 1e-5);
    assert_eq!(rank_folders_left(&tmp), Vec::<PathBuf>::new());
    for dir in [&alone, &group, &tmp] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A start refused before its run begins (here: `--output` holds another run) is not restarted,
/// and the other run's files are left byte for byte.
#[test]
fn a_refused_start_is_not_restarted() {
    let dir = output_dir("taken");
    succeeded(&train(train_flags(&dir, 8, 2)));
    let before = files(&dir);
    let output = launch(2, train_flags(&dir, 8, 2));
    assert!(!output.status.success());
    let log = text(&output);
    assert!(log.contains("holds another run"), "{log}");
    assert!(!log.contains("restart"), "{log}");
    assert_eq!(files(&dir), before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A group of 300 updates (2 processes of batch 4) finishes: burn's collective engine fails now
/// and then (see `cargo xtask soak`), and `rlora launch` restarts the group from its checkpoint;
/// the restarts it took are printed.
#[test]
fn a_group_of_300_updates_finishes() {
    let dir = output_dir("soak-300");
    let mut flags = train_flags(&dir, 4, 300);
    let every = flags
        .iter()
        .position(|f| f == "--checkpoint-every")
        .unwrap()
        + 1;
    flags[every] = "50".into();
    let head = [
        "launch",
        "--nprocs",
        "2",
        "--max-restarts",
        "20",
        "--",
        "train",
    ];
    let output = rlora(&[head.map(String::from).to_vec(), flags].concat());
    let log = text(&output);
    let restarts = log.lines().filter(|l| l.contains(": restart ")).count();
    eprintln!("a group of 300 updates: {restarts} restarts");
    succeeded(&output);
    assert!(log.contains("step 300/300"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// burn's coordinator keeps one open file per process and update (see `rlora coordinator`'s
/// documentation: at a soft limit of 256 a group stopped answering at update 121), so
/// `rlora coordinator` raises its soft limit of open files to the hard one when it starts.
#[cfg(target_os = "linux")]
#[test]
fn the_coordinator_raises_its_open_file_limit() {
    let port = free_port();
    let mut coordinator = Command::new("sh")
        .args([
            "-c",
            r#"ulimit -S -n 64 && exec "$0" coordinator --port "$1" --while-stdin-open"#,
        ])
        .arg(crate::run::rlora_program())
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let process = format!("/proc/{}", coordinator.id());
    // The soft and hard limits of open files, once `sh` has become the coordinator.
    let open_files = || -> Option<(String, String)> {
        let command = std::fs::read(format!("{process}/cmdline")).ok()?;
        if !String::from_utf8_lossy(&command).contains("coordinator") {
            return None;
        }
        let text = std::fs::read_to_string(format!("{process}/limits")).ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        Some((fields.get(3)?.to_string(), fields.get(4)?.to_string()))
    };
    let started = Instant::now();
    let mut seen = open_files();
    while started.elapsed() < Duration::from_secs(20)
        && seen.as_ref().is_none_or(|(soft, hard)| soft != hard)
    {
        std::thread::sleep(Duration::from_millis(50));
        seen = open_files();
    }
    drop(coordinator.stdin.take());
    wait_bounded(&mut coordinator, Duration::from_secs(20), "the coordinator");
    let (soft, hard) = seen.expect("the coordinator's limits");
    assert_eq!(soft, hard, "soft limit {soft}, hard {hard}");
    assert_ne!(soft, "64");
}
