//! The `rlora` command line: one module per subcommand (its flags and what it runs), the
//! `--config` file of `rlora train`, the example's defaults, and the flags' value parsers; and
//! what keeps a user's work safe: the checks `rlora train` makes before its model loads
//! (`train_checks`), the ownership of its `--output` (`run_folder`: a lock, `--resume` against
//! the saved settings, `--overwrite`), and `rlora export`'s staged `--output` (`export_output`);
//! training across processes: the group flags and the other ranks' private folder (`group`), what
//! the handshake compares (`group_identity`), rank 0's coordinator (`coordinator_child`),
//! `rlora coordinator`, `rlora launch` and the signals it passes on (`launch_signals`), and the
//! ports they serve on (`ports`).
//! The `program` room, above this one, joins the subcommands into the `rlora` command.
//!
//! Imports [`data`](crate::data), [`trainer`](crate::trainer), [`base`](crate::base) and
//! [`report`](crate::report).

mod base_check;
mod config_file;
mod coordinator;
mod coordinator_child;
mod eval;
mod example;
mod export;
mod export_output;
mod generate;
mod group;
mod group_identity;
mod heads;
mod launch;
mod launch_signals;
mod output_folder;
mod ports;
mod pretrain;
mod resume_check;
mod routing;
mod run_folder;
mod run_lock;
mod train;
mod train_args;
mod train_checks;
pub mod values;

pub use crate::base::tiny_base_dir;
pub use config_file::expand_config_file;
pub use coordinator::{CoordinatorArgs, run_coordinator};
pub use eval::{EvalArgs, run_eval};
pub use example::{example_args, tiny_base_defaults};
pub use export::{ExportArgs, run_export};
pub use generate::{GenerateArgs, GenerateOutput, run_generate};
pub use heads::{HeadsArgs, run_heads};
pub use launch::{LaunchArgs, run_launch};
pub use pretrain::{PretrainArgs, run_pretrain};
pub use routing::{
    MERGED_FILE, MergedScore, ROUTING_FILE, RoutingTasks, analyse, merged_scores, print_merged,
    print_routing, tokenize_tasks, write_routing,
};
pub use train::{data_parallel, run_train, run_train_worker};
pub use train_args::TrainArgs;

/// An error of a subcommand, with its context.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
