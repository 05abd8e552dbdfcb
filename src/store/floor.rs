//! The day's task events as floor events, so that a node starting in the
//! middle of the day (a restart, a take-over) shows the same figures as if
//! it had watched since midnight; and a past day's events and status
//! changes for a replay of it.

use jiff::Timestamp;
use sqlx::Row;

use super::*;
use crate::domain::{AgentStatus, TaskId, TaskStatus, UserId};
use crate::rules::figures::FloorEvent;
use crate::rules::figures::wire::Escalations;

impl Store {
    /// What is escalated to the supervisors now (the wallboard's count).
    pub async fn escalations(&self, now: Timestamp) -> Result<Escalations> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM car_orders WHERE status = 'open' AND escalated_at IS NOT NULL) AS car_orders, \
               (SELECT COUNT(*) FROM inn_orders WHERE status = 'unprocessed' AND escalated_at IS NOT NULL) AS inn_orders, \
               (SELECT COUNT(*) FROM cases WHERE status = 'open' AND answered_at IS NULL AND answer_by < $1) AS unanswered, \
               (SELECT COUNT(*) FROM cases WHERE status <> 'resolved' AND merchant_replied_at IS NULL \
                  AND merchant_reply_by < $1) AS merchant_replies",
        )
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        let count = |col: &str| -> Result<u32> { Ok(row.try_get::<i64, _>(col)? as u32) };
        Ok(Escalations {
            car_orders: count("car_orders")?,
            inn_orders: count("inn_orders")?,
            cases_unanswered: count("unanswered")?,
            merchant_replies: count("merchant_replies")?,
            // Read by the wallboard's feed (`runtime/merchant_lists.rs`).
            merchant_lists: 0,
        })
    }

    /// Every stored task event since `since`, in order, as the live figures
    /// read them. Events that do not move a task on the floor (notes) are
    /// left out.
    pub async fn floor_events_since(&self, since: Timestamp) -> Result<Vec<FloorEvent>> {
        self.floor_events_between(since, None).await
    }

    /// The same, from `from` up to (not including) `to`: a report's period.
    pub async fn floor_events_between(&self, from: Timestamp, to: Option<Timestamp>) -> Result<Vec<FloorEvent>> {
        let rows = sqlx::query(
            "SELECT e.task_id, e.at, e.event, e.agent_id, e.note, t.kind, t.queue, t.deadline \
             FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE e.at >= $1 AND e.at < $2 ORDER BY e.at, e.id",
        )
        .bind(ms(from))
        .bind(to.map_or(i64::MAX, ms))
        .fetch_all(&self.pool)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let task: TaskId = parse(row, "task_id")?;
            let at = from_ms(row.try_get("at")?)?;
            let agent: Option<UserId> = parse_opt(row, "agent_id")?;
            let event: String = row.try_get("event")?;
            let note: Option<String> = row.try_get("note")?;
            if event == "created" && note.as_deref() == Some(super::apply::SCHEDULED_NOTE) {
                continue; // not on the floor until released
            }
            let floor = match (event.as_str(), agent) {
                // Created, or released from the schedule (by the clock, not an agent).
                ("created", _) | ("released", None) => FloorEvent::Entered {
                    task,
                    kind: parse(row, "kind")?,
                    queue: row.try_get("queue")?,
                    deadline: opt_ms(row.try_get("deadline")?)?,
                    at,
                },
                ("offered", Some(agent)) => FloorEvent::Offered { task, agent, at },
                ("accepted", Some(agent)) => FloorEvent::Answered { task, agent, at },
                ("retry_scheduled", _) => FloorEvent::Left { task, status: TaskStatus::Scheduled, at },
                (other, agent) => match other.parse::<TaskStatus>() {
                    Ok(status) if status.is_terminal() => FloorEvent::Left { task, status, at },
                    // Declined, timed out, handed back, agent gone.
                    _ if agent.is_some() => FloorEvent::Requeued { task, at },
                    _ => continue,
                },
            };
            events.push(floor);
        }
        Ok(events)
    }
}

impl Store {
    /// Every agent's status changes from `from` up to (not including) `to`,
    /// in order: the shifts and breaks a replay of those days follows.
    pub async fn agent_statuses_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(UserId, AgentStatus, Timestamp)>> {
        let rows = sqlx::query(
            "SELECT agent_id, status, reason, at FROM agent_status_log WHERE at >= $1 AND at < $2 ORDER BY at, id",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get("status")?;
            let reason: Option<String> = row.try_get("reason")?;
            let status =
                AgentStatus::from_parts(&status, reason.as_deref()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push((parse(row, "agent_id")?, status, from_ms(row.try_get("at")?)?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use super::*;
    use crate::domain::TaskKind;
    use crate::store::tests::new_task;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn a_task_created_scheduled_enters_the_floor_when_released() {
        // Bound to a name: a temporary would drop (and delete) the database
        // at the end of this statement, under the pool's later connections.
        let db = TestDb::sqlite();
        let store = db.store().await;
        let mut t = new_task("13800138000", TaskKind::NewSignupCallback);
        let release = t.created_at + SignedDuration::from_mins(30);
        t.not_before = Some(release);
        store.insert_task(&t).await.unwrap();
        let waiting = new_task("13800138001", TaskKind::NewSignupCallback);
        store.insert_task(&waiting).await.unwrap();
        let since = t.created_at - SignedDuration::from_hours(1);
        let entered = |events: Vec<FloorEvent>| -> Vec<(TaskId, Timestamp)> {
            events
                .into_iter()
                .filter_map(|e| match e {
                    FloorEvent::Entered { task, at, .. } => Some((task, at)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(entered(store.floor_events_since(since).await.unwrap()), [(waiting.id, waiting.created_at)]);
        assert!(store.release_scheduled(t.id, release).await.unwrap());
        let after = entered(store.floor_events_since(since).await.unwrap());
        assert_eq!(after, [(waiting.id, waiting.created_at), (t.id, release)]);
    }
}
