//! The embedded default of `cargo run --release --example train`: with no `--model`, the shipped
//! tiny base and the built-in suite with settings sized for a laptop CPU; with `--model`, the
//! paper's settings for a real checkpoint. Flags given by the user override either. The
//! example's own output folder is replaced by each run (`--overwrite`) unless the user gives
//! `--output`, `--resume` or `--overwrite`.

use clap::error::ErrorKind;

use super::{TrainArgs, expand_config_file};
use crate::base::tiny_base_dir;

/// The `rlora train` flags for the tiny base: R-LoRA on the MLP, 5 heads of rank 8, the paper's
/// α, rank stabilization and dropout, a higher learning rate and more passes than a large model
/// needs.
pub fn tiny_base_defaults(output: &str) -> Vec<String> {
    let base = tiny_base_dir().to_string_lossy().to_string();
    [
        "--model",
        &base,
        "--builtin",
        "--output",
        output,
        "--variant",
        "rlora",
        "--heads",
        "5",
        "--rank",
        "8",
        "--lr",
        "5e-3",
        "--batch-size",
        "16",
        "--max-steps",
        "2400",
        "--checkpoint-every",
        "200",
        "--max-seq-len",
        "96",
        "--eval-examples",
        "50",
        "--eval-max-new-tokens",
        "12",
        "--warmup-ratio",
        "0.03",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The example's `rlora train` arguments: the defaults, then `user` (which win; a `--config`
/// file among them is expanded in its place).
pub fn example_args(user: &[String], output: &str) -> Result<TrainArgs, clap::Error> {
    let argv = ["rlora", "train"]
        .iter()
        .map(|s| s.to_string())
        .chain(user.iter().cloned())
        .collect();
    let user = expand_config_file(argv)
        .map_err(|e| TrainArgs::command().error(ErrorKind::ValueValidation, e))?
        .split_off(2);
    let gives = |flag: &str| {
        user.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let mut defaults = if gives("--model") {
        vec!["--output".to_string(), output.to_string()]
    } else {
        tiny_base_defaults(output)
    };
    // The example's own folder is scratch: each run replaces the last, unless the user names
    // the folder or resumes.
    if !["--output", "--resume", "--overwrite"]
        .into_iter()
        .any(gives)
    {
        defaults.push("--overwrite".to_string());
    }
    let argv = std::iter::once("rlora train".to_string())
        .chain(defaults)
        .chain(user.iter().cloned());
    TrainArgs::try_parse_from(argv)
}
