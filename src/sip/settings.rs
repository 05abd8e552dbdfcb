//! The `[sip]` section of the configuration: the connector's settings as
//! an operator writes them. The wiring (`app/config`) reads and checks
//! them; the connector and the transports convert them to what they use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The PBX connector: Switchboard answers the hotline's INVITEs as a
/// queueing redirect server.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// Dialled number (the Request-URI's user part) to queue.
    pub numbers: BTreeMap<String, String>,
    /// Addresses served, as IPs or CIDR blocks: the PBXes.
    pub trusted: Vec<String>,
    /// What anyone else gets: `reject` (a short 403) or `drop` (silence).
    pub untrusted: UntrustedPolicy,
    /// 403s a second one untrusted address may be sent; more are dropped.
    pub untrusted_replies_per_sec: u32,
    /// Seconds between repeated `182 Queued` while a caller waits (at most 60).
    pub queued_interval_secs: u64,
    /// Longest a caller waits in the queue before the final response below.
    pub max_wait_secs: u64,
    /// Final response when the wait runs out (a 4xx-6xx code).
    pub max_wait_code: u16,
    /// Retry-After sent with it, in seconds.
    pub retry_after_secs: u64,
    /// Largest SIP message accepted; larger ones get 513 or close the connection.
    pub max_message_bytes: usize,
    /// Seconds a TCP or TLS connection may stay idle between messages.
    pub tcp_idle_secs: u64,
    /// Seconds one message may take to arrive whole once it has begun (the
    /// clock does not restart with each byte).
    pub tcp_message_secs: u64,
    /// Open SIP TCP and TLS connections in all, and from one address.
    pub max_tcp_connections: usize,
    pub max_tcp_connections_per_address: usize,
    /// Requests per second one source address may send before the rest are dropped.
    pub rate_per_source: u32,
    /// The `Server` header of responses; empty sends none.
    pub server_header: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UntrustedPolicy {
    Reject,
    Drop,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            numbers: BTreeMap::from([("4000".to_owned(), "hotline".to_owned())]),
            trusted: vec!["127.0.0.0/8".to_owned(), "::1".to_owned()],
            untrusted: UntrustedPolicy::Reject,
            untrusted_replies_per_sec: 5,
            queued_interval_secs: 30,
            max_wait_secs: 300,
            max_wait_code: 480,
            retry_after_secs: 300,
            max_message_bytes: 64 * 1024,
            tcp_idle_secs: 30,
            tcp_message_secs: 10,
            max_tcp_connections: 2048,
            max_tcp_connections_per_address: 256,
            rate_per_source: 10_000,
            server_header: "switchboard".to_owned(),
        }
    }
}
