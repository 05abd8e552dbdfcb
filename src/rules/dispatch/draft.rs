//! A new task as drafted, before it is stored or dispatched: the one
//! shape from which the store's row and the dispatcher's card are both
//! made, so that the two cannot disagree.
//!
//! Every way in (REST, registrations, cases, car orders, trips, the SIP
//! connector, the follow-up's checkpoints, case reminders, the travel
//! watch) drafts its tasks here with the plan the rules give them; the
//! runtime stores them and only then hands them to the dispatcher
//! (`runtime::intake`, invariant 8).

use std::sync::Arc;

use jiff::Timestamp;

use super::{NewTask, Reservation, Rules, TaskCard, TaskPlan};
use crate::domain::{Phone, TaskId, TaskKind, UserId};

/// A new task: what is stored, and what the dispatcher is handed.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskDraft {
    pub id: TaskId,
    pub kind: TaskKind,
    /// Priority, queue, channel and deadline, as the rules planned them.
    pub plan: TaskPlan,
    /// The queue's name, as stored (the plan holds its index).
    pub queue: String,
    pub customer_phone: Phone,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub created_by: Option<UserId>,
    /// Offered to no one before this; the task is stored `scheduled`.
    pub not_before: Option<Timestamp>,
    /// Kept for one agent until a time.
    pub reserved: Option<Reservation>,
    /// Never offered to this agent.
    pub avoid_agent: Option<UserId>,
}

impl TaskDraft {
    /// A new task of `kind` with the priority, queue, channel and deadline
    /// that `plan` gives it; not scheduled, kept for no one.
    pub fn new(
        rules: &Rules,
        kind: TaskKind,
        plan: TaskPlan,
        customer_phone: Phone,
        reason: Option<String>,
        created_at: Timestamp,
        created_by: Option<UserId>,
    ) -> TaskDraft {
        TaskDraft {
            id: TaskId::new(),
            kind,
            queue: rules.queue_name(plan.queue).to_owned(),
            plan,
            customer_phone,
            reason,
            created_at,
            created_by,
            not_before: None,
            reserved: None,
            avoid_agent: None,
        }
    }

    /// Whether the dispatcher hears of it now, rather than the scheduler
    /// releasing it at `not_before`.
    pub fn is_scheduled(&self) -> bool {
        self.not_before.is_some()
    }

    /// The new task as the dispatcher takes it, entering its queue when it
    /// was created.
    pub fn to_new_task(&self, rules: &Rules) -> NewTask {
        NewTask { card: Arc::new(self.card(rules)), plan: self.plan, enqueued_at: self.created_at, held_by: None }
    }

    /// What the dispatcher and the screen-pop know of the new task.
    pub fn card(&self, rules: &Rules) -> TaskCard {
        TaskCard {
            id: self.id,
            kind: self.kind,
            customer_phone: self.customer_phone.clone(),
            reason: self.reason.clone(),
            deadline: self.plan.deadline,
            priority: self.plan.priority,
            queue: self.queue.clone(),
            created_at: self.created_at,
            attempt: 1,
            attempts_allowed: rules.kind(self.kind).attempts,
            first_tried_at: None,
            last_outcome: None,
            handover_note: None,
            reserved: self.reserved,
            avoid_agent: self.avoid_agent,
        }
    }
}
