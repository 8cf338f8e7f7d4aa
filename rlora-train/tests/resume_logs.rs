//! A run killed (SIGKILL) at a random step and resumed ends as the uninterrupted run ends: the
//! same adapter, and metric logs and pictures that hold every step exactly once (the same loss
//! series, the same `loss.png`). While it runs, a second run into its folder fails at once naming
//! its process id; after the kill, the resumed run takes over the dead run's lock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::train::metric::store::Split;
use rand::Rng;
use rlora_train::trainer::{LogLayout, metric_history};

const STEPS: usize = 24;
const CHECKPOINT_EVERY: usize = 4;

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn train_command(output: &Path, extra: &[&str]) -> Command {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/tiny-base");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rlora"));
    command
        .args(["train", "--builtin", "--skip-base-eval", "--model"])
        .arg(base)
        .arg("--output")
        .arg(output)
        .args(["--max-steps", &STEPS.to_string()])
        .args(["--checkpoint-every", &CHECKPOINT_EVERY.to_string()])
        .args([
            "--batch-size",
            "4",
            "--max-seq-len",
            "96",
            "--heads",
            "2",
            "--rank",
            "2",
        ])
        .args(["--eval-examples", "1", "--eval-max-new-tokens", "1"])
        .args(extra);
    command
}

fn succeeded(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The training loss lines logged so far in `dir` (over every epoch).
fn logged_steps(dir: &Path) -> usize {
    (1..=STEPS / CHECKPOINT_EVERY)
        .filter_map(|e| std::fs::read_to_string(dir.join(format!("train/epoch-{e}/Loss.log"))).ok())
        .map(|text| text.lines().count())
        .sum()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_killed_and_resumed_run_logs_every_step_once_and_ends_as_the_uninterrupted_one() {
    let reference = folder("reference");
    succeeded(train_command(&reference, &[]).output().unwrap());

    let killed = folder("killed");
    // After the first checkpoint (step 4), before the last step.
    let kill_at = rand::rng().random_range(CHECKPOINT_EVERY + 1..STEPS - 1);
    println!("killing at step {kill_at}");
    let mut child = train_command(&killed, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let lock = killed.join(".rlora-train.lock");
    wait_for("the lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|text| text == pid)
    });
    let second = train_command(&killed, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("(process {pid})")), "{stderr}");

    wait_for("the step to kill at", || logged_steps(&killed) >= kill_at);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        logged_steps(&killed) < STEPS,
        "the run ended before the kill"
    );

    let stdout = succeeded(train_command(&killed, &["--resume"]).output().unwrap());
    assert!(
        stdout.contains(&format!("taking over the lock of process {pid}")),
        "{stdout}"
    );

    let file = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    assert_eq!(
        file(&killed, "adapter/adapter_model.safetensors"),
        file(&reference, "adapter/adapter_model.safetensors")
    );
    for split in [Split::Train, Split::Valid] {
        let series = |dir: &Path| {
            metric_history(
                dir,
                split.clone(),
                "Loss",
                LogLayout::single(CHECKPOINT_EVERY),
            )
        };
        let expected = series(&reference);
        let steps = match split {
            Split::Train => STEPS,
            _ => STEPS / CHECKPOINT_EVERY,
        };
        assert_eq!(expected.len(), steps, "{split}");
        assert_eq!(
            series(&killed),
            expected,
            "{split} loss after killing at step {kill_at}"
        );
    }
    assert_eq!(file(&killed, "loss.png"), file(&reference, "loss.png"));
    let _ = std::fs::remove_dir_all(&reference);
    let _ = std::fs::remove_dir_all(&killed);
}
