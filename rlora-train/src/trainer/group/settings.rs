//! [`GroupSettings`]: a process's place in a training group, and the addresses of the group's
//! coordinator and of this process's tensor service.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

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
    /// `HOST:PORT` where the other processes reach this one's tensor service (`--node-address`;
    /// by default the address this machine reaches the coordinator from, and the coordinator's
    /// port + 1 + rank).
    pub node_address: String,
    /// The port of this process's tensor service (the port of `node_address`).
    pub data_port: u16,
    /// The longest wait for the coordinator, for the group to gather, and for one all-reduce
    /// (`--group-timeout`).
    pub timeout: Duration,
}

impl GroupSettings {
    /// Checks the rank against the group's size, resolves `coordinator` and picks this
    /// process's tensor address (`node_address`, else the default above).
    ///
    /// # Errors
    /// A rank out of range, a group of fewer than two processes, a coordinator that is not
    /// `HOST:PORT` or does not resolve, or a node address that is not `HOST:PORT`; each names
    /// the flag.
    pub fn new(
        nodes: usize,
        rank: usize,
        coordinator: &str,
        node_address: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, String> {
        if nodes < 2 {
            return Err(format!(
                "--nodes {nodes}: a group needs at least 2 processes (without --nodes, one \
                 process trains alone)"
            ));
        }
        if rank >= nodes {
            return Err(format!(
                "--node-rank {rank} is out of range for --nodes {nodes}: ranks are 0..{}",
                nodes - 1
            ));
        }
        let coordinator_addr = resolve(coordinator).map_err(|e| format!("--coordinator {e}"))?;
        let (node_address, data_port) = match node_address {
            Some(given) => {
                let (_, port) =
                    split_host_port(given).map_err(|e| format!("--node-address {e}"))?;
                (given.to_string(), port)
            }
            None => {
                let port = u32::from(coordinator_addr.port()) + 1 + rank as u32;
                let port = u16::try_from(port).map_err(|_| {
                    format!(
                        "--coordinator {coordinator}: its port + 1 + rank ({port}) is no port \
                         for this process's tensor service: choose a lower port or give \
                         --node-address"
                    )
                })?;
                (
                    format!("{}:{port}", local_host_towards(coordinator_addr)),
                    port,
                )
            }
        };
        Ok(Self {
            nodes,
            rank,
            coordinator: coordinator.to_string(),
            coordinator_addr,
            node_address,
            data_port,
            timeout,
        })
    }

    /// `rank I of N`, for messages.
    pub fn describe(&self) -> String {
        format!("rank {} of {}", self.rank, self.nodes)
    }
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

    fn settings(nodes: usize, rank: usize, coordinator: &str) -> Result<GroupSettings, String> {
        GroupSettings::new(nodes, rank, coordinator, None, Duration::from_secs(1))
    }

    #[test]
    fn ranks_and_addresses_are_checked_and_the_tensor_port_follows_the_coordinators() {
        let group = settings(3, 2, "127.0.0.1:29500").unwrap();
        assert_eq!(group.node_address, "127.0.0.1:29503");
        assert_eq!(group.data_port, 29503);
        let error = settings(2, 2, "127.0.0.1:29500").unwrap_err();
        assert!(
            error.contains("--node-rank 2 is out of range for --nodes 2"),
            "{error}"
        );
        let error = settings(1, 0, "127.0.0.1:29500").unwrap_err();
        assert!(error.contains("--nodes 1"), "{error}");
        let error = settings(2, 0, "127.0.0.1").unwrap_err();
        assert!(
            error.contains("--coordinator 127.0.0.1: expected HOST:PORT"),
            "{error}"
        );
        let error = settings(2, 0, "127.0.0.1:http").unwrap_err();
        assert!(error.contains("`http` is not a port"), "{error}");
        let error = settings(2, 1, "127.0.0.1:65535").unwrap_err();
        assert!(error.contains("give --node-address"), "{error}");
        let given = GroupSettings::new(
            2,
            1,
            "127.0.0.1:65535",
            Some("10.0.0.2:7000"),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(
            (given.node_address.as_str(), given.data_port),
            ("10.0.0.2:7000", 7000)
        );
    }
}
