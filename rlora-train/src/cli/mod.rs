//! The `rlora` command line: one module per subcommand (its flags and what it runs), the
//! `--config` file of `rlora train`, the example's defaults, and the flags' value parsers.
//! The `program` room, above this one, joins the subcommands into the `rlora` command.
//!
//! Imports [`data`](crate::data), [`trainer`](crate::trainer), [`base`](crate::base) and
//! [`report`](crate::report).

mod config_file;
mod eval;
mod example;
mod export;
mod generate;
mod heads;
mod pretrain;
mod train;
mod train_args;
pub mod values;

pub use crate::base::tiny_base_dir;
pub use config_file::expand_config_file;
pub use eval::{EvalArgs, run_eval};
pub use example::{example_args, tiny_base_defaults};
pub use export::{ExportArgs, run_export};
pub use generate::{GenerateArgs, GenerateOutput, load_any_adapter, run_generate};
pub use heads::{HeadsArgs, run_heads};
pub use pretrain::{PretrainArgs, run_pretrain};
pub use train::run_train;
pub use train_args::TrainArgs;

/// An error of a subcommand, with its context.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
