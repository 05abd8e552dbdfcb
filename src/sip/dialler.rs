//! The shell around placed calls (`call.rs`) on one UDP socket: it sends
//! what the calls and their client transactions (`client.rs`) ask for,
//! gives them the responses and the far ends' requests that arrive, and
//! their clock; it reports each call's progress and end.
//!
//! Where a request goes: to the address in its URI when that names an IP
//! address (a phone registered by address), otherwise to the PBX as the
//! outbound proxy. Not yet wired to the dispatcher or the console: this is
//! the layer the dialler of tasks will drive.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::call::{Action, Call, CallEnd, CallSettings, Leg};
use super::client::{ClientKey, ClientTransactions, Received};
use super::dialog;
use super::message::{Message, Method, Request};
use super::parse::{Transport, parse};
use super::respond;
use super::transaction::{Peer, Send};

/// A call to place.
#[derive(Clone, Debug)]
pub struct PlaceCall {
    /// Unique: the attempt's id; it makes the call's SIP identifiers.
    pub id: String,
    pub settings: CallSettings,
}

/// What became of a placed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallReport {
    AgentRinging { id: String },
    AgentAnswered { id: String },
    CustomerRinging { id: String },
    Connected { id: String },
    Ended { id: String, end: CallEnd },
}

/// How long an ended call still answers late responses (a 2xx crossing
/// its CANCEL): Timer B.
const LINGER_MS: i64 = 32_000;
const MAX_DATAGRAM: usize = 65_535;

struct Placed {
    call: Call,
    over_at: Option<i64>,
}

/// The dialler's state between events.
struct Dialler {
    socket: UdpSocket,
    pbx: SocketAddr,
    started: Instant,
    calls: HashMap<String, Placed>,
    transactions: ClientTransactions,
    /// Each client transaction's call, leg and request (for its ACK).
    owners: HashMap<ClientKey, (String, Leg, Request)>,
    reports: mpsc::Sender<CallReport>,
}

/// The address a request's URI names, when it names an IP address.
fn address_in(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split([';', '?', '>']).next()?;
    host_port
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| host_port.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 5060)))
}

fn branch_of(req: &Request) -> Option<String> {
    let via = req.headers.get("Via")?;
    via.split(';').skip(1).find_map(|p| p.trim().strip_prefix("branch=").map(str::to_owned))
}

impl Dialler {
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    fn destination(&self, req: &Request) -> SocketAddr {
        let first_route = req.headers.get("Route").and_then(|r| {
            let (a, b) = (r.find('<')?, r.find('>')?);
            Some(r[a + 1..b].to_owned())
        });
        first_route.as_deref().and_then(address_in).or_else(|| address_in(&req.uri)).unwrap_or(self.pbx)
    }

    async fn send(&self, s: Send) {
        if let Err(e) = self.socket.send_to(&s.bytes, s.to.addr).await {
            tracing::warn!(to = %s.to.addr, error = %e, "a placed call's datagram was not sent");
        }
    }

    async fn place(&mut self, p: PlaceCall) {
        let now = self.now();
        let (call, actions) = Call::start(p.settings, &p.id, now);
        self.calls.insert(p.id.clone(), Placed { call, over_at: None });
        self.act(now, &p.id, None, actions).await;
    }

    /// Carries out a call's actions. `source`: where a request being
    /// answered came from.
    async fn act(&mut self, now: i64, id: &str, source: Option<SocketAddr>, actions: Vec<Action>) {
        for action in actions {
            let report = match action {
                Action::Send { leg, request, transaction } => {
                    let to = Peer { addr: self.destination(&request), reliable: false };
                    let bytes = request.to_bytes();
                    match (transaction, branch_of(&request)) {
                        (true, Some(branch)) => {
                            let key = ClientKey { branch, method: request.method.clone() };
                            self.owners.insert(key.clone(), (id.to_owned(), leg, request));
                            if let Some(s) = self.transactions.start(now, key, to, bytes) {
                                self.send(s).await;
                            }
                        }
                        _ => self.send(Send { to, bytes }).await,
                    }
                    None
                }
                Action::Answer { request, code } => {
                    if let Some(src) = source {
                        let resp = respond::response(&request, code, "OK", src, id).to_bytes();
                        self.send(Send { to: Peer { addr: src, reliable: false }, bytes: resp }).await;
                    }
                    None
                }
                Action::AgentRinging => Some(CallReport::AgentRinging { id: id.to_owned() }),
                Action::AgentAnswered => Some(CallReport::AgentAnswered { id: id.to_owned() }),
                Action::CustomerRinging => Some(CallReport::CustomerRinging { id: id.to_owned() }),
                Action::Connected => Some(CallReport::Connected { id: id.to_owned() }),
                Action::Ended(end) => {
                    if let Some(p) = self.calls.get_mut(id) {
                        p.over_at = Some(now);
                    }
                    Some(CallReport::Ended { id: id.to_owned(), end })
                }
            };
            if let Some(r) = report {
                let _ = self.reports.send(r).await;
            }
        }
    }

    async fn on_datagram(&mut self, bytes: &[u8], source: SocketAddr) {
        let now = self.now();
        match parse(bytes, Transport::Datagram, MAX_DATAGRAM) {
            Ok((Message::Response(resp), _)) => {
                let Some(key) = ClientKey::of(&resp) else { return };
                let Some((id, leg, request)) = self.owners.get(&key).cloned() else { return };
                let (received, sends) = self
                    .transactions
                    .on_response(now, &key, resp.code, || dialog::ack_of_failure(&request, &resp).to_bytes());
                for s in sends {
                    self.send(s).await;
                }
                let passes =
                    matches!(received, Received::Provisional(_) | Received::Final(_) | Received::RepeatedSuccess(_));
                // CANCEL's and BYE's own answers mean nothing to the call.
                if passes
                    && matches!(key.method, Method::Invite)
                    && let Some(p) = self.calls.get_mut(&id)
                {
                    let actions = p.call.on_response(now, leg, &resp);
                    self.act(now, &id, None, actions).await;
                }
            }
            Ok((Message::Request(req), _)) => {
                if req.method == Method::Ack {
                    return;
                }
                let found = self.calls.iter_mut().find_map(|(id, p)| Some((id.clone(), p.call.on_request(now, &req)?)));
                match found {
                    Some((id, actions)) => self.act(now, &id, Some(source), actions).await,
                    None => {
                        let resp = respond::response(&req, 481, "Call/Transaction Does Not Exist", source, "none");
                        self.send(Send { to: Peer { addr: source, reliable: false }, bytes: resp.to_bytes() }).await;
                    }
                }
            }
            Err(e) => tracing::debug!(%source, error = %e, "an unreadable datagram on the dialler's socket"),
        }
    }

    async fn on_tick(&mut self) {
        let now = self.now();
        let (sends, timed_out) = self.transactions.tick(now);
        for s in sends {
            self.send(s).await;
        }
        for key in timed_out {
            if let Some((id, leg, _)) = self.owners.remove(&key)
                && key.method == Method::Invite
                && let Some(p) = self.calls.get_mut(&id)
            {
                let actions = p.call.on_timeout(now, leg);
                self.act(now, &id, None, actions).await;
            }
        }
        let due: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, p)| p.call.deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(p) = self.calls.get_mut(&id) {
                let actions = p.call.on_tick(now);
                self.act(now, &id, None, actions).await;
            }
        }
        self.calls.retain(|_, p| p.over_at.is_none_or(|at| now - at < LINGER_MS));
        let calls = &self.calls;
        self.owners.retain(|_, (id, _, _)| calls.contains_key(id));
    }

    fn next_wakeup(&self) -> i64 {
        let calls = self.calls.values().filter_map(|p| p.call.deadline());
        let lingering = self.calls.values().filter_map(|p| p.over_at.map(|at| at + LINGER_MS));
        let now = self.now();
        self.transactions.next_wakeup().into_iter().chain(calls).chain(lingering).min().unwrap_or(now + 1000).max(now)
    }
}

/// Runs the dialler on `socket` until `stop`: places each call sent on
/// `place`, with requests that name no IP address sent to `pbx`, and
/// reports on `reports`.
pub async fn run(
    socket: UdpSocket,
    pbx: SocketAddr,
    mut place: mpsc::Receiver<PlaceCall>,
    reports: mpsc::Sender<CallReport>,
    stop: CancellationToken,
) {
    let mut d = Dialler {
        socket,
        pbx,
        started: Instant::now(),
        calls: HashMap::new(),
        transactions: ClientTransactions::default(),
        owners: HashMap::new(),
        reports,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let wait = Duration::from_millis((d.next_wakeup() - d.now()).clamp(0, 1000) as u64);
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(p) = place.recv() => d.place(p).await,
            got = d.socket.recv_from(&mut buf) => match got {
                Ok((n, source)) => {
                    let bytes = buf[..n].to_vec();
                    d.on_datagram(&bytes, source).await;
                }
                Err(e) => tracing::warn!(error = %e, "the dialler's socket failed a read"),
            },
            _ = tokio::time::sleep(wait) => d.on_tick().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_to_an_address_in_their_uri_or_to_the_pbx() {
        assert_eq!(address_in("sip:1001@127.0.0.1:5071"), Some("127.0.0.1:5071".parse().unwrap()));
        assert_eq!(address_in("sip:1001@10.0.0.5;transport=udp"), Some("10.0.0.5:5060".parse().unwrap()));
        assert_eq!(address_in("sip:13800138000@pbx.example"), None);
        assert_eq!(address_in("sip:10.0.0.3:5080;lr"), Some("10.0.0.3:5080".parse().unwrap()));
    }
}
