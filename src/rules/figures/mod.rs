//! The floor's live figures, derived from the event stream rather than by
//! sampling: every task entering, being answered, going back to its queue
//! and leaving, and every agent's status change, is folded in as it
//! happens; a snapshot at any moment reads the result. Pure: time (the
//! event's, the snapshot's, and the start of the centre's local day) is
//! an argument, so a scripted day gives figures that can be checked by
//! hand.
//!
//! What each figure means:
//! - **Per queue and kind**: tasks waiting now (not offered to or held by
//!   anyone), the longest wait among them, the oldest deadline among live
//!   tasks and the seconds to it (negative once passed); tasks that
//!   entered, were answered, were abandoned today.
//! - **Inbound calls** (the abandon rate, 呼损率, and the service level):
//!   a call counts once, when it is first answered or when the caller gives
//!   up unanswered. Abandon rate = unanswered / (answered + unanswered),
//!   against the manual's 25 %. Service level = answered within
//!   `service_level_secs` / (answered + unanswered), against
//!   `service_level_target`. Both today (since local midnight) and over
//!   the last 15 and 60 minutes.
//! - **Response times**: first response = an inbound call's wait before its
//!   first answer; average response = the wait before every answer of any
//!   task (from entering or re-entering the queue). Each with the manual's
//!   score (`scoring`).
//! - **Callbacks** (every task with a deadline): live ones due (deadline
//!   ahead) and overdue (deadline passed), those done today and those done
//!   by their deadline.
//! - **Per agent**: status and time in it, attempts finished today (a task
//!   completed, closed unreachable, or sent to the schedule for another
//!   try after the agent took it) and their average handling time.

pub mod scoring;
mod snapshot;
#[cfg(test)]
mod tests;
pub mod wire;

pub use self::snapshot::{
    AgentFigures, CallWindow, CallbackFigures, CentreFigures, FloorFigures, KindFigures, Response,
};

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::{AgentStatus, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Record;

/// From `[figures]` in the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureRules {
    /// A call answered within this many seconds counts for the service level.
    pub service_level_secs: u32,
    /// Share of calls to answer within `service_level_secs`, 0-1.
    pub service_level_target: f64,
    /// Highest acceptable abandon rate, 0-1 (the manual: under 25 %).
    pub abandon_target: f64,
    /// Share of satisfaction calls answered "satisfied" to reach, 0-1
    /// (服务满意率, the manual: 98 % or more).
    #[serde(default = "FigureRules::default_satisfaction_target")]
    pub satisfaction_target: f64,
}

impl Default for FigureRules {
    fn default() -> Self {
        FigureRules {
            service_level_secs: 20,
            service_level_target: 0.8,
            abandon_target: 0.25,
            satisfaction_target: FigureRules::default_satisfaction_target(),
        }
    }
}

impl FigureRules {
    fn default_satisfaction_target() -> f64 {
        0.98
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=3600).contains(&self.service_level_secs) {
            problems.push("figures.service_level_secs: must be 1-3600".into());
        }
        for (key, v) in [
            ("service_level_target", self.service_level_target),
            ("abandon_target", self.abandon_target),
            ("satisfaction_target", self.satisfaction_target),
        ] {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("figures.{key}: must be 0-1"));
            }
        }
        problems
    }
}

/// What happened on the floor, as the figures need it.
#[derive(Clone, Debug, PartialEq)]
pub enum FloorEvent {
    /// A task entered its queue: new, recovered at start, or back from the
    /// schedule for another attempt.
    Entered { task: TaskId, kind: TaskKind, queue: String, deadline: Option<Timestamp>, at: Timestamp },
    /// Offered to an agent, who has not answered yet: no longer waiting.
    Offered { task: TaskId, agent: UserId, at: Timestamp },
    /// Back to waiting: declined, offer timed out, handed back.
    Requeued { task: TaskId, at: Timestamp },
    /// An agent accepted it.
    Answered { task: TaskId, agent: UserId, at: Timestamp },
    /// It left the floor: closed with `status`, or `scheduled` for a later attempt.
    Left { task: TaskId, status: TaskStatus, at: Timestamp },
    /// An agent's status changed.
    Agent { agent: UserId, status: AgentStatus, at: Timestamp },
    /// A call Switchboard placed for the agent connected (`since`), or
    /// ended (`None`): the wallboard shows calls past the limit.
    Talking { agent: UserId, since: Option<Timestamp>, at: Timestamp },
}

impl FloorEvent {
    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            FloorEvent::Entered { at, .. }
            | FloorEvent::Offered { at, .. }
            | FloorEvent::Requeued { at, .. }
            | FloorEvent::Answered { at, .. }
            | FloorEvent::Left { at, .. }
            | FloorEvent::Agent { at, .. }
            | FloorEvent::Talking { at, .. } => *at,
        }
    }

    /// What a dispatcher's record means on the floor: the live server and
    /// a replay fold the same events.
    pub fn of(record: &Record) -> FloorEvent {
        match record {
            Record::TaskOffered { task, agent, at } => FloorEvent::Offered { task: *task, agent: *agent, at: *at },
            Record::TaskReturned { task, at, .. } => FloorEvent::Requeued { task: *task, at: *at },
            Record::TaskAssigned { task, agent, at } => FloorEvent::Answered { task: *task, agent: *agent, at: *at },
            Record::TaskClosed { task, status, at, .. } => FloorEvent::Left { task: *task, status: *status, at: *at },
            Record::TaskRetry { task, at, .. } => {
                FloorEvent::Left { task: *task, status: TaskStatus::Scheduled, at: *at }
            }
            Record::AgentStatus { agent, status, at } => {
                FloorEvent::Agent { agent: *agent, status: status.clone(), at: *at }
            }
        }
    }
}

/// A task live in the dispatcher, as the figures need it at start-up.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedTask {
    pub task: TaskId,
    pub kind: TaskKind,
    pub queue: String,
    pub deadline: Option<Timestamp>,
    /// When it entered (or re-entered) its queue.
    pub enqueued_at: Timestamp,
    pub status: TaskStatus,
    pub agent: Option<UserId>,
}

struct LiveTask {
    kind: TaskKind,
    queue: String,
    deadline: Option<Timestamp>,
    entered_at: Timestamp,
    /// Since when it waits; `None` while an agent holds it.
    waiting_since: Option<Timestamp>,
    holder: Option<(UserId, Timestamp)>,
    /// Offered to someone who has not answered yet.
    offered: bool,
    answered_before: bool,
}

#[derive(Clone, Copy, Default)]
struct KindDay {
    entered: u32,
    answered: u32,
    abandoned: u32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct CallEnd {
    at: Timestamp,
    answered: bool,
    within_threshold: bool,
}

#[derive(Clone, Copy, Default)]
struct Mean {
    total_ms: i64,
    count: u32,
}

impl Mean {
    fn add(&mut self, d: SignedDuration) {
        self.total_ms += d.as_millis() as i64;
        self.count += 1;
    }

    fn average_ms(&self) -> Option<i64> {
        (self.count > 0).then(|| self.total_ms / i64::from(self.count))
    }
}

struct AgentDay {
    status: AgentStatus,
    since: Timestamp,
    handling: Mean,
    /// On a placed call connected since then.
    talking_since: Option<Timestamp>,
}

/// The fold of the floor's events.
pub struct Figures {
    rules: FigureRules,
    day_start: Timestamp,
    live: HashMap<TaskId, LiveTask>,
    kinds: BTreeMap<(String, TaskKind), KindDay>,
    agents: BTreeMap<UserId, AgentDay>,
    /// Inbound calls counted today, and those of the last hour for the windows.
    calls_today: Vec<CallEnd>,
    first_response: Mean,
    response: Mean,
    callbacks_done: u32,
    callbacks_in_time: u32,
    /// `[calls] limit_secs`: a call longer than this shows on the board.
    call_limit: SignedDuration,
}

/// The longest rolling window kept.
const HOUR: SignedDuration = SignedDuration::from_mins(60);

impl Figures {
    pub fn new(rules: FigureRules, day_start: Timestamp) -> Self {
        Figures {
            rules,
            day_start,
            live: HashMap::new(),
            kinds: BTreeMap::new(),
            agents: BTreeMap::new(),
            calls_today: Vec::new(),
            first_response: Mean::default(),
            response: Mean::default(),
            callbacks_done: 0,
            callbacks_in_time: 0,
            call_limit: SignedDuration::from_secs(300),
        }
    }

    /// The length past which a call shows on the board (`[calls] limit_secs`).
    pub fn with_call_limit(mut self, limit: SignedDuration) -> Self {
        self.call_limit = limit;
        self
    }

    /// Starts a new day's counts when `day_start` moved on; live tasks and
    /// agents' statuses carry over.
    fn roll(&mut self, day_start: Timestamp) {
        if day_start <= self.day_start {
            return;
        }
        self.day_start = day_start;
        self.kinds.values_mut().for_each(|k| *k = KindDay::default());
        self.calls_today.clear();
        self.first_response = Mean::default();
        self.response = Mean::default();
        (self.callbacks_done, self.callbacks_in_time) = (0, 0);
        self.agents.values_mut().for_each(|a| a.handling = Mean::default());
    }

    fn kind_day(&mut self, queue: &str, kind: TaskKind) -> &mut KindDay {
        self.kinds.entry((queue.to_owned(), kind)).or_default()
    }

    /// Makes the live tasks those of `tasks` (the dispatcher's, after the
    /// day's stored events were folded in at start-up): tasks that are not
    /// live any more go (without counting), live ones the events did not
    /// bring (entered before today) come in, and each is where `tasks`
    /// says: waiting, offered or held.
    pub fn seed(&mut self, tasks: Vec<SeedTask>) {
        let keep: std::collections::HashSet<TaskId> = tasks.iter().map(|t| t.task).collect();
        self.live.retain(|id, _| keep.contains(id));
        for s in tasks {
            let t = self.live.entry(s.task).or_insert(LiveTask {
                kind: s.kind,
                queue: s.queue.clone(),
                deadline: s.deadline,
                entered_at: s.enqueued_at,
                waiting_since: Some(s.enqueued_at),
                holder: None,
                offered: false,
                answered_before: false,
            });
            self.kinds.entry((s.queue, s.kind)).or_default();
            match (s.status, s.agent) {
                (TaskStatus::Assigned, Some(agent)) => {
                    let since = t.holder.map_or(s.enqueued_at, |(_, since)| since);
                    (t.holder, t.waiting_since, t.offered) = (Some((agent, since)), None, false);
                }
                (TaskStatus::Offered, _) => (t.holder, t.offered) = (None, true),
                _ => {
                    (t.holder, t.offered) = (None, false);
                    t.waiting_since = t.waiting_since.or(Some(s.enqueued_at));
                }
            }
        }
    }

    /// Folds one event in; `day_start` is the start of the local day it falls in.
    pub fn observe(&mut self, event: &FloorEvent, day_start: Timestamp) {
        self.roll(day_start);
        match event {
            // A task already on the floor does not enter twice (an event
            // replayed at start-up that the dispatcher's seed also brought).
            FloorEvent::Entered { task, .. } if self.live.contains_key(task) => {}
            FloorEvent::Entered { task, kind, queue, deadline, at } => {
                self.kind_day(queue, *kind).entered += 1;
                // A task back from the schedule enters afresh; only inbound
                // calls count a first answer, and they are never retried.
                self.live.insert(
                    *task,
                    LiveTask {
                        kind: *kind,
                        queue: queue.clone(),
                        deadline: *deadline,
                        entered_at: *at,
                        waiting_since: Some(*at),
                        holder: None,
                        offered: false,
                        answered_before: false,
                    },
                );
            }
            FloorEvent::Offered { task, .. } => {
                if let Some(t) = self.live.get_mut(task) {
                    t.offered = true;
                }
            }
            FloorEvent::Requeued { task, at } => {
                if let Some(t) = self.live.get_mut(task) {
                    (t.holder, t.offered) = (None, false);
                    t.waiting_since = Some(*at);
                }
            }
            FloorEvent::Answered { task, agent, at } => self.answered(*task, *agent, *at),
            FloorEvent::Left { task, status, at } => self.left(*task, *status, *at),
            FloorEvent::Agent { agent, status, at } => {
                let day = self.agents.entry(*agent).or_insert(AgentDay {
                    status: status.clone(),
                    since: *at,
                    handling: Mean::default(),
                    talking_since: None,
                });
                if day.status != *status || day.since > *at {
                    (day.status, day.since) = (status.clone(), *at);
                }
            }
            FloorEvent::Talking { agent, since, .. } => {
                if let Some(day) = self.agents.get_mut(agent) {
                    day.talking_since = *since;
                }
            }
        }
    }

    /// Since when a live task waits (`None` when it is held or unknown).
    pub fn waiting_since(&self, task: TaskId) -> Option<Timestamp> {
        self.live.get(&task).and_then(|t| t.waiting_since)
    }

    fn answered(&mut self, task: TaskId, agent: UserId, at: Timestamp) {
        let Some(t) = self.live.get_mut(&task) else { return };
        let waited = at.duration_since(t.waiting_since.unwrap_or(at));
        let first = !t.answered_before;
        let (queue, kind, entered_at) = (t.queue.clone(), t.kind, t.entered_at);
        (t.holder, t.waiting_since, t.answered_before, t.offered) = (Some((agent, at)), None, true, false);
        self.response.add(waited);
        self.kind_day(&queue, kind).answered += 1;
        if kind == TaskKind::InboundCall && first {
            let wait = at.duration_since(entered_at);
            self.first_response.add(wait);
            let threshold = SignedDuration::from_secs(i64::from(self.rules.service_level_secs));
            self.calls_today.push(CallEnd { at, answered: true, within_threshold: wait <= threshold });
        }
    }

    fn left(&mut self, task: TaskId, status: TaskStatus, at: Timestamp) {
        let Some(t) = self.live.remove(&task) else { return };
        if status == TaskStatus::Abandoned {
            self.kind_day(&t.queue, t.kind).abandoned += 1;
            if t.kind == TaskKind::InboundCall && !t.answered_before {
                self.calls_today.push(CallEnd { at, answered: false, within_threshold: false });
            }
        }
        let finished_attempt =
            matches!(status, TaskStatus::Completed | TaskStatus::Unreachable | TaskStatus::Scheduled);
        if let (Some((agent, since)), true) = (t.holder, finished_attempt)
            && let Some(day) = self.agents.get_mut(&agent)
        {
            day.handling.add(at.duration_since(since));
        }
        if let (Some(deadline), TaskStatus::Completed) = (t.deadline, status) {
            self.callbacks_done += 1;
            self.callbacks_in_time += u32::from(at <= deadline);
        }
    }
}

/// The queues of `coverage` (each queue with the agents who serve it) that
/// nobody is on the line for: no agent of theirs available, on a call or
/// in wrap-up. The manual: someone is always online in working hours
/// (确保该时段有在线客服接待).
pub fn uncovered(coverage: &BTreeMap<String, Vec<UserId>>, agents: &[AgentFigures]) -> Vec<String> {
    let on_line: HashSet<UserId> = agents.iter().filter(|a| a.status.is_on_line()).map(|a| a.agent).collect();
    coverage
        .iter()
        .filter(|(_, members)| !members.iter().any(|m| on_line.contains(m)))
        .map(|(queue, _)| queue.clone())
        .collect()
}
