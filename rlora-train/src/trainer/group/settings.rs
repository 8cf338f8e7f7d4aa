//! [`GroupSettings`]: a process's place in a training group, and the addresses of the group's
//! coordinator and of this process's tensor service.
//!
//! burn-collective 0.21.0 answers one all-reduce per registration, so every exchange registers
//! anew, on one of two channels in turn: the coordinator serves channel `c` on its port + `c`,
//! and each process its tensor service on its tensor port + `c` (a channel's coordinator state
//! and port are then free again before the group comes back to it).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::{GroupError, GroupFault};

/// Where a process stands in a training group of `nodes` processes.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSettings {
    /// The processes of the group (`--nodes`), at least 2.
    pub nodes: usize,
    /// This process's rank, `0..nodes` (`--node-rank`); rank 0 serves the coordinator and writes
    /// the run's files.
    pub rank: usize,
    /// The coordinator's `HOST:PORT` (`--coordinator`), as given.
    pub coordinator: String,
    /// The coordinator's resolved address.
    pub coordinator_addr: SocketAddr,
    /// The host where the other processes reach this one's tensor service (`--node-address`; by
    /// default the address this machine reaches the coordinator from).
    pub node_host: String,
    /// The first of this process's two tensor ports (`--node-address`'s port; by default the
    /// coordinator's port + 2 + 2 × rank).
    pub data_port: u16,
    /// The longest wait for the coordinator, for the group to gather, and for one all-reduce
    /// (`--group-timeout`).
    pub timeout: Duration,
}

impl GroupSettings {
    /// Checks the rank against the group's size, resolves `coordinator` and picks this
    /// process's tensor host and ports (`node_address`, else the defaults above).
    ///
    /// # Errors
    /// A [`GroupSettingsError`]: a group of fewer than two processes, a rank out of range, a
    /// coordinator that is not `HOST:PORT` or does not resolve, a node address that is not
    /// `HOST:PORT`, or tensor ports past the last port.
    pub fn new(
        nodes: usize,
        rank: usize,
        coordinator: &str,
        node_address: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, GroupSettingsError> {
        if nodes < 2 {
            return Err(GroupSettingsError::TooFewNodes(nodes));
        }
        if rank >= nodes {
            return Err(GroupSettingsError::RankOutOfRange { rank, nodes });
        }
        let coordinator_addr = resolve(coordinator).map_err(GroupSettingsError::Coordinator)?;
        if coordinator_addr.port() == u16::MAX {
            return Err(GroupSettingsError::Coordinator(format!(
                "{coordinator}: the coordinator serves its port and the next one"
            )));
        }
        let (node_host, data_port) = match node_address {
            Some(given) => {
                let (host, port) =
                    split_host_port(given).map_err(GroupSettingsError::NodeAddress)?;
                (host.to_string(), u32::from(port))
            }
            None => (
                local_host_towards(coordinator_addr),
                u32::from(coordinator_addr.port()) + 2 + 2 * rank as u32,
            ),
        };
        let data_port = u16::try_from(data_port)
            .ok()
            .filter(|&port| port < u16::MAX)
            .ok_or(GroupSettingsError::TensorPorts(data_port))?;
        Ok(Self {
            nodes,
            rank,
            coordinator: coordinator.to_string(),
            coordinator_addr,
            node_host,
            data_port,
            timeout,
        })
    }

    /// The coordinator's WebSocket address for exchange channel `channel` (0 or 1).
    pub fn coordinator_url(&self, channel: u16) -> String {
        let host = self
            .coordinator
            .rsplit_once(':')
            .map_or("", |(host, _)| host);
        format!("ws://{host}:{}", self.coordinator_addr.port() + channel)
    }

    /// This process's tensor port for exchange channel `channel` (0 or 1).
    pub fn data_port(&self, channel: u16) -> u16 {
        self.data_port + channel
    }

    /// This process's tensor service's WebSocket address for exchange channel `channel`.
    pub fn node_url(&self, channel: u16) -> String {
        format!("ws://{}:{}", self.node_host, self.data_port(channel))
    }

    /// `rank I of N`, for messages.
    pub fn describe(&self) -> String {
        format!("rank {} of {}", self.rank, self.nodes)
    }

    /// The error of this process, during the exchange `during` if any.
    pub(super) fn error(&self, during: Option<&str>, fault: GroupFault) -> GroupError {
        GroupError {
            rank: self.rank,
            nodes: self.nodes,
            during: during.map(String::from),
            fault,
        }
    }
}

/// Why [`GroupSettings::new`] refused its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupSettingsError {
    /// A group of fewer than two processes.
    #[error("a group needs at least 2 processes, not {0}")]
    TooFewNodes(usize),
    /// A rank outside `0..nodes`.
    #[error("rank {rank} is out of range for a group of {nodes}: ranks are 0..{}", nodes - 1)]
    RankOutOfRange {
        /// The rank given.
        rank: usize,
        /// The group's size.
        nodes: usize,
    },
    /// The coordinator's address, and what is wrong with it.
    #[error("the coordinator's address {0}")]
    Coordinator(String),
    /// The node address, and what is wrong with it.
    #[error("the node address {0}")]
    NodeAddress(String),
    /// The first of the two tensor ports, past the last port (the coordinator's port is too
    /// high for this rank's default ports).
    #[error("the tensor ports {0} and {next} are no ports", next = .0 + 1)]
    TensorPorts(u32),
}

/// `HOST` and `PORT` of `HOST:PORT`.
fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address}: expected HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{address}: `{port}` is not a port (1-65535)"))?;
    if host.is_empty() || port == 0 {
        return Err(format!("{address}: expected HOST:PORT"));
    }
    Ok((host, port))
}

/// The first address `HOST:PORT` resolves to.
fn resolve(address: &str) -> Result<SocketAddr, String> {
    split_host_port(address)?;
    address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: {e}"))?
        .next()
        .ok_or_else(|| format!("{address}: the host resolves to no address"))
}

/// The local address this machine sends from towards `target` (a UDP socket is "connected",
/// which sends nothing), or the loopback address when there is none.
fn local_host_towards(target: SocketAddr) -> String {
    let unspecified: SocketAddr = if target.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let local = UdpSocket::bind(unspecified)
        .and_then(|socket| socket.connect(target).map(|()| socket))
        .and_then(|socket| socket.local_addr());
    match local {
        Ok(address) if address.is_ipv6() => format!("[{}]", address.ip()),
        Ok(address) => address.ip().to_string(),
        Err(_) => "127.0.0.1".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(
        nodes: usize,
        rank: usize,
        coordinator: &str,
    ) -> Result<GroupSettings, GroupSettingsError> {
        GroupSettings::new(nodes, rank, coordinator, None, Duration::from_secs(1))
    }

    #[test]
    fn ranks_and_addresses_are_checked_and_the_tensor_port_follows_the_coordinators() {
        let group = settings(3, 2, "127.0.0.1:29500").unwrap();
        assert_eq!(group.coordinator_url(1), "ws://127.0.0.1:29501");
        assert_eq!(group.node_url(0), "ws://127.0.0.1:29506");
        assert_eq!(group.node_url(1), "ws://127.0.0.1:29507");
        use GroupSettingsError::*;
        let error = settings(2, 2, "127.0.0.1:29500").unwrap_err();
        assert_eq!(error, RankOutOfRange { rank: 2, nodes: 2 });
        assert_eq!(
            settings(1, 0, "127.0.0.1:29500").unwrap_err(),
            TooFewNodes(1)
        );
        let error = settings(2, 0, "127.0.0.1").unwrap_err();
        assert_eq!(error, Coordinator("127.0.0.1: expected HOST:PORT".into()));
        let error = settings(2, 0, "127.0.0.1:http").unwrap_err();
        assert_eq!(
            error,
            Coordinator("127.0.0.1:http: `http` is not a port (1-65535)".into())
        );
        let error = settings(2, 0, "127.0.0.1:65535").unwrap_err();
        assert!(matches!(&error, Coordinator(e) if e.contains("serves its port and the next")));
        // Rank 1's default tensor ports: the coordinator's port + 4 and + 5.
        assert_eq!(
            settings(2, 1, "127.0.0.1:65533").unwrap_err(),
            TensorPorts(65537)
        );
        let given = GroupSettings::new(
            2,
            1,
            "127.0.0.1:65533",
            Some("10.0.0.2:7000"),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(given.node_url(0), "ws://10.0.0.2:7000");
        assert_eq!(given.data_port(1), 7001);
    }
}
