//! A training run as a library call: [`RunSpec`] describes it in typed parts, [`train`] runs it
//! (the checks, the output folder, the data, the model, training through burn's `Learner`, the
//! evaluation and the reports) and returns a [`RunOutcome`] or a [`RunError`].
//!
//! What keeps a user's work safe lives here: the checks made before the model loads (`checks`),
//! the ownership of the output folder (`folder`: a lock, `--resume` against the saved settings in
//! `resume_check`, `--overwrite`), the base's fingerprint (`base_check`); and training across
//! processes: the group's settings and the other ranks' private folder (`group`), what the
//! handshake compares (`group_identity`), rank 0's coordinator (`coordinator_child`) and the
//! ports it serves on (`ports`).
//!
//! ```no_run
//! use burn::backend::{Autodiff, Flex};
//! use rlora_train::run::{RunSpec, train};
//! use rlora_train::trainer::DataParallel;
//!
//! let mut spec = RunSpec::tiny_base("target/my-run"); // the shipped tiny base, the built-in suite
//! spec.schedule.max_steps = Some(200);
//! spec.output.overwrite = true; // replace the run an earlier call left there
//! let outcome = train::<Autodiff<Flex>>(&spec, &[Default::default()], DataParallel::Gather)?;
//! if let Some(outcome) = outcome.evaluated() {
//!     println!("adapter in {}", outcome.adapter_dir.display());
//! }
//! # Ok::<(), rlora_train::run::RunError>(())
//! ```
//!
//! Imports [`data`](crate::data), [`trainer`](crate::trainer), [`base`](crate::base) and
//! [`report`](crate::report).

mod base_check;
mod checks;
mod coordinator_child;
mod file;
mod folder;
mod group;
mod group_identity;
mod lock;
mod ports;
mod resume_check;
mod routing;
mod spec;
mod tasks;
mod train;
pub(crate) mod values;

pub(crate) use coordinator_child::ended;
pub(crate) use file::with_run_file;
pub(crate) use folder::RUN_CONFIG_FILE;
pub(crate) use group::{RANK_FOLDERS_VARIABLE, started_run};
pub use ports::free_ports;
pub(crate) use ports::taken_port;
pub use routing::RoutingTasks;
pub(crate) use routing::{
    MERGED_FILE, MergedScore, ROUTING_FILE, analyse, print_routing, write_routing,
};
pub use spec::{
    AdapterSettings, DataSettings, EvaluationSettings, ModelSettings, OutputSettings,
    PlacementSettings, RunSpec, ScheduleSettings,
};
pub(crate) use tasks::load_flagged_tasks;
pub use train::train;

use crate::trainer::TrainOutcome;

/// A failure inside a run's steps, with its context (a file, a model, the network).
pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

/// What a run made.
#[derive(Debug)]
pub enum RunOutcome {
    /// The run trained alone or as rank 0 of its group, and evaluated: its adapter, scores and
    /// cost (also written as `eval.json` in the output folder).
    Evaluated(TrainOutcome),
    /// The run was rank `rank` (≥ 1) of a group: it trained `steps` updates with the others;
    /// rank 0 evaluates and writes.
    Rank {
        /// This process's rank.
        rank: u32,
        /// The optimizer updates it trained.
        steps: usize,
    },
}

impl RunOutcome {
    /// The evaluated outcome, `None` for ranks 1.. of a group.
    pub fn evaluated(self) -> Option<TrainOutcome> {
        match self {
            Self::Evaluated(outcome) => Some(outcome),
            Self::Rank { .. } => None,
        }
    }
}

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting, the model folder, the tasks or the output folder cannot make this run: it was
    /// refused before anything of a run in the output folder was deleted or written. The
    /// message names the flag (the setting's field), file, line or key.
    #[error("{0}")]
    Refused(Failure),
    /// Training stopped on values that are not finite (a loss or gradients): the message says
    /// at which step and which checkpoint to continue from. The same settings meet them again
    /// from that checkpoint (a resumed run is exact), so a restart needs other settings.
    #[error("{0}")]
    NotFinite(String),
    /// Training stopped for another reason than its values (an interruption, the group's
    /// failure): the message says which checkpoint to continue from.
    #[error("{0}")]
    Stopped(String),
    /// Another failure once the run had started (a file that could not be written, an
    /// evaluation that failed).
    #[error("{0}")]
    Failed(Failure),
}

/// The exit status of `rlora train` whose training stopped on values that are not finite
/// ([`RunError::NotFinite`]); `rlora launch` does not restart a group after it.
pub const NOT_FINITE_EXIT_STATUS: u8 = 3;

impl RunError {
    /// The exit status of a program that ends with this error: [`NOT_FINITE_EXIT_STATUS`] for
    /// [`RunError::NotFinite`], 1 for the others.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::NotFinite(_) => NOT_FINITE_EXIT_STATUS,
            _ => 1,
        }
    }

    /// A refusal with `message`.
    pub(crate) fn refused(message: &str) -> Self {
        Self::Refused(message.into())
    }
}
