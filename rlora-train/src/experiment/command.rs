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
pub fn utc_date() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_785), (2026, 11, 28));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
