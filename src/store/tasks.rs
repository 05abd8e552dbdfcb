//! Tasks, their attempts and their event trail.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::batch::Rows;
use super::*;
use crate::domain::{Channel, Outcome, Phone, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::{NewTask, Record, Reservation, Rules, TaskCard, TaskPlan};
use crate::rules::planning::estimate::WaitEstimate;

/// A Redis journal entry whose records a write brings SQL up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalPosition {
    /// The centre's Redis key prefix.
    pub prefix: String,
    /// The entry's stream id.
    pub id: String,
}

/// What a task's earlier attempts left for the next one: the calls made
/// (attempts that ended with an outcome; a task handed back or recovered
/// mid-call was not tried), and the last handover note.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptsSoFar {
    pub made: u32,
    pub first_at: Option<Timestamp>,
    pub last_outcome: Option<Outcome>,
    pub handover_note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TaskRecord {
    pub id: TaskId,
    pub kind: TaskKind,
    pub queue: String,
    pub priority: u8,
    pub channel: Channel,
    pub status: TaskStatus,
    pub customer_phone: Phone,
    pub reason: Option<String>,
    pub deadline: Option<Timestamp>,
    /// A scheduled task is offered to no one before this.
    pub not_before: Option<Timestamp>,
    /// Kept for one agent (a complaint case's owner) until a time.
    pub reserved: Option<Reservation>,
    /// Never offered to this agent.
    pub avoid_agent: Option<UserId>,
    pub created_at: Timestamp,
    /// When the task entered its queue; kept when it returns there.
    pub enqueued_at: Timestamp,
    pub created_by: Option<UserId>,
    /// The agent it is offered to or held by, or who closed it.
    pub agent_id: Option<UserId>,
    pub outcome: Option<Outcome>,
    pub closed_at: Option<Timestamp>,
    /// Past its deadline: still open after it, or closed after it. Kept
    /// and served like any other task, never dropped. Depends on the clock,
    /// so the API sets it ([`TaskRecord::mark_overdue`]); the store leaves it false.
    pub overdue: bool,
    pub attempts: Vec<Attempt>,
    /// Filled only when one task is read.
    pub events: Vec<TaskEvent>,
    /// While it waits or is being offered: its position and estimated
    /// wait as of the last estimate, made four times a second (set by `GET
    /// /api/v1/tasks/{id}`; absent until the first estimate after it
    /// entered its queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitEstimate>,
}

impl TaskRecord {
    /// The task as the dispatcher takes it (back): from the store at
    /// start-up, or when its start time comes (its next attempt). `held_by`
    /// is the agent that held it at shutdown.
    pub fn to_new_task(&self, rules: &Rules, so_far: &AttemptsSoFar, held_by: Option<UserId>) -> NewTask {
        let queue = rules.queue_index(&self.queue).unwrap_or(rules.kind(self.kind).queue);
        let plan = TaskPlan { priority: self.priority, queue, channel: self.channel, deadline: self.deadline };
        let card = Arc::new(TaskCard {
            id: self.id,
            kind: self.kind,
            customer_phone: self.customer_phone.clone(),
            reason: self.reason.clone(),
            deadline: self.deadline,
            priority: self.priority,
            queue: rules.queue_name(queue).to_owned(),
            created_at: self.created_at,
            attempt: so_far.made + 1,
            attempts_allowed: rules.kind(self.kind).attempts,
            first_tried_at: so_far.first_at,
            last_outcome: so_far.last_outcome,
            handover_note: so_far.handover_note.clone(),
            reserved: self.reserved,
            avoid_agent: self.avoid_agent,
        });
        NewTask { card, plan, enqueued_at: self.enqueued_at, held_by }
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.deadline.is_some_and(|d| self.closed_at.unwrap_or(now) > d)
    }

    pub fn mark_overdue(&mut self, now: Timestamp) {
        self.overdue = self.is_overdue(now);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Attempt {
    pub number: u32,
    pub agent_id: UserId,
    pub accepted_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub outcome: Option<Outcome>,
    /// The call summary (通话小结), or the hand-over note.
    pub summary: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct TaskEvent {
    pub at: Timestamp,
    /// What happened: `created`; `offered`; `accepted`; back to the queue
    /// as `declined`, `offer_timeout`, `agent_unavailable`,
    /// `disconnected`, `released`, `shift_ended`, `restart` or
    /// `agent_removed`; `retry_scheduled` (an unanswered call out, tried
    /// again later; `note` is its summary); `summary` (a call summary
    /// written after the call; `note` is the text); `released` also when
    /// a scheduled task's start came; and the ending: `completed`
    /// (`note` is the summary), `cancelled`, `abandoned` or `unreachable`.
    pub event: String,
    pub agent_id: Option<UserId>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub kind: Option<TaskKind>,
    pub agent: Option<UserId>,
    pub limit: u32,
}

/// With each task, the calls it has had ([`AttemptsSoFar`]), read by
/// [`attempts_so_far`].
pub(super) const ATTEMPTS_SO_FAR: &str = "\
    (SELECT COUNT(*) FROM attempts a WHERE a.task_id = tasks.id AND a.outcome IS NOT NULL) AS attempts_made, \
    (SELECT MIN(a.accepted_at) FROM attempts a WHERE a.task_id = tasks.id AND a.outcome IS NOT NULL) \
        AS first_attempt_at, \
    (SELECT a.outcome FROM attempts a WHERE a.task_id = tasks.id AND a.outcome IS NOT NULL \
        ORDER BY a.number DESC LIMIT 1) AS last_outcome, \
    (SELECT e.note FROM task_events e WHERE e.task_id = tasks.id AND e.event IN ('released', 'shift_ended') \
        ORDER BY e.id DESC LIMIT 1) AS handover_note";

pub(super) fn attempts_so_far(row: &AnyRow) -> Result<AttemptsSoFar> {
    Ok(AttemptsSoFar {
        made: row.try_get::<i64, _>("attempts_made")? as u32,
        first_at: opt_ms(row.try_get("first_attempt_at")?)?,
        last_outcome: parse_opt(row, "last_outcome")?,
        handover_note: row.try_get("handover_note")?,
    })
}

pub(super) const TASK_COLUMNS: &str = "id, kind, queue, priority, channel, status, customer_phone, reason, deadline, \
     created_at, enqueued_at, created_by, agent_id, outcome, closed_at, not_before, reserved_for, reserved_until, avoid_agent";

const ATTEMPT_COLUMNS: &str = "number, agent_id, accepted_at, ended_at, outcome, summary";

fn attempt_from_row(row: &AnyRow) -> Result<Attempt> {
    Ok(Attempt {
        number: row.try_get::<i64, _>("number")? as u32,
        agent_id: parse(row, "agent_id")?,
        accepted_at: from_ms(row.try_get("accepted_at")?)?,
        ended_at: opt_ms(row.try_get("ended_at")?)?,
        outcome: parse_opt(row, "outcome")?,
        summary: row.try_get("summary")?,
    })
}

pub(super) fn task_from_row(row: &AnyRow) -> Result<TaskRecord> {
    Ok(TaskRecord {
        id: parse(row, "id")?,
        kind: parse(row, "kind")?,
        queue: row.try_get("queue")?,
        priority: row.try_get::<i64, _>("priority")? as u8,
        channel: parse(row, "channel")?,
        status: parse(row, "status")?,
        customer_phone: Phone::parse(&row.try_get::<String, _>("customer_phone")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        reason: row.try_get("reason")?,
        deadline: opt_ms(row.try_get("deadline")?)?,
        not_before: opt_ms(row.try_get("not_before")?)?,
        reserved: match (parse_opt(row, "reserved_for")?, opt_ms(row.try_get("reserved_until")?)?) {
            (Some(agent), Some(until)) => Some(Reservation { agent, until }),
            _ => None,
        },
        avoid_agent: parse_opt(row, "avoid_agent")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        enqueued_at: from_ms(row.try_get("enqueued_at")?)?,
        created_by: parse_opt(row, "created_by")?,
        agent_id: parse_opt(row, "agent_id")?,
        outcome: parse_opt(row, "outcome")?,
        closed_at: opt_ms(row.try_get("closed_at")?)?,
        overdue: false,
        attempts: Vec::new(),
        events: Vec::new(),
        wait: None,
    })
}

/// Adds one event to a task's trail inside the caller's transaction.
pub(super) async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    task: &str,
    at: i64,
    event: &str,
    agent: Option<String>,
    note: Option<String>,
) -> Result<()> {
    sqlx::query("INSERT INTO task_events (task_id, at, event, agent_id, note) VALUES ($1, $2, $3, $4, $5)")
        .bind(task)
        .bind(at)
        .bind(event)
        .bind(agent)
        .bind(note)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// The agent who last finished a task with the customer at `phone`
    /// since `since`: the one who last spoke to them.
    pub async fn last_agent_for(&self, phone: &Phone, since: Timestamp) -> Result<Option<UserId>> {
        let row = sqlx::query(
            "SELECT agent_id FROM tasks WHERE customer_phone = $1 AND status = 'completed' \
             AND agent_id IS NOT NULL AND closed_at >= $2 ORDER BY closed_at DESC LIMIT 1",
        )
        .bind(phone.as_str())
        .bind(ms(since))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| parse(r, "agent_id")).transpose()
    }

    /// Writes a new waiting task and its `created` event in one transaction.
    pub async fn insert_task(&self, t: &TaskDraft) -> Result<()> {
        self.insert_tasks(std::slice::from_ref(t)).await
    }

    /// Several new tasks in one transaction: all or none.
    pub async fn insert_tasks(&self, rows: &[TaskDraft]) -> Result<()> {
        let (mut tasks, mut events) = (super::apply::new_tasks(), super::apply::events());
        for t in rows {
            super::apply::push_new_task(&mut tasks, &mut events, t);
        }
        let mut batch = super::batch::Batch::default();
        batch.push(tasks);
        batch.push(events);
        match self.commit(batch).await {
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict("task"))
            }
            other => other,
        }
    }

    /// One task with its attempts and events.
    pub async fn task(&self, id: TaskId) -> Result<Option<TaskRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"));
        let Some(row) = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut task = task_from_row(&row)?;
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE task_id = $1 ORDER BY number"));
        let rows = sqlx::query(sql).bind(id.to_string()).fetch_all(&self.pool).await?;
        task.attempts = rows.iter().map(attempt_from_row).collect::<Result<_>>()?;
        let rows = sqlx::query("SELECT at, event, agent_id, note FROM task_events WHERE task_id = $1 ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        for row in &rows {
            task.events.push(TaskEvent {
                at: from_ms(row.try_get("at")?)?,
                event: row.try_get("event")?,
                agent_id: parse_opt(row, "agent_id")?,
                note: row.try_get("note")?,
            });
        }
        Ok(Some(task))
    }

    /// Tasks matching the filter, newest first, each with its attempts.
    pub async fn tasks(&self, f: &TaskFilter) -> Result<Vec<TaskRecord>> {
        // `agent` matches the current holder and anyone who made an attempt.
        const FILTER: &str = "WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
               AND (CAST($2 AS TEXT) IS NULL OR kind = $2) \
               AND (CAST($3 AS TEXT) IS NULL OR agent_id = $3 \
                    OR id IN (SELECT task_id FROM attempts WHERE agent_id = $3)) \
             ORDER BY created_at DESC, id DESC LIMIT $4";
        let bind = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(f.status.map(|s| s.as_str()))
                .bind(f.kind.map(|k| k.as_str()))
                .bind(f.agent.map(|a| a.to_string()))
                .bind(f.limit as i64)
        };
        let rows = bind(format!("SELECT {TASK_COLUMNS} FROM tasks {FILTER}")).fetch_all(&self.pool).await?;
        let mut tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "SELECT task_id, {ATTEMPT_COLUMNS} FROM attempts \
             WHERE task_id IN (SELECT id FROM tasks {FILTER}) ORDER BY task_id, number"
        );
        let mut attempts: HashMap<TaskId, Vec<Attempt>> = HashMap::new();
        for row in bind(sql).fetch_all(&self.pool).await? {
            attempts.entry(parse(&row, "task_id")?).or_default().push(attempt_from_row(&row)?);
        }
        for task in &mut tasks {
            task.attempts = attempts.remove(&task.id).unwrap_or_default();
        }
        Ok(tasks)
    }

    /// Tasks not yet closed, in queue order, with the calls each had: what
    /// a restart reloads into the dispatcher.
    pub async fn live_tasks(&self) -> Result<Vec<(TaskRecord, AttemptsSoFar)>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS}, {ATTEMPTS_SO_FAR} FROM tasks \
             WHERE status IN ('waiting', 'offered', 'assigned') ORDER BY enqueued_at, id"
        ));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((task_from_row(r)?, attempts_so_far(r)?))).collect()
    }

    /// Writes the call summary of `agent`'s last finished attempt at a task,
    /// with a `summary` event: for a call the PBX ended (`hangup`), whose
    /// attempt closed without one, or to correct one. False when the agent
    /// has no finished attempt at the task.
    pub async fn set_attempt_summary(&self, task: TaskId, agent: UserId, summary: &str, at: Timestamp) -> Result<bool> {
        let (task, agent, summary, at) = (task.to_string(), agent.to_string(), summary.to_owned(), ms(at));
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query(
                    "UPDATE attempts SET summary = $1 WHERE id = (SELECT id FROM attempts \
                     WHERE task_id = $2 AND agent_id = $3 AND ended_at IS NOT NULL ORDER BY number DESC LIMIT 1)",
                )
                .bind(&summary)
                .bind(&task)
                .bind(&agent)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                insert_event(conn, &task, at, "summary", Some(agent), Some(summary)).await?;
                Ok(true)
            })
        })
        .await
    }

    /// How far these tables hold the Redis journal of `prefix` ("0-0": none of it).
    pub async fn journal_position(&self, prefix: &str) -> Result<String> {
        let row: Option<(String,)> = sqlx::query_as("SELECT position FROM live_journal WHERE prefix = $1")
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map_or_else(|| "0-0".to_owned(), |r| r.0))
    }

    /// Writes the dispatcher's records in order, in one transaction.
    pub async fn apply(&self, records: &[Record]) -> Result<()> {
        self.write(&[], records, None).await
    }

    /// Writes the connector's changes and the dispatcher's records, each in
    /// order, in one transaction. The call writes go first: a task's
    /// records only ever follow the write that stored the task. With
    /// `journal`, the Redis journal position these records reach is written
    /// in the same transaction (table `live_journal`).
    pub async fn write(
        &self,
        calls: &[CallWrite],
        records: &[Record],
        journal: Option<&JournalPosition>,
    ) -> Result<()> {
        let mut batch = super::batch::Batch::default();
        super::apply::add_call_writes(&mut batch, calls);
        super::apply::add_records(&mut batch, records);
        if let Some(position) = journal {
            let mut row = Rows::new(
                "INSERT INTO live_journal (prefix, position) VALUES ",
                "(#1, #2)",
                " ON CONFLICT (prefix) DO UPDATE SET position = excluded.position",
            );
            row.push([position.prefix.as_str().into(), position.id.as_str().into()]);
            batch.push(row);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.commit(batch).await
    }
}
