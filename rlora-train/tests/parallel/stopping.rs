//! A group stops cleanly and in bounded time: SIGINT or SIGTERM to `rlora launch` is passed on
//! to its ranks, which end (and rank 0's coordinator with them) before the launcher does, and
//! leave no private folders behind; a killed coordinator stops rank 0 at once, naming it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rlora_train::trainer::latest_checkpoint;

use crate::run::{
    coordinator_process, free_port, output_dir, process_exists, rank_flags, rank_folders_left,
    rank_process, rlora_command, train_flags, wait_bounded,
};

/// The longest wait for a group's first checkpoint (start-up and two steps).
const FIRST_CHECKPOINT: Duration = Duration::from_secs(300);

/// Waits until the run in `dir` has its first checkpoint, while `child` (logging into `log`)
/// runs.
fn wait_for_training(dir: &Path, child: &mut Child, log: &Path) {
    let started = Instant::now();
    while latest_checkpoint(dir).is_none() {
        if child.try_wait().unwrap().is_some() {
            panic!(
                "the group ended before its first checkpoint:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < FIRST_CHECKPOINT,
            "no checkpoint after {FIRST_CHECKPOINT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (`INT`, `KILL`, …) to the process `pid`.
fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits at most `limit` for the process `pid` (not a child of this one) to be gone.
fn assert_gone_within(pid: u32, limit: Duration, what: &str) {
    let started = Instant::now();
    while process_exists(pid) {
        assert!(
            started.elapsed() < limit,
            "{what} (process {pid}) still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `rlora launch` training a long group, `signal` sent to it once the group trains: the
/// launcher passes it on, and ends only after its ranks and rank 0's coordinator have, within
/// a bound far below `--group-timeout` (20 s) and the run; no rank folder is left in `TMPDIR`.
fn signal_to_the_launcher(signal: &str) {
    let dir = output_dir(&format!("launcher-{signal}"));
    let tmp = output_dir(&format!("launcher-{signal}-tmp"));
    std::fs::create_dir_all(&tmp).unwrap();
    let (out, err) = (tmp.join("launch.out"), tmp.join("launch.err"));
    let head = ["launch", "--nprocs", "2", "--", "train"].map(String::from);
    let mut flags = train_flags(&dir, 8, 500);
    flags.extend(["--group-timeout", "20"].map(String::from));
    let mut launcher = rlora_command()
        .args([head.to_vec(), flags].concat())
        .env("TMPDIR", &tmp)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_for_training(&dir, &mut launcher, &err);
    let stderr = std::fs::read_to_string(&err).unwrap();
    let ranks =
        [0, 1].map(|rank| rank_process(&stderr, rank).expect("the launcher names its ranks"));
    let stdout = std::fs::read_to_string(&out).unwrap();
    let coordinator = coordinator_process(&stdout).expect("rank 0 names its coordinator");
    assert!(
        !rank_folders_left(&tmp).is_empty(),
        "rank 1 trains without a private folder in TMPDIR"
    );

    send(signal, launcher.id());
    let status = wait_bounded(&mut launcher, Duration::from_secs(60), "the launcher");
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(!status.success(), "{stderr}");
    let expected = format!("error: interrupted by SIG{signal}, which was passed on to every rank");
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );
    assert!(
        !stderr.contains("was killed (signal 9)"),
        "a rank had to be killed:\n{stderr}"
    );
    for (rank, pid) in ranks.iter().enumerate() {
        assert!(!process_exists(*pid), "rank {rank} outlived the launcher");
    }
    assert_gone_within(coordinator, Duration::from_secs(10), "rank 0's coordinator");
    assert_eq!(rank_folders_left(&tmp), Vec::<std::path::PathBuf>::new());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn sigint_to_the_launcher_stops_its_ranks_before_it_ends() {
    signal_to_the_launcher("INT");
}

#[test]
fn sigterm_to_the_launcher_stops_its_ranks_before_it_ends() {
    signal_to_the_launcher("TERM");
}

/// Two ranks with `--group-timeout 120`; rank 0's coordinator killed with SIGKILL while the
/// group trains: rank 0 stops within seconds, naming the coordinator and how it ended.
#[test]
fn a_killed_coordinator_stops_rank_0_at_once_naming_it() {
    let dir = output_dir("coordinator-killed");
    let logs = output_dir("coordinator-killed-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let port = free_port();
    let log = |rank: usize, stream: &str| logs.join(format!("rank-{rank}.{stream}"));
    // Rank 1, killed below, leaves its private folder in `logs`, removed with it.
    let spawn = |rank: usize| {
        rlora_command()
            .arg("train")
            .args(rank_flags(
                &dir,
                rank,
                port,
                500,
                &["--group-timeout", "120"],
            ))
            .env("TMPDIR", &logs)
            .stdout(std::fs::File::create(log(rank, "out")).unwrap())
            .stderr(std::fs::File::create(log(rank, "err")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut rank_0, mut rank_1) = (spawn(0), spawn(1));
    wait_for_training(&dir, &mut rank_0, &log(0, "err"));
    let stdout = std::fs::read_to_string(log(0, "out")).unwrap();
    let coordinator = coordinator_process(&stdout).expect("rank 0 names its coordinator");

    send("KILL", coordinator);
    let status = wait_bounded(&mut rank_0, Duration::from_secs(30), "rank 0");
    let _ = rank_1.kill();
    let _ = rank_1.wait();
    let stderr = std::fs::read_to_string(log(0, "err")).unwrap();
    assert!(!status.success(), "{stderr}");
    let expected = format!(
        "error: rank 0 of 2: the gradient all-reduce: the group's coordinator, process \
         {coordinator} (rlora coordinator --port {port}), was killed (signal 9): rank 0 serves \
         it for the whole group, which cannot go on without it"
    );
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );
    assert!(
        stderr.contains("start every process again with the same flags and --resume"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&logs);
}
