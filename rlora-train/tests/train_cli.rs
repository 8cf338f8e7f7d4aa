//! `rlora train` end to end on the tiny fixture: the files it writes, the adapter it saves
//! (which `rlora generate` loads), a non-finite loss stopping the run, and bad flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model() -> String {
    format!(
        "{}/../rlora-llama/tests/fixtures/llama-gqa",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn output_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn rlora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args(args)
        .output()
        .expect("rlora runs")
}

fn train(output: &Path, extra: &[&str]) -> Output {
    let model = model();
    let output = output.to_string_lossy().to_string();
    let mut args = vec![
        "train",
        "--model",
        &model,
        "--builtin",
        "--output",
        &output,
        "--max-steps",
        "4",
        "--batch-size",
        "4",
        "--checkpoint-every",
        "2",
        "--max-seq-len",
        "48",
        "--eval-examples",
        "2",
        "--eval-max-new-tokens",
        "4",
        "--heads",
        "3",
        "--rank",
        "4",
    ];
    args.extend_from_slice(extra);
    rlora(&args)
}

#[test]
fn a_short_run_writes_the_adapter_config_metrics_and_evaluation() {
    let dir = output_dir("run");
    let output = train(&dir, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "task facts",
        "task sentiment",
        "step 4/4 (pass 1/",
        "validation at step 4 |",
        "| **macro average** |",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    for file in [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "run_config.json",
        "eval.json",
        "eval.md",
        "checkpoint/model-2.mpk",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("eval.json")).unwrap()).unwrap();
    assert_eq!(eval["adapted"]["tasks"].as_array().unwrap().len(), 6);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["variant"], "rlora");

    let adapter = dir.join("adapter").to_string_lossy().to_string();
    let generated = rlora(&[
        "generate",
        "--model",
        &model(),
        "--adapter",
        &adapter,
        "--prompt",
        "15+8=",
        "--max-new-tokens",
        "3",
        "--json",
    ]);
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );

    // `rlora eval` of the saved adapter reproduces the run's own evaluation.
    let evaluated = dir.join("eval-again");
    let output = rlora(&[
        "eval",
        "--model",
        &model(),
        "--adapter",
        &adapter,
        "--builtin",
        "--eval-examples",
        "2",
        "--max-new-tokens",
        "4",
        "--output",
        &evaluated.to_string_lossy(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evaluated.join("eval.json")).unwrap())
            .unwrap();
    assert_eq!(again, eval["adapted"]);

    // Three heads do not fit PEFT's format unless folded under a routing; merged into a full
    // model under the same routing they compute the same, and both load.
    let peft = dir.join("peft").to_string_lossy().to_string();
    let base = model();
    let export_peft = |routing: &[&str]| {
        let mut args = vec!["export", "--model", &base, "--adapter", &adapter];
        args.extend(["--output", &peft]);
        args.extend(routing);
        rlora(&args)
    };
    let output = export_peft(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 heads") && stderr.contains("--routing"),
        "{stderr}"
    );
    let output = export_peft(&["--routing", "0.2,0.3,0.5"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged = dir.join("merged").to_string_lossy().to_string();
    let output = rlora(&[
        "export",
        "--model",
        &model(),
        "--adapter",
        &adapter,
        "--output",
        &merged,
        "--merge",
        "--routing",
        "0.2,0.3,0.5",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let greedy = |model: &str, adapter: Option<&str>| {
        let mut args = vec!["generate", "--model", model, "--prompt", "15+8=", "--json"];
        args.extend(["--max-new-tokens", "6"]);
        args.extend(adapter.map(|a| ["--adapter", a]).into_iter().flatten());
        let generated = rlora(&args);
        assert!(
            generated.status.success(),
            "{}",
            String::from_utf8_lossy(&generated.stderr)
        );
        let output: serde_json::Value = serde_json::from_slice(&generated.stdout).unwrap();
        output["generated_ids"].clone()
    };
    assert_eq!(greedy(&merged, None), greedy(&base, Some(&peft)));

    // Resuming a finished run reloads its last checkpoint and ends with the same adapter.
    let resumed = train(&dir, &["--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
}

#[test]
fn a_non_finite_loss_stops_the_run_with_a_clear_message() {
    let dir = output_dir("nan");
    let output = train(
        &dir,
        &[
            "--lr",
            "1e30",
            "--max-grad-norm",
            "0",
            "--warmup-ratio",
            "0",
        ],
    );
    // Exit status 3: values that are not finite, which `rlora launch` does not restart after.
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("training stopped: the loss is"), "{stderr}");
    // The message names the step and what to continue from. The first update (lr 1e30) makes
    // the second loss non-finite; the step reads nothing back, so the run stops at the second
    // update's read, before the checkpoint after it (step 2), which is therefore not written.
    assert!(stderr.contains(" at step 2;"), "{stderr}");
    assert!(
        stderr.contains("no checkpoint was written before it"),
        "{stderr}"
    );
    assert!(
        !dir.join("checkpoint/model-1.mpk").exists(),
        "a checkpoint after an update that was not finite"
    );
}

#[test]
fn bad_flags_and_inputs_are_rejected_before_training() {
    let dir = output_dir("bad");
    for (flag, value) in [
        ("--dropout", "1.0"),
        ("--mixing", "weights:1,-2"),
        ("--mixing", "zipf"),
        ("--heads", "0"),
        ("--warmup-ratio", "1.5"),
    ] {
        let output = train(&dir, &[&format!("{flag}={value}")]);
        assert_eq!(output.status.code(), Some(2), "{flag}={value}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(flag),
            "{flag}"
        );
    }
    let model = model();
    let output = rlora(&[
        "train",
        "--model",
        &model,
        "--output",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no tasks"));
    let output = rlora(&[
        "train",
        "--model",
        &model,
        "--output",
        &dir.to_string_lossy(),
        "--task",
        "x=/nonexistent.jsonl",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent.jsonl"));
    let output = rlora(&[
        "train",
        "--model",
        &model,
        "--output",
        &dir.to_string_lossy(),
        "--builtin",
        "--targets",
        "qkv",
    ]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown target module `qkv`"));
}

#[test]
fn heads_prints_similarities_and_draws_heat_maps() {
    let dir = output_dir("heads");
    let output = train(&dir, &["--variant", "hydra"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pictures = dir.join("pictures");
    let adapter = dir.join("adapter");
    let output = rlora(&[
        "heads",
        "--model",
        &model(),
        "--adapter",
        &adapter.to_string_lossy(),
        "--output",
        &pictures.to_string_lossy(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| model.layers.1.mlp.down_proj |"),
        "{stdout}"
    );
    for module in ["mlp_gate_proj", "mlp_up_proj", "mlp_down_proj"] {
        assert!(
            pictures.join(format!("heads_{module}.png")).exists(),
            "{module}"
        );
    }
    for picture in ["loss.png", "head_similarity.png", "heads_mlp_up_proj.png"] {
        assert!(dir.join(picture).exists(), "{picture}");
    }
}
