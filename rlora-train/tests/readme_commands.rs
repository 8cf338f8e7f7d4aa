//! Every command in the README's `sh` blocks (and every `cargo xtask …` it mentions) works:
//! `rlora …` lines on the shipped tiny base run for real, in order, in a scratch folder (with a
//! few steps and examples appended, which win over the README's values); the others (a real
//! Hugging Face model, the README's `run.toml`) parse with the `rlora` command line; example
//! lines parse with the example's defaults; `cargo xtask` tasks exist. CI runs the cargo
//! commands themselves.

use std::path::{Path, PathBuf};

use rlora_train::cli::example_spec;
use rlora_train::program::Cli;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// The lines of the README's fenced blocks of `language`, with `\` continuations joined and
/// comments dropped.
fn blocks(text: &str, language: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(lang)) if lang.trim() == language => current = Some(Vec::new()),
            (Some(_), Some(_)) => blocks.push(current.take().unwrap()),
            (Some(lines), None) => {
                let code = line.split(" #").next().unwrap_or("").trim_end();
                match lines.last_mut() {
                    Some(last) if last.ends_with('\\') => {
                        last.pop();
                        last.push_str(code.trim_start());
                    }
                    _ if !code.trim().is_empty() && !code.trim_start().starts_with('#') => {
                        lines.push(code.trim().to_string())
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    blocks
}

/// Splits a command line into words, honoring double quotes.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn xtask_has(task: &str) -> bool {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/src/main.rs"))
            .unwrap();
    source.contains(&format!("Some(\"{task}\")"))
}

/// A scratch folder with the tiny base at `assets/tiny-base` and the README's `run.toml`.
fn scratch(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = dir.join("assets/tiny-base");
    std::fs::create_dir_all(&base).unwrap();
    for entry in std::fs::read_dir(rlora_train::cli::tiny_base_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), base.join(entry.file_name())).unwrap();
    }
    let toml = blocks(text, "toml");
    assert_eq!(toml.len(), 1, "the README shows one run.toml");
    std::fs::write(dir.join("run.toml"), toml[0].join("\n")).unwrap();
    dir
}

/// Flags appended to a README command that runs for real, to keep it short.
fn shortened(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "train" => &[
            "--max-steps",
            "4",
            "--checkpoint-every",
            "2",
            "--eval-examples",
            "2",
            "--eval-max-new-tokens",
            "2",
        ],
        "eval" => &["--eval-examples", "2", "--max-new-tokens", "2"],
        "heads" | "export" => &["--routing-examples", "4"],
        "experiment" => &[
            "--steps",
            "2",
            "--checkpoint-every",
            "2",
            "--batch-size",
            "4",
            "--eval-examples",
            "2",
            "--eval-max-new-tokens",
            "2",
        ],
        _ => &[],
    }
}

/// Runs `rlora argv…` in `dir`, failing with its output when it fails.
fn run_rlora(dir: &Path, line: &str, argv: &[String]) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rlora"))
        .current_dir(dir)
        .args(&argv[1..])
        .args(shortened(&argv[1]))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{line}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A `gpu-bundle/run.sh …` line (the GPU bundle's runner, which needs a GPU): the runner the
/// bundle ships takes each of its flags, and `--parts` names parts it has.
fn bundle_runner_takes(line: &str, args: &[String]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/gpu-bundle");
    assert!(
        root.join("run.sh").is_file(),
        "{line}: xtask/gpu-bundle/run.sh missing"
    );
    let runner = std::fs::read_to_string(root.join("gpu_check.py")).unwrap();
    for (i, arg) in args.iter().enumerate() {
        if arg.starts_with("--") {
            assert!(
                runner.contains(&format!("\"{arg}\"")),
                "{line}: the runner has no {arg}"
            );
        }
        if arg == "--parts" {
            let parts = args
                .get(i + 1)
                .unwrap_or_else(|| panic!("{line}: --parts without parts"));
            for part in parts.split(',') {
                assert!(
                    runner.contains(&format!("\"{part}\"")),
                    "{line}: no part {part}"
                );
            }
        }
    }
}

#[test]
fn every_readme_command_works() {
    let text = readme();
    let dir = scratch(&text);
    let (mut ran, mut parsed) = (0, 0);
    for line in blocks(&text, "sh").into_iter().flatten() {
        let argv = words(&line);
        match argv.first().map(String::as_str) {
            Some("rlora") => {
                let model = argv
                    .iter()
                    .position(|a| a == "--model")
                    .map(|i| argv[i + 1].as_str());
                let config = argv
                    .iter()
                    .position(|a| a == "--config")
                    .map(|i| argv[i + 1].as_str());
                let runnable = match (model, config) {
                    (Some(model), _) => dir.join(model).is_dir(),
                    (None, Some(config)) => config.starts_with("runs/"),
                    (None, None) => true,
                };
                if runnable {
                    run_rlora(&dir, &line, &argv);
                    ran += 1;
                } else {
                    let mut argv = argv.clone();
                    if let Some(i) = argv.iter().position(|a| a == "--config") {
                        argv[i + 1] = dir.join(&argv[i + 1]).display().to_string();
                    }
                    if let Err(e) = Cli::try_parse_args(argv) {
                        panic!("{line}:\n{e}");
                    }
                    parsed += 1;
                }
            }
            Some("cargo") => match argv.get(1).map(String::as_str) {
                Some("run") if argv.contains(&"--example".to_string()) => {
                    assert!(argv.contains(&"train".to_string()), "{line}");
                    let user: Vec<String> = argv
                        .iter()
                        .skip_while(|a| *a != "--")
                        .skip(1)
                        .cloned()
                        .collect();
                    example_spec(&user, "out").unwrap_or_else(|e| panic!("{line}: {e}"));
                }
                Some("xtask") => assert!(xtask_has(&argv[2]), "{line}: no such xtask"),
                Some("test" | "build" | "bench") => {}
                _ => panic!("{line}: a cargo command this test does not know"),
            },
            Some("gpu-bundle/run.sh") => bundle_runner_takes(&line, &argv[1..]),
            _ => panic!("{line}: a command this test does not check"),
        }
    }
    assert!(ran >= 7 && parsed >= 2, "ran {ran}, parsed {parsed}");
    // What the commands wrote: the adapter, its replay, the evaluation, heads, the merged model,
    // the experiment's report.
    for path in [
        "runs/tiny/adapter/adapter_config.json",
        "runs/tiny-again/eval.json",
        "runs/tiny/eval/eval.json",
        "runs/tiny/heads/heads_mlp_up_proj.png",
        "runs/tiny/merged/config.json",
        "experiments/quick/report.md",
    ] {
        assert!(dir.join(path).exists(), "{path} missing");
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Every `cargo xtask TASK` in the prose names a task that exists.
    for (i, _) in text.match_indices("cargo xtask ") {
        let task: String = text[i + "cargo xtask ".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        assert!(xtask_has(&task), "README mentions `cargo xtask {task}`");
    }
}
