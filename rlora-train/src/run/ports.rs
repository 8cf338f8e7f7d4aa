//! Ports on this machine: whether a range can be served, and a free range to serve.

use std::net::TcpListener;

use super::Failure;

/// The first port of `first ..= first + count − 1` that cannot be served on every interface now,
/// with the system's reason; `None` when all can (ports past 65535 are the caller's to refuse).
pub fn taken_port(first: u16, count: u16) -> Option<(u16, std::io::Error)> {
    (0..count)
        .filter_map(|i| first.checked_add(i))
        .find_map(|port| {
            TcpListener::bind(("0.0.0.0", port))
                .err()
                .map(|error| (port, error))
        })
}

/// A port `p` such that `p ..= p + count − 1` are all free on every interface.
pub fn free_ports(count: usize) -> Result<u16, Failure> {
    for _ in 0..50 {
        let first = TcpListener::bind(("0.0.0.0", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        if usize::from(first) + count > usize::from(u16::MAX) {
            continue;
        }
        if taken_port(first, count as u16).is_none() {
            return Ok(first);
        }
    }
    Err(format!("found no {count} consecutive free ports: give --port").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_named_and_free_ports_are_free() {
        let first = free_ports(3).unwrap();
        assert!(taken_port(first, 3).is_none());
        let _holder = TcpListener::bind(("127.0.0.1", first + 1)).unwrap();
        let (port, _) = taken_port(first, 3).unwrap();
        assert_eq!(port, first + 1);
    }
}
