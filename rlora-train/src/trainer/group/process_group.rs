//! [`ProcessGroup`]: this process's membership in a training group, over burn's collective
//! operations: joining (the coordinator's introduction of the processes) and the all-reduce
//! between them, each bounded by the group's time-out.

use std::marker::PhantomData;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use burn::collective::{
    AllReduceStrategy, CollectiveConfig, CollectiveError, PeerId, ReduceOperation, all_reduce,
    register,
};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_communication::Address;

use super::GroupSettings;

/// How often the coordinator's port is tried while it is not listening yet.
const CONNECT_RETRY: Duration = Duration::from_millis(200);

/// A process of a training group on backend `B` (the training backend's inner one, on which the
/// gradients live): one collective peer per process, whose all-reduce sums a tensor over every
/// process of the group.
#[derive(Debug, Clone)]
pub struct ProcessGroup<B: Backend> {
    settings: GroupSettings,
    _backend: PhantomData<B>,
}

/// Why a bounded wait ended without an answer.
enum Unanswered {
    /// The time-out passed.
    TimedOut,
    /// The thread doing the work ended without an answer (burn's collective engine panicked; its
    /// message is printed above).
    Failed,
}

impl<B: Backend> ProcessGroup<B> {
    /// Joins the group: waits for the coordinator to listen, checks that this process's tensor
    /// port is free, and registers with burn's collective engine, which returns once all
    /// `nodes` processes have registered.
    ///
    /// # Errors
    /// The coordinator does not listen within the time-out (naming it), the tensor port is taken,
    /// the group does not gather within the time-out, or burn's engine refuses the registration
    /// (a different `--nodes`, two processes with one tensor address).
    pub fn join(settings: GroupSettings, device: &B::Device) -> Result<Self, String> {
        let who = settings.describe();
        wait_for_coordinator(&settings).map_err(|e| format!("{who}: {e}"))?;
        TcpListener::bind(("0.0.0.0", settings.data_port)).map_err(|e| {
            format!(
                "{who}: cannot serve tensors on port {} ({e}): another process holds it; give \
                 --node-address HOST:PORT with a free port, or another --coordinator port",
                settings.data_port
            )
        })?;
        let config = CollectiveConfig::default()
            .with_num_devices(1)
            .with_num_nodes(settings.nodes as u32)
            .with_global_address(ws_address(&settings.coordinator))
            .with_node_address(ws_address(&settings.node_address))
            .with_data_service_port(settings.data_port)
            .with_global_all_reduce_strategy(AllReduceStrategy::Ring);
        let peer = PeerId::from(settings.rank);
        let device = device.clone();
        match within(settings.timeout, move || {
            register::<B>(peer, device, config)
        }) {
            Ok(Ok(())) => Ok(Self {
                settings,
                _backend: PhantomData,
            }),
            Ok(Err(error)) => Err(format!(
                "{who}: the coordinator {} refused this process: {}",
                settings.coordinator,
                explain(&error)
            )),
            Err(Unanswered::TimedOut) => Err(format!(
                "{who}: the group did not gather within {} s: the coordinator {} listens, but \
                 not all {} processes joined it; start every rank 0..{} with the same --nodes \
                 and --coordinator (or raise --group-timeout)",
                settings.timeout.as_secs(),
                settings.coordinator,
                settings.nodes,
                settings.nodes - 1
            )),
            Err(Unanswered::Failed) => Err(format!(
                "{who}: burn's collective engine failed while joining the group at {}",
                settings.coordinator
            )),
        }
    }

    /// The group's settings.
    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.settings.rank
    }

    /// The processes of the group.
    pub fn size(&self) -> usize {
        self.settings.nodes
    }

    /// The element-wise sum of `tensor` over every process of the group (every process calls
    /// it with the same shape, in the same order). `what` names the exchange in errors.
    ///
    /// # Errors
    /// No answer within the time-out (another process stopped, or the network failed), or
    /// burn's engine reports a lost peer or a mismatch.
    pub fn all_reduce_sum(&self, tensor: Tensor<B, 1>, what: &str) -> Result<Tensor<B, 1>, String> {
        let primitive = tensor.into_primitive().tensor();
        let peer = PeerId::from(self.settings.rank);
        let who = self.settings.describe();
        match within(self.settings.timeout, move || {
            all_reduce::<B>(peer, primitive, ReduceOperation::Sum)
        }) {
            Ok(Ok(sum)) => Ok(Tensor::from_primitive(TensorPrimitive::Float(sum))),
            Ok(Err(error)) => Err(format!("{who}: {what} failed: {}", explain(&error))),
            Err(Unanswered::TimedOut) => Err(format!(
                "{who}: {what}: no answer from the group within {} s: another process stopped \
                 or the network between them failed",
                self.settings.timeout.as_secs()
            )),
            Err(Unanswered::Failed) => Err(format!(
                "{who}: {what}: burn's collective engine failed (a process of the group \
                 stopped or closed its connection)"
            )),
        }
    }
}

/// Waits until the coordinator accepts a TCP connection, at most the group's time-out.
fn wait_for_coordinator(settings: &GroupSettings) -> Result<(), String> {
    let deadline = Instant::now() + settings.timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let last_error =
            match TcpStream::connect_timeout(&settings.coordinator_addr, left.max(CONNECT_RETRY)) {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
        if Instant::now() >= deadline {
            return Err(format!(
                "the coordinator {} cannot be reached within {} s ({last_error}): rank 0 serves \
                 it; check that rank 0 runs and the address is right (or raise --group-timeout)",
                settings.coordinator,
                settings.timeout.as_secs()
            ));
        }
        std::thread::sleep(CONNECT_RETRY.min(left));
    }
}

/// Runs `work` on a thread of its own and waits at most `timeout` for its answer (burn's
/// collective calls block without a time-out of their own; a call that never answers is left
/// behind and ends with the process).
fn within<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver.recv_timeout(timeout).map_err(|error| match error {
        RecvTimeoutError::Timeout => Unanswered::TimedOut,
        RecvTimeoutError::Disconnected => Unanswered::Failed,
    })
}

/// The WebSocket address of `HOST:PORT`.
fn ws_address(host_port: &str) -> Address {
    format!("ws://{host_port}")
        .parse()
        .unwrap_or_else(|never: String| unreachable!("{never}"))
}

/// A collective error in words (burn names the global errors' type only inside its crate, so
/// they are told apart by their debug form).
fn explain(error: &CollectiveError) -> String {
    let debug = format!("{error:?}");
    let known = [
        (
            "RegisterParamsMismatch",
            "another process of the group was started with another --nodes",
        ),
        (
            "DoubleRegister",
            "another process registered the same tensor address (--node-address)",
        ),
        (
            "PeerLost",
            "the connection to another process of the group was lost",
        ),
        (
            "OrchestratorUnreachable",
            "the coordinator cannot be reached",
        ),
    ];
    match known.iter().find(|(name, _)| debug.contains(name)) {
        Some((_, words)) => format!("{words} ({debug})"),
        None => debug,
    }
}
