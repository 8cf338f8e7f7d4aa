//! Runs' folders: another run is not taken over, a resume with other settings, another base or
//! nothing to resume is refused, a broken checkpoint is skipped, a failed checkpoint write stops
//! the run cleanly, and `--overwrite` deletes only a run's own files.

use std::collections::BTreeMap;

use super::*;

#[test]
fn runs_are_neither_taken_over_nor_resumed_with_other_settings() {
    let run = trained_run();
    let dir = run.display().to_string();
    let base = tiny_base().display().to_string();
    let before = std::fs::read(run.join("adapter/adapter_model.safetensors")).unwrap();
    rejects(
        "another run",
        &train_args(&base, &dir, &["--builtin"]),
        &[
            "holds another run",
            "run_config.json",
            "--resume",
            "--overwrite",
        ],
    );
    let resume_cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "heads",
            &base,
            &["--builtin", "--heads", "5"],
            &["--heads: 3 (saved) → 5 (now)"],
        ),
        (
            "rank",
            &base,
            &["--builtin", "--rank", "8"],
            &["--rank: 4 (saved) → 8 (now)"],
        ),
        (
            "targets",
            &base,
            &["--builtin", "--targets", "q_proj"],
            &["--targets: gate_proj,up_proj,down_proj (saved) → q_proj (now)"],
        ),
        (
            "variant",
            &base,
            &["--builtin", "--variant", "hydra"],
            &["--variant: rlora (saved) → hydra (now)"],
        ),
        (
            "seed",
            &base,
            &["--builtin", "--seed", "7"],
            &["--seed: 0 (saved) → 7 (now)"],
        ),
        ("model", &at("copy"), &["--builtin"], &["--model: "]),
        (
            "tasks",
            &base,
            &["--task", &format!("x={}", at("good.jsonl"))],
            &[
                "--builtin: true (saved) → false (now)",
                "--task: (none) (saved)",
            ],
        ),
        (
            "batch",
            &base,
            &["--builtin", "--batch-size", "2"],
            &["--batch-size: 4 (saved) → 2 (now)"],
        ),
    ];
    for &(label, model, extra, culprits) in resume_cases {
        let mut extra = extra.to_vec();
        extra.push("--resume");
        let mut culprits = culprits.to_vec();
        culprits.push("run_config.json");
        rejects(
            &format!("resume with other {label}"),
            &train_args(model, &dir, &extra),
            &culprits,
        );
    }
    // Nothing to resume: no folder, a folder without a run, a run without a checkpoint.
    let notes = scratch().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("notes.txt"), "mine").unwrap();
    let unstarted = scratch().join("unstarted");
    std::fs::create_dir_all(unstarted.join("train")).unwrap();
    std::fs::copy(
        run.join("run_config.json"),
        unstarted.join("run_config.json"),
    )
    .unwrap();
    for (label, folder, culprit) in [
        (
            "no folder",
            scratch().join("nothing-here"),
            "does not exist",
        ),
        ("no run", notes.clone(), "holds no run"),
        ("no checkpoint", unstarted.clone(), "has no checkpoint"),
        ("a file", scratch().join("a-file"), "is a file"),
    ] {
        let folder = folder.display().to_string();
        rejects(
            label,
            &train_args(&base, &folder, &["--builtin", "--resume"]),
            &[&folder, culprit],
        );
    }
    assert_eq!(std::fs::read(notes.join("notes.txt")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read(run.join("adapter/adapter_model.safetensors")).unwrap(),
        before
    );
    // A run killed before its first checkpoint: with or without --resume, the advice is
    // --overwrite, the only way it can go on.
    let killed = scratch().join("killed");
    std::fs::create_dir_all(killed.join("train/epoch-1")).unwrap();
    std::fs::write(killed.join("train/epoch-1/Loss.log"), "1.5\n").unwrap();
    for file in ["run_config.json", "base_fingerprint.json"] {
        std::fs::copy(run.join(file), killed.join(file)).unwrap();
    }
    let killed_before = snapshot(&killed);
    let folder = killed.display().to_string();
    for (label, extra, said) in [
        (
            "killed, no flag",
            &["--builtin"][..],
            "without a checkpoint",
        ),
        (
            "killed, --resume",
            &["--builtin", "--resume"][..],
            "start the run again with --overwrite",
        ),
    ] {
        let output = rlora(&train_args(&base, &folder, extra));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{label}");
        assert!(
            stderr.contains(said)
                && stderr.contains("--overwrite")
                && !stderr.contains("add --resume")
                && !stderr.contains("without --resume"),
            "{label}: {stderr}"
        );
    }
    assert_eq!(snapshot(&killed), killed_before);

    // An allowed change is applied and said; a finished run resumed trains no more steps.
    let resumed = rlora(&train_args(
        &base,
        &dir,
        &[
            "--builtin",
            "--resume",
            "--lr",
            "1e-3",
            "--eval-examples",
            "1",
        ],
    ));
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        stdout.contains(
            "--resume: applying the new learning rate --lr: 0.0002 (saved) → 0.001 (now)"
        ),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(run.join("adapter/adapter_model.safetensors")).unwrap(),
        before
    );
}

#[test]
fn overwrite_deletes_only_the_earlier_runs_files_once_the_model_has_loaded() {
    // A run's files beside the user's own, without a checkpoint.
    let folder = scratch().join("overwritten");
    for dir in ["train/epoch-1", "checkpoint", "adapter"] {
        std::fs::create_dir_all(folder.join(dir)).unwrap();
    }
    std::fs::write(folder.join("train/epoch-1/old.log"), "x").unwrap();
    for file in ["loss.png", "heads_mlp_up_proj.png", "eval.md", "notes.txt"] {
        std::fs::write(folder.join(file), "x").unwrap();
    }
    let before = snapshot(&folder);
    let out = folder.display().to_string();
    let garbage = at("garbage-weights");
    // Without a checkpoint there is nothing to resume: one piece of advice, --overwrite.
    let no_flag = rlora(&train_args(&garbage, &out, &["--builtin"]));
    let stderr = String::from_utf8_lossy(&no_flag.stderr);
    assert!(
        stderr.contains("holds another run (adapter, checkpoint, eval.md")
            && stderr.contains("without a checkpoint")
            && stderr.contains("add --overwrite")
            && !stderr.contains("--resume"),
        "{stderr}"
    );
    // The weights fail to load: refused before --overwrite deleted anything.
    rejects(
        "garbage weights",
        &train_args(&garbage, &out, &["--builtin", "--overwrite"]),
        &["model.safetensors"],
    );
    assert_eq!(snapshot(&folder), before);
    // A base that loads: the earlier run's files go, the user's stay.
    let replaced = rlora(&train_args(
        &at("copy"),
        &out,
        &["--builtin", "--overwrite"],
    ));
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    assert_eq!(std::fs::read(folder.join("notes.txt")).unwrap(), b"x");
    assert!(!folder.join("train/epoch-1/old.log").exists());
    assert_ne!(std::fs::read(folder.join("loss.png")).unwrap(), b"x");
}

#[test]
fn a_run_refused_after_its_model_loads_leaves_nothing_and_is_taken_again() {
    // Refused at the weights: only the folder and its lock are left, no settings.
    let folder = scratch().join("refused-at-load");
    let out = folder.display().to_string();
    let garbage = at("garbage-weights");
    rejects(
        "garbage weights",
        &train_args(&garbage, &out, &["--builtin"]),
        &["model.safetensors"],
    );
    assert_eq!(snapshot(&folder), BTreeMap::new());
    // A run that stopped before its first step, with its settings and base written: taken by
    // the next command without a flag (its own weights then refuse it, changing nothing).
    std::fs::copy(
        trained_run().join("run_config.json"),
        folder.join("run_config.json"),
    )
    .unwrap();
    std::fs::copy(
        trained_run().join("base_fingerprint.json"),
        folder.join("base_fingerprint.json"),
    )
    .unwrap();
    let before = snapshot(&folder);
    let output = rlora(&train_args(&garbage, &out, &["--builtin"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("model.safetensors") && !stderr.contains("holds another run"),
        "{stderr}"
    );
    assert_eq!(snapshot(&folder), before);
}

/// Every file under `dir` (but the lock, which holds the last process id) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.file_name() != Some(".rlora-train.lock".as_ref()) {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// A copy of the run folder `from` (without its lock) at `to`.
fn copy_run(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_run(&entry.path(), &target);
        } else if entry.file_name() != ".rlora-train.lock" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_resume_skips_a_broken_checkpoint_refuses_another_base_and_stops_on_a_failed_write() {
    // A run of its own on a copy of the tiny base (the last case changes that copy).
    model_copy(scratch(), "resumable-base", |_| {});
    let base = at("resumable-base");
    let run = scratch().join("resumable");
    train_run(&base, &run);
    assert!(run.join("base_fingerprint.json").exists());
    assert!(run.join("checkpoint/manifest-2.json").exists());
    let adapter = std::fs::read(run.join("adapter/adapter_model.safetensors")).unwrap();
    let resume = |folder: &Path| {
        train_args(
            &base,
            &folder.display().to_string(),
            &["--builtin", "--resume"],
        )
    };

    // The latest checkpoint truncated: the resume continues from the one before, and ends with
    // the same adapter as the uninterrupted run.
    let truncated = scratch().join("resumable-truncated");
    copy_run(&run, &truncated);
    for kind in ["model", "optim"] {
        let file = truncated.join(format!("checkpoint/{kind}-2.mpk"));
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    }
    let resumed = rlora(&resume(&truncated));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(stderr.contains("skipped: checkpoint 2:"), "{stderr}");
    assert!(stderr.contains("model-2.mpk"), "{stderr}");
    assert_eq!(
        std::fs::read(truncated.join("adapter/adapter_model.safetensors")).unwrap(),
        adapter,
        "resumed past the broken checkpoint"
    );

    // One bit of the latest checkpoint's adapter flipped, which still parses: its manifest's
    // checksum finds it, and the resume continues from the one before.
    let flipped = scratch().join("resumable-flipped");
    copy_run(&run, &flipped);
    let file = flipped.join("checkpoint/model-2.mpk");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, bytes).unwrap();
    let resumed = rlora(&resume(&flipped));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not match its size and checksum in")
            && stderr.contains("manifest-2.json"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(flipped.join("adapter/adapter_model.safetensors")).unwrap(),
        adapter
    );

    // Every checkpoint broken (zeroed, garbage): refused, naming them.
    let broken = scratch().join("resumable-broken");
    copy_run(&run, &broken);
    std::fs::write(broken.join("checkpoint/model-2.mpk"), vec![0u8; 64]).unwrap();
    std::fs::write(broken.join("checkpoint/model-1.mpk"), b"garbage").unwrap();
    rejects(
        "every checkpoint broken",
        &resume(&broken),
        &[
            "no checkpoint in",
            "can be resumed",
            "model-2.mpk",
            "model-1.mpk",
            "--overwrite",
        ],
    );

    // A checkpoint that cannot be written (a folder in its place) stops the run with the path
    // and the reason; the run's adapter stays as it was.
    let blocked = scratch().join("resumable-blocked");
    copy_run(&run, &blocked);
    for kind in ["model", "optim", "scheduler"] {
        std::fs::remove_file(blocked.join(format!("checkpoint/{kind}-2.mpk"))).unwrap();
    }
    std::fs::create_dir_all(blocked.join("checkpoint/model-2.mpk/in-the-way")).unwrap();
    rejects(
        "checkpoint write fails",
        &resume(&blocked),
        &[
            "cannot write the checkpoint",
            "model-2.mpk",
            "earlier checkpoints are intact",
        ],
    );
    assert_eq!(
        std::fs::read(blocked.join("adapter/adapter_model.safetensors")).unwrap(),
        adapter
    );

    // An old checkpoint that cannot be deleted (a folder in place of its model file) is kept,
    // and said, and the resumed run goes on to its new last step.
    let old_folder = scratch().join("resumable-old-folder");
    copy_run(&run, &old_folder);
    let model_1 = old_folder.join("checkpoint/model-1.mpk");
    std::fs::remove_file(&model_1).unwrap();
    std::fs::create_dir_all(model_1.join("in-the-way")).unwrap();
    let mut longer = resume(&old_folder);
    longer.extend(strings(&["--max-steps", "8"]));
    let resumed = rlora(&longer);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        stderr.contains("the old checkpoint 1 is kept")
            && stderr.contains("model-1.mpk is a folder"),
        "{stderr}"
    );
    assert!(old_folder.join("checkpoint/model-4.mpk").exists());

    // The base's fingerprint deleted: a resume cannot tell the base, so it is refused, and the
    // run is left as it was.
    let no_fingerprint = scratch().join("resumable-no-fingerprint");
    copy_run(&run, &no_fingerprint);
    std::fs::remove_file(no_fingerprint.join("base_fingerprint.json")).unwrap();
    let before = snapshot(&no_fingerprint);
    rejects(
        "no fingerprint",
        &resume(&no_fingerprint),
        &["base_fingerprint.json is missing", "--overwrite"],
    );
    assert_eq!(snapshot(&no_fingerprint), before);

    // A run whose latest checkpoint is gone has logs after the one it resumes from: a resume
    // refused for another base (below) keeps them.
    let logs_after = scratch().join("resumable-logs-after");
    copy_run(&run, &logs_after);
    for file in [
        "model-2.mpk",
        "optim-2.mpk",
        "scheduler-2.mpk",
        "manifest-2.json",
    ] {
        std::fs::remove_file(logs_after.join("checkpoint").join(file)).unwrap();
    }
    assert!(logs_after.join("train/epoch-2").exists());
    let logs_before = snapshot(&logs_after);

    // The base's weights changed under the same path: refused before anything is written.
    let weights = scratch().join("resumable-base/model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&weights, bytes).unwrap();
    let config_before = std::fs::read(run.join("run_config.json")).unwrap();
    rejects(
        "another base",
        &resume(&run),
        &[
            "not the base this run trained on",
            "the content of model.safetensors differs",
        ],
    );
    assert_eq!(
        std::fs::read(run.join("run_config.json")).unwrap(),
        config_before
    );
    rejects(
        "another base, logs after the checkpoint",
        &resume(&logs_after),
        &["not the base this run trained on"],
    );
    assert_eq!(snapshot(&logs_after), logs_before);
}
