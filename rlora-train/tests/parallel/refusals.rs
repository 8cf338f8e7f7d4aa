//! A group refuses at once, before training, what would make its ranks train apart: task files
//! or a base model at the same paths but with other content on two ranks (named: the task and
//! its file, the base's file), and coordinator ports that another program holds (named); the
//! user's files stay byte-identical, and every case ends in bounded time.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::run::{
    files, free_port, model, output_dir, rank_flags, rlora, rlora_command, text, train_flags,
    wait_bounded,
};

/// The longest a refused rank may take, start-up included (well under the ranks'
/// `--group-timeout` of 120 s where the case allows it).
const REFUSED_WITHIN: Duration = Duration::from_secs(90);

/// A task file of 40 records; `changed` changes one completion.
fn task_file(changed: bool) -> String {
    (0..40)
        .map(|i| {
            let answer = if changed && i == 7 {
                "x".to_string()
            } else {
                i.to_string()
            };
            format!("{{\"prompt\": \"Q{i}:\", \"completion\": \" {answer}\"}}\n")
        })
        .collect()
}

/// A copy of the test model in `dir/base`; with `changed`, one weight's lowest bit flipped.
fn base_copy(dir: &Path, changed: bool) {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).unwrap();
    for entry in std::fs::read_dir(model()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), base.join(entry.file_name())).unwrap();
    }
    if changed {
        let weights = base.join("model.safetensors");
        let mut bytes = std::fs::read(&weights).unwrap();
        // The last weight's least significant byte (little-endian f32): a tiny change.
        let at = bytes.len() - 4;
        bytes[at] ^= 1;
        std::fs::write(&weights, bytes).unwrap();
    }
}

/// Each rank's working folder: `t.jsonl` and `base/` at the same relative paths, rank 1's
/// changed as asked.
fn rank_folders(name: &str, data_changed: bool, base_changed: bool) -> [PathBuf; 2] {
    let root = output_dir(name);
    [0, 1].map(|rank| {
        let dir = root.join(format!("rank-{rank}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("t.jsonl"), task_file(rank == 1 && data_changed)).unwrap();
        base_copy(&dir, rank == 1 && base_changed);
        dir
    })
}

/// Rank `rank` of a group of 2 on `port`, started in `dir` with relative paths to its task
/// file, base and output, and its coordinator on `port`.
fn spawn_rank(dir: &Path, rank: usize, port: u16, extra: &[&str]) -> Child {
    let mut flags = rank_flags(Path::new("out"), rank, port, 2, extra);
    flags.extend(["--model", "base", "--task", "t=t.jsonl"].map(String::from));
    rlora_command()
        .arg("train")
        .args(flags)
        .current_dir(dir)
        // A panic of burn's engine threads as the peer leaves is one warning line unless
        // RUST_BACKTRACE is set (as in a developer's shell): the test checks the product's
        // output, whatever the shell.
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What a rank says when burn's collective engine failed under an exchange (README, "Training
/// across processes"): a failure of the engine, not the refusal these tests check.
const ENGINE_FAILED: &str = "burn's collective engine failed";

/// Runs ranks 0 and 1 in `folders` (with `--group-timeout 120`) and returns their outputs,
/// each within [`REFUSED_WITHIN`]; once more when burn's engine failed under the handshake.
fn refused_group(folders: &[PathBuf; 2]) -> [Output; 2] {
    let outputs = group_once(folders);
    if outputs
        .iter()
        .any(|output| text(output).contains(ENGINE_FAILED))
    {
        eprintln!("burn's engine failed under the handshake; starting the group once more");
        for dir in folders {
            let _ = std::fs::remove_dir_all(dir.join("out"));
        }
        return group_once(folders);
    }
    outputs
}

/// One start of [`refused_group`]'s ranks.
fn group_once(folders: &[PathBuf; 2]) -> [Output; 2] {
    let port = free_port();
    let started = Instant::now();
    let ranks =
        [0, 1].map(|rank| spawn_rank(&folders[rank], rank, port, &["--group-timeout", "120"]));
    let outputs = ranks.map(|mut child| {
        wait_bounded(&mut child, REFUSED_WITHIN, "a refused rank");
        child.wait_with_output().unwrap()
    });
    assert!(
        started.elapsed() < REFUSED_WITHIN,
        "{:?}",
        started.elapsed()
    );
    outputs
}

/// Both ranks failed, each naming the other and `what` differs.
fn assert_refused(outputs: &[Output; 2], what: &str) {
    for (rank, output) in outputs.iter().enumerate() {
        let log = text(output);
        assert!(!output.status.success(), "rank {rank} succeeded:\n{log}");
        assert!(!log.contains("panicked at"), "{log}");
        let expected = format!("error: rank {rank} of 2: rank {} {what}", 1 - rank);
        assert!(log.contains(&expected), "expected `{expected}` in:\n{log}");
        assert!(
            log.contains(
                "start every process of the group with the same settings, model and task files \
                 (the same flags, --model and --task files)"
            ),
            "{log}"
        );
    }
}

#[test]
fn ranks_with_other_task_data_at_the_same_path_are_refused() {
    let folders = rank_folders("other-data", true, false);
    let before: Vec<_> = folders.iter().map(|dir| files(dir)).collect();
    let outputs = refused_group(&folders);
    assert_refused(
        &outputs,
        "trains on other data (the training examples of task `t` (t.jsonl) differ",
    );
    for (dir, before) in folders.iter().zip(&before) {
        for (path, bytes) in before {
            assert_eq!(
                &std::fs::read(path).unwrap(),
                bytes,
                "{} changed",
                path.display()
            );
        }
        assert!(!dir.join("out/checkpoint").exists(), "a rank trained");
    }
    let _ = std::fs::remove_dir_all(folders[0].parent().unwrap());
}

#[test]
fn ranks_with_another_base_at_the_same_path_are_refused() {
    let folders = rank_folders("other-base", false, true);
    let before: Vec<_> = folders.iter().map(|dir| files(dir)).collect();
    let outputs = refused_group(&folders);
    assert_refused(
        &outputs,
        "has another base model at the same path (the content of model.safetensors \
         differs)",
    );
    for (dir, before) in folders.iter().zip(&before) {
        for (path, bytes) in before {
            assert_eq!(
                &std::fs::read(path).unwrap(),
                bytes,
                "{} changed",
                path.display()
            );
        }
        assert!(!dir.join("out/checkpoint").exists(), "a rank trained");
    }
    let _ = std::fs::remove_dir_all(folders[0].parent().unwrap());
}

/// `rlora launch --port P` with a port of the group's range taken fails at once, naming it,
/// before any rank starts; two ranks whose coordinator port is taken: rank 0 fails at once
/// naming the port (not after its `--group-timeout` of 120 s), rank 1 within its own
/// `--group-timeout` of 5 s, saying that another program may hold the port.
#[test]
fn a_coordinator_port_in_use_fails_at_once_naming_the_port() {
    let dir = output_dir("port-in-use");
    let port = free_port();
    let holder = TcpListener::bind(("127.0.0.1", port + 3)).unwrap();
    let started = Instant::now();
    let head = [
        "launch",
        "--nprocs",
        "2",
        "--port",
        &port.to_string(),
        "--",
        "train",
    ];
    let output = rlora(&[head.map(String::from).to_vec(), train_flags(&dir, 8, 2)].concat());
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    let expected = format!("error: --port {port}: port {} is in use", port + 3);
    assert!(log.contains(&expected), "expected `{expected}` in:\n{log}");
    assert!(!log.contains("[rank 0]"), "a rank started:\n{log}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(holder);

    let port = free_port();
    let _holder = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let spawn = |rank: usize, timeout: &str| {
        rlora_command()
            .arg("train")
            .args(rank_flags(
                &dir,
                rank,
                port,
                2,
                &["--group-timeout", timeout],
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let (mut rank_0, mut rank_1) = (spawn(0, "120"), spawn(1, "5"));
    wait_bounded(&mut rank_0, REFUSED_WITHIN, "rank 0");
    wait_bounded(&mut rank_1, REFUSED_WITHIN, "rank 1");
    assert!(
        started.elapsed() < REFUSED_WITHIN,
        "{:?}",
        started.elapsed()
    );
    let (rank_0, rank_1) = (
        rank_0.wait_with_output().unwrap(),
        rank_1.wait_with_output().unwrap(),
    );
    let log = text(&rank_0);
    assert!(!rank_0.status.success(), "{log}");
    let expected = format!(
        "error: --coordinator 127.0.0.1:{port}: rank 0 cannot serve the group's coordinator on \
         port {port}"
    );
    assert!(log.contains(&expected), "expected `{expected}` in:\n{log}");
    let log = text(&rank_1);
    assert!(!rank_1.status.success(), "{log}");
    for expected in [
        "error: rank 1 of 2: the handshake: no answer from the group within 5 s",
        "another program holds the coordinator's port",
    ] {
        assert!(log.contains(expected), "expected `{expected}` in:\n{log}");
    }
    assert!(!dir.exists(), "a rank wrote into --output");
}
