//! [`ProcessGroup`]: this process's membership in a training group, over burn's collective
//! operations: joining (the coordinator's introduction of the processes) and the all-reduce
//! between them, each bounded by the group's time-out.
//!
//! burn-collective 0.21.0 answers only the first all-reduce between processes of a registration:
//! the synchronization that ends each all-reduce keeps every peer's past check-ins, so the set of
//! peers it waits for never matches again. Each exchange is therefore a registration of its own
//! (`register`, `all_reduce`, `finish_collective`), on one of two channels in turn (see
//! [`GroupSettings`]): when every process has registered for exchange `k`, all have finished
//! exchange `k − 1`, so exchange `k + 1` finds its channel's coordinator and ports free.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use burn::collective::{
    AllReduceStrategy, CollectiveConfig, CollectiveError, PeerId, ReduceOperation, all_reduce,
    finish_collective, register,
};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};

use super::engine_threads::{ENGINE_THREADS_VARIABLE, engine_on_one_thread};
use super::introduction::wait_listening;
use super::step_check::StepCheck;
use super::{EngineError, GroupError, GroupFault, GroupSettings, GroupWatch, quiet_engine_output};

/// How often the coordinator's port is tried while it is not listening yet.
const CONNECT_RETRY: Duration = Duration::from_millis(200);
/// How often a wait for the group checks its [`GroupWatch`].
const WATCH_EVERY: Duration = Duration::from_millis(100);
/// How long a failed exchange waits for its watch to tell the cause.
const WATCH_GRACE: Duration = Duration::from_secs(1);

/// A process of a training group on backend `B` (the training backend's inner one, on which the
/// gradients live): one collective peer per process, whose all-reduce sums a tensor over every
/// process of the group.
#[derive(Debug)]
pub struct ProcessGroup<B: Backend> {
    settings: GroupSettings,
    device: B::Device,
    /// The exchanges so far: exchange `k` uses channel `k mod 2`.
    exchanges: AtomicU64,
    /// What else the group needs (rank 0's coordinator), checked while waiting.
    watch: Option<GroupWatch>,
    /// The other processes' first tensor ports, once [introduced](ProcessGroup::introduce).
    peers: OnceLock<Vec<SocketAddr>>,
}

/// Why a bounded wait ended without an answer.
enum Unanswered {
    /// The time-out passed.
    TimedOut,
    /// The thread doing the work ended without an answer (burn's collective engine panicked; its
    /// message is printed above).
    Failed,
    /// The watch or the [`StepCheck`] said why the group cannot go on.
    Ended(GroupFault),
}

impl<B: Backend> ProcessGroup<B> {
    /// Joins the group: waits for the coordinator to listen and checks that this process's
    /// tensor ports are free. The group gathers at its first exchange (the handshake), which
    /// returns once every process has joined. Every wait for the group also checks `watch`
    /// (rank 0's coordinator), and ends as soon as it says the group cannot go on.
    ///
    /// # Errors
    /// The coordinator does not listen within the time-out (naming it), the watch says why the
    /// group cannot go on, or a tensor port is taken.
    pub fn join(
        settings: GroupSettings,
        device: &B::Device,
        watch: Option<GroupWatch>,
    ) -> Result<Self, GroupError> {
        quiet_engine_output();
        if !engine_on_one_thread() {
            eprintln!(
                "{}: warning: burn's collective engine will run on several threads \
                 ({ENGINE_THREADS_VARIABLE} is not 1), where an exchange can stall (burn-collective \
                 0.21 loses a wake-up; the step check then stops the group): set \
                 {ENGINE_THREADS_VARIABLE}=1 before the program starts, as rlora train does",
                settings.describe()
            );
        }
        let error = |fault| settings.error(None, fault);
        wait_for_coordinator(&settings, watch.as_ref()).map_err(error)?;
        for channel in 0..2 {
            let port = settings.data_port(channel);
            TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
                error(GroupFault::PortTaken {
                    port,
                    cause: e.to_string(),
                })
            })?;
        }
        Ok(Self {
            settings,
            device: device.clone(),
            exchanges: AtomicU64::new(0),
            watch,
            peers: OnceLock::new(),
        })
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

    /// The device the exchanged tensors live on.
    pub(super) fn device(&self) -> &B::Device {
        &self.device
    }

    /// The other processes' first tensor ports (set once, by the introduction).
    pub(super) fn set_peers(&self, peers: Vec<SocketAddr>) {
        let _ = self.peers.set(peers);
    }

    /// The element-wise sum of `tensor` over every process of the group (every process calls
    /// it with the same shape, in the same order). `what` names the exchange in errors.
    ///
    /// # Errors
    /// No answer within the time-out (another process stopped, or the network failed), or
    /// burn's engine reports a lost peer or a mismatch.
    pub fn all_reduce_sum(
        &self,
        tensor: Tensor<B, 1>,
        what: &str,
    ) -> Result<Tensor<B, 1>, GroupError> {
        let channel = (self.exchanges.fetch_add(1, Ordering::SeqCst) % 2) as u16;
        let settings = &self.settings;
        let config = CollectiveConfig::default()
            .with_num_devices(1)
            .with_num_nodes(settings.nodes as u32)
            .with_global_address(address(&settings.coordinator_url(channel)))
            .with_node_address(address(&settings.node_url(channel)))
            .with_data_service_port(settings.data_port(channel))
            .with_global_all_reduce_strategy(AllReduceStrategy::Ring);
        let peer = PeerId::from(settings.rank);
        let device = self.device.clone();
        let primitive = tensor.into_primitive().tensor();
        let mut step = StepCheck::new(
            self.peers.get().map_or(&[], Vec::as_slice),
            settings.rank,
            channel,
        );
        // The peers' tensor ports of this channel, which must listen before the all-reduce
        // connects to them (see the introduction).
        let peers = step.this_channel();
        let deadline = Instant::now() + settings.timeout;
        let exchange = move || -> Result<_, CollectiveError> {
            register::<B>(peer, device, config)?;
            wait_listening(&peers, deadline);
            let sum = all_reduce::<B>(peer, primitive, ReduceOperation::Sum);
            finish_collective::<B>(peer)?;
            sum
        };
        let stop = || {
            let watch = self.watch.as_ref().and_then(GroupWatch::check);
            watch.map(GroupFault::Ended).or_else(|| step.check())
        };
        let answer = within(settings.timeout, stop, exchange);
        let error = |fault| settings.error(Some(what), fault);
        if !matches!(answer, Ok(Ok(_)))
            && let Some(why) = self.watch.as_ref().and_then(ended_meanwhile)
        {
            return Err(error(GroupFault::Ended(why)));
        }
        match answer {
            Ok(Ok(sum)) => Ok(Tensor::from_primitive(TensorPrimitive::Float(sum))),
            Ok(Err(cause)) => Err(error(GroupFault::Engine {
                cause: EngineError::from_debug(format!("{cause:?}")),
            })),
            Err(Unanswered::TimedOut) => Err(error(GroupFault::NoAnswer {
                seconds: settings.timeout.as_secs(),
                last_rank: settings.nodes - 1,
            })),
            Err(Unanswered::Failed) => Err(error(GroupFault::EngineFailed)),
            Err(Unanswered::Ended(fault)) => Err(error(fault)),
        }
    }
}

/// Waits until the coordinator accepts a TCP connection, at most the group's time-out, unless
/// `watch` says first why it never will.
fn wait_for_coordinator(
    settings: &GroupSettings,
    watch: Option<&GroupWatch>,
) -> Result<(), GroupFault> {
    let deadline = Instant::now() + settings.timeout;
    loop {
        if let Some(why) = watch.and_then(GroupWatch::check) {
            return Err(GroupFault::Ended(why));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let last_error =
            match TcpStream::connect_timeout(&settings.coordinator_addr, left.max(CONNECT_RETRY)) {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
        if Instant::now() >= deadline {
            return Err(GroupFault::CoordinatorUnreachable {
                coordinator: settings.coordinator.clone(),
                seconds: settings.timeout.as_secs(),
                cause: last_error.to_string(),
            });
        }
        std::thread::sleep(CONNECT_RETRY.min(left));
    }
}

/// Why `watch` says the group cannot go on, given [`WATCH_GRACE`] to say so: an exchange that
/// failed because the coordinator died may fail before the coordinator's end can be seen.
fn ended_meanwhile(watch: &GroupWatch) -> Option<String> {
    let deadline = Instant::now() + WATCH_GRACE;
    loop {
        if let Some(why) = watch.check() {
            return Some(why);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(WATCH_EVERY);
    }
}

/// Runs `work` on a thread of its own and waits at most `timeout` for its answer, asking `stop`
/// meanwhile why the group cannot go on (burn's collective calls block without a time-out of
/// their own; a call that never answers is left behind and ends with the process).
fn within<T: Send + 'static>(
    timeout: Duration,
    mut stop: impl FnMut() -> Option<GroupFault>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unanswered> {
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left.min(WATCH_EVERY)) {
            Ok(answer) => return Ok(answer),
            Err(RecvTimeoutError::Disconnected) => return Err(Unanswered::Failed),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(why) = stop() {
            return Err(Unanswered::Ended(why));
        }
        if Instant::now() >= deadline {
            return Err(Unanswered::TimedOut);
        }
    }
}

/// burn's address type for a WebSocket URL (any string parses).
fn address(url: &str) -> burn_communication::Address {
    url.parse()
        .unwrap_or_else(|never: String| unreachable!("{never}"))
}
