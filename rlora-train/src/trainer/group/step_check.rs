//! [`StepCheck`]: notices, during an exchange that takes long, a group whose processes are no
//! longer at the same exchange, which none of them can recover from.
//!
//! burn-collective 0.21 ends every all-reduce with a synchronization in which each process tells
//! the others it is done and then waits to hear the same from each; a message that arrives while
//! the waiting process is between checking its list and waiting for the next message wakes no
//! one (`SyncService::sync`, a `Notify::notify_waiters` with no waiter yet), and that process
//! waits forever. The others have heard from it and go on to the next exchange, where they wait
//! for it in turn. Seen here in one of ten runs of the `parallel` tests: both processes asleep
//! until the group's time-out, the stalled one serving its tensor port of exchange `k`'s channel
//! and the other its port of exchange `k + 1`'s.
//!
//! On one worker thread of the engine ([`ENGINE_THREADS_VARIABLE`](super::ENGINE_THREADS_VARIABLE),
//! as `rlora train` in a group runs it) that wake-up cannot be lost, and the soak met no stall;
//! the check stays for a program that runs the engine on more threads.
//!
//! Exchange `k` serves on channel `k mod 2` (see [`GroupSettings`](super::GroupSettings)), so
//! the stall shows from outside: a peer serves the other channel's port and not this one's, and
//! keeps doing so, while an exchange between processes in step moves both to the same channel.
//! The check probes every peer once a second after the exchange has run [`CHECK_AFTER`], and
//! reports a peer that every probe for [`OUT_OF_STEP_FOR`] saw out of step. Both are long: a
//! first version (2 s, then 1 s) stopped two groups of the exchange soak early (at exchanges 417
//! and 49), while with 5 s and 2 s two soaks met no stall in 8,000 exchanges, so whether those
//! two were stalls or peers slow to leave an exchange is not known.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::GroupFault;

/// How long an exchange runs before its peers are probed (an exchange in step takes
/// milliseconds between processes that are ready; a peer still computing serves no port).
const CHECK_AFTER: Duration = Duration::from_secs(10);
/// The time between probes.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a peer stays out of step, probe after probe, before the group is given up (a peer
/// that finishes its exchange late under load leaves the old channel within milliseconds).
const OUT_OF_STEP_FOR: Duration = Duration::from_secs(5);
/// How long one connection attempt to a peer's port may take.
const ATTEMPT: Duration = Duration::from_millis(200);

/// The probes of one exchange.
#[derive(Debug)]
pub(super) struct StepCheck {
    /// Each peer's rank and tensor ports: this exchange's channel, then the other one.
    peers: Vec<(usize, SocketAddr, SocketAddr)>,
    started: Instant,
    last_probe: Option<Instant>,
    /// The peer the probes have found out of step since when.
    out_of_step: Option<(usize, Instant)>,
}

impl StepCheck {
    /// The check of an exchange on `channel` that starts now, with `peers` the other processes'
    /// first tensor ports in rank order without this process's rank `rank`.
    pub(super) fn new(peers: &[SocketAddr], rank: usize, channel: u16) -> Self {
        let port =
            |peer: &SocketAddr, channel: u16| SocketAddr::new(peer.ip(), peer.port() + channel);
        let peers = peers
            .iter()
            .enumerate()
            .map(|(index, peer)| {
                let peer_rank = if index < rank { index } else { index + 1 };
                (peer_rank, port(peer, channel), port(peer, 1 - channel))
            })
            .collect();
        Self {
            peers,
            started: Instant::now(),
            last_probe: None,
            out_of_step: None,
        }
    }

    /// The peers' tensor ports of this exchange's channel.
    pub(super) fn this_channel(&self) -> Vec<SocketAddr> {
        self.peers.iter().map(|&(_, here, _)| here).collect()
    }

    /// Why the group cannot go on, once every probe for [`OUT_OF_STEP_FOR`] found the same peer
    /// out of step; `None` before [`CHECK_AFTER`], between probes, and while every peer is in
    /// step.
    pub(super) fn check(&mut self) -> Option<GroupFault> {
        let now = Instant::now();
        let due = self
            .last_probe
            .map_or(self.started + CHECK_AFTER, |last| last + PROBE_EVERY);
        if now < due {
            return None;
        }
        self.last_probe = Some(now);
        let seen = self
            .peers
            .iter()
            .find(|(_, here, there)| !listens(here) && listens(there))
            .map(|(rank, ..)| *rank);
        self.out_of_step = match (seen, self.out_of_step) {
            (Some(rank), Some((before, since))) if rank == before => Some((rank, since)),
            (Some(rank), _) => Some((rank, now)),
            (None, _) => None,
        };
        let (rank, since) = self.out_of_step?;
        (now - since >= OUT_OF_STEP_FOR).then_some(GroupFault::OutOfStep {
            rank,
            seconds: OUT_OF_STEP_FOR.as_secs(),
        })
    }

    #[cfg(test)]
    fn started_before(mut self, ago: Duration) -> Self {
        self.started -= ago;
        self
    }
}

/// Whether `address` accepts a TCP connection now (closed at once).
fn listens(address: &SocketAddr) -> bool {
    TcpStream::connect_timeout(address, ATTEMPT).is_ok()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// Two free ports in a row on 127.0.0.1.
    fn two_ports() -> u16 {
        loop {
            let first = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            if first < u16::MAX && TcpListener::bind(("127.0.0.1", first + 1)).is_ok() {
                return first;
            }
        }
    }

    #[test]
    fn a_peer_serving_only_the_other_channel_for_a_while_is_out_of_step() {
        let first = two_ports();
        let peer = SocketAddr::from(([127, 0, 0, 1], first));
        // Rank 0 of 2 at an exchange on channel 0; rank 1 serves channel 1 only.
        let _other_channel = TcpListener::bind(("127.0.0.1", first + 1)).unwrap();
        let mut check = StepCheck::new(&[peer], 0, 0);
        assert_eq!(check.check(), None, "checked before {CHECK_AFTER:?}");
        let mut check = StepCheck::new(&[peer], 0, 0).started_before(CHECK_AFTER);
        let first_probe = Instant::now();
        assert_eq!(check.check(), None, "one probe is not enough");
        assert_eq!(check.check(), None, "probed again before a second passed");
        let why = loop {
            std::thread::sleep(PROBE_EVERY);
            if let Some(why) = check.check() {
                break why;
            }
            assert!(
                first_probe.elapsed() < OUT_OF_STEP_FOR + PROBE_EVERY,
                "never reported"
            );
        };
        assert!(
            first_probe.elapsed() >= OUT_OF_STEP_FOR,
            "reported before {OUT_OF_STEP_FOR:?}"
        );
        assert_eq!(
            why,
            GroupFault::OutOfStep {
                rank: 1,
                seconds: OUT_OF_STEP_FOR.as_secs()
            }
        );

        // The same peer seen from rank 1's place, at an exchange on channel 1, is in step.
        let mut check = StepCheck::new(&[peer], 1, 1).started_before(CHECK_AFTER);
        assert_eq!(check.check(), None);
        std::thread::sleep(PROBE_EVERY);
        assert_eq!(check.check(), None);
    }

    #[test]
    fn a_peer_serving_this_channel_too_is_in_step() {
        let first = two_ports();
        let peer = SocketAddr::from(([127, 0, 0, 1], first));
        let _both = [first, first + 1].map(|port| TcpListener::bind(("127.0.0.1", port)).unwrap());
        let mut check = StepCheck::new(&[peer], 0, 0).started_before(CHECK_AFTER);
        assert_eq!(check.check(), None);
        std::thread::sleep(PROBE_EVERY);
        assert_eq!(check.check(), None);
    }
}
