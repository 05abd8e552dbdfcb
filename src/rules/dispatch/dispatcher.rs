//! The dispatcher's state and transitions. See the module docs in `mod.rs`
//! for the rules; this file keeps the indexes that make each decision cheap:
//!
//! - per queue, routing class (`routing.rs`) and channel, a `BTreeSet` of
//!   waiting tasks in dispatch order;
//! - per queue and routing class, a `BTreeSet` of routable agents
//!   (available, connected, with free capacity, meeting the class's
//!   levels) ordered by load then idle time;
//! - a `BTreeMap` of timers, fired by [`Dispatcher::tick`].
//!
//! After every command, agents and tasks whose situation changed are marked
//! dirty and `rebalance` matches them, which is how the invariant "no
//! routable agent stays idle while a task it may take waits" is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

pub use self::reload::{RulesApplied, RulesRefused};
use super::routing::{StepAt, class_at, step_at};
use super::*;
use crate::domain::{BreakReason, PassReason, ReturnReason};

mod endings;
mod matching;
mod reload;
mod shifts;
mod steps;
mod timers;

const MAX_PASSED_OVER_LISTED: usize = 8;

/// Waiting-task key: (255 - priority, deadline, enqueued, seq, slot).
type TaskKey = (u8, i64, i64, u64, u32);
/// Routable-agent key: (load, idle since, slot).
type AgentKey = (u8, i64, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Waiting,
    Offered { agent: u32, expires: i64 },
    Assigned { agent: u32 },
}

#[derive(Debug)]
struct Task {
    card: Arc<TaskCard>,
    queue: u8,
    channel: Channel,
    key: TaskKey,
    state: TaskState,
    /// Agents who declined or let an offer of this task lapse, and until when.
    passed_over: Vec<(u32, i64)>,
    /// Kept for this agent until then (a case's owner).
    reserved: Option<(u32, i64)>,
    /// Never offered to this agent.
    avoid: Option<u32>,
    /// The kind's routing steps, and the one the task is at (`steps.len()`
    /// once past the last: anyone serving the queue).
    steps: Arc<[StepAt]>,
    step: u8,
    /// The current offer's number, unique in the dispatcher, so the
    /// timeout timer of an earlier offer (of this task or of an earlier
    /// task in the same slot) is ignored.
    offer_epoch: u64,
}

#[derive(Debug)]
struct Agent {
    profile: AgentProfile,
    status: AgentStatus,
    status_since: i64,
    idle_since: i64,
    connected: bool,
    /// Slots of tasks offered to or held by the agent.
    tasks: Vec<u32>,
    voice_load: u8,
    back_office_load: u8,
    missed_in_a_row: u32,
    /// A break or log-off asked for during a call, applied when it ends.
    pending_status: Option<AgentStatus>,
    /// Bumped on every status change, so a wrap-up timer of an earlier
    /// status is ignored.
    status_epoch: u64,
    /// Bumped on connect and disconnect, so a reconnect-grace timer of an
    /// earlier disconnection is ignored. Kept apart from `status_epoch`: a
    /// status change while disconnected must not cancel the grace timer, and
    /// a reconnect must not cancel wrap-up.
    conn_epoch: u64,
    /// The key under which the agent sits in its queues' routable sets.
    routable_key: Option<AgentKey>,
    /// The routing classes whose levels the agent meets (bit 0, anyone in
    /// the queue, always).
    classes: u64,
    /// In the last minutes of the shift, or past its end: no new offers
    /// until the agent next comes on from offline.
    winding_down: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    OfferExpiry {
        slot: u32,
        epoch: u64,
    },
    PassOverExpiry {
        task: TaskId,
    },
    WrapUpEnd {
        agent: u32,
        epoch: u64,
    },
    ReconnectGrace {
        agent: u32,
        epoch: u64,
    },
    /// A waiting task's routing step is over: it widens to the next.
    StepWiden {
        task: TaskId,
    },
}

#[derive(Debug)]
struct QueueState {
    /// Waiting tasks, one set per routing class and channel.
    waiting: Vec<[BTreeSet<TaskKey>; 2]>,
    /// Routable agents, one set per routing class; class 0 holds all of them.
    routable: Vec<BTreeSet<AgentKey>>,
    /// The classes this queue's kinds use: an agent is indexed in those only.
    classes: u64,
    members: u32,
    /// Members by status bucket: offline, available, busy, wrap_up, break, disconnected.
    by_status: [u32; 6],
}

pub struct Dispatcher {
    rules: Rules,
    routing: Routing,
    tasks: Vec<Option<Task>>,
    free_slots: Vec<u32>,
    task_index: HashMap<TaskId, u32>,
    agents: Vec<Agent>,
    agent_index: HashMap<UserId, u32>,
    queues: Vec<QueueState>,
    timers: BTreeMap<(i64, u64), Timer>,
    timer_seq: u64,
    task_seq: u64,
    offer_seq: u64,
    dirty_tasks: Vec<u32>,
    dirty_agents: Vec<u32>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

/// The positions of the bits set in `set`, lowest first: one step per bit
/// set, not per bit, since this is on every decision's path.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let i = set.trailing_zeros() as usize;
        set &= set.wrapping_sub(1);
        (i < 64).then_some(i)
    })
}

fn channel_slot(c: Channel) -> usize {
    match c {
        Channel::Voice => 0,
        Channel::BackOffice => 1,
    }
}

fn bucket(status: &AgentStatus, connected: bool) -> usize {
    match status {
        AgentStatus::Offline => 0,
        AgentStatus::Available if !connected => 5,
        AgentStatus::Available => 1,
        AgentStatus::Busy => 2,
        AgentStatus::WrapUp => 3,
        AgentStatus::Break(_) => 4,
    }
}

impl QueueState {
    fn new(routing: &Routing, q: usize) -> QueueState {
        let classes = routing.class_count();
        QueueState {
            waiting: (0..classes).map(|_| Default::default()).collect(),
            routable: (0..classes).map(|_| BTreeSet::new()).collect(),
            classes: routing.used_in(q),
            members: 0,
            by_status: [0; 6],
        }
    }
}

impl Agent {
    fn can_take(&self, channel: Channel) -> bool {
        if self.status != AgentStatus::Available || !self.connected || self.winding_down || self.voice_load > 0 {
            return false;
        }
        match channel {
            Channel::Voice => self.voice_load < self.profile.voice_capacity,
            Channel::BackOffice => self.back_office_load < self.profile.back_office_capacity,
        }
    }
    fn routable(&self) -> bool {
        self.can_take(Channel::Voice) || self.can_take(Channel::BackOffice)
    }
    fn load(&self) -> u8 {
        self.voice_load + self.back_office_load
    }
    fn queue_bits(&self) -> impl Iterator<Item = usize> + use<> {
        bits(self.profile.queues)
    }
}

impl Task {
    /// The routing class the task is at: whose levels it wants now.
    fn class(&self) -> u8 {
        class_at(&self.steps, self.step)
    }

    /// Why the task may not go to `agent` now, if it may not: the agent
    /// passed it over recently, or it is kept for another agent.
    fn kept_from(&self, agent: u32, now: i64) -> Option<PassReason> {
        if self.passed_over.iter().any(|&(a, until)| a == agent && until > now) {
            Some(PassReason::PassedRecently)
        } else if self.reserved.is_some_and(|(owner, until)| owner != agent && until > now) {
            Some(PassReason::ReservedForAnotherAgent)
        } else if self.avoid == Some(agent) {
            Some(PassReason::AvoidedAgent)
        } else {
            None
        }
    }
}

impl Dispatcher {
    pub fn new(rules: Rules) -> Self {
        let routing = Routing::new(&rules);
        let queues = (0..rules.queues.len()).map(|q| QueueState::new(&routing, q)).collect();
        Dispatcher {
            rules,
            routing,
            tasks: Vec::new(),
            free_slots: Vec::new(),
            task_index: HashMap::new(),
            agents: Vec::new(),
            agent_index: HashMap::new(),
            queues,
            timers: BTreeMap::new(),
            timer_seq: 0,
            task_seq: 0,
            offer_seq: 0,
            dirty_tasks: Vec::new(),
            dirty_agents: Vec::new(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Applies one command at `now`, appending effects to `out`. On error
    /// nothing has changed and nothing is appended.
    pub fn handle(&mut self, now: Timestamp, cmd: Command, out: &mut Vec<Effect>) -> Result<Reply, DispatchError> {
        let now = ms(now);
        let reply = match cmd {
            Command::AddTask(new) => self.add_task(now, new, out).map(|_| Reply::Done),
            Command::CancelTask { task } => {
                self.close_task(now, task, TaskStatus::Cancelled, None, out).map(|_| Reply::Done)
            }
            Command::Abandon { task } => {
                self.close_task(now, task, TaskStatus::Abandoned, None, out).map(|_| Reply::Done)
            }
            Command::Settle { task, outcome, summary } => {
                self.close_task(now, task, TaskStatus::Completed, Some((outcome, summary)), out).map(|_| Reply::Done)
            }
            Command::UpsertAgent(profile) => {
                self.upsert_agent(now, profile);
                Ok(Reply::Done)
            }
            Command::Connect { agent, winding_down } => {
                self.connect(now, agent, winding_down, out).map(Reply::Snapshot)
            }
            Command::Disconnect { agent } => self.disconnect(now, agent, out).map(|_| Reply::Done),
            Command::SetStatus { agent, status } => self.set_status(now, agent, status, false, out),
            Command::ForceStatus { agent, status } => self.set_status(now, agent, status, true, out),
            Command::Accept { agent, task } => self.accept(now, agent, task, out).map(|_| Reply::Done),
            Command::Decline { agent, task } => self.decline(now, agent, task, out).map(|_| Reply::Done),
            Command::Complete { agent, task, outcome, summary } => {
                self.complete(now, agent, task, outcome, summary, out).map(|_| Reply::Done)
            }
            Command::Release { agent, task, note } => self.release(now, agent, task, note, out).map(|_| Reply::Done),
            Command::PhoneUnanswered { agent, task } => {
                self.phone_unanswered(now, agent, task, out).map(|_| Reply::Done)
            }
            Command::ShiftEnding { agent } => self.wind_down(agent).map(|_| Reply::Done),
            Command::EndShift { agent, note } => self.end_shift(now, agent, note, out).map(|_| Reply::Done),
        }?;
        self.rebalance(now, out);
        Ok(reply)
    }

    /// Fires every timer due at or before `now`.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Effect>) {
        let now = ms(now);
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.fire(now, timer, out);
        }
        self.rebalance(now, out);
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub fn next_wakeup(&self) -> Option<Timestamp> {
        self.timers.keys().next().map(|&(at, _)| ts(at))
    }

    // ----- commands -----

    fn add_task(&mut self, now: i64, new: NewTask, out: &mut Vec<Effect>) -> Result<(), DispatchError> {
        let id = new.card.id;
        if self.task_index.contains_key(&id) {
            return Err(DispatchError::DuplicateTask);
        }
        let holder = match new.held_by {
            Some(agent) => Some(self.agent_slot(agent)?),
            None => None,
        };
        self.task_seq += 1;
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.tasks.push(None);
                (self.tasks.len() - 1) as u32
            }
        };
        let deadline = new.plan.deadline.map(ms).unwrap_or(i64::MAX);
        // Kept for an agent the dispatcher knows; the expiry timer makes it
        // everyone's when the reservation ends.
        let reserved = new.card.reserved.and_then(|r| Some((*self.agent_index.get(&r.agent)?, ms(r.until))));
        if let Some((_, until)) = reserved.filter(|&(_, until)| until > now) {
            self.arm(until, Timer::PassOverExpiry { task: id });
        }
        let avoid = new.card.avoid_agent.and_then(|a| self.agent_index.get(&a).copied());
        let key = (255 - new.plan.priority, deadline, ms(new.enqueued_at), self.task_seq, slot);
        // A recovered task is at the step its age says.
        let steps = self.routing.steps(new.card.kind);
        let (step, next) = step_at(&steps, now - key.2);
        if let Some(next) = next {
            self.arm(key.2.saturating_add(next), Timer::StepWiden { task: id });
        }
        self.tasks[slot as usize] = Some(Task {
            card: new.card,
            queue: new.plan.queue.0,
            channel: new.plan.channel,
            key,
            state: TaskState::Waiting,
            passed_over: Vec::new(),
            reserved,
            avoid,
            steps,
            step,
            offer_epoch: 0,
        });
        self.task_index.insert(id, slot);
        match holder {
            // Recovered after a restart: the agent keeps it, or loses it when
            // the reconnect grace runs out.
            Some(a) => {
                self.task_mut(slot).state = TaskState::Assigned { agent: a };
                self.attach(a, slot);
                if new.plan.channel == Channel::Voice {
                    self.change_status(now, a, AgentStatus::Busy, out);
                }
                if !self.agents[a as usize].connected {
                    self.arm_grace(now, a);
                }
            }
            None => self.enqueue(slot),
        }
        Ok(())
    }

    fn upsert_agent(&mut self, now: i64, profile: AgentProfile) {
        match self.agent_index.get(&profile.id) {
            Some(&a) => {
                self.unindex_agent(a);
                let agent = &mut self.agents[a as usize];
                agent.classes = self.routing.classes_met(profile.queues, &profile.levels);
                agent.profile = profile;
                self.index_agent(a);
                self.dirty_agents.push(a);
            }
            None => {
                let a = self.agents.len() as u32;
                self.agent_index.insert(profile.id, a);
                let classes = self.routing.classes_met(profile.queues, &profile.levels);
                self.agents.push(Agent {
                    profile,
                    status: AgentStatus::Offline,
                    status_since: now,
                    idle_since: now,
                    connected: false,
                    tasks: Vec::new(),
                    voice_load: 0,
                    back_office_load: 0,
                    missed_in_a_row: 0,
                    pending_status: None,
                    status_epoch: 0,
                    conn_epoch: 0,
                    routable_key: None,
                    classes,
                    winding_down: false,
                });
                self.index_agent(a);
            }
        }
    }

    fn connect(
        &mut self,
        now: i64,
        id: UserId,
        winding_down: bool,
        out: &mut Vec<Effect>,
    ) -> Result<AgentSnapshot, DispatchError> {
        let a = self.agent_slot(id)?;
        self.unindex_agent(a);
        let agent = &mut self.agents[a as usize];
        agent.connected = true;
        agent.conn_epoch += 1;
        self.index_agent(a);
        if self.agents[a as usize].status == AgentStatus::Offline {
            self.change_status(now, a, AgentStatus::Available, out);
        }
        if winding_down {
            // In the same command, before any matching: no offer goes out
            // in between (coming back on clears the flag, so it is set after).
            self.wind_down(id)?;
        }
        self.dirty_agents.push(a);
        Ok(self.snapshot(a))
    }

    fn disconnect(&mut self, now: i64, id: UserId, out: &mut Vec<Effect>) -> Result<(), DispatchError> {
        let a = self.agent_slot(id)?;
        if !self.agents[a as usize].connected {
            return Ok(());
        }
        self.unindex_agent(a);
        self.agents[a as usize].connected = false;
        self.index_agent(a);
        // Pending offers go to the next agent at once: nobody is there to answer.
        for slot in self.agents[a as usize].tasks.clone() {
            if let TaskState::Offered { .. } = self.task(slot).state {
                self.return_to_queue(now, a, slot, ReturnReason::Disconnected, None, false, out);
            }
        }
        self.arm_grace(now, a);
        Ok(())
    }

    fn set_status(
        &mut self,
        now: i64,
        id: UserId,
        status: AgentStatus,
        force: bool,
        out: &mut Vec<Effect>,
    ) -> Result<Reply, DispatchError> {
        let a = self.agent_slot(id)?;
        if matches!(status, AgentStatus::Busy | AgentStatus::WrapUp) {
            return Err(DispatchError::StatusNotSettable(status.name()));
        }
        if force && status == AgentStatus::Available && self.agents[a as usize].winding_down {
            // A supervisor keeps the agent on past the shift.
            self.unindex_agent(a);
            self.agents[a as usize].winding_down = false;
            self.index_agent(a);
            self.dirty_agents.push(a);
        }
        let agent = &mut self.agents[a as usize];
        if agent.status == AgentStatus::Busy && !force {
            // On a call: the new status takes effect when the call ends.
            agent.pending_status = (status != AgentStatus::Available).then_some(status);
            return Ok(Reply::Deferred);
        }
        agent.pending_status = None;
        self.change_status(now, a, status, out);
        Ok(Reply::Done)
    }

    fn accept(&mut self, now: i64, id: UserId, task: TaskId, out: &mut Vec<Effect>) -> Result<(), DispatchError> {
        let a = self.agent_slot(id)?;
        let slot = self.task_slot(task)?;
        match self.task(slot).state {
            TaskState::Offered { agent, .. } if agent == a => {}
            _ => return Err(DispatchError::NotOfferedToYou),
        }
        self.task_mut(slot).state = TaskState::Assigned { agent: a };
        self.agents[a as usize].missed_in_a_row = 0;
        out.push(Effect::TaskAssigned { agent: id, task: self.task(slot).card.clone() });
        out.push(Effect::Record(Record::TaskAssigned { task, agent: id, at: ts(now) }));
        if self.task(slot).channel == Channel::Voice {
            self.change_status(now, a, AgentStatus::Busy, out);
        }
        Ok(())
    }

    fn decline(&mut self, now: i64, id: UserId, task: TaskId, out: &mut Vec<Effect>) -> Result<(), DispatchError> {
        let a = self.agent_slot(id)?;
        let slot = self.task_slot(task)?;
        match self.task(slot).state {
            TaskState::Offered { agent, .. } if agent == a => {}
            _ => return Err(DispatchError::NotOfferedToYou),
        }
        self.agents[a as usize].missed_in_a_row = 0;
        self.return_to_queue(now, a, slot, ReturnReason::Declined, None, true, out);
        Ok(())
    }

    // ----- transitions shared by commands -----

    /// Sets an agent's status, voiding its timers and withdrawing offers it
    /// can no longer answer; going offline also hands held tasks back.
    fn change_status(&mut self, now: i64, a: u32, status: AgentStatus, out: &mut Vec<Effect>) {
        let id = self.agent_id(a);
        if self.agents[a as usize].status == status {
            return;
        }
        self.unindex_agent(a);
        let agent = &mut self.agents[a as usize];
        let leaving_floor = matches!(status, AgentStatus::Offline | AgentStatus::Break(_));
        if matches!(agent.status, AgentStatus::Offline | AgentStatus::Break(_)) && status == AgentStatus::Available {
            agent.missed_in_a_row = 0;
        }
        if agent.status == AgentStatus::Offline && status == AgentStatus::Available {
            // Back on: a new shift, or overtime the agent chose.
            agent.winding_down = false;
        }
        if status == AgentStatus::Available || agent.status == AgentStatus::Busy {
            agent.idle_since = now;
        }
        agent.status = status.clone();
        agent.status_since = now;
        agent.status_epoch += 1;
        let epoch = agent.status_epoch;
        self.index_agent(a);
        out.push(Effect::AgentStatusChanged { agent: id, status: status.clone(), since: ts(now) });
        out.push(Effect::Record(Record::AgentStatus { agent: id, status: status.clone(), at: ts(now) }));
        if status == AgentStatus::WrapUp {
            self.arm(now + self.rules.wrap_up.as_millis() as i64, Timer::WrapUpEnd { agent: a, epoch });
        }
        if leaving_floor {
            for slot in self.agents[a as usize].tasks.clone() {
                let task_id = self.task(slot).card.id;
                match self.task(slot).state {
                    TaskState::Offered { .. } => {
                        out.push(Effect::OfferRescinded {
                            agent: id,
                            task: task_id,
                            reason: WithdrawReason::AgentUnavailable,
                        });
                        self.return_to_queue(now, a, slot, ReturnReason::AgentUnavailable, None, false, out);
                    }
                    TaskState::Assigned { .. } if status == AgentStatus::Offline => {
                        out.push(Effect::TaskRevoked {
                            agent: id,
                            task: task_id,
                            reason: WithdrawReason::AgentUnavailable,
                        });
                        self.return_to_queue(now, a, slot, ReturnReason::AgentUnavailable, None, false, out);
                    }
                    _ => {}
                }
            }
        }
        if self.agents[a as usize].connected {
            self.dirty_agents.push(a);
        }
    }

    /// After a held task leaves an agent: a voice task leads to wrap-up.
    fn after_held_task_ends(&mut self, now: i64, a: u32, slot: u32, out: &mut Vec<Effect>) {
        let agent = &self.agents[a as usize];
        if self.task(slot).channel == Channel::Voice && agent.status == AgentStatus::Busy {
            if self.rules.wrap_up.is_zero() {
                let next = self.agents[a as usize].pending_status.take().unwrap_or(AgentStatus::Available);
                self.change_status(now, a, next, out);
            } else {
                self.change_status(now, a, AgentStatus::WrapUp, out);
            }
        }
        self.dirty_agents.push(a);
    }

    /// Puts an offered or held task back at its old place. `pass_over` keeps
    /// it away from this agent for the cool-down so the next agent gets it.
    #[allow(clippy::too_many_arguments)]
    fn return_to_queue(
        &mut self,
        now: i64,
        a: u32,
        slot: u32,
        event: ReturnReason,
        note: Option<String>,
        pass_over: bool,
        out: &mut Vec<Effect>,
    ) {
        self.detach(a, slot);
        let until = now + self.rules.pass_over_cooldown.as_millis() as i64;
        let id = self.task(slot).card.id;
        if pass_over && until > now {
            let task = self.task_mut(slot);
            task.passed_over.retain(|&(agent, _)| agent != a);
            task.passed_over.push((a, until));
            self.arm(until, Timer::PassOverExpiry { task: id });
        }
        let task = self.task_mut(slot);
        task.state = TaskState::Waiting;
        if let Some(note) = &note {
            // Shown to whoever takes it next.
            task.card = Arc::new(TaskCard { handover_note: Some(note.clone()), ..(*task.card).clone() });
        }
        self.enqueue(slot);
        let agent = self.agent_id(a);
        out.push(Effect::Record(Record::TaskReturned { task: id, agent, event, note, at: ts(now) }));
    }
}
