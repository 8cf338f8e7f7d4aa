//! `rlora train --config FILE`: a TOML or JSON file of flags, the command line winning over it;
//! the `run_config.json` a run writes repeats the run; bad files are named with the key at fault.

use std::path::Path;

use rlora::Preset;
use rlora_train::cli::TrainArgs;
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

/// `argv` (`rlora train …`) parsed as `rlora train`'s flags, its `--config` file read.
fn parse(mut argv: Vec<String>) -> TrainArgs {
    argv.remove(0);
    TrainArgs::try_parse_from(argv).unwrap()
}

/// The error of parsing `argv` (`rlora train …`), as clap renders it.
fn refusal(mut argv: Vec<String>) -> String {
    argv.remove(0);
    TrainArgs::try_parse_from(argv).unwrap_err().to_string()
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
        let error = refusal(argv(&[
            "rlora",
            "train",
            "--config",
            path.to_str().unwrap(),
        ]));
        assert!(
            error.contains(file) && error.contains(expected),
            "{file}: {error}"
        );
    }
    let missing = refusal(argv(&[
        "rlora",
        "train",
        "--config",
        "/nonexistent/run.toml",
    ]));
    assert!(missing.contains("/nonexistent/run.toml"), "{missing}");
}

/// The file's settings are the flags' defaults: the command line overrides them, the example
/// keeps them over its own defaults (its folder, the tiny base's rate), and a file's `resume`
/// with the command line's `--overwrite` is refused by the spec's check, as both on the command
/// line are by clap. Flags that clap parsed alone, leaving the file unread, are refused.
#[test]
fn the_files_settings_are_defaults_under_the_command_line() {
    use clap::Parser;
    use rlora_train::cli::example_spec;
    use rlora_train::program::{Cli, Command};

    let path = write(
        "defaults.toml",
        "output = \"from-file\"\nlr = 2e-3\nresume = true\n",
    );
    let file = path.to_str().unwrap();
    let spec = example_spec(&argv(&["--config", file]), "example-out").unwrap();
    assert_eq!(spec.output.output, Path::new("from-file"));
    assert_eq!(spec.schedule.lr, 2e-3);
    assert!(spec.output.resume && !spec.output.overwrite);
    assert_eq!(
        spec.batches.batch_size,
        RunSpec::tiny_base("o").batches.batch_size
    );

    let args = parse(argv(&["rlora", "train", "--config", file, "--overwrite"]));
    assert!(args.run.output.resume && args.run.output.overwrite);
    let error = args.run.check().unwrap_err().to_string();
    assert!(error.contains("--resume and --overwrite"), "{error}");
    let args = parse(argv(&["rlora", "train", "--config", file, "--lr", "1e-4"]));
    assert_eq!(args.run.schedule.lr, 1e-4);
    assert!(args.check_config_read().is_ok());

    let unread = Cli::try_parse_from(["rlora", "train", "--config", file, "--output", "o"]);
    let Command::Train(unread) = unread.unwrap().command else {
        panic!("not a train command")
    };
    let error = unread.check_config_read().unwrap_err().to_string();
    assert!(error.contains("defaults.toml"), "{error}");
    let Command::Train(read) = Cli::try_parse_args(argv(&["rlora", "train", "--config", file]))
        .unwrap()
        .command
    else {
        panic!("not a train command")
    };
    assert_eq!(read.run.output.output, Path::new("from-file"));
    assert!(read.check_config_read().is_ok());
}
