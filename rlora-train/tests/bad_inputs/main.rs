//! Bad inputs to the `rlora` binary, as a new user gives them: every one exits with an error (not
//! 0, not a panic's 101, no "panicked at"), names its culprit (the flag, file, line, key or
//! folder), and loses nothing: the checks of `rlora train` run before the model's weights load
//! (the model given to them has garbage weights, so a check made after loading would report the
//! weights instead) and before `--output` is created; runs, models and adapters stay as they were.
//! The cases that need a trained run share one tiny run.
//!
//! The helpers are here; the cases, by what they give wrong, in the modules.

mod export;
mod files_and_models;
mod limits;
mod runs;
mod train_flags;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The shipped tiny base.
pub fn tiny_base() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/tiny-base")
}

/// This test process's scratch folder, with the task files, models and config files below.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rlora-bad-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let record = |i: usize| format!("{{\"prompt\": \"Q{i}:\", \"completion\": \" {i}\"}}\n");
        let good: String = (0..12).map(record).collect();
        let files: [(&str, Vec<u8>); 7] = [
            ("good.jsonl", good.clone().into_bytes()),
            (
                "malformed.jsonl",
                format!("{}{{\"prompt\": \"a\",\n", record(0)).into_bytes(),
            ),
            ("missing.jsonl", b"{\"prompt\": \"a\"}\n".to_vec()),
            (
                "latin1.jsonl",
                b"{\"prompt\": \"caf\xe9\", \"completion\": \"x\"}\n".to_vec(),
            ),
            ("empty.jsonl", Vec::new()),
            (
                "long.jsonl",
                format!("{good}{}\n", record(123_456_789).trim_end().repeat(3)).into_bytes(),
            ),
            ("a-file", b"not a folder".to_vec()),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        for (name, text) in [
            ("nan.toml", "lr = nan\n"),
            ("inf.toml", "warmup-ratio = inf\n"),
            ("list.toml", "lr = [1e-3, 2e-3]\n"),
            ("negative.toml", "lr = -1e-3\n"),
            ("unknown.toml", "lrr = 1e-3\n"),
            ("negative.json", "{\"weight_decay\": -0.1}"),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        model_copy(&dir, "copy", |_| {});
        model_copy(&dir, "garbage-weights", |m| {
            std::fs::write(m.join("model.safetensors"), b"garbage").unwrap();
        });
        model_copy(&dir, "gpt2", |m| {
            edit_json(&m.join("config.json"), |c| {
                c["model_type"] = "gpt2".into();
            })
        });
        model_copy(&dir, "extra-token", |m| {
            edit_json(&m.join("tokenizer.json"), |t| {
                t["added_tokens"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({
                        "id": 259, "content": "<extra>", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true
                    }));
            })
        });
        dir
    })
}

/// A copy of the tiny base in `dir/name`, changed by `change`.
pub fn model_copy(dir: &Path, name: &str, change: impl FnOnce(&Path)) {
    let model = dir.join(name);
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(tiny_base()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    change(&model);
}

pub fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, value.to_string()).unwrap();
}

pub fn at(name: &str) -> String {
    scratch().join(name).display().to_string()
}

pub fn rlora(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args(args)
        .output()
        .expect("rlora runs")
}

/// Runs `rlora args` and checks that it fails cleanly, naming every one of `culprits`.
pub fn rejects(label: &str, args: &[String], culprits: &[&str]) {
    let output = rlora(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    assert!(
        !matches!(code, Some(0) | Some(101) | None) && !stderr.contains("panicked at"),
        "{label}: exit {code:?}\n{stderr}"
    );
    for culprit in culprits {
        assert!(
            stderr.contains(culprit),
            "{label}: `{culprit}` not in\n{stderr}"
        );
    }
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `rlora train` on a small run's settings into `output`, then `extra`.
pub fn train_args(model: &str, output: &str, extra: &[&str]) -> Vec<String> {
    let mut args = strings(&[
        "train",
        "--model",
        model,
        "--output",
        output,
        "--max-steps",
        "4",
        "--batch-size",
        "4",
        "--checkpoint-every",
        "2",
        "--max-seq-len",
        "96",
        "--eval-examples",
        "2",
        "--eval-max-new-tokens",
        "2",
        "--heads",
        "3",
        "--rank",
        "4",
        "--skip-base-eval",
    ]);
    args.extend(strings(extra));
    args
}

/// Trains the small run of [`train_args`] on the built-in suite from `model` into `dir`.
pub fn train_run(model: &str, dir: &Path) {
    let output = rlora(&train_args(
        model,
        &dir.display().to_string(),
        &["--builtin"],
    ));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shared tiny run (4 steps on the built-in suite, 3 heads of rank 4), trained once.
pub fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch().join("run");
        train_run(&tiny_base().display().to_string(), &dir);
        dir
    })
}
