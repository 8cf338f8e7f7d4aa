//! Ports on this machine: whether a range can be served, and a free range to serve.

use std::net::TcpListener;
use std::ops::RangeInclusive;

use rand::Rng;

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

/// Where [`free_ports`] draws from: above the well-known services' ports, below the ports the
/// system hands to outgoing connections.
const FIRST_DRAWN_PORT: u16 = 20_000;

/// A port `p` such that `p ..= p + count − 1` are all free on every interface now, drawn at
/// random below the system's ephemeral ports (when there is room): an outgoing connection, of
/// this group or any program, takes an ephemeral port at any moment and could take one of the
/// group's before its process serves it.
pub fn free_ports(count: usize) -> Result<u16, Failure> {
    let count = u16::try_from(count).map_err(|_| format!("{count} ports are more than exist"))?;
    let last_first = ephemeral_ports().start().saturating_sub(count);
    let mut rng = rand::rng();
    for _ in 0..100 {
        let first = if last_first > FIRST_DRAWN_PORT {
            rng.random_range(FIRST_DRAWN_PORT..=last_first)
        } else {
            TcpListener::bind(("0.0.0.0", 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("cannot find a free port: {e}"))?
                .port()
        };
        if first.checked_add(count).is_some() && taken_port(first, count).is_none() {
            return Ok(first);
        }
    }
    Err(format!("found no {count} consecutive free ports: give --port").into())
}

/// The ports the system gives outgoing connections: Linux's `ip_local_port_range`, elsewhere
/// (or when it cannot be read) the IANA range 49152–65535 that macOS and Windows use.
pub fn ephemeral_ports() -> RangeInclusive<u16> {
    let linux = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(str::parse::<u16>);
            Some(bounds.next()?.ok()?..=bounds.next()?.ok()?)
        });
    linux.unwrap_or(49_152..=u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_named_and_free_ports_are_free() {
        let first = free_ports(3).unwrap();
        assert!(taken_port(first, 3).is_none());
        if *ephemeral_ports().start() > FIRST_DRAWN_PORT + 3 {
            assert!(first >= FIRST_DRAWN_PORT && first + 2 < *ephemeral_ports().start());
        }
        let _holder = TcpListener::bind(("127.0.0.1", first + 1)).unwrap();
        let (port, _) = taken_port(first, 3).unwrap();
        assert_eq!(port, first + 1);
    }
}
