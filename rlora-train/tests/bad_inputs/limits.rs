//! Inputs bounded by what the model can take: a prompt and its new tokens within the model's
//! context, a task file's huge record bounded by `--max-seq-len` before it is tokenized, an
//! update that fits the mixture, routing weights that mix the heads, and a run whose evaluation
//! set is empty.

use super::*;

/// `rlora generate` on `model` with `extra`.
fn generate(model: &str, extra: &[&str]) -> Vec<String> {
    let mut args = strings(&["generate", "--model", model]);
    args.extend(strings(extra));
    args
}

#[test]
fn generate_keeps_the_prompt_and_its_new_tokens_within_the_context() {
    // Refused before the weights load: the model's weights are garbage.
    let model = at("garbage-weights");
    let long = "x".repeat(100_000);
    rejects(
        "a prompt longer than the context",
        &generate(&model, &["--prompt", &long]),
        &[
            "--prompt is 100001 tokens",
            "context of 512 tokens",
            "max_position_embeddings",
            "garbage-weights/config.json",
            "--truncate-prompt",
        ],
    );
    rejects(
        "more new tokens than the context",
        &generate(
            &model,
            &["--prompt", "Q:", "--max-new-tokens", "1000000000"],
        ),
        &[
            "--max-new-tokens 1000000000",
            "context of 512 tokens",
            "at most 511",
        ],
    );
    rejects(
        "a prompt and its new tokens past the context",
        &generate(
            &model,
            &["--prompt", &"x".repeat(500), "--max-new-tokens", "100"],
        ),
        &["--prompt is 501 tokens, 601 with --max-new-tokens 100"],
    );
    // With --truncate-prompt, the prompt's start is cut (BOS kept), and said.
    let base = tiny_base().display().to_string();
    let output = rlora(&generate(
        &base,
        &[
            "--prompt",
            &long,
            "--max-new-tokens",
            "4",
            "--truncate-prompt",
            "--json",
        ],
    ));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("--truncate-prompt: the prompt's first 99493 of 100001 tokens after BOS"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids = json["prompt_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 508);
    assert_eq!(ids[0], 0, "BOS kept");
}

#[test]
fn a_huge_record_is_skipped_before_it_is_tokenized() {
    // One line of 40 MB (a prompt of 40 million characters) among good ones: with the line cap
    // raised it is read, and skipped as longer than --max-seq-len without being tokenized whole
    // (which took 6.5 GB and 27 s here). On the CPU backend the run is held to 1.5 GiB of
    // address space (it takes 0.13 GB of memory); the garbage weights then stop it, after the
    // data.
    let file = scratch().join("huge-line.jsonl");
    let good = std::fs::read_to_string(scratch().join("good.jsonl")).unwrap();
    let huge = format!(
        "{{\"prompt\": \"{}\", \"completion\": \" 1\"}}\n",
        "x".repeat(40_000_000)
    );
    std::fs::write(&file, format!("{good}{huge}")).unwrap();
    let output = scratch().join("never-written-huge");
    let args = train_args(
        &at("garbage-weights"),
        &output.display().to_string(),
        &[
            "--task",
            &format!("x={},{}", file.display(), at("good.jsonl")),
            "--max-line-bytes",
            "50000000",
        ],
    );
    let run = limited(&args, MEMORY_LIMIT_KB);
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stdout.contains("skipped (prompt > 96 tokens) 1"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("model.safetensors"), "{stderr}");
    assert!(!output.join("run_config.json").exists());
}

/// The address space `rlora` may take in [`limited`], in KiB: what the refused run takes (under
/// 0.4 GB of address space), with room to spare, and far less than tokenizing a 40 MB line
/// whole.
const MEMORY_LIMIT_KB: u64 = 1536 * 1024;

/// Runs `rlora args`, under `ulimit -v limit_kb` on a CPU backend (a GPU driver reserves far
/// more address space than it uses).
fn limited(args: &[String], limit_kb: u64) -> std::process::Output {
    if cfg!(feature = "gpu") {
        return rlora(args);
    }
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v {limit_kb} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_rlora"))
        .args(args);
    command.output().expect("sh runs")
}

#[test]
fn an_update_larger_than_the_mixture_is_refused_whatever_makes_it() {
    let output = scratch().join("never-written-update");
    let out = output.display().to_string();
    let model = at("garbage-weights");
    rejects(
        "grad accumulation",
        &train_args(
            &model,
            &out,
            &["--builtin", "--grad-accumulation", "4294967295"],
        ),
        &[
            "--batch-size 4 × --grad-accumulation 4294967295",
            "17179869180 examples a step",
            "lower --grad-accumulation",
        ],
    );
    rejects(
        "batch size",
        &train_args(&model, &out, &["--builtin", "--batch-size", "100000"]),
        &["--batch-size 100000 on 1 device takes 100000 examples a step"],
    );
    assert!(!output.exists());
}

#[test]
fn merged_routing_weights_mix_the_heads() {
    let run = trained_run();
    let adapter = run.join("adapter").display().to_string();
    let base = tiny_base().display().to_string();
    let export = |output: &Path, routing: Option<&str>| {
        let mut args = strings(&[
            "export",
            "--model",
            &base,
            "--adapter",
            &adapter,
            "--output",
            &output.display().to_string(),
            "--merge",
        ]);
        if let Some(routing) = routing {
            args.extend(strings(&["--routing", routing]));
        }
        args
    };
    let refused = scratch().join("merged-refused");
    for (label, routing, culprit) in [
        ("zeros", "0,0,0", "all zero"),
        ("negative", "0.5,-0.5,1", "≥ 0"),
        ("infinite", "1e400,1,1", "finite"),
    ] {
        rejects(
            label,
            &export(&refused, Some(routing)),
            &["--routing", culprit],
        );
    }
    assert!(!refused.exists());
    // Weights that do not sum to 1 are normalized, and said: 1e30 each is the uniform routing.
    let huge = scratch().join("merged-huge");
    let output = rlora(&export(&huge, Some("1e30,1e30,1e30")));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("--routing: the weights sum to ")
            && stdout.contains(", not 1")
            && stdout.contains("normalized: 0.333333,0.333333,0.333333"),
        "{stdout}"
    );
    let uniform = scratch().join("merged-uniform");
    let output = rlora(&export(&uniform, None));
    assert!(output.status.success());
    assert_eq!(
        std::fs::read(huge.join("model.safetensors")).unwrap(),
        std::fs::read(uniform.join("model.safetensors")).unwrap()
    );
}

#[test]
fn a_run_with_an_empty_evaluation_set_says_so_and_succeeds() {
    // One line: nothing is held out of it, and there is no test file.
    let file = scratch().join("one-line.jsonl");
    std::fs::write(&file, "{\"prompt\": \"Q:\", \"completion\": \" 1\"}\n").unwrap();
    let output = scratch().join("one-line-run");
    let base = tiny_base().display().to_string();
    let run = rlora(&train_args(
        &base,
        &output.display().to_string(),
        &[
            "--task",
            &format!("one={}", file.display()),
            "--batch-size",
            "1",
        ],
    ));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for said in [
        "task one: the evaluation set is empty",
        "routing: not analysed, the evaluation set is empty",
    ] {
        assert!(stdout.contains(said), "`{said}` not in\n{stdout}");
    }
    assert!(output.join("adapter/adapter_model.safetensors").exists());
    assert!(!output.join("routing.json").exists());
}
