//! The queueing redirect server: one task that owns the transactions and
//! the calls waiting in the queue, fed by the transports and by the hub.
//!
//! A hotline INVITE becomes an `inbound_call` task. The connector answers
//! `100 Trying` at once, `182 Queued` (repeated) while the caller waits,
//! and `302 Moved Temporarily` to the agent's SIP URI as soon as the
//! dispatcher offers the call to an agent. `CANCEL` ends the wait with 487
//! and the call becomes a missed call; so does a wait longer than the
//! configured maximum (480 with Retry-After by default).
//!
//! Contract with the PBX: the 302 ends Switchboard's part of the SIP
//! exchange; the PBX rings the agent. The agent accepts on the console (or
//! the PBX reports the answer through CTI). If instead the offer is
//! declined or times out after the 302, the caller is no longer in
//! Switchboard's queue: the task is closed as abandoned and recorded as a
//! missed call (`unanswered_redirect`), so the follow-up calls them back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::check::{Rejection, check_request};
use super::message::{Message, Method, Request};
use super::parse::{ParseError, salvage};
use super::respond::{ALLOW, response, short_response};
use super::settings::{SipConfig, UntrustedPolicy};
use super::transaction::{Arrival, Peer, Send, Transactions, TxKey};
use super::uri::{address_user, uri_user};
use crate::domain::{MissReason, Phone, TaskId, TaskKind, UserId};
use crate::listen::net::Net;
use crate::live::LiveHealth;
use crate::metrics::Metrics;
use crate::rules::dispatch::TaskDraft;
use crate::rules::dispatch::{Command, QueueIdx, Rules};
use crate::rules::planning::estimate::WaitEstimate;
use crate::runtime::hub::{CallEvent, Hub};
use crate::runtime::live_rules::LiveRules;
use crate::runtime::planning::PlanningFeed;
use crate::runtime::record_writer::Writer;
use crate::store::{CallOutcome, CallWrite, MissedCall};

mod calls;

/// The connector's settings, checked and converted from configuration.
#[derive(Clone, Debug)]
pub struct SipSettings {
    numbers: HashMap<String, QueueIdx>,
    trusted: Vec<Net>,
    untrusted: UntrustedPolicy,
    queued_interval_ms: i64,
    max_wait_ms: i64,
    max_wait_code: u16,
    retry_after_secs: u64,
    /// The `Server` header; `None` sends none.
    server_header: Option<String>,
}

impl SipSettings {
    /// `sip` must have passed the configuration's checks.
    pub fn new(sip: &SipConfig, rules: &Rules) -> SipSettings {
        SipSettings {
            numbers: sip.numbers.iter().filter_map(|(n, q)| Some((n.clone(), rules.queue_index(q)?))).collect(),
            trusted: sip.trusted.iter().filter_map(|n| Net::parse(n)).collect(),
            untrusted: sip.untrusted,
            queued_interval_ms: sip.queued_interval_secs as i64 * 1000,
            max_wait_ms: sip.max_wait_secs as i64 * 1000,
            max_wait_code: sip.max_wait_code,
            retry_after_secs: sip.retry_after_secs,
            server_header: (!sip.server_header.is_empty())
                .then(|| format!("{}/{}", sip.server_header, env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// What the transports hand to the connector.
pub enum Inbound {
    Message {
        msg: Message,
        peer: Peer,
        tcp: Option<mpsc::UnboundedSender<Vec<u8>>>,
    },
    /// Bytes that did not parse: a request among them gets 400/505/513.
    Garbage {
        bytes: Vec<u8>,
        error: ParseError,
        peer: Peer,
        tcp: Option<mpsc::UnboundedSender<Vec<u8>>>,
    },
    /// A stream connection closed: its way back is forgotten.
    Closed {
        addr: SocketAddr,
    },
}

/// A caller waiting in the queue.
struct Call {
    key: TxKey,
    invite: Arc<Request>,
    peer: Peer,
    caller: Option<Phone>,
    called: String,
    queue: String,
    /// The dispatcher has the task (before that, no 182 is sent).
    added: bool,
    /// The task is stored: no 302 goes out before, so a crash can never
    /// leave a redirected call without its record.
    stored: bool,
    /// An offer that came before the store's answer: its 302 waits for it.
    held_offer: Option<(UserId, String)>,
    next_queued: i64,
    deadline: i64,
}

/// A call handed to an agent by 302, until the agent takes it.
struct Redirected {
    caller: Option<Phone>,
    called: String,
    queue: String,
}

enum Internal {
    /// The call's task and record are in the store (or failed to get there).
    Stored { task: TaskId, ok: bool },
    /// The dispatcher has the task (or refused it).
    Added { task: TaskId, ok: bool },
}

pub struct Connector {
    settings: SipSettings,
    rules: LiveRules,
    hub: Hub,
    udp: Option<Arc<UdpSocket>>,
    tcp: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
    transactions: Transactions,
    calls: HashMap<TaskId, Call>,
    by_invite: HashMap<TxKey, TaskId>,
    redirected: HashMap<TaskId, Redirected>,
    /// Every call task this connector created and that is not closed yet,
    /// so call records are written for these and nothing else.
    sip_tasks: std::collections::HashSet<TaskId>,
    /// Calls that ended before the dispatcher had their task.
    ended_before_added: std::collections::HashSet<TaskId>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    writer: Writer,
    /// With Redis: whether new calls can be taken (`LiveHealth::accepting`).
    live: Option<Arc<LiveHealth>>,
    metrics: Option<Arc<Metrics>>,
    /// Positions and estimated waits, for the `182 Queued`.
    planning: Option<PlanningFeed>,
}

/// Retry-After on a call refused while Redis is unreachable: short, since
/// the buffer drains as soon as Redis answers.
const LIVE_RETRY_AFTER_SECS: u64 = 5;

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

impl Connector {
    pub fn new(
        settings: SipSettings,
        rules: LiveRules,
        hub: Hub,
        writer: Writer,
        udp: Option<Arc<UdpSocket>>,
    ) -> (Self, ConnectorInputs) {
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let connector = Connector {
            settings,
            rules,
            hub,
            udp,
            tcp: HashMap::new(),
            transactions: Transactions::default(),
            calls: HashMap::new(),
            by_invite: HashMap::new(),
            redirected: HashMap::new(),
            sip_tasks: Default::default(),
            ended_before_added: Default::default(),
            internal_tx,
            writer,
            live: None,
            metrics: None,
            planning: None,
        };
        (connector, ConnectorInputs { internal: internal_rx })
    }

    /// Runs until `shutdown`: then every waiting caller gets 503 so the PBX
    /// can route elsewhere, their tasks are closed as abandoned and recorded
    /// as missed calls; those writes are queued to the writer, which the
    /// server lets finish before it stops.
    pub async fn run(
        mut self,
        mut inputs: ConnectorInputs,
        mut inbound: mpsc::Receiver<Inbound>,
        mut events: mpsc::UnboundedReceiver<CallEvent>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(msg) = inbound.recv() => self.on_inbound(msg),
                Some(event) = events.recv() => self.on_event(event),
                Some(internal) = inputs.internal.recv() => match internal {
                    Internal::Stored { task, ok } => self.on_stored(task, ok),
                    Internal::Added { task, ok } => self.on_added(task, ok),
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        let now = now_ms();
        for (task, call) in std::mem::take(&mut self.calls) {
            self.final_response(now, &call, 503, "Service Unavailable", Some(("Retry-After", "30".into())));
            // A call not yet in the dispatcher is closed by the next start's recovery.
            if call.added {
                let _ = self.hub.command(Command::Abandon { task }).await;
                let at = Timestamp::now();
                self.writer.call(CallWrite::Ended { task, outcome: CallOutcome::Abandoned, at });
                if let Some(caller) = call.caller {
                    let missed = MissedCall {
                        caller,
                        called: call.called,
                        queue: call.queue,
                        reason: MissReason::ServerShutdown,
                        task: Some(task),
                        at,
                    };
                    self.writer.call(CallWrite::Missed(missed));
                }
            }
        }
    }

    fn trusted(&self, peer: &Peer) -> bool {
        self.settings.trusted.iter().any(|n| n.contains(peer.addr.ip()))
    }

    fn send(&mut self, send: Send) {
        if send.to.reliable {
            if let Some(conn) = self.tcp.get(&send.to.addr)
                && conn.send(send.bytes).is_err()
            {
                self.tcp.remove(&send.to.addr);
            }
        } else if let Some(udp) = &self.udp
            && let Err(e) = udp.try_send_to(&send.bytes, send.to.addr)
        {
            tracing::warn!(error = %e, to = %send.to.addr, "SIP datagram not sent");
        }
    }

    /// Answers outside any transaction: refusals of bad requests.
    fn reply_stateless(&mut self, req: &Request, peer: Peer, code: u16, reason: &str) {
        let mut resp = response(req, code, reason, peer.addr, reason);
        self.sign(&mut resp);
        self.count_final(code);
        self.send(Send { to: peer, bytes: resp.to_bytes() });
    }

    /// Refuses an untrusted source in a few hundred bytes at most, never
    /// echoing what it sent: a spoofed source address must not make this
    /// server a reflector (the transports also limit how often).
    fn refuse_untrusted(&mut self, req: &Request, peer: Peer) {
        if let Some(resp) = short_response(req, 403, "Forbidden", peer.addr) {
            self.count_final(403);
            self.send(Send { to: peer, bytes: resp.to_bytes() });
        }
    }

    fn sign(&self, resp: &mut super::message::Response) {
        if let Some(server) = &self.settings.server_header {
            resp.headers.push("Server".into(), server.clone());
        }
    }

    fn respond(
        &mut self,
        now: i64,
        key: &TxKey,
        req: &Request,
        peer: Peer,
        (code, reason): (u16, &str),
        extra: Vec<(&str, String)>,
    ) {
        let mut resp = response(req, code, reason, peer.addr, &format!("{key:?}"));
        self.sign(&mut resp);
        for (name, value) in extra {
            resp.headers.push(name.to_owned(), value);
        }
        if let Some(send) = self.transactions.respond(now, key, code, resp.to_bytes()) {
            self.count_final(code);
            self.send(send);
        }
    }

    fn count_stream_peers(&self) {
        if let Some(m) = &self.metrics {
            m.sip_stream_peers(self.tcp.len());
        }
    }

    fn count_final(&self, code: u16) {
        if let Some(m) = self.metrics.as_ref().filter(|_| code >= 200) {
            m.sip_final_response(code);
        }
    }

    fn on_inbound(&mut self, inbound: Inbound) {
        let now = now_ms();
        match inbound {
            Inbound::Closed { addr } => {
                self.tcp.remove(&addr);
                self.count_stream_peers();
            }
            Inbound::Garbage { bytes, error, peer, tcp } => {
                if let Some(conn) = tcp {
                    self.tcp.insert(peer.addr, conn);
                }
                if !self.trusted(&peer) {
                    return;
                }
                if let Some(req) = salvage(&bytes) {
                    let r = Rejection::from(error);
                    self.reply_stateless(&req, peer, r.code, r.reason);
                }
            }
            Inbound::Message { msg: Message::Response(_), .. } => {
                // A redirect server sends no requests, so no response is expected.
            }
            Inbound::Message { msg: Message::Request(req), peer, tcp } => {
                let call_id = req.headers.get("Call-ID").unwrap_or_default().to_owned();
                let span = tracing::debug_span!("sip", method = %req.method.as_str(), %call_id, from = %peer.addr);
                let _in_span = span.enter();
                if let Some(conn) = tcp
                    && self.tcp.insert(peer.addr, conn).is_none()
                {
                    self.count_stream_peers();
                }
                if !self.trusted(&peer) {
                    if self.settings.untrusted == UntrustedPolicy::Reject && req.method != Method::Ack {
                        self.refuse_untrusted(&req, peer);
                    }
                    return;
                }
                self.on_request(now, req, peer);
            }
        }
    }

    fn on_request(&mut self, now: i64, req: Request, peer: Peer) {
        let key = match self.transactions.on_request(now, &req, peer) {
            Arrival::New(key) => key,
            Arrival::Retransmission(sends) => return sends.into_iter().for_each(|s| self.send(s)),
            Arrival::Absorbed | Arrival::StrayAck => return,
        };
        if let Err(r) = check_request(&req) {
            let extra = if r.unsupported.is_empty() { vec![] } else { vec![("Unsupported", r.unsupported.join(", "))] };
            return self.respond(now, &key, &req, peer, (r.code, r.reason), extra);
        }
        match &req.method {
            Method::Invite => self.on_invite(now, key, req, peer),
            Method::Cancel => self.on_cancel(now, key, &req, peer),
            Method::Options => {
                let extra = vec![("Allow", ALLOW.to_owned()), ("Accept", "application/sdp".to_owned())];
                self.respond(now, &key, &req, peer, (200, "OK"), extra);
            }
            Method::Bye | Method::Info => {
                self.respond(now, &key, &req, peer, (481, "Call/Transaction Does Not Exist"), vec![]);
            }
            Method::Ack => {}
            Method::Register | Method::Other(_) if is_known_method(req.method.as_str()) => {
                self.respond(now, &key, &req, peer, (405, "Method Not Allowed"), vec![("Allow", ALLOW.to_owned())]);
            }
            _ => self.respond(now, &key, &req, peer, (501, "Not Implemented"), vec![("Allow", ALLOW.to_owned())]),
        }
    }

    /// Refuses new calls (503 with Retry-After) while too many changes wait
    /// for an unreachable Redis, so the PBX sends them elsewhere or plays
    /// its busy message rather than queueing callers nobody can be sure of.
    pub fn with_live_health(mut self, health: Arc<LiveHealth>) -> Self {
        self.live = Some(health);
        self
    }

    /// Counts final responses by code in `/metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Each `182 Queued` tells the caller's position and estimated wait.
    pub fn with_planning(mut self, planning: PlanningFeed) -> Self {
        self.planning = Some(planning);
        self
    }

    /// `X-Queue-Position` and `X-Estimated-Wait` (whole seconds) for a
    /// waiting call: its own estimate, or in the second after it entered
    /// (before the planner has seen it) its queue's wait for a newcomer
    /// behind the calls already waiting. A wait nobody at work can end is
    /// left out rather than guessed.
    fn queued_headers(&self, task: TaskId, queue: &str) -> Vec<(&'static str, String)> {
        let Some(planning) = &self.planning else { return Vec::new() };
        let estimate = planning.task(task).or_else(|| {
            let (q, _) = planning.queue(queue)?;
            Some(WaitEstimate { position: q.waiting, estimated_wait_secs: q.estimated_wait_secs })
        });
        let Some(e) = estimate else { return Vec::new() };
        let mut headers = vec![("X-Queue-Position", e.position.to_string())];
        if let Some(secs) = e.estimated_wait_secs {
            headers.push(("X-Estimated-Wait", secs.to_string()));
        }
        headers
    }

    fn on_invite(&mut self, now: i64, key: TxKey, req: Request, peer: Peer) {
        let called = uri_user(&req.uri).unwrap_or_default().to_owned();
        let Some(&queue) = self.settings.numbers.get(&called) else {
            return self.respond(now, &key, &req, peer, (404, "Not Found"), vec![]);
        };
        if self.live.as_ref().is_some_and(|h| !h.accepting()) {
            let retry = vec![("Retry-After", LIVE_RETRY_AFTER_SECS.to_string())];
            return self.respond(now, &key, &req, peer, (503, "Service Unavailable"), retry);
        }
        self.respond(now, &key, &req, peer, (100, "Trying"), vec![]);
        let caller = req.headers.get("From").and_then(address_user).and_then(|u| Phone::parse(u).ok());
        let called_for_record = called.clone();
        let task = TaskId::new();
        let queue_name = self.rules.get().queue_name(queue).to_owned();
        let call = Call {
            key: key.clone(),
            invite: Arc::new(req),
            peer,
            caller: caller.clone(),
            called: called_for_record,
            queue: queue_name.clone(),
            added: false,
            stored: false,
            held_offer: None,
            next_queued: now,
            deadline: now + self.settings.max_wait_ms,
        };
        self.by_invite.insert(key, task);
        self.calls.insert(task, call);
        let at = Timestamp::from_millisecond(now).unwrap_or_else(|_| Timestamp::now());
        let mut plan = self.rules.get().plan(TaskKind::InboundCall, at, None, None);
        plan.queue = queue;
        // An anonymous caller still gets an agent; there is just no number to call back.
        let phone = caller.clone().unwrap_or_else(|| Phone::parse("000").expect("a valid placeholder"));
        let reason = Some(format!("call to {called}"));
        let row = TaskDraft {
            id: task,
            ..TaskDraft::new(&self.rules.get(), TaskKind::InboundCall, plan, phone, reason, at, None)
        };
        // Enters its queue when the call came in (`created_at`).
        let new = row.to_new_task(&self.rules.get());
        self.sip_tasks.insert(task);
        let sip_call_id = self.calls[&task].invite.headers.get("Call-ID").unwrap_or_default().to_owned();
        tracing::debug!(call_id = %sip_call_id, %task, queue = %queue_name, "call queued");
        // Stored and dispatched at the same time; the 302 waits for both
        // (see `on_offered`), so the caller waits for the slower of the
        // two rather than for one after the other.
        let done = self.internal_tx.clone();
        let write = CallWrite::NewCall { task: row, sip_call_id, caller, called };
        self.writer.call_stored(
            write,
            Box::new(move |ok| {
                let _ = done.send(Internal::Stored { task, ok });
            }),
        );
        let (hub, done) = (self.hub.clone(), self.internal_tx.clone());
        tokio::spawn(async move {
            let ok = hub.command(Command::AddTask(new)).await.is_ok();
            let _ = done.send(Internal::Added { task, ok });
        });
    }

    fn on_cancel(&mut self, now: i64, key: TxKey, cancel: &Request, peer: Peer) {
        let invite_key = TxKey::of(cancel, true);
        if !self.transactions.is_proceeding(&invite_key) {
            return self.respond(now, &key, cancel, peer, (481, "Call/Transaction Does Not Exist"), vec![]);
        }
        self.respond(now, &key, cancel, peer, (200, "OK"), vec![]);
        let Some(task) = self.by_invite.remove(&invite_key) else { return };
        if let Some(call) = self.calls.remove(&task) {
            self.final_response(now, &call, 487, "Request Terminated", None);
            if !call.added {
                self.ended_before_added.insert(task);
            }
            self.close_as_missed(task, &call.caller, call.called, call.queue, MissReason::Abandoned);
        }
    }

    fn final_response(&mut self, now: i64, call: &Call, code: u16, reason: &str, extra: Option<(&str, String)>) {
        let invite = call.invite.clone();
        self.respond(now, &call.key.clone(), &invite, call.peer, (code, reason), extra.into_iter().collect());
        self.by_invite.remove(&call.key);
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        let (sends, _unacked) = self.transactions.tick(now);
        sends.into_iter().for_each(|s| self.send(s));
        let due: Vec<TaskId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.added && (now >= c.next_queued || now >= c.deadline))
            .map(|(t, _)| *t)
            .collect();
        for task in due {
            let call = self.calls.get_mut(&task).expect("present");
            if now >= call.deadline {
                let call = self.calls.remove(&task).expect("present");
                let (code, retry) = (self.settings.max_wait_code, self.settings.retry_after_secs);
                self.final_response(now, &call, code, reason_phrase(code), Some(("Retry-After", retry.to_string())));
                self.close_as_missed(task, &call.caller, call.called, call.queue, MissReason::QueueTimeout);
            } else {
                call.next_queued = now + self.settings.queued_interval_ms;
                let (key, invite, peer) = (call.key.clone(), call.invite.clone(), call.peer);
                let queue = call.queue.clone();
                let headers = self.queued_headers(task, &queue);
                self.respond(now, &key, &invite, peer, (182, "Queued"), headers);
            }
        }
    }
}

/// The connector's own input channels, kept apart from its state so `run`
/// can select on them while mutating the state.
pub struct ConnectorInputs {
    internal: mpsc::UnboundedReceiver<Internal>,
}

fn is_known_method(m: &str) -> bool {
    matches!(m, "REGISTER" | "SUBSCRIBE" | "NOTIFY" | "PUBLISH" | "MESSAGE" | "UPDATE" | "PRACK" | "REFER")
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Queue Wait Exceeded",
    }
}
