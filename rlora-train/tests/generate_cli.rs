//! `rlora generate` end to end: the binary on the transformers fixtures.

use std::process::Command;

fn fixture(name: &str) -> String {
    format!(
        "{}/../rlora-llama/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn golden(name: &str) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{}/golden.json", fixture(name))).unwrap(),
    )
    .unwrap()
}

fn rlora(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlora"))
        .args(args)
        .output()
        .expect("rlora runs")
}

#[test]
fn greedy_json_output_matches_transformers() {
    for (model, adapter) in [
        ("qwen2-tied", None),
        ("llama-gqa", Some("llama-gqa-peft-lora")),
    ] {
        let golden = golden(adapter.unwrap_or(model));
        let prompt = golden["prompts"][1].as_str().unwrap();
        let model_dir = fixture(model);
        let mut args = vec![
            "generate",
            "--model",
            &model_dir,
            "--prompt",
            prompt,
            "--max-new-tokens",
            "12",
            "--json",
        ];
        let adapter_dir = adapter.map(fixture);
        if let Some(dir) = &adapter_dir {
            args.extend(["--adapter", dir]);
        }
        let output = rlora(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("one JSON object");
        assert_eq!(json["prompt_ids"], golden["prompt_ids"][1]);
        assert_eq!(json["generated_ids"], golden["greedy_ids"][1]);
        assert_eq!(json["text"], golden["greedy_text"][1]);
    }
}

#[test]
fn sampling_is_seeded_and_stop_strings_cut_the_text() {
    let model = fixture("llama-gqa");
    let args = |seed: &str| {
        let output = rlora(&[
            "generate",
            "--model",
            &model,
            "--prompt",
            "The cat",
            "--max-new-tokens",
            "16",
            "--temperature",
            "0.9",
            "--top-p",
            "0.9",
            "--top-k",
            "40",
            "--seed",
            seed,
            "--json",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    assert_eq!(args("7"), args("7"));
    assert_ne!(args("7")["generated_ids"], args("8")["generated_ids"]);

    let greedy = golden("llama-gqa")["greedy_text"][0]
        .as_str()
        .unwrap()
        .to_string();
    let stop: String = greedy.chars().skip(3).take(2).collect();
    let output = rlora(&[
        "generate",
        "--model",
        &model,
        "--prompt",
        "The cat",
        "--max-new-tokens",
        "12",
        "--stop",
        &stop,
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    let expected = &greedy[..greedy.find(&stop).unwrap()];
    assert_eq!(text.trim_end_matches('\n'), expected);
}

#[test]
fn bad_flags_are_rejected_before_any_work() {
    for (flag, value) in [
        ("--temperature", "-1"),
        ("--top-p", "1.5"),
        ("--top-k", "0"),
        ("--max-new-tokens", "0"),
    ] {
        let output = rlora(&[
            "generate",
            "--model",
            "/nonexistent",
            "--prompt",
            "x",
            &format!("{flag}={value}"),
        ]);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{stderr}");
    }
    let output = rlora(&["generate", "--model", "/nonexistent", "--prompt", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/tokenizer.json"));
}
