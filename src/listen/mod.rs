//! The listeners' common ground: TLS with certificates that can be replaced
//! on disk ([`tls`]), the HTTP server loop with its time limits
//! ([`http`]), caps on open connections in total and per client address
//! ([`Gate`]), who the client is behind a trusted proxy ([`client_ip`]),
//! and an accept loop that backs off when the process is out of file
//! descriptors instead of spinning on the error.

pub mod http;
pub mod net;
pub mod tls;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;

use crate::listen::net::Net;

/// The client's address, as the HTTP server established it (the peer, or
/// the address a trusted proxy names), in every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client of a connection from `peer`: the peer itself, unless it is a
/// trusted proxy, whose `X-Forwarded-For` names the client. The list is
/// read from the right: the last address not itself a trusted proxy is the
/// first one no trusted party vouches for, so a client cannot choose its
/// address by sending the header itself.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, proxies: &[Net]) -> IpAddr {
    let trusted = |ip: IpAddr| proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|h| h.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// Caps on connections open at once, in total and per address; a
/// connection holds its place (a [`Pass`]) until it closes.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<Mutex<GateState>>,
    total: usize,
    per_address: usize,
    /// Addresses exempt from the per-address cap (trusted proxies).
    exempt: Arc<[Net]>,
}

#[derive(Default)]
struct GateState {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Gate {
    pub fn new(total: usize, per_address: usize, exempt: Vec<Net>) -> Gate {
        Gate { inner: Arc::default(), total, per_address, exempt: exempt.into() }
    }

    /// A place for a connection from `ip`, if one is free.
    pub fn admit(&self, ip: IpAddr) -> Option<Pass> {
        let mut state = self.inner.lock().expect("gate lock");
        if state.open >= self.total {
            return None;
        }
        let exempt = self.exempt.iter().any(|n| n.contains(ip));
        let mine = state.by_address.entry(ip).or_default();
        if !exempt && *mine >= self.per_address {
            return None;
        }
        *mine += 1;
        state.open += 1;
        Some(Pass { gate: self.inner.clone(), ip })
    }

    pub fn open(&self) -> usize {
        self.inner.lock().expect("gate lock").open
    }
}

/// One admitted connection; its place is freed when dropped.
pub struct Pass {
    gate: Arc<Mutex<GateState>>,
    ip: IpAddr,
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut state = self.gate.lock().expect("gate lock");
        state.open -= 1;
        if let Some(n) = state.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                state.by_address.remove(&self.ip);
            }
        }
    }
}

/// Accepts the next connection, or `None` once `stop` fires. Out of file
/// descriptors it waits (longer each time in a row, see [`accept_backoff`])
/// instead of retrying at once; other failures concern one connection and
/// are skipped. `what` names the listener in the log.
pub async fn accept(
    listener: &tokio::net::TcpListener,
    stop: &tokio_util::sync::CancellationToken,
    what: &str,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    let mut failures = 0;
    loop {
        let error = tokio::select! {
            _ = stop.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => e,
            },
        };
        let Some(wait) = accept_backoff(&error, failures) else {
            tracing::debug!(%error, "{what} accept failed");
            continue;
        };
        if failures == 0 {
            tracing::warn!(%error, "{what} accept failed: out of file descriptors; backing off");
        }
        failures += 1;
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long to wait after a failed `accept`: out of file descriptors (or
/// kernel memory), retrying at once only burns a core while nothing can
/// be accepted, so wait for connections to close, longer each time in a
/// row; other errors concern one connection, and the loop goes on.
pub fn accept_backoff(error: &std::io::Error, in_a_row: u32) -> Option<Duration> {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    match error.raw_os_error() {
        Some(EMFILE | ENFILE | ENOBUFS | ENOMEM) => Some(Duration::from_millis(10 << in_a_row.min(6))),
        _ => None,
    }
}

/// Binds a TCP listener with a deep accept queue (4,096, as far as the
/// kernel's `somaxconn` allows): a burst of connections then waits there
/// instead of having its SYNs dropped, which costs a client a second's
/// retransmission (seen with 1,000 connections opened at once and the
/// default queue of 1,024).
pub fn bind_tcp(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The process's soft limit on open files, where the system tells it.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxies = [Net::parse("10.0.0.0/8").unwrap()];
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &headers("198.51.100.1"), &proxies), peer, "an untrusted peer is the client");
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(proxy, &headers("198.51.100.1"), &proxies), client);
        // A client's own forged entry stays to the left of what the proxy saw.
        assert_eq!(client_ip(proxy, &headers("1.2.3.4, 198.51.100.1"), &proxies), client);
        // Through two trusted proxies.
        assert_eq!(client_ip(proxy, &headers("198.51.100.1, 10.0.0.7"), &proxies), client);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &proxies), proxy, "no header: the proxy itself");
        assert_eq!(client_ip(proxy, &headers("not-an-ip"), &proxies), proxy);
    }

    #[test]
    fn the_gate_caps_in_total_and_per_address() {
        let gate = Gate::new(3, 2, vec![Net::parse("10.0.0.1").unwrap()]);
        let (a, b, proxy): (IpAddr, IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "a third from one address");
        let _other = gate.admit(b).unwrap();
        assert!(gate.admit(b).is_none(), "the total is reached");
        drop(first);
        let freed = gate.admit(proxy);
        assert!(freed.is_some(), "a freed place");
        assert_eq!(gate.open(), 3);
        let gate = Gate::new(10, 1, vec![Net::parse("10.0.0.1").unwrap()]);
        let passes: Vec<_> = (0..5).map(|_| gate.admit(proxy)).collect();
        assert!(passes.iter().all(Option::is_some), "a trusted proxy is exempt from the per-address cap");
    }

    #[test]
    fn accept_backs_off_only_when_out_of_descriptors() {
        let emfile = std::io::Error::from_raw_os_error(24);
        assert_eq!(accept_backoff(&emfile, 0), Some(Duration::from_millis(10)));
        assert_eq!(accept_backoff(&emfile, 3), Some(Duration::from_millis(80)));
        assert_eq!(accept_backoff(&emfile, 30), Some(Duration::from_millis(640)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(accept_backoff(&reset, 0), None);
    }
}
