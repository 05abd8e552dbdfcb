//! The sections that face the network: the listeners and their TLS, the
//! limits on connections, sockets and SIP sources, who may use what. Their
//! defaults and checks live here with them; `config/switchboard.toml` says
//! why each default is what it is, and `docs/security.md` how to run it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::domain::TaskKind;
use crate::listen::net::Net;
pub use crate::listen::tls::TlsConfig;
pub use crate::sip::settings::{SipConfig, UntrustedPolicy};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub http: SocketAddr,
    pub sip: SocketAddr,
    /// SIP over TLS (`sips:`) for the PBX connector, with `[server.tls]`'s
    /// certificate; `None`: no TLS listener.
    pub sip_tls: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// Empty: SQLite in `data_dir/switchboard.db`. Otherwise a `postgres://` or `sqlite:` URL.
    pub database_url: String,
    /// How long shutdown waits for connections and writes to finish.
    pub shutdown_grace_secs: u64,
    /// With several nodes: the `HOST:PORT` at which the other nodes reach
    /// this node's HTTP listener (they pass their agents' requests to the
    /// leading node). Empty: the address `http` is bound to, which must
    /// then not be a wildcard such as 0.0.0.0.
    pub advertise_http: String,
    /// HTTPS and WSS on the HTTP listener, and the SIP TLS listener.
    pub tls: TlsConfig,
    /// Reverse proxies (IPs or CIDR blocks) whose `X-Forwarded-For` names
    /// the client; other nodes of the deployment belong here too.
    pub trusted_proxies: Vec<String>,
    /// Browser origins besides the server's own allowed to open the
    /// sockets, such as `https://wallboard.example`.
    pub allowed_origins: Vec<String>,
    /// Seconds a client has to send a request's headers (the whole of
    /// them: the clock does not restart with each byte).
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_secs: u64,
    /// Open HTTP connections in all; more wait in the kernel's queue.
    pub max_connections: usize,
    /// Open HTTP connections from one client address (trusted proxies
    /// excepted: they carry many clients).
    pub max_connections_per_address: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: "127.0.0.1:8080".parse().expect("an address"),
            sip: "127.0.0.1:5060".parse().expect("an address"),
            sip_tls: None,
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            shutdown_grace_secs: 10,
            advertise_http: String::new(),
            tls: TlsConfig::default(),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 8192,
            max_connections_per_address: 1024,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    pub max_message_bytes: usize,
    /// Seconds a console or wallboard may take to receive one message
    /// before it is disconnected as too slow (the pages reconnect by themselves).
    pub send_timeout_secs: u64,
    /// Messages a second one socket may send, on average...
    pub messages_per_sec: u32,
    /// ...and at once. Past it a message is refused (`rate_limited`); a
    /// socket that keeps sending as many again is closed (1008).
    pub message_burst: u32,
    /// Status changes an agent may make a minute (breaks, back, offline).
    pub status_changes_per_minute: u32,
    /// Wallboards one user may have open at once.
    pub max_wallboards_per_user: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            max_message_bytes: 64 * 1024,
            send_timeout_secs: 10,
            messages_per_sec: 20,
            message_burst: 40,
            status_changes_per_minute: 12,
            max_wallboards_per_user: 4,
        }
    }
}

/// `[access]`: what machines and agents may do beyond their logins.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Back-office systems (the inn back office, event sign-up forms) by
    /// name, each with the bearer token it sends (32 characters or more).
    pub back_office_tokens: BTreeMap<String, String>,
    /// Task kinds agents and dispatchers may create themselves, at the
    /// kind's own priority and no earlier deadline than its default; the
    /// others are made by the centre's rules (calls, checkpoints,
    /// registrations, cases, car orders, inn bookings) or by supervisors.
    pub agent_task_kinds: Vec<TaskKind>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            back_office_tokens: BTreeMap::new(),
            agent_task_kinds: vec![TaskKind::EventCallback, TaskKind::EventRecommendation, TaskKind::CommunityOutreach],
        }
    }
}

/// The checks of these sections, each naming its key.
pub fn problems(server: &ServerConfig, ws: &WebSocketConfig, sip: &SipConfig, access: &AccessConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |ok: bool, key: &str, problem: &str| {
        if !ok {
            problems.push(format!("{key}: {problem}"));
        }
    };
    check(
        server.tls.cert.as_os_str().is_empty() == server.tls.key.as_os_str().is_empty(),
        "server.tls",
        "cert and key go together: set both or neither",
    );
    check(server.sip_tls.is_none() || server.tls.enabled(), "server.sip_tls", "needs server.tls.cert and key");
    for (i, net) in server.trusted_proxies.iter().enumerate() {
        check(Net::parse(net).is_some(), &format!("server.trusted_proxies[{i}]"), "not an IP address or CIDR block");
    }
    for (i, origin) in server.allowed_origins.iter().enumerate() {
        let ok = origin.split_once("://").is_some_and(|(scheme, host)| {
            matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', '?', '#', ' '])
        });
        check(
            ok,
            &format!("server.allowed_origins[{i}]"),
            "an origin is scheme://host[:port], such as https://wallboard.example",
        );
    }
    check((1..=300).contains(&server.header_read_timeout_secs), "server.header_read_timeout_secs", "must be 1-300");
    check((1..=3600).contains(&server.idle_timeout_secs), "server.idle_timeout_secs", "must be 1-3600");
    check((16..=1_000_000).contains(&server.max_connections), "server.max_connections", "must be 16-1000000");
    check(
        (1..=server.max_connections).contains(&server.max_connections_per_address),
        "server.max_connections_per_address",
        "must be 1 to server.max_connections",
    );
    check(
        (1024..=16 * 1024 * 1024).contains(&ws.max_message_bytes),
        "websocket.max_message_bytes",
        "must be 1024-16777216",
    );
    check((1..=120).contains(&ws.send_timeout_secs), "websocket.send_timeout_secs", "must be 1-120");
    check((1..=1000).contains(&ws.messages_per_sec), "websocket.messages_per_sec", "must be 1-1000");
    check(
        (ws.messages_per_sec..=10_000).contains(&ws.message_burst),
        "websocket.message_burst",
        "must be websocket.messages_per_sec to 10000",
    );
    check((1..=600).contains(&ws.status_changes_per_minute), "websocket.status_changes_per_minute", "must be 1-600");
    check((1..=10_000).contains(&ws.max_wallboards_per_user), "websocket.max_wallboards_per_user", "must be 1-10000");
    check((1..=60).contains(&sip.queued_interval_secs), "sip.queued_interval_secs", "must be 1-60");
    check((1..=86_400).contains(&sip.max_wait_secs), "sip.max_wait_secs", "must be 1-86400");
    check((400..=699).contains(&sip.max_wait_code), "sip.max_wait_code", "must be a final failure code, 400-699");
    check((1024..=1 << 20).contains(&sip.max_message_bytes), "sip.max_message_bytes", "must be 1024-1048576");
    check((1..=3600).contains(&sip.tcp_idle_secs), "sip.tcp_idle_secs", "must be 1-3600");
    check((1..=300).contains(&sip.tcp_message_secs), "sip.tcp_message_secs", "must be 1-300");
    check((1..=1_000_000).contains(&sip.max_tcp_connections), "sip.max_tcp_connections", "must be 1-1000000");
    check(
        (1..=sip.max_tcp_connections).contains(&sip.max_tcp_connections_per_address),
        "sip.max_tcp_connections_per_address",
        "must be 1 to sip.max_tcp_connections",
    );
    check(sip.rate_per_source >= 1, "sip.rate_per_source", "must be at least 1");
    check((1..=1000).contains(&sip.untrusted_replies_per_sec), "sip.untrusted_replies_per_sec", "must be 1-1000");
    check(
        sip.server_header.len() <= 100 && sip.server_header.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "sip.server_header",
        "at most 100 printable ASCII characters, or empty for none",
    );
    for (i, net) in sip.trusted.iter().enumerate() {
        check(Net::parse(net).is_some(), &format!("sip.trusted[{i}]"), "not an IP address or CIDR block");
    }
    for (name, token) in &access.back_office_tokens {
        check(token.len() >= 32, &format!("access.back_office_tokens.{name}"), "a token is at least 32 characters");
    }
    for kind in &access.agent_task_kinds {
        check(
            !matches!(kind, TaskKind::InboundCall | TaskKind::MissedCallCallback),
            "access.agent_task_kinds",
            "inbound calls come from the PBX and missed-call callbacks from the checkpoints",
        );
    }
    problems
}
