//! The shell of calls Switchboard places for agents (`[sip.outbound]`):
//! it checks the rules of calling out (`rules/dialling.rs`), records each
//! call before the dialler (`sip/dialler.rs`) sends anything, stores each
//! call's legs when the dialler asks, and turns the dialler's reports into
//! the call's record, the agent's console (`call` messages), the
//! wallboard (calls past the limit) and the dispatcher: the customer
//! leg's outcome is the attempt's, and an agent's phone that does not
//! answer hands the task back without an attempt.
//!
//! At start the calls a crash left open are hung up and recorded
//! `interrupted`; on shutdown no new call is placed and those going on
//! have `drain_secs` to finish.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::call::{Call, CallEnd, CallSettings, HungUp};
use crate::domain::{
    CallPurpose, DriverCallOutcome, DriverId, HungUpBy, Outcome, Phone, PlacedOutcome, TaskId, TaskKind, TripId, UserId,
};
use crate::rules::calendar::Calendar;
use crate::rules::dialling::{CallLength, DialMode, DialRefusal, may_dial};
use crate::rules::dispatch::Command;
use crate::rules::figures::FloorEvent;
use crate::runtime::figures::FloorTx;
use crate::runtime::hub::{CallStage, CallState, Hub, Push};
use crate::runtime::travel_board::Board;
use crate::sip::dialler::{self, CallReport, Journal, Order, PlaceCall};
use crate::sip::settings::OutboundConfig;
use crate::sip::stored::StoredCall;
use crate::store::{CallStep, Driver, NewPlacedCall, PlacedEnd, Store};

/// Why a call is not placed. Each has its code, the same over REST and
/// the WebSocket.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("calls of this kind are dialled by hand ([kinds.{0}] dialling = \"manual\")")]
    Manual(String),
    #[error("this server has no PBX route for calls out ([sip.outbound])")]
    NotConfigured,
    #[error("this task is not held by you")]
    NotHeld,
    #[error("your account has no phone (sip_uri) to ring first")]
    NoPhone,
    #[error("you are on a call Switchboard placed; one at a time")]
    InProgress,
    #[error("{0}")]
    Refused(DialRefusal),
    #[error("the server is shutting down")]
    Stopping,
    #[error("internal error; see the server log")]
    Internal,
}

impl DialError {
    pub fn code(&self) -> &'static str {
        match self {
            DialError::Manual(_) => "dialling_manual",
            DialError::NotConfigured => "dialling_not_configured",
            DialError::NotHeld => "not_held_by_you",
            DialError::NoPhone => "no_phone",
            DialError::InProgress => "call_in_progress",
            DialError::Refused(DialRefusal::OutsideHours) => "outside_hours",
            DialError::Refused(DialRefusal::TooSoon { .. }) => "called_too_recently",
            DialError::Refused(DialRefusal::DoNotCall) => "do_not_call",
            DialError::Stopping => "shutting_down",
            DialError::Internal => "internal",
        }
    }

    /// Every code, for the protocol document's test.
    pub fn codes() -> [&'static str; 10] {
        [
            "dialling_manual",
            "dialling_not_configured",
            "not_held_by_you",
            "no_phone",
            "call_in_progress",
            "outside_hours",
            "called_too_recently",
            "do_not_call",
            "shutting_down",
            "internal",
        ]
    }
}

/// A travel call's subject: a trip's driver, or an inn's front desk.
#[derive(Clone, Debug)]
pub enum Travel {
    Driver { trip: TripId, driver: DriverId, name: String },
    InnDesk { order: String },
}

/// What a call is placed to.
struct Target {
    task: Option<TaskId>,
    travel: Option<Travel>,
    number: Phone,
}

/// One call going on.
#[derive(Clone, Debug)]
struct LiveCall {
    agent: UserId,
    task: Option<TaskId>,
    travel: Option<Travel>,
    number: Phone,
    connected_at: Option<Timestamp>,
}

#[derive(Default)]
struct Calls {
    by_id: HashMap<String, LiveCall>,
    /// Agents with a call going on (or being placed).
    busy: HashMap<UserId, String>,
    /// Tasks whose call reached the customer: the agent's `complete`
    /// records `reached`, whatever it says.
    reached: HashSet<TaskId>,
}

struct Inner {
    store: Store,
    hub: Hub,
    calendar: Arc<Calendar>,
    outbound: OutboundConfig,
    /// The dialler's address in Via and Contact.
    local: std::net::SocketAddr,
    lengths: CallLength,
    modes: HashMap<TaskKind, DialMode>,
    orders: mpsc::Sender<Order>,
    floor: Option<FloorTx>,
    board: Option<Board>,
    calls: Mutex<Calls>,
    stopping: CancellationToken,
}

/// The handle the console and REST dial through.
#[derive(Clone)]
pub struct Placer(Arc<Inner>);

/// What `start` needs.
pub struct PlacerParts {
    pub store: Store,
    pub hub: Hub,
    pub calendar: Arc<Calendar>,
    pub outbound: OutboundConfig,
    pub lengths: CallLength,
    pub modes: HashMap<TaskKind, DialMode>,
    pub floor: Option<FloorTx>,
    /// The dispatch board, touched when a driver's call is recorded.
    pub board: Option<Board>,
}

fn now() -> Timestamp {
    Timestamp::now()
}

impl Placer {
    /// Binds nothing: `socket` is the dialler's, bound by the caller. Hangs
    /// up what a crash left open, then serves until `shutdown`, and drains.
    pub async fn start(
        parts: PlacerParts,
        socket: UdpSocket,
        shutdown: CancellationToken,
    ) -> std::io::Result<(Placer, tokio::task::JoinHandle<()>)> {
        let (orders_tx, orders_rx) = mpsc::channel(1024);
        let (reports_tx, reports_rx) = mpsc::channel(1024);
        let (journal_tx, journal_rx) = mpsc::channel(1024);
        let inner = Arc::new(Inner {
            store: parts.store,
            hub: parts.hub,
            calendar: parts.calendar,
            outbound: parts.outbound.clone(),
            local: parts.outbound.advertise.unwrap_or(socket.local_addr()?),
            lengths: parts.lengths,
            modes: parts.modes,
            orders: orders_tx,
            floor: parts.floor,
            board: parts.board,
            calls: Mutex::new(Calls::default()),
            stopping: CancellationToken::new(),
        });
        let placer = Placer(inner.clone());
        let dialler_stop = CancellationToken::new();
        let dialler = tokio::spawn(dialler::run(
            socket,
            parts.outbound.pbx,
            orders_rx,
            reports_tx,
            Some(journal_tx),
            dialler_stop.clone(),
        ));
        placer.end_left_open().await;
        let drain = Duration::from_secs(parts.outbound.drain_secs);
        let task = tokio::spawn({
            let placer = placer.clone();
            async move {
                let follow = placer.follow(reports_rx, journal_rx);
                let stop = async {
                    shutdown.cancelled().await;
                    placer.0.stopping.cancel();
                    let _ = placer.0.orders.send(Order::Drain(drain)).await;
                    // The dialler ends the calls at the drain's end and
                    // stops once their BYEs are answered or given up.
                    if tokio::time::timeout(drain + Duration::from_secs(40), dialler).await.is_err() {
                        tracing::warn!("the dialler did not finish its calls in time");
                        dialler_stop.cancel();
                    }
                };
                tokio::join!(follow, stop);
            }
        });
        Ok((placer, task))
    }

    /// The kinds whose calls are placed here, with their mode.
    pub fn placed_kinds(&self) -> std::collections::BTreeMap<TaskKind, DialMode> {
        self.0.modes.iter().filter(|(_, m)| m.places_calls()).map(|(k, m)| (*k, *m)).collect()
    }

    /// The dialling mode of `kind`.
    pub fn mode(&self, kind: TaskKind) -> DialMode {
        self.0.modes.get(&kind).copied().unwrap_or_default()
    }

    /// Whether the agent's `complete` of `task` must record `reached`: its
    /// placed call reached the customer. Taken once.
    pub fn take_reached(&self, task: TaskId) -> bool {
        self.0.calls.lock().expect("calls lock").reached.remove(&task)
    }

    /// Whether a call for `task` is going on.
    pub fn in_call(&self, task: TaskId) -> bool {
        self.0.calls.lock().expect("calls lock").by_id.values().any(|c| c.task == Some(task))
    }

    /// Places the call of `task`, held by `agent`: checks, records, sends.
    /// Returns the call's id.
    pub async fn dial(&self, agent: UserId, task: TaskId) -> Result<String, DialError> {
        if self.0.stopping.is_cancelled() {
            return Err(DialError::Stopping);
        }
        let found = self
            .0
            .hub
            .query(move |d, _| {
                let uri = d.agent_profile(agent).and_then(|p| p.sip_uri.clone());
                let card = d.agent_snapshot(agent).and_then(|s| s.held.iter().find(|c| c.id == task).cloned());
                (uri, card)
            })
            .await
            .map_err(|_| DialError::Stopping)?;
        let (uri, Some(card)) = found else { return Err(DialError::NotHeld) };
        if !self.mode(card.kind).places_calls() {
            return Err(DialError::Manual(card.kind.as_str().to_owned()));
        }
        let uri = uri.ok_or(DialError::NoPhone)?;
        self.place(agent, uri, Target { task: Some(task), travel: None, number: card.customer_phone.clone() }).await
    }

    /// A dispatcher (or agent) calls a trip's driver, the same way: their
    /// phone first. A driver who does not answer is recorded `no_answer` on
    /// the trip; confirming stays the dispatcher's.
    pub async fn dial_driver(&self, caller: UserId, trip: TripId, driver: &Driver) -> Result<String, DialError> {
        let uri = self.phone_of(caller).await?;
        let travel = Travel::Driver { trip, driver: driver.id, name: driver.name.clone() };
        self.place(caller, uri, Target { task: None, travel: Some(travel), number: driver.phone.clone() }).await
    }

    /// An agent calls an inn's front desk about a booking.
    pub async fn dial_inn(&self, caller: UserId, order: &str, desk: &Phone) -> Result<String, DialError> {
        let uri = self.phone_of(caller).await?;
        let travel = Travel::InnDesk { order: order.to_owned() };
        self.place(caller, uri, Target { task: None, travel: Some(travel), number: desk.clone() }).await
    }

    /// The caller's own phone (`sip_uri`), from their account as the
    /// dispatcher knows it (dispatchers and agents alike).
    async fn phone_of(&self, caller: UserId) -> Result<String, DialError> {
        if self.0.stopping.is_cancelled() {
            return Err(DialError::Stopping);
        }
        let in_dispatcher = self
            .0
            .hub
            .query(move |d, _| d.agent_profile(caller).and_then(|p| p.sip_uri.clone()))
            .await
            .map_err(|_| DialError::Stopping)?;
        let uri = match in_dispatcher {
            Some(uri) => Some(uri),
            None => self.0.store.user(caller).await.map_err(|_| DialError::Internal)?.and_then(|u| u.sip_uri),
        };
        uri.ok_or(DialError::NoPhone)
    }

    /// Checks, records and sends a call; one at a time per caller.
    async fn place(&self, agent: UserId, uri: String, target: Target) -> Result<String, DialError> {
        let inner = &self.0;
        let id = uuid::Uuid::now_v7().simple().to_string();
        {
            let mut calls = inner.calls.lock().expect("calls lock");
            if calls.busy.contains_key(&agent) {
                return Err(DialError::InProgress);
            }
            calls.busy.insert(agent, id.clone());
        }
        let settings = CallSettings {
            local: inner.local,
            transport: "UDP",
            agent_uri: uri.clone(),
            customer_uri: inner.outbound.customer_uri_for(target.number.as_str()),
            caller_id_uri: inner.outbound.caller_id.clone(),
            caller_id_name: inner.outbound.caller_name.clone(),
            agent_ring_ms: inner.outbound.agent_ring_secs as i64 * 1000,
            customer_ring_ms: inner.outbound.customer_ring_secs as i64 * 1000,
            max_call_ms: inner.lengths.max_secs as i64 * 1000,
        };
        let legs = Call::stored_at_start(&settings, &id).to_text();
        if let Err(e) = self.check_and_record(&id, agent, &target, (&settings.agent_uri, legs)).await {
            inner.calls.lock().expect("calls lock").busy.remove(&agent);
            return Err(e);
        }
        let live = LiveCall {
            agent,
            task: target.task,
            travel: target.travel,
            number: target.number.clone(),
            connected_at: None,
        };
        inner.calls.lock().expect("calls lock").by_id.insert(id.clone(), live);
        self.tell(&id, CallStage::CallingYou, None).await;
        if inner.orders.send(Order::Place(PlaceCall { id: id.clone(), settings, stored_at_start: true })).await.is_err()
        {
            return Err(DialError::Stopping);
        }
        Ok(id)
    }

    /// The rules of calling out, then the call's record, before anything
    /// is sent. A customer's do-not-call mark and the least gap between
    /// calls to one number are the customer's; the hours are everyone's.
    async fn check_and_record(
        &self,
        id: &str,
        agent: UserId,
        target: &Target,
        (agent_uri, legs): (&str, String),
    ) -> Result<(), DialError> {
        let inner = &self.0;
        let internal = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "checking or recording a call to place failed");
            DialError::Internal
        };
        let number = &target.number;
        let (last, do_not_call) = if target.task.is_some() {
            let customer = inner.store.customer(number).await.map_err(internal)?;
            (inner.store.last_call_to(number).await.map_err(internal)?, customer.is_some_and(|c| c.file.do_not_call))
        } else {
            (None, false)
        };
        let gap = SignedDuration::from_mins(inner.outbound.least_gap_minutes as i64);
        let at = now();
        may_dial(&inner.calendar, at, last, gap, do_not_call).map_err(DialError::Refused)?;
        let (purpose, subject) = match &target.travel {
            None => (CallPurpose::Task, None),
            Some(Travel::Driver { trip, .. }) => (CallPurpose::Driver, Some(trip.to_string())),
            Some(Travel::InnDesk { order }) => (CallPurpose::Inn, Some(order.clone())),
        };
        let record = NewPlacedCall {
            id: id.to_owned(),
            purpose,
            task: target.task,
            subject,
            agent,
            agent_uri: agent_uri.to_owned(),
            number: number.clone(),
            customer_uri: inner.outbound.customer_uri_for(number.as_str()),
            placed_at: at,
            legs,
        };
        inner.store.insert_placed_call(&record).await.map_err(internal)
    }

    /// Pushes the call's state to its agent.
    async fn tell(&self, id: &str, state: CallStage, end: Option<(&PlacedEnd, bool, Option<i64>)>) {
        let Some(call) = self.0.calls.lock().expect("calls lock").by_id.get(id).cloned() else { return };
        let msg = CallState {
            call_id: id.to_owned(),
            task_id: call.task,
            state,
            number: call.number.as_str().to_owned(),
            at: now(),
            connected_at: call.connected_at,
            target_secs: self.0.lengths.target_secs,
            limit_secs: self.0.lengths.limit_secs,
            outcome: end.map(|(e, _, _)| e.outcome),
            code: end.and_then(|(e, _, _)| e.customer_code.or(e.agent_code)),
            talk_secs: end.and_then(|(_, _, t)| t).map(|ms| ms / 1000),
            attempt_recorded: end.is_some_and(|(_, recorded, _)| recorded),
        };
        self.0.hub.push_to(call.agent, Push::Call(Arc::new(msg))).await;
    }

    /// Follows the dialler: stores legs when asked, and each report.
    async fn follow(&self, mut reports: mpsc::Receiver<CallReport>, mut journal: mpsc::Receiver<Journal>) {
        loop {
            tokio::select! {
                biased;
                Some(j) = journal.recv() => {
                    match self.0.store.store_call_legs(&j.id, &j.stored.to_text()).await {
                        Ok(()) => { let _ = j.done.send(()); }
                        Err(e) => tracing::error!(call = %j.id, error = %e, "storing a placed call's legs failed"),
                    }
                }
                report = reports.recv() => match report {
                    Some(r) => self.on_report(r).await,
                    None => break,
                },
            }
        }
    }

    async fn step(&self, id: &str, step: CallStep) {
        if let Err(e) = self.0.store.placed_call_step(id, step, now()).await {
            tracing::error!(call = id, error = %e, "recording a placed call's step failed");
        }
    }

    async fn on_report(&self, report: CallReport) {
        match report {
            CallReport::AgentRinging { .. } => {}
            CallReport::AgentAnswered { id } => {
                self.step(&id, CallStep::AgentAnswered).await;
                self.tell(&id, CallStage::RingingCustomer, None).await;
            }
            CallReport::CustomerRinging { id } => self.step(&id, CallStep::CustomerRinging).await,
            CallReport::Connected { id } => {
                self.step(&id, CallStep::Answered).await;
                let at = now();
                let agent = {
                    let mut calls = self.0.calls.lock().expect("calls lock");
                    calls.by_id.get_mut(&id).map(|c| {
                        c.connected_at = Some(at);
                        c.agent
                    })
                };
                if let (Some(agent), Some(floor)) = (agent, &self.0.floor) {
                    floor.event(FloorEvent::Talking { agent, since: Some(at), at });
                }
                self.tell(&id, CallStage::Connected, None).await;
            }
            CallReport::Ended { id, end } => self.ended(&id, end).await,
        }
    }

    async fn ended(&self, id: &str, end: CallEnd) {
        let at = now();
        let (record, talk_ms) = match &end {
            CallEnd::AgentUnreachable { code } => (
                PlacedEnd {
                    outcome: PlacedOutcome::AgentUnreachable,
                    agent_code: *code,
                    customer_code: None,
                    hung_up: None,
                    at,
                },
                None,
            ),
            CallEnd::Attempt { outcome, code, talk_ms, hung_up, .. } => (
                PlacedEnd {
                    outcome: placed_outcome(outcome.outcome()),
                    agent_code: None,
                    customer_code: *code,
                    hung_up: hung_up.map(hung_up_by),
                    at,
                },
                *talk_ms,
            ),
        };
        if let Err(e) = self.0.store.end_placed_call(id, &record).await {
            tracing::error!(call = id, error = %e, "recording a placed call's end failed");
        }
        let Some(call) = self.0.calls.lock().expect("calls lock").by_id.get(id).cloned() else { return };
        if let (Some(floor), Some(_)) = (&self.0.floor, call.connected_at) {
            floor.event(FloorEvent::Talking { agent: call.agent, since: None, at });
        }
        // The dispatcher: the attempt's outcome, or the task handed back.
        let mut recorded = false;
        if let Some(task) = call.task {
            let agent = call.agent;
            let cmd = match &end {
                CallEnd::AgentUnreachable { .. } => Some(Command::PhoneUnanswered { agent, task }),
                CallEnd::Attempt { outcome, .. } if outcome.outcome() == Outcome::Reached => {
                    self.0.calls.lock().expect("calls lock").reached.insert(task);
                    None
                }
                CallEnd::Attempt { outcome, .. } => {
                    Some(Command::Complete { agent, task, outcome: outcome.outcome(), summary: None })
                }
            };
            if let Some(cmd) = cmd {
                let attempt = matches!(cmd, Command::Complete { .. });
                match self.0.hub.command(cmd).await {
                    Ok(_) => recorded = attempt,
                    // Released or taken back meanwhile: the call's record stays.
                    Err(e) => {
                        tracing::info!(call = id, %task, error = %e, "a placed call's end left the task as it was")
                    }
                }
            }
        }
        if let (Some(Travel::Driver { trip, driver, name }), CallEnd::Attempt { outcome, .. }) = (&call.travel, &end)
            && outcome.outcome() != Outcome::Reached
        {
            // Not answered (or refused by the network): on the trip without typing.
            let no_answer = DriverCallOutcome::NoAnswer;
            match self.0.store.record_driver_call(*trip, *driver, name, no_answer, call.agent, at).await {
                Ok(Ok(())) => recorded = true,
                Ok(Err(refused)) => tracing::info!(call = id, ?refused, "a driver's unanswered call was not recorded"),
                Err(e) => tracing::error!(call = id, error = %e, "recording a driver's unanswered call failed"),
            }
            if let Some(board) = &self.0.board {
                board.touch();
            }
        }
        self.tell(id, CallStage::Ended, Some((&record, recorded, talk_ms))).await;
        let mut calls = self.0.calls.lock().expect("calls lock");
        calls.by_id.remove(id);
        if calls.busy.get(&call.agent).is_some_and(|c| c == id) {
            calls.busy.remove(&call.agent);
        }
    }

    /// Hangs up every call a crash left open and records it `interrupted`.
    async fn end_left_open(&self) {
        let open = match self.0.store.open_placed_calls().await {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(error = %e, "reading the calls left open failed; they are not hung up");
                return;
            }
        };
        for call in open {
            let stored = StoredCall::from_text(&call.legs).unwrap_or_else(|e| {
                tracing::error!(call = %call.id, error = %e, "a call left open does not read back");
                StoredCall::default()
            });
            let _ = self.0.orders.send(Order::EndLeftOpen { id: call.id.clone(), stored }).await;
            let end = PlacedEnd {
                outcome: PlacedOutcome::Interrupted,
                agent_code: None,
                customer_code: None,
                hung_up: Some(HungUpBy::Switchboard),
                at: now(),
            };
            if let Err(e) = self.0.store.end_placed_call(&call.id, &end).await {
                tracing::error!(call = %call.id, error = %e, "recording an interrupted call failed");
            }
            tracing::warn!(call = %call.id, task = ?call.task, "a call left open by a crash was hung up");
        }
    }
}

fn placed_outcome(o: Outcome) -> PlacedOutcome {
    match o {
        Outcome::Reached => PlacedOutcome::Reached,
        Outcome::Busy => PlacedOutcome::Busy,
        Outcome::NoAnswer => PlacedOutcome::NoAnswer,
        Outcome::WrongNumber => PlacedOutcome::WrongNumber,
        Outcome::Interrupted => PlacedOutcome::Interrupted,
        Outcome::Failed | Outcome::Done => PlacedOutcome::Failed,
    }
}

fn hung_up_by(h: HungUp) -> HungUpBy {
    match h {
        HungUp::Agent => HungUpBy::Agent,
        HungUp::Customer => HungUpBy::Customer,
        HungUp::Switchboard => HungUpBy::Switchboard,
    }
}
