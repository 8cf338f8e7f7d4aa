//! `rlora experiment`: the paper's comparison in miniature (see [`crate::experiment`]).

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::experiment::{ExperimentReport, ExperimentSettings, run_experiment, utc_date};

/// Arguments of `rlora experiment`.
#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The settings every arm shares.
    #[command(flatten)]
    pub settings: ExperimentSettings,
    /// Where the runs and the report go (default: `experiments/<today's UTC date>`); an existing
    /// folder with the same settings is continued.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Runs the experiment with this executable as the runs' `rlora`, then prints where the report
/// is and its Markdown.
pub fn run_experiment_command(
    args: &ExperimentArgs,
    program: &Path,
) -> Result<ExperimentReport, CliError> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("experiments").join(utc_date()));
    let report = run_experiment(program, &args.settings, &output)?;
    println!("\n{}", crate::experiment::markdown(&report));
    println!("report: {}", output.join("report.md").display());
    Ok(report)
}
