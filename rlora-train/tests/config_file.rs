//! `rlora train --config FILE`: a TOML or JSON file of flags, the command line winning over it;
//! the `run_config.json` a run writes repeats the run; bad files are named with the key at fault.

use std::path::Path;

use rlora::Preset;
use rlora_train::cli::{TrainArgs, expand_config_file};
use rlora_train::data::Mixing;
use rlora_train::run::RunSpec;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlora-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn parse(argv: Vec<String>) -> TrainArgs {
    let mut argv = expand_config_file(argv).unwrap();
    argv.remove(0);
    TrainArgs::try_parse_from(argv).unwrap()
}

#[test]
fn a_toml_file_sets_flags_and_the_command_line_wins() {
    let path = write(
        "run.toml",
        "model = \"base\"\noutput = \"out\"\nbuiltin = true\nlr = 1e-3\nbatch-size = 4\n\
         task = [\"a=a.jsonl\", \"b=b.jsonl\"]\ntargets = [\"q_proj\", \"v_proj\"]\n\
         variant = \"hydra\"\nrslora = false\nmixing = \"temperature:2\"\n",
    );
    let args = parse(argv(&[
        "rlora",
        "train",
        "--config",
        path.to_str().unwrap(),
        "--lr",
        "5e-4",
        "--targets",
        "down_proj",
    ]));
    let run = args.run;
    assert_eq!(run.model.model.as_deref(), Some(Path::new("base")));
    assert!(run.data.builtin);
    assert_eq!((run.schedule.lr, run.batches.batch_size), (5e-4, 4));
    assert_eq!(run.data.tasks, ["a=a.jsonl", "b=b.jsonl"]);
    assert_eq!(run.adapter.targets, ["down_proj"]);
    assert_eq!(run.adapter.variant, Preset::HydraLora);
    assert_eq!(run.adapter.rslora, Some(false));
    assert_eq!(run.data.mixing, Mixing::Temperature(2.0));
}

#[test]
fn the_written_run_config_repeats_the_run() {
    let original = parse(argv(&[
        "rlora",
        "train",
        "--model",
        "m",
        "--output",
        "o",
        "--task",
        "t=t.jsonl",
        "--mixing",
        "weights:1,3",
        "--dropout",
        "0.2",
        "--skip-base-eval",
        "--max-steps",
        "9",
    ]));
    let path = write(
        "run_config.json",
        &serde_json::to_string(&original).unwrap(),
    );
    let again = parse(argv(&[
        "rlora",
        "train",
        "--config",
        path.to_str().unwrap(),
    ]));
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&original).unwrap()
    );
    // A library user reads the same file into the same spec.
    let read = RunSpec::from_file(&path).unwrap();
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        serde_json::to_value(&original.run).unwrap()
    );
}

#[test]
fn a_run_file_without_an_output_or_with_a_bad_value_is_refused_naming_it() {
    let path = write("no-output.toml", "builtin = true\n");
    let error = RunSpec::from_file(&path).unwrap_err().to_string();
    assert!(
        error.contains("no-output.toml") && error.contains("--output"),
        "{error}"
    );
    let path = write("bad-holdout.toml", "output = \"o\"\nholdout = 1.5\n");
    let error = RunSpec::from_file(&path).unwrap_err().to_string();
    assert!(
        error.contains("bad-holdout.toml") && error.contains("`holdout`"),
        "{error}"
    );
}

#[test]
fn bad_files_are_named_with_the_key_at_fault() {
    let cases = [
        (
            "unknown.toml",
            "lrr = 1.0\n",
            "`lrr` is not a flag of `rlora train`",
        ),
        (
            "switch.json",
            "{\"builtin\": \"yes\"}",
            "`builtin` is a switch",
        ),
        ("nested.toml", "[lr]\nvalue = 1\n", "`lr` must be a string"),
        ("syntax.toml", "lr = \n", "line 1"),
        ("list.json", "[1, 2]", "expected a table"),
        ("run.yaml", "lr: 1", "a .toml or a .json file"),
    ];
    for (file, text, expected) in cases {
        let path = write(file, text);
        let error = expand_config_file(argv(&[
            "rlora",
            "train",
            "--config",
            path.to_str().unwrap(),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(file) && error.contains(expected),
            "{file}: {error}"
        );
    }
    let missing = expand_config_file(argv(&[
        "rlora",
        "train",
        "--config",
        "/nonexistent/run.toml",
    ]))
    .unwrap_err()
    .to_string();
    assert!(missing.contains("/nonexistent/run.toml"), "{missing}");
}

#[test]
fn other_commands_are_left_alone() {
    let args = argv(&["rlora", "eval", "--config", "x"]);
    assert_eq!(expand_config_file(args.clone()).unwrap(), args);
}
