//! `rlora experiment` shortened (one seed, a few steps, every arm), so that the harness cannot
//! rot: every arm runs as a child `rlora train`, the report names them all with their costs and
//! head similarities, the pictures are drawn, and a second invocation reuses the finished runs.
//! Also: each arm's run (read back from its run file as the child reads it), and the statistics
//! over seeds.

use std::path::Path;
use std::process::Command;

use rlora::RouterInit;
use rlora_train::cli::TrainArgs;
use rlora_train::experiment::{Arm, ExperimentSettings, PairedDifference, Stat, t_quantile_975};

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
    assert_eq!(stdout.matches("experiment: [").count(), 7, "{stdout}");

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
            "rlora",
            "rlora-official"
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
            // Each run wrote its routing analysis: a separation in [0, ln 2].
            let separation = arm["routing_separation"]["mean"].as_f64().unwrap();
            assert!(
                (0.0..=std::f64::consts::LN_2).contains(&separation),
                "{separation}"
            );
        } else {
            assert!(curves.is_empty());
            assert!(arm["routing_separation"].is_null());
        }
        // …and the per-task merged models' scores.
        let merged = arm["merged_macro_average"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&merged));
    }
    // One seed: the paired differences are there, without an interval, and not resolved.
    let differences = report["differences"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = differences
        .iter()
        .map(|d| (d["arm"].as_str().unwrap(), d["baseline"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("rlora", "hydra"),
            ("rlora", "lora-matched"),
            ("rlora", "lora"),
            ("rlora", "rlora-official")
        ]
    );
    assert!(
        differences
            .iter()
            .all(|d| d["ci95"].is_null() && d["resolved"] == false)
    );
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
        "official code's init",
        "95% confidence intervals",
        "Paired differences per seed",
        "task separation",
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
    assert_eq!(stdout.matches("reusing").count(), 7, "{stdout}");
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

#[test]
fn every_arm_has_its_variant_and_the_shared_settings() {
    let settings = ExperimentSettings {
        model: None,
        arms: Arm::ALL.to_vec(),
        seeds: vec![0],
        data_seed: 0,
        steps: 10,
        heads: 5,
        rank: 8,
        alpha: 32.0,
        dropout: 0.1,
        rslora: true,
        router_init: RouterInit::KaimingUniform,
        targets: vec!["gate_proj".into(), "up_proj".into(), "down_proj".into()],
        lr: 5e-3,
        batch_size: 4,
        checkpoint_every: 5,
        max_seq_len: 96,
        eval_examples: 3,
        eval_max_new_tokens: 4,
    };
    let (budget, rank) = settings.matched_lora_rank().unwrap();
    // The tiny base: 4 layers of gate/up [128 → 384] and down [384 → 128]; with 5 heads of
    // rank 8 a layer has 2·(128·8 + 5·8·384 + 128·5) + (384·8 + 5·8·128 + 384·5) = 44 160
    // parameters, and a rank-1 LoRA 3·512 = 1 536: the matched rank is 28.75 → 29.
    assert_eq!((budget, rank), (4 * 44_160, 29));
    for arm in Arm::ALL {
        let train = settings.run_spec(Path::new("base"), arm, rank, 1, Path::new("out"));
        let adapter = train.adapter.hyperparameters();
        assert_eq!(train.adapter.variant, arm.preset());
        assert_eq!(adapter.rank, if arm == Arm::LoraMatched { 29 } else { 8 });
        assert_eq!(
            (adapter.alpha, adapter.dropout, adapter.use_rslora),
            (32.0, 0.1, true)
        );
        assert_eq!(adapter.router_init, RouterInit::KaimingUniform);
        assert_eq!(adapter.heads, if arm.multi_head() { 5 } else { 1 });
        assert_eq!(
            (
                train.batches.seed,
                train.data_seed(),
                train.evaluation.skip_base_eval
            ),
            (1, 0, true)
        );
        // The child reads the spec back from its run file exactly.
        let file = std::env::temp_dir().join(format!(
            "rlora-experiment-spec-{}-{}.json",
            std::process::id(),
            arm.id()
        ));
        std::fs::write(&file, serde_json::to_vec(&train).unwrap()).unwrap();
        let argv = ["train", "--config", file.to_str().unwrap()].map(String::from);
        let read = TrainArgs::try_parse_from(argv).unwrap().run;
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::to_value(&train).unwrap()
        );
    }
}

#[test]
fn stats_use_the_sample_deviation() {
    let stat = Stat::of(vec![1.0, 2.0, 3.0]);
    assert_eq!(stat.mean, 2.0);
    assert_eq!(stat.std, Some(1.0));
    assert_eq!(Stat::of(vec![0.5]).std, None);
}

#[test]
fn confidence_intervals_use_students_t() {
    assert_eq!(t_quantile_975(4), 2.776);
    // Beyond the table the expansion meets the known quantiles: t(40) = 2.021, t(120) = 1.980.
    assert!((t_quantile_975(40) - 2.021).abs() < 1e-3);
    assert!((t_quantile_975(120) - 1.980).abs() < 1e-3);
    // Mean 2, s = 1, n = 3: 2 ± 4.303 / √3.
    let (low, high) = Stat::of(vec![1.0, 2.0, 3.0]).ci95.unwrap();
    let half = 4.303 / 3f64.sqrt();
    assert!((low - (2.0 - half)).abs() < 1e-12 && (high - (2.0 + half)).abs() < 1e-12);
}

#[test]
fn paired_differences_pair_seeds_and_say_whether_they_are_resolved() {
    let arm = [(0, 0.50), (1, 0.52), (2, 0.51), (3, 0.53), (4, 0.50)];
    let close = [(0, 0.49), (1, 0.50), (2, 0.50), (3, 0.51), (4, 0.49)];
    let d = PairedDifference::of(Arm::Rlora, Arm::Hydra, &arm, &close);
    // Differences 1, 2, 1, 2, 1 points: mean 1.4, s = 0.5477, t(4) = 2.776 → ± 0.68.
    assert!((d.mean - 0.014).abs() < 1e-12);
    let (low, high) = d.ci95.unwrap();
    assert!((high - low - 2.0 * 2.776 * 0.005_477_2 / 5f64.sqrt()).abs() < 1e-6);
    assert!(d.resolved && low > 0.0);
    assert_eq!(d.seeds_agreeing, 5);
    // Seeds disagree: not resolved. A seed only one arm ran is left out.
    let mixed = [(0, 0.52), (1, 0.49), (2, 0.51), (3, 0.50), (9, 0.9)];
    let d = PairedDifference::of(Arm::Rlora, Arm::Hydra, &mixed, &close);
    assert_eq!(d.seeds, [0, 1, 2, 3]);
    assert!(!d.resolved, "{d:?}");
    assert_eq!(d.seeds_agreeing, 2); // +3, −1, +1, −1: mean +0.5
}
