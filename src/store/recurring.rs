//! Recurring work: each release with its task, claimed once, and the count
//! done as the agents report it.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::apply::push_tasks;
use super::batch::Batch;
use super::*;
use crate::domain::{TaskId, UserId};

/// One release to store with its task.
#[derive(Clone, Debug)]
pub struct NewRecurringWork {
    pub id: String,
    pub rule: String,
    pub label: String,
    pub day: Date,
    /// `None`: for the queue.
    pub agent: Option<UserId>,
    pub queue: String,
    pub target: u32,
    pub due_at: Timestamp,
    pub at: Timestamp,
    pub task: TaskDraft,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RecurringWork {
    pub id: String,
    /// The `[[recurring]]` rule's name, and what people call it.
    pub rule: String,
    pub label: String,
    #[schema(value_type = String)]
    pub day: Date,
    /// The agent it is for; `null` for whoever in the queue takes it.
    pub agent_id: Option<UserId>,
    /// The queue of its kind: who may take the queue's items.
    pub queue: String,
    pub task_id: TaskId,
    /// How many to do, and how many are done.
    pub target: u32,
    pub done: u32,
    #[schema(value_type = String)]
    pub due_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

fn work_from_row(r: &AnyRow) -> Result<RecurringWork> {
    Ok(RecurringWork {
        id: r.try_get("id")?,
        rule: r.try_get("rule")?,
        label: r.try_get("label")?,
        day: parse(r, "day")?,
        agent_id: parse_opt(r, "agent_id")?,
        queue: r.try_get("queue")?,
        task_id: parse(r, "task_id")?,
        target: r.try_get::<i64, _>("target")? as u32,
        done: r.try_get::<i64, _>("done")? as u32,
        due_at: from_ms(r.try_get("due_at")?)?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

const WORK_COLUMNS: &str = "id, rule, label, day, agent_id, queue, task_id, target, done, due_at, updated_at";

impl Store {
    /// Stores a release with its task unless that release (rule, day, agent
    /// or queue) is stored already; true if this call stored it.
    pub async fn release_recurring(&self, w: &NewRecurringWork) -> Result<bool> {
        let backend = self.backend;
        let w = w.clone();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let claim = w.agent.map_or_else(|| "queue".to_owned(), |a| a.to_string());
                let claimed = sqlx::query(
                    "INSERT INTO recurring_work (id, rule, label, day, agent_id, queue, claim, task_id, target, done, \
                     due_at, released_at, updated_at) VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, 0, $9, $10, $10) \
                     ON CONFLICT (rule, day, claim) DO NOTHING",
                )
                .bind(&w.id)
                .bind(&w.rule)
                .bind(&w.label)
                .bind(w.day.to_string())
                .bind(w.agent.map(|a| a.to_string()))
                .bind(claim)
                .bind(w.task.id.to_string())
                .bind(i64::from(w.target))
                .bind(ms(w.due_at))
                .bind(ms(w.at))
                .bind(&w.queue)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if claimed == 0 {
                    return Ok(false);
                }
                // The task, with its `created` event, in the same transaction.
                let mut batch = Batch::default();
                push_tasks(&mut batch, std::slice::from_ref(&w.task));
                batch.run_in(conn, backend).await?;
                Ok(true)
            })
        })
        .await
    }

    /// The recurring work of the days `[from, to]`, for `agent` (theirs and
    /// the queue's) or everyone's, by day then rule.
    pub async fn recurring_work(&self, from: Date, to: Date, agent: Option<UserId>) -> Result<Vec<RecurringWork>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {WORK_COLUMNS} FROM recurring_work WHERE day >= $1 AND day <= $2 \
             AND (CAST($3 AS TEXT) IS NULL OR agent_id = $3 OR agent_id IS NULL) ORDER BY day, rule, agent_id"
        ));
        let rows = sqlx::query(sql)
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(agent.map(|a| a.to_string()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(work_from_row).collect()
    }

    pub async fn recurring_item(&self, id: &str) -> Result<Option<RecurringWork>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {WORK_COLUMNS} FROM recurring_work WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(work_from_row).transpose()
    }

    /// Sets how many are done.
    pub async fn set_recurring_done(&self, id: &str, done: u32, by: UserId, at: Timestamp) -> Result<bool> {
        let changed =
            sqlx::query("UPDATE recurring_work SET done = $1, updated_at = $2, updated_by = $3 WHERE id = $4")
                .bind(i64::from(done))
                .bind(ms(at))
                .bind(by.to_string())
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed == 1)
    }

    /// Whether an event the centre takes sign-ups for is held on `day`.
    pub async fn event_on(&self, day: Date) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM registrations WHERE event_date = $1 LIMIT 1")
            .bind(day.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
