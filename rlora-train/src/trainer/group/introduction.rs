//! The introduction: every process of a group learns the others' tensor addresses, so that each
//! later exchange waits for its peers' tensor services to listen before burn's all-reduce
//! connects to them.
//!
//! burn-collective 0.21 starts a new tensor service per registration (`Node::new` spawns its
//! server on the engine's runtime, which binds the port when that task first runs) and sends the
//! registration without waiting for it; once the coordinator has every process, the ring
//! all-reduce connects to each peer's service once, without a retry, and a refused connection
//! panics inside the engine (`data_service.rs:190`), which the process cannot recover from.
//! Measured with `strace` on the `exchange_soak` example: the refused connect came 2 ms before the
//! peer's `listen`, its `bind` preempted by other work on the cores. Waiting for the peers'
//! ports to accept a connection between the registration and the all-reduce removes that race.
//!
//! Each process writes its address into its own row of a `[nodes, WORDS]` table of zeros (the
//! IPv6 address, IPv4 mapped, as eight 16-bit words and the port, which `f32` holds exactly) and
//! the group sums the tables, as the handshake does with its digests.

use std::net::{Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use burn::tensor::backend::Backend;

use super::handshake::exchange_table;
use super::{GroupError, GroupFault, ProcessGroup};

/// A row: presence, the address's eight 16-bit words, the first tensor port.
const WORDS: usize = 10;
/// How long one connection attempt to a peer's tensor port may take.
const ATTEMPT: Duration = Duration::from_secs(1);
/// The pause between attempts while a peer's port is not listening yet.
const PAUSE: Duration = Duration::from_millis(2);
/// Set (to anything) in every process of a group, it switches the introduction off, and with it
/// the wait before each exchange: burn-collective's own behaviour, for measuring what the
/// introduction changes (`cargo xtask soak --no-introduction`), never for a real run.
const NO_INTRODUCTION_VARIABLE: &str = "RLORA_NO_INTRODUCTION";

impl<B: Backend> ProcessGroup<B> {
    /// Exchanges tensor addresses with the group (an exchange named `what` in errors); every
    /// later exchange then waits for the peers' ports before it transfers.
    ///
    /// # Errors
    /// This process's tensor host does not resolve, or the exchange failed.
    pub fn introduce(&self, what: &str) -> Result<(), GroupError> {
        let settings = self.settings();
        let me = settings.describe();
        if std::env::var_os(NO_INTRODUCTION_VARIABLE).is_some() {
            eprintln!(
                "{me}: warning: {NO_INTRODUCTION_VARIABLE} is set: no introduction, exchanges \
                 do not wait for their peers' tensor ports"
            );
            return Ok(());
        }
        let host = settings.node_host.as_str();
        let mine = (host, settings.data_port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut all| all.next())
            .ok_or_else(|| {
                settings.error(
                    Some(what),
                    GroupFault::HostUnresolved {
                        host: host.to_string(),
                    },
                )
            })?;
        let summed = exchange_table(self, self.device(), WORDS, &row(mine), what)?;
        let rank = self.rank();
        // A row whose rank no process or two processes took is left out; the handshake names it.
        let peers = summed
            .chunks(WORDS)
            .enumerate()
            .filter(|&(other, row)| other != rank && row[0] == 1.0)
            .map(|(_, row)| address(row))
            .collect();
        self.set_peers(peers);
        Ok(())
    }
}

/// `address`'s row of the table.
fn row(address: SocketAddr) -> [f32; WORDS] {
    let ip = match address {
        SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped(),
        SocketAddr::V6(v6) => *v6.ip(),
    };
    let mut row = [0.0; WORDS];
    row[0] = 1.0;
    for (word, segment) in row[1..9].iter_mut().zip(ip.segments()) {
        *word = f32::from(segment);
    }
    row[9] = f32::from(address.port());
    row
}

/// The address in a row of the table.
fn address(row: &[f32]) -> SocketAddr {
    let mut segments = [0u16; 8];
    for (segment, &word) in segments.iter_mut().zip(&row[1..9]) {
        *segment = word as u16;
    }
    let ip = Ipv6Addr::from(segments);
    let ip = ip
        .to_ipv4_mapped()
        .map_or(std::net::IpAddr::V6(ip), std::net::IpAddr::V4);
    SocketAddr::new(ip, row[9] as u16)
}

/// Waits until every address of `peers` accepts a TCP connection (each closed at once), or until
/// `deadline`: a peer that never listens fails the all-reduce after, as before.
pub(super) fn wait_listening(peers: &[SocketAddr], deadline: Instant) {
    for peer in peers {
        while Instant::now() < deadline && TcpStream::connect_timeout(peer, ATTEMPT).is_err() {
            std::thread::sleep(PAUSE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_their_row() {
        for text in [
            "127.0.0.1:29502",
            "10.1.2.3:65534",
            "[fe80::1:2]:40000",
            "[::1]:7",
        ] {
            let given: SocketAddr = text.parse().unwrap();
            assert_eq!(address(&row(given)), given, "{text}");
        }
    }
}
