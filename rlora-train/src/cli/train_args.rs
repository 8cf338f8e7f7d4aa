//! The flags of `rlora train`: a run's [`RunSpec`], and the `--config` file it may come from.

use std::path::PathBuf;

use clap::{Args, FromArgMatches};
use serde::Serialize;

use super::CliError;
use crate::run::RunSpec;
use crate::run::values::numbers_may_be_negative;

/// Arguments of `rlora train`.
#[derive(Debug, Args, Serialize)]
pub struct TrainArgs {
    /// A TOML or JSON file of these flags (`lr = 1e-4`, `task = ["a=a.jsonl"]`); flags on the
    /// command line win. A run's `run_config.json` is one.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The run the flags describe.
    #[command(flatten)]
    #[serde(flatten)]
    pub run: RunSpec,
}

impl TrainArgs {
    /// `rlora train`'s flags as a command of their own (`rlora train` in messages), negative
    /// numbers accepted as values (for their parsers to judge).
    pub fn command() -> clap::Command {
        let command = Self::augment_args(clap::Command::new("train").bin_name("rlora train"));
        numbers_may_be_negative(command.args_override_self(true))
    }

    /// Refuses a `--config` file left in the flags: [`expand_config_file`](super::expand_config_file) puts its settings in
    /// its place before they are parsed.
    ///
    /// # Errors
    /// `--config` is among the flags.
    pub fn check_config_expanded(&self) -> Result<(), CliError> {
        match &self.config {
            Some(file) => Err(format!(
                "--config {}: expand the file with cli::expand_config_file before parsing",
                file.display()
            )
            .into()),
            None => Ok(()),
        }
    }

    /// Parses `argv` (the program's name first) as `rlora train`'s flags.
    pub fn try_parse_from(argv: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        Self::from_arg_matches(&Self::command().try_get_matches_from(argv)?)
    }
}
