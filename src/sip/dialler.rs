//! The shell around placed calls (`call.rs`) on one UDP socket: it sends
//! what the calls and their client transactions (`client.rs`) ask for,
//! gives them the responses and the far ends' requests that arrive, and
//! their clock; it reports each call's progress and end.
//!
//! Where a request goes: to the address in its URI when that names an IP
//! address (a phone registered by address), otherwise to the PBX as the
//! outbound proxy.
//!
//! No call is left open: before a call's INVITE leaves, and whenever one
//! of its dialogs changes, the call's legs go to the journal and the send
//! waits until they are stored (`stored.rs`); after a crash the next
//! leader hands them back as [`Order::EndLeftOpen`] and they are cancelled
//! or hung up. A 2xx that answers an INVITE this process does not know is
//! ACKed and hung up at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::call::{Action, Call, CallEnd, CallSettings, Leg};
use super::client::{ClientKey, ClientTransactions, Received};
use super::dialog;
use super::message::{Message, Method, Request};
use super::parse::{Transport, parse};
use super::respond;
use super::stored::StoredCall;
use super::transaction::{Peer, Send};

/// A call to place.
#[derive(Clone, Debug)]
pub struct PlaceCall {
    /// Unique: the attempt's id; it makes the call's SIP identifiers.
    pub id: String,
    pub settings: CallSettings,
    /// The caller stored [`Call::stored_at_start`] with the call: the
    /// first INVITE needs no journal write of its own.
    pub stored_at_start: bool,
}

/// What the dialler is asked to do.
#[derive(Debug)]
pub enum Order {
    Place(PlaceCall),
    /// End every leg a call stored before a crash left open.
    EndLeftOpen {
        id: String,
        stored: StoredCall,
    },
    /// Place nothing new; end the calls still going after this long; stop
    /// once every call and its last requests are done.
    Drain(Duration),
}

/// A call's legs to store before the dialler goes on: `done` answers once
/// they are (dropped unanswered: the store failed, and the send goes
/// ahead rather than leave a phone ringing unseen).
#[derive(Debug)]
pub struct Journal {
    pub id: String,
    pub stored: StoredCall,
    pub done: oneshot::Sender<()>,
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
    /// What the journal last stored of it.
    stored: StoredCall,
}

/// The dialler's state between events.
struct Dialler {
    socket: std::sync::Arc<UdpSocket>,
    pbx: SocketAddr,
    started: Instant,
    calls: HashMap<String, Placed>,
    transactions: ClientTransactions,
    /// Each client transaction's call, leg and request (for its ACK).
    owners: HashMap<ClientKey, (String, Leg, Request)>,
    /// INVITEs of calls left open by a crash, by branch, being cancelled:
    /// their final answers are ACKed here.
    orphans: HashMap<String, Request>,
    reports: mpsc::Sender<CallReport>,
    journal: Option<mpsc::Sender<Journal>>,
    /// Since when calls are to end (a drain's end).
    draining: Option<i64>,
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
        if self.draining.is_some() {
            let end = CallEnd::AgentUnreachable { code: None };
            let _ = self.reports.send(CallReport::Ended { id: p.id, end }).await;
            return;
        }
        let now = self.now();
        let stored = if p.stored_at_start { Call::stored_at_start(&p.settings, &p.id) } else { StoredCall::default() };
        let (call, actions) = Call::start(p.settings, &p.id, now);
        self.calls.insert(p.id.clone(), Placed { call, over_at: None, stored });
        self.act(now, &p.id, None, actions).await;
    }

    /// Sends the requests that end a call a crash left open.
    async fn end_left_open(&mut self, id: &str, stored: &StoredCall) {
        let requests = match stored.ending_requests(id) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(call = id, error = %e, "a call left open could not be read back; its legs stay as they are");
                return;
            }
        };
        let now = self.now();
        for (_, request) in requests {
            if request.method == Method::Cancel
                && let Some(branch) = branch_of(&request)
            {
                // CANCEL's Via is the INVITE's.
                self.orphans.insert(branch, request.clone());
            }
            let to = Peer { addr: self.destination(&request), reliable: false };
            let Some(branch) = branch_of(&request) else { continue };
            let key = ClientKey { branch, method: request.method.clone() };
            if let Some(s) = self.transactions.start(now, key, to, request.to_bytes()) {
                self.send(s).await;
            }
        }
    }

    /// Stores the call's legs when they changed, before its actions go out.
    async fn journal(&mut self, id: &str) {
        let Some(journal) = &self.journal else { return };
        let Some(p) = self.calls.get_mut(id) else { return };
        let stored = p.call.stored();
        if p.call.is_over() || stored == p.stored {
            return;
        }
        p.stored = stored.clone();
        let (done, stored_now) = oneshot::channel();
        if journal.send(Journal { id: id.to_owned(), stored, done }).await.is_ok() && stored_now.await.is_err() {
            tracing::warn!(call = id, "a placed call's legs could not be stored; going on without");
        }
    }

    /// Carries out a call's actions, once its legs are stored. `source`:
    /// where a request being answered came from.
    async fn act(&mut self, now: i64, id: &str, source: Option<SocketAddr>, actions: Vec<Action>) {
        self.journal(id).await;
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
                let Some((id, leg, request)) = self.owners.get(&key).cloned() else {
                    self.on_stray_response(now, &key, &resp).await;
                    return;
                };
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

    /// A response no live transaction owns. A 2xx to an INVITE (a phone
    /// that answered a call this process does not know, or answered as it
    /// was cancelled) is ACKed and hung up; the final answer of an INVITE
    /// cancelled after a crash is ACKed.
    async fn on_stray_response(&mut self, now: i64, key: &ClientKey, resp: &super::message::Response) {
        if key.method != Method::Invite || resp.code < 200 {
            return;
        }
        if resp.code >= 300 {
            if let Some(cancel) = self.orphans.get(&key.branch) {
                let mut invite = cancel.clone();
                invite.method = Method::Invite;
                let ack = dialog::ack_of_failure(&invite, resp);
                let to = Peer { addr: self.destination(&ack), reliable: false };
                self.send(Send { to, bytes: ack.to_bytes() }).await;
            }
            return;
        }
        let local = self.socket.local_addr().unwrap_or(self.pbx);
        let Some(mut dialog) = dialog::Dialog::from_stray_success(resp, local) else { return };
        let ack = dialog.ack(&format!("{}s", key.branch), None);
        let to = Peer { addr: self.destination(&ack), reliable: false };
        self.send(Send { to, bytes: ack.to_bytes() }).await;
        let bye = dialog.bye(&format!("{}t", key.branch));
        let Some(branch) = branch_of(&bye) else { return };
        let to = Peer { addr: self.destination(&bye), reliable: false };
        if let Some(s) = self.transactions.start(now, ClientKey { branch, method: Method::Bye }, to, bye.to_bytes()) {
            self.send(s).await;
        }
        tracing::info!(code = resp.code, "a phone answered a call no longer placed: ACKed and hung up");
    }

    async fn on_tick(&mut self) {
        let now = self.now();
        if let Some(at) = self.draining
            && now >= at
        {
            for p in self.calls.values_mut().filter(|p| !p.call.is_over()) {
                p.call.end_soon();
            }
        }
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

    /// Drained: every call over and its last requests answered or given
    /// up (a late retransmitted 2xx after that finds no one to ACK it; the
    /// phone gives up after its Timer H).
    fn drained(&self) -> bool {
        self.draining.is_some()
            && self.calls.values().all(|p| p.call.is_over())
            && self.transactions.awaiting_final() == 0
    }

    fn next_wakeup(&self) -> i64 {
        let calls = self.calls.values().filter_map(|p| p.call.deadline());
        let lingering = self.calls.values().filter_map(|p| p.over_at.map(|at| at + LINGER_MS));
        let now = self.now();
        let drain = self.draining.filter(|_| self.calls.values().any(|p| !p.call.is_over()));
        let next = self.transactions.next_wakeup().into_iter().chain(calls).chain(lingering).chain(drain).min();
        next.unwrap_or(now + 1000).max(now)
    }
}

/// Runs the dialler on `socket` until `stop` (at once) or until a drain
/// is done: carries out each order, with requests that name no IP address
/// sent to `pbx`; reports on `reports`; stores each call's legs through
/// `journal` before they go out, when given one.
pub async fn run(
    socket: UdpSocket,
    pbx: SocketAddr,
    mut orders: mpsc::Receiver<Order>,
    reports: mpsc::Sender<CallReport>,
    journal: Option<mpsc::Sender<Journal>>,
    stop: CancellationToken,
) {
    // Reading has its own task: while a call waits for its legs to be
    // stored, datagrams queue here rather than overflow the socket's
    // buffer (a lost 200 would wait for the phone's retransmission).
    let socket = std::sync::Arc::new(socket);
    let (datagrams_tx, mut datagrams) = mpsc::channel::<(Vec<u8>, SocketAddr)>(8192);
    let reader = tokio::spawn({
        let socket = socket.clone();
        async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                match socket.recv_from(&mut buf).await {
                    Ok((n, source)) => {
                        if datagrams_tx.send((buf[..n].to_vec(), source)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "the dialler's socket failed a read"),
                }
            }
        }
    });
    let mut d = Dialler {
        socket,
        pbx,
        started: Instant::now(),
        calls: HashMap::new(),
        transactions: ClientTransactions::default(),
        owners: HashMap::new(),
        orphans: HashMap::new(),
        reports,
        journal,
        draining: None,
    };
    while !d.drained() {
        let wait = Duration::from_millis((d.next_wakeup() - d.now()).clamp(0, 1000) as u64);
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(order) = orders.recv() => match order {
                Order::Place(p) => d.place(p).await,
                Order::EndLeftOpen { id, stored } => d.end_left_open(&id, &stored).await,
                Order::Drain(after) => {
                    d.draining = Some(d.now() + after.as_millis() as i64);
                }
            },
            Some((bytes, source)) = datagrams.recv() => d.on_datagram(&bytes, source).await,
            _ = tokio::time::sleep(wait) => d.on_tick().await,
        }
    }
    reader.abort();
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
