//! The one way new tasks go in: stored first, then handed to the
//! dispatcher (invariant 8). Whatever drafted them (REST, registrations,
//! cases, car orders, trips, the follow-up's checkpoints, case reminders,
//! the travel watch, the scheduler) comes through here, so a task the
//! dispatcher hears of is always in the store, and a task that is stored
//! but not dispatched (the dispatcher stopping, or refusing it) is logged
//! the same way everywhere and dispatched by the next start's recovery.
//!
//! The SIP connector is the one exception, on purpose: it stores and
//! dispatches a call at the same time and holds the 302 until both are
//! done (ARCHITECTURE.md, "The connector is a second actor").

use std::future::Future;

use jiff::Timestamp;

use crate::rules::dispatch::{Command, NewTask, Rules, Stickiness, TaskDraft};
use crate::runtime::hub::Hub;
use crate::store::{Store, StoreError};

/// Keeps each new task that calls a customer, and has no agent of its own
/// yet, for the agent who last spoke to that customer
/// (`[routing] stick_to_last_agent_minutes`), for the configured wait.
pub async fn stick_to_last_agents(
    store: &Store,
    stickiness: &Stickiness,
    drafts: &mut [TaskDraft],
    now: Timestamp,
) -> Result<(), StoreError> {
    for draft in drafts.iter_mut().filter(|d| d.reserved.is_none()) {
        let Some(since) = stickiness.looks_back_to(draft.kind, now) else { continue };
        if let Some(agent) = store.last_agent_for(&draft.customer_phone, since).await?
            && draft.avoid_agent != Some(agent)
        {
            draft.reserved = Some(stickiness.prefer(agent, now));
        }
    }
    Ok(())
}

/// Stores `drafts` by awaiting `store` (the store's write of them, with
/// whatever else belongs in the same transaction, saying whether it wrote:
/// false when another node or request got there first; a future does
/// nothing until awaited), then hands those that are not scheduled to the
/// dispatcher. `store`'s error comes back untouched; the
/// dispatcher's refusals are logged, never returned, since the tasks are
/// stored by then.
pub async fn store_then_dispatch<E>(
    hub: &Hub,
    rules: &Rules,
    drafts: &[TaskDraft],
    store: impl Future<Output = Result<bool, E>>,
) -> Result<bool, E> {
    if !store.await? {
        return Ok(false);
    }
    let now: Vec<NewTask> = drafts.iter().filter(|d| !d.is_scheduled()).map(|d| d.to_new_task(rules)).collect();
    hand_over(hub, now).await;
    Ok(true)
}

/// Hands tasks that are already stored (released from the schedule, or
/// drafted and stored) to the dispatcher.
pub async fn hand_over(hub: &Hub, tasks: Vec<NewTask>) {
    for task in tasks {
        let (id, kind) = (task.card.id, task.card.kind);
        match hub.command(Command::AddTask(task)).await {
            Ok(_) => tracing::debug!(task = %id, %kind, "task dispatched"),
            Err(e) => tracing::warn!(
                task = %id,
                %kind,
                error = %e,
                "task stored but not dispatched; the next start's recovery dispatches it"
            ),
        }
    }
}
