//! Client transactions (RFC 3261 17.1, with RFC 6026's Accepted state), as
//! a pure state machine like the server side (`transaction.rs`): time is an
//! argument, the result is datagrams to send and events for the layer
//! above (the dialogs of calls Switchboard places).
//!
//! - INVITE: retransmitted with Timer A (T1 doubling, unreliable
//!   transports only) until a response; no response within Timer B
//!   (64·T1) is a time-out. A provisional response stops the
//!   retransmissions; how long a phone may ring is the layer above's
//!   (it CANCELs). A 2xx moves to Accepted for Timer M (64·T1), passing
//!   each 2xx up so that its ACK (end to end, the dialog's) is sent again;
//!   a 300-699 is ACKed here (hop by hop, same branch) and its
//!   retransmissions are ACKed again for Timer D (32 s; 0 on reliable
//!   transports).
//! - Non-INVITE (BYE, CANCEL, re-INVITE's ACK excepted): retransmitted
//!   with Timer E (T1 doubling up to T2; T2 once a provisional came), a
//!   time-out at Timer F (64·T1), retransmitted finals absorbed for Timer
//!   K (T4; 0 on reliable transports).
//!
//! Responses match their transaction by the top Via's branch and the
//! CSeq's method (RFC 3261 17.1.3).

use std::collections::{BTreeMap, HashMap};

use super::message::{Method, Response};
use super::transaction::{Peer, Send, T1_MS, T2_MS, T4_MS};

/// Identifies a client transaction: the branch it sent and its method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: Method,
}

impl ClientKey {
    /// The transaction a response belongs to, if it names one.
    pub fn of(resp: &Response) -> Option<ClientKey> {
        let via = resp.headers.get("Via")?;
        let top = via.split(',').next()?.trim();
        let branch = top.split(';').skip(1).find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("branch").then(|| value.trim().to_owned())
        })?;
        let method = Method::from_token(resp.headers.get("CSeq")?.split_whitespace().nth(1)?);
        Some(ClientKey { branch, method })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Calling (INVITE) or Trying (non-INVITE): no response yet.
    Started,
    Proceeding,
    /// INVITE: a 2xx came (RFC 6026).
    Accepted,
    /// A final response came (a non-2xx for an INVITE).
    Completed,
}

#[derive(Debug)]
struct Tx {
    peer: Peer,
    state: State,
    request: Vec<u8>,
    /// Timer A's or E's current interval.
    interval: i64,
    /// The ACK sent for a non-2xx final, sent again for its retransmissions.
    ack: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Retransmit the request (A, E).
    Retransmit,
    /// No final response in time (B, F).
    Timeout,
    /// Forget the transaction (D, K, M).
    Forget,
}

/// What a response means for the layer above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A provisional response (the first of each code matters to a call:
    /// 180 means the phone rings).
    Provisional(u16),
    /// The final response, the first time.
    Final(u16),
    /// A 2xx again for an accepted INVITE: its ACK must be sent again.
    RepeatedSuccess(u16),
    /// A retransmission the transaction dealt with (re-ACKed or ignored).
    Absorbed,
    /// No transaction matches: late, or not ours.
    Stray,
}

/// The client transactions of one SIP endpoint.
#[derive(Default)]
pub struct ClientTransactions {
    map: HashMap<ClientKey, Tx>,
    timers: BTreeMap<(i64, u64), (ClientKey, Timer)>,
    seq: u64,
}

impl ClientTransactions {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Transactions still waiting for their final response (not those
    /// only absorbing retransmissions after it).
    pub fn awaiting_final(&self) -> usize {
        self.map.values().filter(|t| matches!(t.state, State::Started | State::Proceeding)).count()
    }

    /// Starts a transaction for `request` (already carrying the key's
    /// branch) and gives the first datagram to send. Starting a key twice
    /// is refused (`None`): a branch is unique.
    pub fn start(&mut self, now: i64, key: ClientKey, peer: Peer, request: Vec<u8>) -> Option<Send> {
        if self.map.contains_key(&key) || key.method == Method::Ack {
            return None;
        }
        if !peer.reliable {
            self.arm(now + T1_MS, key.clone(), Timer::Retransmit);
        }
        self.arm(now + 64 * T1_MS, key.clone(), Timer::Timeout);
        let send = Send { to: peer, bytes: request.clone() };
        self.map.insert(key, Tx { peer, state: State::Started, request, interval: T1_MS, ack: None });
        Some(send)
    }

    /// Takes a response. `ack` builds the hop-by-hop ACK for a non-2xx
    /// final response to an INVITE (asked for once). Returns what it means
    /// and what to send.
    pub fn on_response(
        &mut self,
        now: i64,
        key: &ClientKey,
        code: u16,
        ack: impl FnOnce() -> Vec<u8>,
    ) -> (Received, Vec<Send>) {
        let Some(tx) = self.map.get_mut(key) else { return (Received::Stray, Vec::new()) };
        let invite = key.method == Method::Invite;
        let peer = tx.peer;
        match (tx.state, code) {
            (State::Started | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                if !invite {
                    // Timer E continues at T2 (17.1.2.2).
                    tx.interval = T2_MS;
                }
                (Received::Provisional(code), Vec::new())
            }
            (State::Started | State::Proceeding, 200..=299) if invite => {
                tx.state = State::Accepted;
                self.arm(now + 64 * T1_MS, key.clone(), Timer::Forget);
                (Received::Final(code), Vec::new())
            }
            (State::Started | State::Proceeding, 200..) => {
                tx.state = State::Completed;
                let mut sends = Vec::new();
                if invite {
                    let bytes = ack();
                    sends.push(Send { to: peer, bytes: bytes.clone() });
                    tx.ack = Some(bytes);
                }
                let linger = match (peer.reliable, invite) {
                    (true, _) => 0,
                    (false, true) => 32_000,
                    (false, false) => T4_MS,
                };
                self.arm(now + linger, key.clone(), Timer::Forget);
                (Received::Final(code), sends)
            }
            (State::Accepted, 200..=299) => (Received::RepeatedSuccess(code), Vec::new()),
            (State::Completed, 300..) if invite => {
                let resend = tx.ack.iter().map(|bytes| Send { to: peer, bytes: bytes.clone() }).collect();
                (Received::Absorbed, resend)
            }
            _ => (Received::Absorbed, Vec::new()),
        }
    }

    /// Fires due timers: the retransmissions to send, and the transactions
    /// that timed out without a final response (Timer B or F), now gone.
    pub fn tick(&mut self, now: i64) -> (Vec<Send>, Vec<ClientKey>) {
        let mut sends = Vec::new();
        let mut timed_out = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (key, timer) = entry.remove();
            let Some(tx) = self.map.get_mut(&key) else { continue };
            let invite = key.method == Method::Invite;
            match timer {
                Timer::Retransmit => {
                    let waiting = tx.state == State::Started || (!invite && tx.state == State::Proceeding);
                    if waiting {
                        sends.push(Send { to: tx.peer, bytes: tx.request.clone() });
                        let next = if invite { tx.interval * 2 } else { (tx.interval * 2).min(T2_MS) };
                        tx.interval = if tx.state == State::Proceeding { T2_MS } else { next };
                        let at = now + tx.interval;
                        self.arm(at, key, Timer::Retransmit);
                    }
                }
                // An INVITE that got a provisional waits for the layer
                // above; anything else still without a final times out.
                Timer::Timeout => {
                    let pending = tx.state == State::Started || (!invite && tx.state == State::Proceeding);
                    if pending {
                        self.map.remove(&key);
                        timed_out.push(key);
                    }
                }
                Timer::Forget => {
                    self.map.remove(&key);
                }
            }
        }
        (sends, timed_out)
    }

    pub fn next_wakeup(&self) -> Option<i64> {
        self.timers.keys().next().map(|&(at, _)| at)
    }

    fn arm(&mut self, at: i64, key: ClientKey, timer: Timer) {
        self.seq += 1;
        self.timers.insert((at, self.seq), (key, timer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse::{Transport, parse};

    const UDP: Peer = Peer {
        addr: std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5080),
        reliable: false,
    };
    const TCP: Peer = Peer { reliable: true, ..UDP };

    fn key(branch: &str, method: Method) -> ClientKey {
        ClientKey { branch: branch.into(), method }
    }

    fn invite(branch: &str) -> (ClientKey, Vec<u8>) {
        (key(branch, Method::Invite), format!("INVITE {branch}").into_bytes())
    }

    /// When the request went out again, up to `until` ms.
    fn retransmissions(t: &mut ClientTransactions, until: i64) -> Vec<i64> {
        (1..=until).filter(|&ms| !t.tick(ms).0.is_empty()).collect()
    }

    #[test]
    fn an_unanswered_invite_is_sent_again_then_times_out_with_timer_b() {
        let mut t = ClientTransactions::default();
        let (k, bytes) = invite("z9hG4bKa");
        assert!(t.start(0, k.clone(), UDP, bytes).is_some());
        // Timer A doubles without a ceiling: 0.5, 1, 2, 4, 8, 16 s after the last.
        assert_eq!(retransmissions(&mut t, 31_999), [500, 1500, 3500, 7500, 15_500, 31_500]);
        let (_, timed_out) = t.tick(32_000);
        assert_eq!(timed_out, [k]);
        assert!(t.is_empty());
    }

    #[test]
    fn ringing_stops_the_retransmissions_and_the_time_out() {
        let mut t = ClientTransactions::default();
        let (k, bytes) = invite("z9hG4bKb");
        t.start(0, k.clone(), UDP, bytes);
        assert_eq!(t.on_response(100, &k, 180, Vec::new).0, Received::Provisional(180));
        let (sends, timed_out) = t.tick(120_000);
        assert!(sends.is_empty() && timed_out.is_empty(), "the ringing phone is the layer above's to cancel");
        assert_eq!(t.on_response(130_000, &k, 200, Vec::new).0, Received::Final(200));
        assert_eq!(t.on_response(130_500, &k, 200, Vec::new).0, Received::RepeatedSuccess(200), "re-ACK it");
        t.tick(130_000 + 64 * T1_MS);
        assert!(t.is_empty(), "Timer M");
    }

    #[test]
    fn a_busy_answer_is_acked_here_and_again_for_its_retransmissions() {
        let mut t = ClientTransactions::default();
        let (k, bytes) = invite("z9hG4bKc");
        t.start(0, k.clone(), UDP, bytes);
        let (got, sends) = t.on_response(200, &k, 486, || b"ACK".to_vec());
        assert_eq!((got, sends.len()), (Received::Final(486), 1));
        let (got, sends) = t.on_response(700, &k, 486, || panic!("built once"));
        assert_eq!((got, sends[0].bytes.as_slice()), (Received::Absorbed, b"ACK".as_slice()));
        assert!(t.tick(32_199).0.is_empty(), "no INVITE after the answer");
        assert!(!t.is_empty());
        t.tick(32_200);
        assert!(t.is_empty(), "Timer D");
    }

    #[test]
    fn a_bye_is_sent_again_up_to_t2_and_times_out_with_timer_f() {
        let mut t = ClientTransactions::default();
        let k = key("z9hG4bKd", Method::Bye);
        t.start(0, k.clone(), UDP, b"BYE".to_vec());
        // Timer E: 0.5, 1, 2, then every 4 s.
        assert_eq!(retransmissions(&mut t, 20_000), [500, 1500, 3500, 7500, 11_500, 15_500, 19_500]);
        let (_, timed_out) = t.tick(32_000);
        assert_eq!(timed_out, [k]);
    }

    #[test]
    fn reliable_transports_send_once_and_forget_at_once() {
        let mut t = ClientTransactions::default();
        let k = key("z9hG4bKe", Method::Bye);
        t.start(0, k.clone(), TCP, b"BYE".to_vec());
        assert!(retransmissions(&mut t, 31_000).is_empty());
        assert_eq!(t.on_response(31_000, &k, 200, Vec::new).0, Received::Final(200));
        t.tick(31_000);
        assert!(t.is_empty(), "Timer K is 0 on TCP");
        assert_eq!(t.on_response(31_001, &k, 200, Vec::new).0, Received::Stray);
    }

    #[test]
    fn responses_find_their_transaction_by_branch_and_method() {
        let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKf;rport\r\n\
                    From: <sip:sb@c>;tag=1\r\nTo: <sip:1001@c>;tag=2\r\nCall-ID: x\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n";
        let Message::Response(r) = parse(text.as_bytes(), Transport::Datagram, 65536).unwrap().0 else { panic!() };
        assert_eq!(ClientKey::of(&r), Some(key("z9hG4bKf", Method::Invite)));
        let mut t = ClientTransactions::default();
        assert!(t.start(0, key("z9hG4bKf", Method::Invite), UDP, Vec::new()).is_some());
        assert!(t.start(0, key("z9hG4bKf", Method::Invite), UDP, Vec::new()).is_none(), "a branch is unique");
        assert!(t.start(0, key("z9hG4bKf", Method::Cancel), UDP, Vec::new()).is_some(), "its CANCEL is another");
    }
}
