//! Recovery after a restart: the dispatcher rebuilt from the store, with
//! what the restart itself changed (callers lost with the process, offers
//! that do not survive) written back as records.

use jiff::Timestamp;

use crate::domain::{AgentStatus, MissReason, ReturnReason, TaskKind, TaskStatus};
use crate::rules::dispatch::{Command, Dispatcher, NewTask, Record, Rules};
use crate::store::{CallWrite, MissedCall, Store, StoreError, User};

/// Rebuilds the dispatcher from the store: agents with their break status,
/// waiting tasks at their old places, held tasks back with their agents
/// (who get the reconnect grace period to return). Offers do not survive a
/// restart: those tasks wait again.
pub async fn recover(store: &Store, rules: &Rules) -> Result<Dispatcher, StoreError> {
    let mut d = Dispatcher::new(rules.clone());
    let now = Timestamp::now();
    let mut effects = Vec::new();
    for user in store.users().await?.into_iter().filter(User::routable) {
        let _ = d.handle(now, Command::UpsertAgent(user.agent_profile(rules)), &mut effects);
        if let AgentStatus::Break(_) = user.status {
            let _ = d.handle(now, Command::SetStatus { agent: user.id, status: user.status.clone() }, &mut effects);
        }
    }
    let mut records = Vec::new();
    let mut count = 0;
    let mut missed = Vec::new();
    for (task, attempts) in store.live_tasks().await? {
        // A caller who was waiting in the queue is gone with the process's
        // SIP transactions: the call becomes a missed call to call back,
        // never a screen-pop for a call that no longer exists.
        if task.kind == TaskKind::InboundCall && task.status != TaskStatus::Assigned {
            records.push(Record::TaskClosed {
                task: task.id,
                status: TaskStatus::Abandoned,
                agent: None,
                outcome: None,
                summary: Some("the server restarted while the caller waited".into()),
                at: now,
            });
            missed.push(MissedCall {
                caller: task.customer_phone.clone(),
                called: String::new(),
                queue: task.queue.clone(),
                reason: MissReason::ServerRestart,
                task: Some(task.id),
                at: now,
            });
            continue;
        }
        let held_by = (task.status == TaskStatus::Assigned).then_some(task.agent_id).flatten();
        if task.status == TaskStatus::Offered
            && let Some(agent) = task.agent_id
        {
            records.push(Record::TaskReturned {
                task: task.id,
                agent,
                event: ReturnReason::Restart,
                note: None,
                at: now,
            });
        }
        let new = task.to_new_task(rules, &attempts, held_by);
        if let (Err(_), Some(agent)) = (d.handle(now, Command::AddTask(new.clone()), &mut effects), held_by) {
            // Its agent is gone: the task waits for someone else.
            records.push(Record::TaskReturned {
                task: task.id,
                agent,
                event: ReturnReason::AgentRemoved,
                note: None,
                at: now,
            });
            let _ = d.handle(now, Command::AddTask(NewTask { held_by: None, ..new }), &mut effects);
        }
        count += 1;
    }
    records.extend(effects.into_iter().filter_map(|e| match e {
        crate::rules::dispatch::Effect::Record(r) => Some(r),
        _ => None,
    }));
    store.apply(&records).await?;
    let missed: Vec<CallWrite> = missed.into_iter().map(CallWrite::Missed).collect();
    store.apply_call_writes(&missed).await?;
    tracing::info!(tasks = count, "live state recovered from the store");
    Ok(d)
}
