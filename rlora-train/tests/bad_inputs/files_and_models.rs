//! Model folders, tokenizers, config files, and the inputs and outputs of `generate`, `eval` and
//! `heads`.

use super::*;

#[test]
fn model_folders_and_config_files_are_named() {
    let out = at("never-written-either");
    let base = tiny_base().display().to_string();
    let model_cases: &[(&str, &str, &[&str])] = &[
        (
            "no model",
            "/nonexistent-model",
            &["/nonexistent-model/config.json"],
        ),
        (
            "unsupported model",
            &at("gpt2"),
            &["config.json", "model_type", "gpt2"],
        ),
        (
            "tokenizer beyond vocab",
            &at("extra-token"),
            &["tokenizer.json", "<extra>", "id 259", "vocab_size 259"],
        ),
    ];
    for &(label, model, culprits) in model_cases {
        rejects(label, &train_args(model, &out, &["--builtin"]), culprits);
    }
    let extra_token = at("extra-token");
    let generate = |extra: &[&str]| {
        let mut args = strings(&["generate", "--model", &base, "--prompt", "Q:"]);
        args.extend(strings(extra));
        args
    };
    rejects(
        "generate, tokenizer beyond vocab",
        &strings(&["generate", "--model", &extra_token, "--prompt", "<extra>"]),
        &["tokenizer.json", "id 259"],
    );
    rejects(
        "negative temperature",
        &generate(&["--temperature", "-1"]),
        &["--temperature"],
    );
    rejects("top-p 0", &generate(&["--top-p", "0"]), &["--top-p"]);
    rejects(
        "no new tokens",
        &generate(&["--max-new-tokens", "0"]),
        &["--max-new-tokens"],
    );
    rejects(
        "no adapter",
        &generate(&["--adapter", "/nonexistent-adapter"]),
        &["/nonexistent-adapter"],
    );
    let config_cases: &[(&str, &[&str])] = &[
        ("nan.toml", &["nan.toml", "`lr`", "NaN"]),
        ("inf.toml", &["inf.toml", "`warmup-ratio`", "inf"]),
        ("list.toml", &["list.toml", "`lr` takes one value"]),
        ("negative.toml", &["negative.toml", "`lr`", "≥ 0"]),
        (
            "negative.json",
            &["negative.json", "`weight_decay`", "-0.1"],
        ),
        ("unknown.toml", &["unknown.toml", "`lrr` is not a flag"]),
        ("missing.toml", &["missing.toml"]),
    ];
    for &(file, culprits) in config_cases {
        let args = train_args(&base, &out, &["--builtin", "--config", &at(file)]);
        rejects(file, &args, culprits);
    }
    assert!(!Path::new(&out).exists());
}

#[test]
fn eval_and_heads_name_their_inputs_and_write_errors_their_path() {
    let base = tiny_base().display().to_string();
    let eval = |extra: &[&str]| {
        let mut args = strings(&[
            "eval",
            "--model",
            &base,
            "--eval-examples",
            "1",
            "--max-new-tokens",
            "1",
        ]);
        args.extend(strings(extra));
        args
    };
    rejects("eval without tasks", &eval(&[]), &["no tasks"]);
    rejects(
        "eval long line",
        &eval(&[
            "--task",
            &format!("x={}", at("long.jsonl")),
            "--max-line-bytes",
            "64",
        ]),
        &["long.jsonl:13:"],
    );
    rejects(
        "eval no adapter",
        &eval(&["--builtin", "--adapter", "/nonexistent-adapter"]),
        &["/nonexistent-adapter"],
    );
    let under_a_file = format!("{}/eval", at("a-file"));
    rejects(
        "eval output under a file",
        &eval(&[
            "--task",
            &format!("x={}", at("good.jsonl")),
            "--output",
            &under_a_file,
        ]),
        &["a-file", "Not a directory"],
    );
    rejects(
        "heads without an adapter",
        &strings(&[
            "heads",
            "--model",
            &base,
            "--adapter",
            "/nonexistent-adapter",
            "--output",
            &at("heads"),
        ]),
        &["/nonexistent-adapter"],
    );
}
