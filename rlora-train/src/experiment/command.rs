//! `rlora experiment`: its flags, the experiment run in a folder named by today's date.

use std::path::{Path, PathBuf};

use clap::Args;
use rlora_llama::LlamaBackend;

use super::{ExperimentReport, ExperimentSettings, markdown, run_experiment};
use crate::cli::CliError;

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

/// Runs the experiment with `program` as the runs' `rlora` and the base's evaluation on backend
/// `B`'s `device`, then prints where the report is and its Markdown.
pub fn run_experiment_command<B: LlamaBackend>(
    args: &ExperimentArgs,
    program: &Path,
    device: &B::Device,
) -> Result<ExperimentReport, CliError> {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("experiments").join(utc_date()));
    let report = run_experiment::<B>(program, &args.settings, &output, device)?;
    println!("\n{}", markdown(&report));
    println!("report: {}", output.join("report.md").display());
    Ok(report)
}

/// Today's UTC date as `YYYY-MM-DD` (the default experiment folder's name).
fn utc_date() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}
