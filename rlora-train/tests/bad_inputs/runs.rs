//! Runs' folders: another run is not taken over, a resume with other settings or nothing to
//! resume is refused, and `--overwrite` deletes only a run's own files.

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
fn overwrite_deletes_only_the_earlier_runs_files() {
    // A run's files beside the user's own; the garbage weights stop the new run after the
    // folder is claimed, so what --overwrite deleted and kept is what is left.
    let folder = scratch().join("overwritten");
    for dir in ["train/epoch-1", "checkpoint", "adapter"] {
        std::fs::create_dir_all(folder.join(dir)).unwrap();
    }
    for file in ["loss.png", "heads_mlp_up_proj.png", "eval.md", "notes.txt"] {
        std::fs::write(folder.join(file), "x").unwrap();
    }
    let out = folder.display().to_string();
    let model = at("garbage-weights");
    rejects(
        "a run, no flag",
        &train_args(&model, &out, &["--builtin"]),
        &["holds another run", "adapter, checkpoint, eval.md"],
    );
    assert!(folder.join("loss.png").exists());
    rejects(
        "garbage weights",
        &train_args(&model, &out, &["--builtin", "--overwrite"]),
        &["model.safetensors"],
    );
    let mut left: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    left.sort();
    assert_eq!(left, [".rlora-train.lock", "notes.txt", "run_config.json"]);
    // A folder whose only run file is run_config.json (a run that never started) is taken.
    rejects(
        "unstarted run",
        &train_args(&model, &out, &["--builtin"]),
        &["model.safetensors"],
    );
}
