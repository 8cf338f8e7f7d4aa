//! `rlora experiment` shortened (one seed, a few steps, every arm), so that the harness cannot
//! rot: every arm runs as a child `rlora train`, the report names them all with their costs and
//! head similarities, the pictures are drawn, and a second invocation reuses the finished runs.

use std::process::Command;

#[test]
fn a_short_experiment_runs_every_arm_and_writes_the_report() {
    let dir = std::env::temp_dir().join(format!("rlora-experiment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_rlora"))
            .args([
                "experiment",
                "--seeds",
                "3",
                "--steps",
                "4",
                "--batch-size",
                "4",
                "--checkpoint-every",
                "2",
                "--eval-examples",
                "2",
                "--eval-max-new-tokens",
                "2",
                "--max-seq-len",
                "64",
                "--output",
            ])
            .arg(&dir)
            .output()
            .expect("rlora runs")
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(stdout.matches("experiment: [").count(), 6, "{stdout}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let arms = report["arms"].as_array().unwrap();
    let ids: Vec<&str> = arms.iter().map(|a| a["arm"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "lora",
            "lora-matched",
            "hydra",
            "hydra-mhd",
            "hydra-init",
            "rlora"
        ]
    );
    let params = |i: usize| arms[i]["trainable_params"].as_f64().unwrap();
    // The matched LoRA is within half a rank of the multi-head budget; LoRA r=8 far below it.
    let budget = params(5);
    assert!(
        (params(1) - budget).abs() < 0.5 * 1536.0 * 4.0,
        "{} vs {budget}",
        params(1)
    );
    assert!(params(0) < budget / 2.0);
    for arm in arms {
        assert_eq!(arm["tasks"].as_array().unwrap().len(), 6);
        assert!(arm["seconds_per_step"]["mean"].as_f64().unwrap() > 0.0);
        let curves = arm["head_similarity"].as_array().unwrap();
        if arm["heads"].as_u64() == Some(5) {
            // `all` and the three MLP projections, a point per logged step.
            let modules: Vec<&str> = curves
                .iter()
                .map(|c| c["module"].as_str().unwrap())
                .collect();
            assert_eq!(
                modules,
                ["all", "mlp_down_proj", "mlp_gate_proj", "mlp_up_proj"]
            );
            assert_eq!(curves[0]["points"].as_array().unwrap().len(), 4);
        } else {
            assert!(curves.is_empty());
        }
    }
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for label in [
        "LoRA r=8",
        "(matched)",
        "HydraLoRA",
        "+ multi-head dropout",
        "+ random init",
        "R-LoRA",
        "macro average",
        "R-LoRA improves on HydraLoRA",
    ] {
        assert!(markdown.contains(label), "{label} missing from\n{markdown}");
    }
    for picture in ["accuracy.png", "head_similarity.png"] {
        assert!(std::fs::metadata(dir.join(picture)).unwrap().len() > 1000);
    }

    // Run again: every run is reused, and the report is the same but for the wall time.
    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert_eq!(stdout.matches("reusing").count(), 6, "{stdout}");
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(again["arms"], report["arms"]);

    // Other settings in the same folder are refused.
    let other = Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args(["experiment", "--steps", "5", "--output"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("other settings"));
    let _ = std::fs::remove_dir_all(&dir);
}
