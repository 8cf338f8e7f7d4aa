//! The `rlora` command line: one module per subcommand (its flags and what it runs), the
//! `--config` file of `rlora train`, the example's defaults; `rlora export`'s staged `--output`
//! (`export_output`); `rlora coordinator`, `rlora launch` and the signals it passes on
//! (`launch_signals`). A training run itself is [`crate::run`]'s. The `program` room, above
//! this one, joins the subcommands into the `rlora` command.
//!
//! Imports [`data`](crate::data), [`trainer`](crate::trainer), [`base`](crate::base),
//! [`report`](crate::report) and [`run`](crate::run).

mod config_file;
mod coordinator;
mod eval;
mod example;
mod export;
mod export_output;
mod generate;
mod heads;
mod launch;
mod launch_signals;
mod output_folder;
mod pretrain;
mod train_args;

pub use crate::base::tiny_base_dir;
pub use coordinator::{CoordinatorArgs, run_coordinator};
pub use eval::{EvalArgs, run_eval};
pub use example::example_spec;
pub use export::{ExportArgs, run_export};
pub use generate::{GenerateArgs, GenerateOutput, run_generate};
pub use heads::{HeadsArgs, run_heads};
pub use launch::{LaunchArgs, run_launch};
pub use pretrain::{PretrainArgs, run_pretrain};
pub use train_args::TrainArgs;

pub(crate) use config_file::with_config_file;

/// An error of a subcommand, with its context.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
