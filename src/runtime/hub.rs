//! The imperative shell around the dispatcher: one task owns it, feeds it
//! commands and the clock, and carries out its effects. Pushes go to the
//! agents' connections; records go, in order, to the store writer.
//!
//! Everything else talks to the hub by message, so the dispatcher needs no
//! lock and every decision sees a consistent state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::domain::{AgentStatus, CaseId, DepartmentId, TaskId, TaskKind, UserId};
use crate::live::LiveOp;
use crate::rules::dispatch::{
    AgentSnapshot, Command, DispatchError, Dispatcher, Effect, Offer, Record, Reply, Rules, RulesApplied, RulesRefused,
    TaskCard, WithdrawReason,
};
use crate::rules::figures::FloorEvent;
use crate::runtime::figures::FloorTx;
use crate::runtime::live_writer::{LiveWriter, Outbox};
use crate::runtime::record_writer::Writer;

/// What the hub pushes to one agent's connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    Offer(Offer),
    OfferRescinded {
        task: TaskId,
        reason: WithdrawReason,
    },
    TaskAssigned(Arc<TaskCard>),
    TaskRevoked {
        task: TaskId,
        reason: WithdrawReason,
    },
    Status {
        status: AgentStatus,
        since: Timestamp,
    },
    /// A complaint case was sent to the agent's department.
    CaseSent(Arc<CaseNotice>),
    /// A call Switchboard places for the agent moved on.
    Call(Arc<CallState>),
    /// A progressive call was not placed after the agent accepted.
    DialRefused {
        code: &'static str,
        message: String,
    },
    /// Close this connection: another one took over for the same agent.
    Replaced,
}

/// What a department's users are told when a case is sent to it.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseNotice {
    pub case: CaseId,
    pub department: DepartmentId,
    pub department_name: String,
    /// One line: what the complaint is about.
    pub about: String,
    /// The department's written reply is due by then.
    pub reply_by: Timestamp,
}

/// Where a call Switchboard places for an agent is, for their console.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CallState {
    pub call_id: String,
    pub task_id: Option<TaskId>,
    pub state: CallStage,
    pub number: String,
    /// When it entered this state.
    pub at: Timestamp,
    /// `connected`: since when both talk (the console's timer runs from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<Timestamp>,
    /// `[calls]`: the console warns at the target; the limit shows on the wallboard.
    pub target_secs: u64,
    pub limit_secs: u64,
    /// `ended`: how (`reached`, `busy`, `no_answer`, `wrong_number`,
    /// `failed`, `agent_unreachable`, `interrupted`), the customer leg's
    /// code, and talk time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::domain::PlacedOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub talk_secs: Option<i64>,
    /// `ended`: the attempt is recorded with this outcome and the task has
    /// left your hands (a retry is scheduled by the rule); write a summary
    /// with the `summary` message. `false` after `reached`: finish with
    /// `complete` as usual.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attempt_recorded: bool,
}

/// The states of a placed call on the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStage {
    /// Your phone is being called.
    CallingYou,
    /// You answered; the customer's phone is being called.
    RingingCustomer,
    Connected,
    Ended,
}

/// What the SIP connector needs to hear about inbound calls.
#[derive(Clone, Debug, PartialEq)]
pub enum CallEvent {
    /// An inbound call was offered to an agent: redirect the caller there.
    Offered { task: TaskId, agent: UserId, contact: Option<String> },
    /// The agent took the call.
    Answered { task: TaskId, agent: UserId },
    /// The task went back to the queue (declined, timed out, agent gone).
    Returned { task: TaskId },
    /// The task is closed.
    Closed { task: TaskId },
}

/// Something the hub owes the outside because of a change it made. With
/// Redis these wait in the live writer until the change is in Redis
/// (`runtime/live_writer.rs`); without, they go out at once.
pub enum Delivery {
    Push(mpsc::UnboundedSender<Push>, Push),
    Call(mpsc::UnboundedSender<CallEvent>, CallEvent),
    Reply(Box<dyn FnOnce() + Send>),
    /// Answered with the store writer's "tell me when all is stored".
    Flush(oneshot::Sender<oneshot::Receiver<()>>),
}

impl Delivery {
    pub fn deliver(self, writer: &Writer) {
        match self {
            Delivery::Push(tx, push) => {
                let _ = tx.send(push);
            }
            Delivery::Call(tx, event) => {
                let _ = tx.send(event);
            }
            Delivery::Reply(reply) => reply(),
            Delivery::Flush(reply) => {
                let _ = reply.send(writer.flush());
            }
        }
    }
}

pub type ConnId = u64;
type Query = Box<dyn FnOnce(&Dispatcher, Timestamp) + Send>;

enum Msg {
    Command(Command, oneshot::Sender<Result<Reply, DispatchError>>),
    Attach {
        agent: UserId,
        conn: ConnId,
        tx: mpsc::UnboundedSender<Push>,
        winding_down: bool,
        reply: oneshot::Sender<Result<AgentSnapshot, DispatchError>>,
    },
    Detach {
        agent: UserId,
        conn: ConnId,
    },
    Query(Query),
    /// New rules for the dispatcher, applied between two commands.
    ApplyRules {
        rules: Box<Rules>,
        reevaluate: bool,
        reply: oneshot::Sender<Result<RulesApplied, RulesRefused>>,
    },
    /// Answered with the writer's answer to "tell me when all is stored".
    Flush(oneshot::Sender<oneshot::Receiver<()>>),
    /// Pushed to those of `users` who are connected.
    Notify {
        users: Vec<UserId>,
        push: Push,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("the dispatcher is shutting down")]
    Stopped,
}

/// A cheap, cloneable handle to the hub.
#[derive(Clone)]
pub struct Hub {
    tx: mpsc::Sender<Msg>,
}

impl Hub {
    pub async fn command(&self, cmd: Command) -> Result<Reply, HubError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Command(cmd, reply)).await.map_err(|_| HubError::Stopped)?;
        Ok(rx.await.map_err(|_| HubError::Stopped)??)
    }

    /// Registers an agent's connection and marks it connected; returns its snapshot.
    pub async fn attach(
        &self,
        agent: UserId,
        conn: ConnId,
        tx: mpsc::UnboundedSender<Push>,
        winding_down: bool,
    ) -> Result<AgentSnapshot, HubError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Attach { agent, conn, tx, winding_down, reply }).await.map_err(|_| HubError::Stopped)?;
        Ok(rx.await.map_err(|_| HubError::Stopped)??)
    }

    pub async fn detach(&self, agent: UserId, conn: ConnId) {
        let _ = self.tx.send(Msg::Detach { agent, conn }).await;
    }

    /// Waits until every record made so far is in the store, for reads that
    /// must see a change the dispatcher just made.
    pub async fn flush(&self) -> Result<(), HubError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Flush(reply)).await.map_err(|_| HubError::Stopped)?;
        let stored = rx.await.map_err(|_| HubError::Stopped)?;
        stored.await.map_err(|_| HubError::Stopped)
    }

    /// Runs a read-only function on the dispatcher's current state.
    pub async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Dispatcher, Timestamp) -> T + Send + 'static,
    ) -> Result<T, HubError> {
        let (reply, rx) = oneshot::channel();
        let q: Query = Box::new(move |d, now| {
            let _ = reply.send(f(d, now));
        });
        self.tx.send(Msg::Query(q)).await.map_err(|_| HubError::Stopped)?;
        rx.await.map_err(|_| HubError::Stopped)
    }

    /// Applies new rules to the dispatcher at one instant, between two
    /// commands (a configuration reload); the offers they lead to go out
    /// like a command's.
    pub async fn apply_rules(
        &self,
        rules: Rules,
        reevaluate: bool,
    ) -> Result<Result<RulesApplied, RulesRefused>, HubError> {
        let (reply, rx) = oneshot::channel();
        let msg = Msg::ApplyRules { rules: Box::new(rules), reevaluate, reply };
        self.tx.send(msg).await.map_err(|_| HubError::Stopped)?;
        rx.await.map_err(|_| HubError::Stopped)
    }

    /// Tells those of `users` connected here that a case was sent to their
    /// department; a user not connected sees it on their case list.
    pub async fn notify(&self, users: Vec<UserId>, notice: CaseNotice) {
        let push = Push::CaseSent(Arc::new(notice));
        let _ = self.tx.send(Msg::Notify { users, push }).await;
    }

    /// Pushes to `user` if connected here (a placed call's state).
    pub async fn push_to(&self, user: UserId, push: Push) {
        let _ = self.tx.send(Msg::Notify { users: vec![user], push }).await;
    }

    /// The names of the queues `agent` going to `status` would leave with
    /// nobody online ([`Dispatcher::left_uncovered`]); empty if the
    /// dispatcher does not answer, since this only informs the agent.
    pub async fn left_uncovered(&self, agent: UserId, status: &AgentStatus) -> Vec<String> {
        let status = status.clone();
        let names = move |d: &Dispatcher, now: Timestamp| -> Vec<String> {
            let queues = d.left_uncovered(agent, &status, now);
            queues.into_iter().map(|q| d.rules().queue_name(q).to_owned()).collect()
        };
        self.query(names).await.unwrap_or_default()
    }
}

/// What a command means for the live figures before the dispatcher's
/// effects tell the rest: a task entering, an agent's name.
enum FloorChange {
    Event(FloorEvent),
    Named(UserId, String),
}

fn floor_event_of(cmd: &Command) -> Option<FloorChange> {
    match cmd {
        Command::AddTask(new) => Some(FloorChange::Event(FloorEvent::Entered {
            task: new.card.id,
            kind: new.card.kind,
            queue: new.card.queue.clone(),
            deadline: new.card.deadline,
            at: new.enqueued_at,
        })),
        Command::UpsertAgent(profile) => Some(FloorChange::Named(profile.id, profile.name.clone())),
        _ => None,
    }
}

struct Actor {
    dispatcher: Dispatcher,
    conns: HashMap<UserId, (ConnId, mpsc::UnboundedSender<Push>)>,
    writer: Writer,
    /// With Redis: where changes go before they are delivered.
    live: Option<LiveWriter>,
    calls: Option<mpsc::UnboundedSender<CallEvent>>,
    /// The live figures' feed, told of every floor event.
    floor: Option<FloorTx>,
    effects: Vec<Effect>,
    ops: Vec<LiveOp>,
    deliveries: Vec<Delivery>,
}

/// Starts the hub. It runs until `shutdown` fires; then it hands back every
/// outstanding offer (so the store shows those tasks waiting), queues the
/// last records to `writer` and returns.
pub fn spawn(
    dispatcher: Dispatcher,
    writer: Writer,
    live: Option<LiveWriter>,
    calls: Option<mpsc::UnboundedSender<CallEvent>>,
    floor: Option<FloorTx>,
    shutdown: CancellationToken,
) -> (Hub, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(1024);
    let actor = Actor {
        dispatcher,
        conns: HashMap::new(),
        writer,
        live,
        calls,
        floor,
        effects: Vec::new(),
        ops: Vec::new(),
        deliveries: Vec::new(),
    };
    (Hub { tx }, tokio::spawn(actor.run(rx, shutdown)))
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, shutdown: CancellationToken) {
        loop {
            let sleep = match self.dispatcher.next_wakeup() {
                Some(at) => {
                    let wait = at.duration_since(Timestamp::now());
                    let wait = if wait.is_negative() { Duration::ZERO } else { wait.unsigned_abs() };
                    tokio::time::sleep(wait.min(Duration::from_secs(3600)))
                }
                None => tokio::time::sleep(Duration::from_secs(3600)),
            };
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                _ = sleep => self.dispatcher.tick(Timestamp::now(), &mut self.effects),
            }
            self.carry_out();
        }
        // Hand back offers: whoever held them is gone with this process.
        let now = Timestamp::now();
        for agent in self.dispatcher.agents_view() {
            let _ = self.dispatcher.handle(now, Command::Disconnect { agent: agent.id }, &mut self.effects);
        }
        self.carry_out();
        tracing::info!("dispatcher stopped; pending records are being written");
    }

    fn handle(&mut self, msg: Msg) {
        let now = Timestamp::now();
        match msg {
            // Replies go after the effects, so a console sees what its
            // command caused before the acknowledgement.
            Msg::Command(cmd, reply) => {
                let (name, task, agent) = cmd.subject();
                let span = tracing::debug_span!(
                    "command",
                    name,
                    task = task.map(tracing::field::display),
                    agent = agent.map(tracing::field::display)
                );
                let _in_span = span.enter();
                let added = match &cmd {
                    Command::AddTask(new) if self.live.is_some() => Some(new.card.id),
                    _ => None,
                };
                let floor = self.floor.as_ref().and_then(|_| floor_event_of(&cmd));
                let result = self.dispatcher.handle(now, cmd, &mut self.effects);
                if let (Some(tx), Some(event), true) = (&self.floor, floor, result.is_ok()) {
                    match event {
                        FloorChange::Event(e) => tx.event(e),
                        FloorChange::Named(agent, name) => tx.named(agent, name),
                    }
                }
                if let Some(live) = added.and_then(|id| Some((id, self.dispatcher.live_task(id)?))) {
                    self.ops.push(LiveOp::from_live_task(live.0, &live.1));
                }
                self.reply_after(move || {
                    let _ = reply.send(result);
                });
            }
            Msg::Attach { agent, conn, tx, winding_down, reply } => {
                let result = self.dispatcher.handle(now, Command::Connect { agent, winding_down }, &mut self.effects);
                let result = result.map(|r| match r {
                    Reply::Snapshot(s) => s,
                    Reply::Done | Reply::Deferred => unreachable!("connect replies with a snapshot"),
                });
                if result.is_ok()
                    && let Some((_, old)) = self.conns.insert(agent, (conn, tx))
                {
                    let _ = old.send(Push::Replaced);
                }
                self.reply_after(move || {
                    let _ = reply.send(result);
                });
            }
            Msg::Detach { agent, conn } => {
                if self.conns.get(&agent).is_some_and(|(c, _)| *c == conn) {
                    self.conns.remove(&agent);
                    let _ = self.dispatcher.handle(now, Command::Disconnect { agent }, &mut self.effects);
                }
            }
            Msg::Query(q) => q(&self.dispatcher, now),
            Msg::ApplyRules { rules, reevaluate, reply } => {
                let result = self.dispatcher.apply_rules(now, *rules, reevaluate, &mut self.effects);
                self.reply_after(move || {
                    let _ = reply.send(result);
                });
            }
            Msg::Flush(reply) => {
                self.deliveries.push(Delivery::Flush(reply));
                self.carry_out();
            }
            Msg::Notify { users, push } => {
                for user in users {
                    if let Some((_, tx)) = self.conns.get(&user) {
                        let _ = tx.send(push.clone());
                    }
                }
            }
        }
    }

    /// Carries out the effects, then `reply`: a console sees what its
    /// command caused before the acknowledgement, and with Redis the
    /// acknowledgement waits until the change is there.
    fn reply_after(&mut self, reply: impl FnOnce() + Send + 'static) {
        let records = self.collect_effects();
        if self.live.is_some() {
            self.deliveries.push(Delivery::Reply(Box::new(reply)));
            self.send_out(records);
        } else {
            // Without Redis the effects go out now: no need to box the reply.
            self.send_out(records);
            reply();
        }
    }

    fn carry_out(&mut self) {
        let records = self.collect_effects();
        self.send_out(records);
    }

    /// Hands the records and what is owed to the live writer, or without
    /// Redis writes and delivers at once.
    fn send_out(&mut self, records: Vec<Record>) {
        if records.is_empty() && self.deliveries.is_empty() && self.ops.is_empty() {
            return;
        }
        match &self.live {
            Some(live) => live.send(Outbox {
                records,
                ops: std::mem::take(&mut self.ops),
                deliveries: std::mem::take(&mut self.deliveries),
            }),
            None => {
                if !records.is_empty() && !self.writer.records(records) {
                    tracing::error!("the store writer has stopped; records are being lost");
                }
                for d in self.deliveries.drain(..) {
                    d.deliver(&self.writer);
                }
            }
        }
    }

    /// Turns the effects into records (returned) and deliveries (queued).
    fn collect_effects(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        let mut effects = std::mem::take(&mut self.effects);
        if let Some(floor) = &self.floor {
            floor.effects(&effects);
        }
        for effect in effects.drain(..) {
            self.tell_calls(&effect);
            let (agent, push) = match effect {
                Effect::Record(r) => {
                    records.push(r);
                    continue;
                }
                Effect::Offer { agent, offer } => (agent, Push::Offer(offer)),
                Effect::OfferRescinded { agent, task, reason } => (agent, Push::OfferRescinded { task, reason }),
                Effect::TaskAssigned { agent, task } => (agent, Push::TaskAssigned(task)),
                Effect::TaskRevoked { agent, task, reason } => (agent, Push::TaskRevoked { task, reason }),
                Effect::AgentStatusChanged { agent, status, since } => (agent, Push::Status { status, since }),
            };
            if let Some((_, tx)) = self.conns.get(&agent) {
                self.deliveries.push(Delivery::Push(tx.clone(), push));
            }
        }
        self.effects = effects;
        records
    }

    /// Forwards what concerns inbound calls to the SIP connector.
    fn tell_calls(&mut self, effect: &Effect) {
        let Some(calls) = &self.calls else { return };
        let event = match effect {
            Effect::Offer { agent, offer } if offer.task.kind == TaskKind::InboundCall => {
                let contact = self.dispatcher.agent_profile(*agent).and_then(|p| p.sip_uri.clone());
                CallEvent::Offered { task: offer.task.id, agent: *agent, contact }
            }
            Effect::TaskAssigned { task, agent } if task.kind == TaskKind::InboundCall => {
                CallEvent::Answered { task: task.id, agent: *agent }
            }
            Effect::Record(Record::TaskClosed { task, .. }) => CallEvent::Closed { task: *task },
            Effect::Record(Record::TaskReturned { task, .. }) => CallEvent::Returned { task: *task },
            _ => return,
        };
        self.deliveries.push(Delivery::Call(calls.clone(), event));
    }
}
