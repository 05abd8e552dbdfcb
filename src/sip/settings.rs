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
    /// Calls Switchboard places through the PBX (`[sip.outbound]`); without
    /// it every kind is dialled by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound: Option<OutboundConfig>,
}

/// The PBX route for calls Switchboard places: the agent's phone first,
/// then the customer through the PBX (RFC 3725, Flow IV).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The dialler's own UDP address (not `server.sip`: the connector
    /// answers calls there, the dialler places them here).
    pub listen: std::net::SocketAddr,
    /// The address the phones and the PBX reach the dialler at, in Via and
    /// Contact; needed when `listen` is a wildcard address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise: Option<std::net::SocketAddr>,
    /// Where calls to customers go: the PBX's SIP address.
    pub pbx: std::net::SocketAddr,
    /// The Request-URI of a customer's number; `{number}` is replaced.
    pub customer_uri: String,
    /// The caller ID the centre presents to customers (a SIP URI).
    pub caller_id: String,
    /// The name shown with it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_name: Option<String>,
    /// Seconds the agent's phone may ring before the task goes back.
    pub agent_ring_secs: u64,
    /// Seconds the customer's phone may ring: then `no_answer`.
    pub customer_ring_secs: u64,
    /// Least minutes between two calls placed to one number.
    pub least_gap_minutes: u64,
    /// On a graceful shutdown, seconds calls in progress may go on before
    /// they are ended.
    pub drain_secs: u64,
}

impl OutboundConfig {
    /// A customer's Request-URI.
    pub fn customer_uri_for(&self, number: &str) -> String {
        self.customer_uri.replace("{number}", number)
    }

    /// What is wrong with the route, key by key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.advertise.is_none() && self.listen.ip().is_unspecified() {
            out.push("sip.outbound.advertise: required when sip.outbound.listen is a wildcard address".into());
        }
        if !self.customer_uri.contains("{number}") || !self.customer_uri.starts_with("sip:") {
            out.push("sip.outbound.customer_uri: a sip: URI with {number} where the number goes".into());
        }
        if !self.caller_id.starts_with("sip:") {
            out.push("sip.outbound.caller_id: a sip: URI".into());
        }
        if !(5..=120).contains(&self.agent_ring_secs) {
            out.push("sip.outbound.agent_ring_secs: from 5 to 120".into());
        }
        if !(5..=180).contains(&self.customer_ring_secs) {
            out.push("sip.outbound.customer_ring_secs: from 5 to 180".into());
        }
        if self.drain_secs > 3600 {
            out.push("sip.outbound.drain_secs: at most 3600".into());
        }
        out
    }
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
            outbound: None,
        }
    }
}
