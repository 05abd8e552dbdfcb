//! The dispatch core: a pure state machine that decides who does what next.
//!
//! It owns the live queues, agents, offers and timers. Every entry point
//! takes the current time as an argument and appends the [`Effect`]s the
//! shell must carry out (push this to that agent, record this change); it
//! never reads a clock, a socket or a database. That is what lets tests run
//! a whole day of traffic in milliseconds, and what makes each rule
//! reproducible from a log of commands.
//!
//! Ordering of waiting tasks: priority (higher first), then earliest
//! deadline, then earliest enqueue time, then creation order. A task that is
//! declined, times out or is handed back keeps its key, so it returns to its
//! old place. Selection among free agents: fewest tasks in hand, then
//! longest idle.

mod dispatcher;
mod draft;
mod routing;
mod rules;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

pub use self::dispatcher::{Dispatcher, RulesApplied, RulesRefused};
pub use self::draft::TaskDraft;
pub use self::routing::{Levels, MAX_CLASSES, MAX_LEVEL, Routing, RoutingStep, Stickiness};
pub use self::rules::{CustomRule, KindRule, MAX_QUEUES, NextAttempt, QueueIdx, Rules, TaskPlan};
use crate::domain::{
    AgentStatus, Channel, Outcome, PassReason, Phone, ReturnReason, TaskId, TaskKind, TaskStatus, UserId,
};

/// What an agent sees about a task before and while holding it. Shared, not
/// copied, between the dispatcher and every message that carries it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TaskCard {
    pub id: TaskId,
    pub kind: TaskKind,
    pub customer_phone: Phone,
    /// Why the task exists, in words for the agent ("registered for the 12 May expo").
    pub reason: Option<String>,
    pub deadline: Option<Timestamp>,
    pub priority: u8,
    pub queue: String,
    pub created_at: Timestamp,
    /// Which call this is: 1 for the first. Only attempts that reached an
    /// outcome count (a task handed back at a shift's end was not tried).
    pub attempt: u32,
    /// Calls allowed before the task closes as `unreachable`.
    pub attempts_allowed: u32,
    /// When the first earlier attempt was made, if any.
    pub first_tried_at: Option<Timestamp>,
    /// How the last earlier attempt ended ("no_answer", "busy").
    pub last_outcome: Option<Outcome>,
    /// The note of the agent who last handed the task back (end of shift).
    pub handover_note: Option<String>,
    /// Kept for one agent until a time (a complaint case's owner, the
    /// agent who last spoke to the customer).
    pub reserved: Option<Reservation>,
    /// Never offered to this agent (a customer to be called back "by
    /// another agent").
    pub avoid_agent: Option<UserId>,
}

/// A task kept for one agent until `until`; after that anyone serving its
/// queue may take it, so the work is not stuck behind an absent owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reservation {
    pub agent: UserId,
    #[schema(value_type = String)]
    pub until: Timestamp,
}

/// A task entering the dispatcher: new, or recovered after a restart.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub card: Arc<TaskCard>,
    pub plan: TaskPlan,
    /// Keeps a returning task's place in its queue.
    pub enqueued_at: Timestamp,
    /// Set only when recovering a task that an agent held at shutdown.
    pub held_by: Option<UserId>,
}

/// An agent's routing profile, as the user record says.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentProfile {
    pub id: UserId,
    pub name: String,
    /// Bit set of [`QueueIdx`] the agent serves.
    pub queues: u64,
    /// The agent's level (proficiency) in each queue it serves.
    pub levels: Levels,
    /// 0 or 1: a voice call is exclusive.
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
    /// Where the PBX rings this agent for a redirected call.
    pub sip_uri: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Command {
    AddTask(NewTask),
    CancelTask {
        task: TaskId,
    },
    /// The caller gave up (hung up, or waited longer than the queue allows):
    /// closes a live task as `abandoned`.
    Abandon {
        task: TaskId,
    },
    /// The work a task stands for was done elsewhere (a car order
    /// dispatched, a policy number recorded, an inn that processed its
    /// booking): closes it as `completed` with `outcome` and `summary`,
    /// taken back from whoever was offered or held it.
    Settle {
        task: TaskId,
        outcome: Outcome,
        summary: String,
    },
    /// Create or update an agent; a new agent starts `offline`.
    UpsertAgent(AgentProfile),
    /// The agent's console connected; replies with [`Reply::Snapshot`].
    Connect {
        agent: UserId,
        /// The agent's shift is in its wind-down (the shell knows the
        /// schedules): no new offers from the first instant, rather than
        /// from the shift clock's next round.
        winding_down: bool,
    },
    Disconnect {
        agent: UserId,
    },
    SetStatus {
        agent: UserId,
        status: AgentStatus,
    },
    /// A supervisor's override: applies at once, even during a call, so an
    /// agent can never stay stuck in a state. Going offline hands back every
    /// held task, the call included.
    ForceStatus {
        agent: UserId,
        status: AgentStatus,
    },
    Accept {
        agent: UserId,
        task: TaskId,
    },
    Decline {
        agent: UserId,
        task: TaskId,
    },
    Complete {
        agent: UserId,
        task: TaskId,
        outcome: Outcome,
        summary: Option<String>,
    },
    /// Hand a held task back to the queue (end of shift), with a note for the next agent.
    Release {
        agent: UserId,
        task: TaskId,
        note: Option<String>,
    },
    /// The agent's own phone did not answer the call Switchboard placed
    /// for a held task: no attempt on the customer was made, so the task
    /// goes back to its place like a timed-out offer, and the agent counts
    /// a missed offer (enough in a row put them on a break).
    PhoneUnanswered {
        agent: UserId,
        task: TaskId,
    },
    /// The agent's shift ends within the wind-down: offer nothing new.
    /// Repeating it changes nothing.
    ShiftEnding {
        agent: UserId,
    },
    /// The agent's shift ended: offers go to others, held tasks return to
    /// the queue with `note` shown on their next screen-pop, and the agent
    /// goes offline. An inbound call in progress stays with the agent,
    /// who goes offline when it ends.
    EndShift {
        agent: UserId,
        note: Option<String>,
    },
}

impl Command {
    /// The name of the command and the task and agent it is about, for
    /// the log's spans.
    pub fn subject(&self) -> (&'static str, Option<TaskId>, Option<UserId>) {
        match self {
            Command::AddTask(new) => ("add_task", Some(new.card.id), None),
            Command::CancelTask { task } => ("cancel_task", Some(*task), None),
            Command::Abandon { task } => ("abandon", Some(*task), None),
            Command::Settle { task, .. } => ("settle", Some(*task), None),
            Command::UpsertAgent(profile) => ("upsert_agent", None, Some(profile.id)),
            Command::Connect { agent, .. } => ("connect", None, Some(*agent)),
            Command::Disconnect { agent } => ("disconnect", None, Some(*agent)),
            Command::SetStatus { agent, .. } => ("set_status", None, Some(*agent)),
            Command::ForceStatus { agent, .. } => ("force_status", None, Some(*agent)),
            Command::Accept { agent, task } => ("accept", Some(*task), Some(*agent)),
            Command::Decline { agent, task } => ("decline", Some(*task), Some(*agent)),
            Command::Complete { agent, task, .. } => ("complete", Some(*task), Some(*agent)),
            Command::Release { agent, task, .. } => ("release", Some(*task), Some(*agent)),
            Command::PhoneUnanswered { agent, task } => ("phone_unanswered", Some(*task), Some(*agent)),
            Command::ShiftEnding { agent } => ("shift_ending", None, Some(*agent)),
            Command::EndShift { agent, .. } => ("end_shift", None, Some(*agent)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Done,
    /// Asked on a call: the new status takes effect when the call and its
    /// wrap-up end.
    Deferred,
    Snapshot(AgentSnapshot),
}

/// What an agent's console needs to draw itself after (re)connecting.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentSnapshot {
    pub agent: UserId,
    #[serde(flatten)]
    pub status: AgentStatus,
    pub status_since: Timestamp,
    #[schema(value_type = Vec<TaskCard>)]
    pub held: Vec<Arc<TaskCard>>,
    pub offers: Vec<Offer>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    #[error("no such agent")]
    UnknownAgent,
    #[error("no such live task")]
    UnknownTask,
    #[error("a task with this id is already live")]
    DuplicateTask,
    #[error("this task is not offered to you")]
    NotOfferedToYou,
    #[error("this task is not held by you")]
    NotHeldByYou,
    #[error("status `{0}` is set by the dispatcher, not by request")]
    StatusNotSettable(&'static str),
}

impl DispatchError {
    /// The one code of this refusal, over REST and WebSocket alike
    /// (`docs/protocol.md` and the OpenAPI document list them).
    pub fn code(&self) -> &'static str {
        match self {
            DispatchError::UnknownAgent => "unknown_agent",
            DispatchError::UnknownTask => "task_not_live",
            DispatchError::DuplicateTask => "duplicate_task",
            DispatchError::NotOfferedToYou => "not_offered_to_you",
            DispatchError::NotHeldByYou => "not_held_by_you",
            DispatchError::StatusNotSettable(_) => "status_not_settable",
        }
    }

    /// Every refusal, one of each, for the documents' tests.
    #[cfg(test)]
    pub fn all() -> [DispatchError; 6] {
        [
            DispatchError::UnknownAgent,
            DispatchError::UnknownTask,
            DispatchError::DuplicateTask,
            DispatchError::NotOfferedToYou,
            DispatchError::NotHeldByYou,
            DispatchError::StatusNotSettable("busy"),
        ]
    }
}

/// A reservation: one task offered to one agent until `expires_at`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Offer {
    #[schema(value_type = TaskCard)]
    pub task: Arc<TaskCard>,
    pub expires_at: Timestamp,
    pub why: Explanation,
}

/// Why this agent got this task: how many agents serve the queue, the ones
/// passed over ahead of the chosen one and why, and floor counts for the
/// rest. Counts come from maintained counters, so explaining costs no scan.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Explanation {
    /// `longest_idle_agent` when a task picked an agent, `best_waiting_task`
    /// when a freed agent picked a task.
    pub rule: &'static str,
    pub queue: String,
    /// Agents that serve the queue.
    pub agents_in_queue: u32,
    /// Free agents checked before the chosen one, with the reason each was skipped (at most 8).
    pub passed_over: Vec<PassedOver>,
    pub offline: u32,
    pub on_break: u32,
    pub busy: u32,
    pub wrap_up: u32,
    /// Available but with their console disconnected.
    pub disconnected: u32,
    /// Agents on the floor without the queue's skill.
    pub lacking_skill: u32,
    /// For a kind with routing steps: the step the task is at and the
    /// levels it wants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepWhy>,
}

/// The routing step an offer was made at (`routing.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StepWhy {
    /// The step, from 1; `of + 1` once past the last, when anyone serving
    /// the queue may take the task.
    pub step: u8,
    /// How many steps the kind has.
    pub of: u8,
    /// The skills and minimum levels the step wants (none past the last).
    pub wants: Vec<SkillLevel>,
    /// The chosen agent's levels in those skills.
    pub agent_levels: Vec<SkillLevel>,
    /// Free agents serving the queue whom the step's levels pass over.
    pub below_level: u32,
}

/// A skill (a queue's name) at a level from 1 to 5.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkillLevel {
    pub skill: String,
    pub level: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PassedOver {
    pub agent: UserId,
    /// `at_capacity`, `passed_recently` (declined it or let it time out),
    /// `reserved_for_another_agent`, `below_step_level` or `avoided_agent`.
    pub reason: PassReason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The offer was not answered in time.
    Timeout,
    /// The task was cancelled.
    Cancelled,
    /// The work was done elsewhere (the order dispatched, the inn processed the booking).
    Settled,
    /// The agent went on break or offline.
    AgentUnavailable,
    /// The agent's console disconnected and did not return within the grace period.
    Disconnected,
    /// The agent's shift ended.
    ShiftEnded,
}

/// What the shell must carry out, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Push a screen-pop to the agent.
    Offer {
        agent: UserId,
        offer: Offer,
    },
    OfferRescinded {
        agent: UserId,
        task: TaskId,
        reason: WithdrawReason,
    },
    TaskAssigned {
        agent: UserId,
        task: Arc<TaskCard>,
    },
    /// A held task was taken away (cancelled, or returned to the queue).
    TaskRevoked {
        agent: UserId,
        task: TaskId,
        reason: WithdrawReason,
    },
    AgentStatusChanged {
        agent: UserId,
        status: AgentStatus,
        since: Timestamp,
    },
    /// A change that must reach the store.
    Record(Record),
}

/// Changes to persist. Each carries what a restart needs to rebuild the
/// live state and what reports need to explain it later.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    TaskOffered {
        task: TaskId,
        agent: UserId,
        at: Timestamp,
    },
    /// Back to waiting; `event` says why, and names the event in the
    /// task's history.
    TaskReturned {
        task: TaskId,
        agent: UserId,
        event: ReturnReason,
        note: Option<String>,
        at: Timestamp,
    },
    TaskAssigned {
        task: TaskId,
        agent: UserId,
        at: Timestamp,
    },
    TaskClosed {
        task: TaskId,
        status: TaskStatus,
        agent: Option<UserId>,
        outcome: Option<Outcome>,
        summary: Option<String>,
        at: Timestamp,
    },
    AgentStatus {
        agent: UserId,
        status: AgentStatus,
        at: Timestamp,
    },
    /// An attempt did not reach the customer and another is due: the task
    /// leaves the dispatcher and waits in the store's schedule until
    /// `not_before` (invariants 6 and 13).
    TaskRetry {
        task: TaskId,
        agent: UserId,
        outcome: Outcome,
        summary: Option<String>,
        not_before: Timestamp,
        at: Timestamp,
    },
}

/// Live counts for one queue.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QueueStats {
    pub name: String,
    pub waiting: u32,
    pub offered: u32,
    pub assigned: u32,
    /// Seconds the longest-waiting task has been in the queue.
    pub longest_wait_secs: i64,
    /// Live tasks (waiting, offered or held) past their deadline.
    pub overdue: u32,
    /// The earliest deadline among the live tasks: the next one to breach.
    #[schema(value_type = Option<String>)]
    pub nearest_deadline: Option<Timestamp>,
    pub agents_in_queue: u32,
    pub agents_available: u32,
}

/// One agent as the dispatcher sees it now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentView {
    pub id: UserId,
    pub name: String,
    #[serde(flatten)]
    pub status: AgentStatus,
    pub status_since: Timestamp,
    pub connected: bool,
    pub tasks: Vec<TaskId>,
    pub missed_offers_in_a_row: u32,
    /// At the end of a shift: offered nothing new.
    pub winding_down: bool,
}

/// Where a live task is, for the REST view.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveTask {
    pub status: TaskStatus,
    pub agent: Option<UserId>,
    pub channel: Channel,
}
