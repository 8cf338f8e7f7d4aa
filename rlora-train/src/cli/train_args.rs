//! The flags of `rlora train`: a run's [`RunSpec`], and the `--config` file it may come from.

use std::path::PathBuf;

use clap::{ArgAction, Args, FromArgMatches};
use serde::Serialize;

use super::CliError;
use super::config_file::with_config_file;
use crate::run::RunSpec;
use crate::run::values::numbers_may_be_negative;

/// Arguments of `rlora train`.
#[derive(Debug, Args, Serialize)]
pub struct TrainArgs {
    /// A TOML or JSON file of these flags (`lr = 1e-4`, `task = ["a=a.jsonl"]`); flags on the
    /// command line win. A run's `run_config.json` is one.
    #[arg(long, value_name = "FILE", action = ArgAction::Append)]
    #[serde(skip)]
    pub config: Vec<PathBuf>,
    /// Whether the `--config` file's settings are in [`run`](Self::run): set by
    /// [`TrainArgs::try_parse_from`] and `program::Cli::try_parse_args`, which read it.
    #[arg(skip)]
    #[serde(skip)]
    pub config_read: bool,
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

    /// Refuses flags parsed without their `--config` file: clap's own parsing (`Parser::parse`)
    /// leaves the file unread.
    ///
    /// # Errors
    /// `--config` is among the flags, and its file was not read.
    pub fn check_config_read(&self) -> Result<(), CliError> {
        match self.config.first() {
            Some(file) if !self.config_read => Err(format!(
                "--config {}: parse the command line with Cli::try_parse_args or \
                 TrainArgs::try_parse_from, which read the file",
                file.display()
            )
            .into()),
            _ => Ok(()),
        }
    }

    /// Parses `argv` (the program's name first) as `rlora train`'s flags, a `--config` file's
    /// settings as the flags' defaults.
    pub fn try_parse_from(argv: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        let argv: Vec<String> = argv.into_iter().collect();
        let (mut command, _) = with_config_file(Self::command(), &argv)?;
        let mut args = Self::from_arg_matches(&command.try_get_matches_from_mut(argv)?)?;
        args.config_read = true;
        Ok(args)
    }
}
