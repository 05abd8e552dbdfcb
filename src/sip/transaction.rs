//! Server transactions (RFC 3261 17.2), as a pure state machine: time is an
//! argument and the result is a list of datagrams to send.
//!
//! - A new request starts a transaction; a retransmission of it is
//!   answered with the last response sent, and never reaches the service
//!   twice (so a retransmitted INVITE never creates a second task).
//! - An INVITE transaction that sent a final response retransmits it on
//!   unreliable transports with Timer G (T1 doubling up to T2) until the
//!   ACK arrives or Timer H (64·T1) expires; after the ACK it absorbs
//!   retransmitted ACKs for Timer I (T4).
//! - A non-INVITE transaction keeps its final response for Timer J (64·T1)
//!   on unreliable transports, to answer retransmissions.
//!
//! Transactions are keyed by the top Via's branch, sent-by and method
//! (ACK maps to INVITE), or for RFC 2543 peers without the magic cookie by
//! Call-ID, CSeq number, From tag and top Via (RFC 3261 17.2.3).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use super::message::{Method, Request};

pub const T1_MS: i64 = 500;
pub const T2_MS: i64 = 4000;
pub const T4_MS: i64 = 5000;

/// Identifies a server transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(String);

impl TxKey {
    /// The key of the transaction `req` belongs to. ACK and CANCEL map to
    /// the INVITE they refer to when `as_invite` is set.
    pub fn of(req: &Request, as_invite: bool) -> TxKey {
        let via = req.headers.get("Via").unwrap_or_default();
        let top = via.split(',').next().unwrap_or_default().trim();
        let sent_by = top.split(';').next().unwrap_or_default().split_whitespace().last().unwrap_or_default();
        let branch = top.split(';').skip(1).find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("branch").then(|| value.trim())
        });
        let method = if as_invite { "INVITE" } else { req.method.as_str() };
        match branch {
            Some(b) if b.starts_with("z9hG4bK") => TxKey(format!("{b}|{sent_by}|{method}")),
            _ => {
                let call_id = req.headers.get("Call-ID").unwrap_or_default();
                let cseq = req.headers.get("CSeq").unwrap_or_default().split_whitespace().next().unwrap_or_default();
                let from = req.headers.get("From").unwrap_or_default();
                let from_tag = from.split(';').skip(1).find_map(|p| p.trim().strip_prefix("tag=")).unwrap_or_default();
                TxKey(format!("2543|{call_id}|{cseq}|{from_tag}|{top}|{method}"))
            }
        }
    }
}

/// Where responses go: the source of the request on its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    /// TCP: no retransmissions, the transport is reliable.
    pub reliable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Send {
    pub to: Peer,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No final response yet.
    Proceeding,
    /// A final response was sent.
    Completed,
    /// INVITE only: the ACK arrived; absorb retransmitted ACKs.
    Confirmed,
}

#[derive(Debug)]
struct Tx {
    invite: bool,
    peer: Peer,
    state: State,
    last_response: Option<Vec<u8>>,
    /// Timer G's current interval.
    retransmit_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Retransmit the final response (G).
    Retransmit,
    /// Give up waiting for the ACK (H), or forget the transaction (I, J).
    Expire,
}

/// What a request means for the transaction layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy of a request: the service must answer it.
    New(TxKey),
    /// A retransmission: answered from the transaction (or ignored while the
    /// service has not answered yet).
    Retransmission(Vec<Send>),
    /// An ACK for a final response; nothing to do.
    Absorbed,
    /// An ACK that matches no transaction (a 2xx ACK, or a late one).
    StrayAck,
}

#[derive(Default)]
pub struct Transactions {
    map: HashMap<TxKey, Tx>,
    timers: BTreeMap<(i64, u64), (TxKey, Timer)>,
    seq: u64,
}

impl Transactions {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Classifies an arriving request and starts its transaction if new.
    pub fn on_request(&mut self, now: i64, req: &Request, peer: Peer) -> Arrival {
        if req.method == Method::Ack {
            let key = TxKey::of(req, true);
            let Some(tx) = self.map.get_mut(&key) else { return Arrival::StrayAck };
            if tx.state == State::Completed {
                tx.state = State::Confirmed;
                let wait = if tx.peer.reliable { 0 } else { T4_MS };
                self.arm(now + wait, key, Timer::Expire);
            }
            return Arrival::Absorbed;
        }
        let key = TxKey::of(req, false);
        if let Some(tx) = self.map.get(&key) {
            let resend = tx.last_response.iter().map(|bytes| Send { to: peer, bytes: bytes.clone() }).collect();
            return Arrival::Retransmission(resend);
        }
        let invite = req.method == Method::Invite;
        self.map.insert(
            key.clone(),
            Tx { invite, peer, state: State::Proceeding, last_response: None, retransmit_ms: T1_MS },
        );
        Arrival::New(key)
    }

    /// Whether an INVITE transaction still waits for its final response
    /// (what a CANCEL can still stop).
    pub fn is_proceeding(&self, key: &TxKey) -> bool {
        self.map.get(key).is_some_and(|tx| tx.state == State::Proceeding)
    }

    /// Sends a response in a transaction. A final response moves it to
    /// Completed and arms its timers; responses to a transaction that is
    /// gone or already completed are dropped (returns no datagram).
    pub fn respond(&mut self, now: i64, key: &TxKey, code: u16, bytes: Vec<u8>) -> Option<Send> {
        let tx = self.map.get_mut(key)?;
        if tx.state != State::Proceeding {
            return None;
        }
        let send = Send { to: tx.peer, bytes: bytes.clone() };
        tx.last_response = Some(bytes);
        if code >= 200 {
            tx.state = State::Completed;
            let (invite, reliable) = (tx.invite, tx.peer.reliable);
            match (invite, reliable) {
                (true, false) => {
                    self.arm(now + T1_MS, key.clone(), Timer::Retransmit);
                    self.arm(now + 64 * T1_MS, key.clone(), Timer::Expire);
                }
                (true, true) => self.arm(now + 64 * T1_MS, key.clone(), Timer::Expire),
                (false, false) => self.arm(now + 64 * T1_MS, key.clone(), Timer::Expire),
                (false, true) => {
                    self.map.remove(key);
                }
            }
        }
        Some(send)
    }

    /// Fires due timers; returns retransmissions and the keys of
    /// transactions that ended without an ACK (Timer H).
    pub fn tick(&mut self, now: i64) -> (Vec<Send>, Vec<TxKey>) {
        let mut sends = Vec::new();
        let mut unacked = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, timer) = entry.remove();
            let Some(tx) = self.map.get_mut(&key) else { continue };
            match timer {
                Timer::Retransmit if tx.state == State::Completed => {
                    if let Some(bytes) = &tx.last_response {
                        sends.push(Send { to: tx.peer, bytes: bytes.clone() });
                    }
                    tx.retransmit_ms = (tx.retransmit_ms * 2).min(T2_MS);
                    let next = now + tx.retransmit_ms;
                    self.arm(next, key, Timer::Retransmit);
                }
                Timer::Retransmit => {}
                Timer::Expire => {
                    if tx.invite && tx.state == State::Completed {
                        unacked.push(key.clone());
                    }
                    self.map.remove(&key);
                }
            }
        }
        (sends, unacked)
    }

    pub fn next_wakeup(&self) -> Option<i64> {
        self.timers.keys().next().map(|&(at, _)| at)
    }

    fn arm(&mut self, at: i64, key: TxKey, timer: Timer) {
        self.seq += 1;
        self.timers.insert((at, self.seq), (key, timer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::{Transport, parse};

    fn request(method: &str, branch: &str) -> Request {
        let text = format!(
            "{method} sip:4000@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
             From: <sip:1001@pbx>;tag=a\r\nTo: <sip:4000@pbx>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes(), Transport::Datagram, 65536).unwrap().0 {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    const UDP: Peer =
        Peer { addr: SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5070), reliable: false };

    #[test]
    fn a_retransmitted_invite_is_answered_from_the_transaction() {
        let mut t = Transactions::default();
        let invite = request("INVITE", "z9hG4bK1");
        let Arrival::New(key) = t.on_request(0, &invite, UDP) else { panic!() };
        assert_eq!(t.on_request(10, &invite, UDP), Arrival::Retransmission(vec![]));
        t.respond(20, &key, 100, b"100".to_vec()).unwrap();
        assert_eq!(
            t.on_request(30, &invite, UDP),
            Arrival::Retransmission(vec![Send { to: UDP, bytes: b"100".to_vec() }])
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_final_response_is_retransmitted_until_the_ack() {
        let mut t = Transactions::default();
        let invite = request("INVITE", "z9hG4bK2");
        let Arrival::New(key) = t.on_request(0, &invite, UDP) else { panic!() };
        t.respond(0, &key, 302, b"302".to_vec()).unwrap();
        // Timer G: 500 ms, then 1 s, 2 s, 4 s, 4 s...
        let fired: Vec<i64> = (1..=8000).filter(|&ms| !t.tick(ms).0.is_empty()).collect();
        assert_eq!(fired, vec![500, 1500, 3500, 7500]);
        assert_eq!(t.on_request(8000, &request("ACK", "z9hG4bK2"), UDP), Arrival::Absorbed);
        assert!(t.tick(20_000).0.is_empty(), "no retransmission after the ACK");
        assert!(t.is_empty(), "Timer I ended the transaction");
    }

    #[test]
    fn timer_h_gives_up_without_an_ack() {
        let mut t = Transactions::default();
        let Arrival::New(key) = t.on_request(0, &request("INVITE", "z9hG4bK3"), UDP) else { panic!() };
        t.respond(0, &key, 487, b"487".to_vec()).unwrap();
        let (_, unacked) = t.tick(32_000);
        assert_eq!(unacked, vec![key]);
        assert!(t.is_empty());
        assert_eq!(t.on_request(32_001, &request("ACK", "z9hG4bK3"), UDP), Arrival::StrayAck);
    }

    #[test]
    fn non_invite_transactions_keep_their_answer_for_timer_j() {
        let mut t = Transactions::default();
        let options = request("OPTIONS", "z9hG4bK4");
        let Arrival::New(key) = t.on_request(0, &options, UDP) else { panic!() };
        t.respond(0, &key, 200, b"200".to_vec()).unwrap();
        assert!(matches!(t.on_request(31_000, &options, UDP), Arrival::Retransmission(v) if v.len() == 1));
        t.tick(32_000);
        assert!(matches!(t.on_request(32_001, &options, UDP), Arrival::New(_)));
    }

    #[test]
    fn a_cancel_is_its_own_transaction_but_finds_its_invite() {
        let mut t = Transactions::default();
        let invite = request("INVITE", "z9hG4bK5");
        let cancel = request("CANCEL", "z9hG4bK5");
        let Arrival::New(invite_key) = t.on_request(0, &invite, UDP) else { panic!() };
        let Arrival::New(cancel_key) = t.on_request(1, &cancel, UDP) else { panic!() };
        assert_ne!(invite_key, cancel_key);
        assert_eq!(TxKey::of(&cancel, true), invite_key);
        assert!(t.is_proceeding(&invite_key));
        t.respond(2, &invite_key, 487, b"487".to_vec()).unwrap();
        assert!(!t.is_proceeding(&invite_key));
        assert!(t.respond(3, &invite_key, 302, b"302".to_vec()).is_none(), "one final response only");
    }

    #[test]
    fn rfc_2543_requests_without_the_cookie_still_match() {
        let a = request("INVITE", "old1");
        let b = request("INVITE", "old1");
        assert_eq!(TxKey::of(&a, false), TxKey::of(&b, false));
        assert_ne!(TxKey::of(&a, false), TxKey::of(&request("INVITE", "old2"), false));
    }
}
