//! Training across processes (`rlora train --nodes N --node-rank I --coordinator HOST:PORT`):
//! every process holds the whole model, trains on its own shard of each optimizer update's rows,
//! and the processes sum their gradients with burn's collective all-reduce (`burn-collective`:
//! an orchestrator that introduces the processes, then a ring all-reduce between them over its
//! WebSocket tensor service).
//!
//! - [`GroupSettings`]: where a process stands in the group and how the others reach it.
//! - [`ProcessGroup`]: joining the group ([`ProcessGroup::join`], with a
//!   [handshake](GroupIdentity) that refuses processes started with other settings, data, base
//!   ([`RunIdentity`], which names what differs), initial adapters or another checkpoint) and
//!   the all-reduce, each wait bounded by a time-out and ended early by a [`GroupWatch`] (rank
//!   0's coordinator); the handshake first [introduces](ProcessGroup::introduce) the processes'
//!   tensor addresses, so that each all-reduce waits for its peers' tensor services to listen
//!   (burn's engine connects to them once, without a retry); an exchange that takes long checks
//!   that the processes are still at the same exchange (`step_check`).
//! - [`UpdateExchange`]: one all-reduce per optimizer update of every trainable gradient and the
//!   update's loss, flattened into one bucket.
//! - [`quiet_engine_output`]: the engine's logs and thread failures, a line each on stderr.
//! - [`ENGINE_THREADS_VARIABLE`]: the engine on one worker thread, where its lost wake-ups
//!   cannot happen (`rlora train` sets it; a program of one's own sets it first thing).

mod engine_output;
mod engine_threads;
mod error;
mod exchange;
mod handshake;
mod identity;
mod introduction;
mod process_group;
mod settings;
mod step_check;
mod watch;

pub use engine_output::quiet_engine_output;
pub use engine_threads::ENGINE_THREADS_VARIABLE;
pub use error::{EngineError, EngineErrorKind, GroupError, GroupFault};
pub use exchange::{GroupLoss, UpdateExchange};
pub use handshake::{GroupIdentity, digest_adapters};
pub use identity::{RunIdentity, task_digests};
pub use process_group::ProcessGroup;
pub use settings::{GroupSettings, GroupSettingsError};
pub use watch::GroupWatch;
