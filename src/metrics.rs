//! Prometheus metrics at `/metrics`, in the text exposition format
//! (version 0.0.4), written by hand: a few counters, gauges and fixed-bucket
//! histograms do not need a crate.
//!
//! Counters are bumped where things happen (the floor feed, the SIP
//! connector, the Redis writer, the socket handlers); the queue gauges are
//! read at scrape time from the floor feed's latest figures, so they agree
//! with the wallboard.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::rules::figures::FloorFigures;

/// Buckets of waits before an answer, in seconds.
const WAIT_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];
/// Buckets of Redis round trips, in seconds.
const REDIS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// A histogram with fixed upper bounds; counts are per bucket, cumulated
/// when rendered.
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulated = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulated += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulated}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// How an offer ended, for `switchboard_offers_total`. Counted on the
/// dispatcher's own task, so a plain atomic per outcome.
#[derive(Clone, Copy, Debug)]
pub enum OfferOutcome {
    Accepted,
    Declined,
    TimedOut,
}

impl OfferOutcome {
    const ALL: [OfferOutcome; 3] = [OfferOutcome::Accepted, OfferOutcome::Declined, OfferOutcome::TimedOut];

    fn label(self) -> &'static str {
        match self {
            OfferOutcome::Accepted => "accepted",
            OfferOutcome::Declined => "declined",
            OfferOutcome::TimedOut => "offer_timeout",
        }
    }
}

/// Which socket a session is on.
#[derive(Clone, Copy, Debug)]
pub enum SessionKind {
    Agent,
    Wallboard,
}

/// Every metric of one node. Shared as `Arc<Metrics>`.
pub struct Metrics {
    agent_sessions: AtomicI64,
    wallboard_sessions: AtomicI64,
    /// Offers by how they ended: `accepted`, or the reason they came back.
    offers: [AtomicU64; 3],
    wait: Histogram,
    /// SIP final responses sent, by code.
    sip_final: Mutex<BTreeMap<u16, u64>>,
    /// SIP TCP and TLS connections the connector can answer on.
    sip_stream_peers: AtomicI64,
    /// Requests and socket messages refused for their rate, by what.
    rate_limited: [AtomicU64; 3],
    redis: Histogram,
}

/// What a rate limit refused.
#[derive(Clone, Copy, Debug)]
pub enum Limited {
    Login,
    SocketMessage,
    PasswordPool,
}

impl Limited {
    const ALL: [Limited; 3] = [Limited::Login, Limited::SocketMessage, Limited::PasswordPool];
    fn label(self) -> &'static str {
        match self {
            Limited::Login => "login",
            Limited::SocketMessage => "socket_message",
            Limited::PasswordPool => "password_pool",
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            agent_sessions: AtomicI64::new(0),
            wallboard_sessions: AtomicI64::new(0),
            offers: Default::default(),
            wait: Histogram::new(WAIT_BUCKETS),
            sip_final: Mutex::new(BTreeMap::new()),
            sip_stream_peers: AtomicI64::new(0),
            rate_limited: Default::default(),
            redis: Histogram::new(REDIS_BUCKETS),
        }
    }
}

/// Counts one open session until dropped.
pub struct SessionGauge(Arc<Metrics>, SessionKind);

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.0.sessions(self.1).fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    fn sessions(&self, kind: SessionKind) -> &AtomicI64 {
        match kind {
            SessionKind::Agent => &self.agent_sessions,
            SessionKind::Wallboard => &self.wallboard_sessions,
        }
    }

    /// Counts a session open until the guard is dropped.
    pub fn session(self: &Arc<Self>, kind: SessionKind) -> SessionGauge {
        self.sessions(kind).fetch_add(1, Ordering::Relaxed);
        SessionGauge(self.clone(), kind)
    }

    /// An offer ended: `accepted`, `declined`, `offer_timeout`, ...
    pub fn offer_ended(&self, outcome: OfferOutcome) {
        self.offers[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A task was answered after waiting this long.
    pub fn answered_after(&self, waited: Duration) {
        self.wait.observe(waited);
    }

    pub fn sip_final_response(&self, code: u16) {
        *self.sip_final.lock().expect("metrics lock").entry(code).or_default() += 1;
    }

    pub fn sip_stream_peers(&self, n: usize) {
        self.sip_stream_peers.store(n as i64, Ordering::Relaxed);
    }

    pub fn rate_limited(&self, what: Limited) {
        self.rate_limited[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn redis_round_trip(&self, took: Duration) {
        self.redis.observe(took);
    }

    /// The exposition text; `figures` gives the queue gauges.
    pub fn render(&self, figures: Option<&FloorFigures>) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(out, "# HELP switchboard_websocket_sessions Open WebSocket sessions.");
        let _ = writeln!(out, "# TYPE switchboard_websocket_sessions gauge");
        let agents = self.agent_sessions.load(Ordering::Relaxed);
        let walls = self.wallboard_sessions.load(Ordering::Relaxed);
        let _ = writeln!(out, "switchboard_websocket_sessions{{kind=\"agent\"}} {agents}");
        let _ = writeln!(out, "switchboard_websocket_sessions{{kind=\"wallboard\"}} {walls}");
        if let Some(f) = figures {
            queue_gauges(&mut out, f);
        }
        let _ = writeln!(out, "# HELP switchboard_offers_total Offers to agents, by how they ended.");
        let _ = writeln!(out, "# TYPE switchboard_offers_total counter");
        for outcome in OfferOutcome::ALL {
            let (label, n) = (outcome.label(), self.offers[outcome as usize].load(Ordering::Relaxed));
            let _ = writeln!(out, "switchboard_offers_total{{outcome=\"{label}\"}} {n}");
        }
        self.wait.render(&mut out, "switchboard_wait_seconds", "Time tasks waited in their queue before an answer.");
        let _ = writeln!(out, "# HELP switchboard_sip_transactions_total SIP transactions answered, by final code.");
        let _ = writeln!(out, "# TYPE switchboard_sip_transactions_total counter");
        for (code, n) in self.sip_final.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "switchboard_sip_transactions_total{{code=\"{code}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP switchboard_sip_stream_peers SIP TCP and TLS connections open to the connector.");
        let _ = writeln!(out, "# TYPE switchboard_sip_stream_peers gauge");
        let _ = writeln!(out, "switchboard_sip_stream_peers {}", self.sip_stream_peers.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP switchboard_rate_limited_total Refused for their rate: failed logins, socket messages, password checks."
        );
        let _ = writeln!(out, "# TYPE switchboard_rate_limited_total counter");
        for what in Limited::ALL {
            let n = self.rate_limited[what as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "switchboard_rate_limited_total{{what=\"{}\"}} {n}", what.label());
        }
        self.redis.render(&mut out, "switchboard_redis_seconds", "Round trips writing the live state to Redis.");
        out
    }
}

fn queue_gauges(out: &mut String, f: &FloorFigures) {
    let _ = writeln!(out, "# HELP switchboard_queue_waiting Tasks waiting, per queue and kind.");
    let _ = writeln!(out, "# TYPE switchboard_queue_waiting gauge");
    for k in &f.kinds {
        let _ = writeln!(
            out,
            "switchboard_queue_waiting{{queue=\"{}\",kind=\"{}\"}} {}",
            escape(&k.queue),
            k.kind,
            k.waiting
        );
    }
    let _ = writeln!(out, "# HELP switchboard_queue_longest_wait_seconds Longest current wait, per queue and kind.");
    let _ = writeln!(out, "# TYPE switchboard_queue_longest_wait_seconds gauge");
    for k in &f.kinds {
        let secs = k.longest_wait_secs;
        let _ = writeln!(
            out,
            "switchboard_queue_longest_wait_seconds{{queue=\"{}\",kind=\"{}\"}} {secs}",
            escape(&k.queue),
            k.kind
        );
    }
}

/// A label value as the exposition format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_cumulate_and_sessions_count_down_when_dropped() {
        let m = Arc::new(Metrics::default());
        m.answered_after(Duration::from_secs(3));
        m.answered_after(Duration::from_secs(45));
        m.answered_after(Duration::from_secs(7200));
        let gauge = m.session(SessionKind::Wallboard);
        m.offer_ended(OfferOutcome::Accepted);
        m.sip_final_response(302);
        let text = m.render(None);
        assert!(text.contains("switchboard_wait_seconds_bucket{le=\"5\"} 1\n"), "{text}");
        assert!(text.contains("switchboard_wait_seconds_bucket{le=\"60\"} 2\n"), "{text}");
        assert!(text.contains("switchboard_wait_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("switchboard_wait_seconds_sum 7248\n"), "{text}");
        assert!(text.contains("switchboard_websocket_sessions{kind=\"wallboard\"} 1\n"));
        assert!(text.contains("switchboard_offers_total{outcome=\"accepted\"} 1\n"));
        assert!(text.contains("switchboard_sip_transactions_total{code=\"302\"} 1\n"));
        drop(gauge);
        assert!(m.render(None).contains("switchboard_websocket_sessions{kind=\"wallboard\"} 0\n"));
    }
}
