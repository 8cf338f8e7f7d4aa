//! [`GroupError`]: why a process of a training group cannot go on, as a value whose kind
//! ([`GroupFault`]) the caller can answer in its own terms (the `rlora` command names the flags
//! that set what failed; see `run::train`). The messages name the group's settings, never a flag.

use thiserror::Error;

/// Why a process of a group stopped: which process (`rank 0 of 2`), during which exchange (`the
/// handshake`, `the gradient all-reduce`) and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "rank {rank} of {nodes}: {}{fault}",
    .during.as_ref().map(|d| format!("{d}: ")).unwrap_or_default()
)]
pub struct GroupError {
    /// This process's rank.
    pub rank: usize,
    /// The processes of the group.
    pub nodes: usize,
    /// The exchange under way, if any.
    pub during: Option<String>,
    /// What went wrong.
    pub fault: GroupFault,
}

/// What went wrong in a group.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupFault {
    /// The coordinator did not accept a connection within the group's time-out.
    #[error(
        "the coordinator {coordinator} cannot be reached within {seconds} s ({cause}): rank 0 \
         serves it; check that rank 0 runs and the address is right"
    )]
    CoordinatorUnreachable {
        /// The coordinator's address, as given.
        coordinator: String,
        /// The group's time-out, in seconds.
        seconds: u64,
        /// The last connection's error.
        cause: String,
    },
    /// One of this process's two tensor ports is taken.
    #[error("cannot serve tensors on port {port} ({cause}): another process holds it")]
    PortTaken {
        /// The port.
        port: u16,
        /// The system's error.
        cause: String,
    },
    /// An exchange got no answer within the group's time-out.
    #[error(
        "no answer from the group within {seconds} s: a process of the group stopped, was not \
         started (every rank 0..{last_rank} in a group of the same size and coordinator), \
         another program holds the coordinator's port, or the network between them failed"
    )]
    NoAnswer {
        /// The group's time-out, in seconds.
        seconds: u64,
        /// The highest rank of the group.
        last_rank: usize,
    },
    /// burn's collective engine ended without an answer (it panicked; its message is on stderr).
    #[error(
        "burn's collective engine failed (a process of the group stopped or closed its \
         connection)"
    )]
    EngineFailed,
    /// burn's collective engine answered with an error.
    #[error("the exchange failed: {cause}")]
    Engine {
        /// The error, as burn names it.
        cause: EngineError,
    },
    /// Something the group needs (rank 0's coordinator) ended: how, in words.
    #[error("{0}")]
    Ended(String),
    /// A peer has been at another exchange than this process for a while: burn-collective 0.21
    /// lost the message that ends an exchange, and the process it was for waits forever.
    #[error(
        "the group is out of step: rank {rank} has been at another exchange than this process \
         for {seconds} s (burn-collective 0.21 lost the message that ends an exchange, and the \
         process it was for waits forever)"
    )]
    OutOfStep {
        /// The peer's rank.
        rank: usize,
        /// How long the probes found it out of step, in seconds.
        seconds: u64,
    },
    /// No process took a rank of the group.
    #[error(
        "no process took rank {rank}: every rank 0..{last_rank} must be given to exactly one \
         process"
    )]
    RankMissing {
        /// The rank no process took.
        rank: usize,
        /// The highest rank of the group.
        last_rank: usize,
    },
    /// Several processes took the same rank.
    #[error("{count} processes were started as rank {rank}")]
    RankTaken {
        /// The rank.
        rank: usize,
        /// How many processes took it.
        count: usize,
    },
    /// Another process trains something else: other settings, data, base model, initial
    /// adapters or checkpoint.
    #[error(
        "rank {rank} {difference}: start every process of the group with the same settings, \
         model and task files"
    )]
    Differs {
        /// The other process's rank.
        rank: usize,
        /// What differs, as a clause after `rank R`.
        difference: String,
    },
    /// This process's host for tensors resolves to no address.
    #[error("this process's host {host} does not resolve")]
    HostUnresolved {
        /// The host, as given or found.
        host: String,
    },
    /// The handshake could not be made (an identity too long or unreadable).
    #[error("{0}")]
    Handshake(String),
}

/// An error of burn's collective engine, told apart by its debug form (burn names the global
/// errors' type only inside its crate); shown as its meaning and its debug form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// What it means, when known.
    pub kind: Option<EngineErrorKind>,
    /// burn's debug form of the error.
    pub debug: String,
}

/// The errors of burn's collective engine that have a known cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// Another process was started for a group of another size (`RegisterParamsMismatch`).
    GroupSize,
    /// Another process registered the same tensor address (`DoubleRegister`).
    SameAddress,
    /// The connection to another process was lost (`PeerLost`).
    PeerLost,
    /// The coordinator cannot be reached (`OrchestratorUnreachable`).
    CoordinatorUnreachable,
}

impl EngineError {
    /// The error of burn's debug form `debug`.
    pub fn from_debug(debug: String) -> Self {
        use EngineErrorKind::*;
        let known = [
            ("RegisterParamsMismatch", GroupSize),
            ("DoubleRegister", SameAddress),
            ("PeerLost", PeerLost),
            ("OrchestratorUnreachable", CoordinatorUnreachable),
        ];
        let kind = known
            .iter()
            .find(|(name, _)| debug.contains(name))
            .map(|&(_, kind)| kind);
        Self { kind, debug }
    }

    /// What the error means, in words, when known.
    pub fn words(&self) -> Option<&'static str> {
        Some(match self.kind? {
            EngineErrorKind::GroupSize => {
                "another process of the group was started for a group of another size"
            }
            EngineErrorKind::SameAddress => "another process registered the same tensor address",
            EngineErrorKind::PeerLost => "the connection to another process of the group was lost",
            EngineErrorKind::CoordinatorUnreachable => "the coordinator cannot be reached",
        })
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.words() {
            Some(words) => write!(f, "{words} ({})", self.debug),
            None => f.write_str(&self.debug),
        }
    }
}

impl std::error::Error for EngineError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_the_process_the_exchange_and_the_fault() {
        let error = GroupError {
            rank: 1,
            nodes: 2,
            during: Some("the handshake".into()),
            fault: GroupFault::NoAnswer {
                seconds: 5,
                last_rank: 1,
            },
        };
        assert!(
            error
                .to_string()
                .starts_with("rank 1 of 2: the handshake: no answer from the group within 5 s"),
            "{error}"
        );
        let error = GroupError {
            during: None,
            fault: GroupFault::RankTaken { rank: 0, count: 2 },
            ..error
        };
        assert_eq!(
            error.to_string(),
            "rank 1 of 2: 2 processes were started as rank 0"
        );
    }

    #[test]
    fn engine_errors_are_told_apart_by_their_debug_form() {
        let error = EngineError::from_debug("Global(RegisterParamsMismatch)".into());
        assert_eq!(error.kind, Some(EngineErrorKind::GroupSize));
        let fault = GroupFault::Engine { cause: error };
        assert_eq!(
            fault.to_string(),
            "the exchange failed: another process of the group was started for a group of another size \
             (Global(RegisterParamsMismatch))"
        );
        let unknown = EngineError::from_debug("Other".into());
        assert_eq!(unknown.kind, None);
        assert_eq!(
            GroupFault::Engine { cause: unknown }.to_string(),
            "the exchange failed: Other"
        );
    }
}
