//! The missed-call backlog and the checkpoint runs that release it.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::apply::batch_with_tasks;
use super::batch::{Arg, Rows};
use super::*;
use crate::domain::{MissReason, Phone, TaskId, UnknownIdentifier};
use crate::rules::followup::Miss;

/// A missed call still in the backlog.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct BacklogEntry {
    pub id: i64,
    pub caller: Phone,
    pub called: String,
    pub queue: String,
    pub reason: MissReason,
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// When the centre learnt of it (`at` for a miss the connector saw).
    #[schema(value_type = String)]
    pub reported_at: Timestamp,
}

impl BacklogEntry {
    pub fn miss(&self) -> Miss {
        Miss {
            id: self.id,
            caller: self.caller.clone(),
            called: self.called.clone(),
            at: self.at,
            reported: self.reported_at,
        }
    }
}

/// A callback a checkpoint creates, and the misses it answers.
pub struct CheckpointCallback {
    pub task: TaskDraft,
    pub misses: Vec<i64>,
}

const BACKLOG: &str = "SELECT id, caller, called, queue, reason, at, COALESCE(reported_at, at) AS reported_at \
                       FROM missed_calls WHERE resolution IS NULL";

fn backlog_entry(r: &AnyRow) -> Result<BacklogEntry> {
    Ok(BacklogEntry {
        id: r.try_get("id")?,
        caller: Phone::parse(&r.try_get::<String, _>("caller")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        called: r.try_get("called")?,
        queue: r.try_get("queue")?,
        reason: r
            .try_get::<String, _>("reason")?
            .parse()
            .map_err(|e: UnknownIdentifier| StoreError::Corrupt(e.to_string()))?,
        at: from_ms(r.try_get("at")?)?,
        reported_at: from_ms(r.try_get("reported_at")?)?,
    })
}

impl Store {
    /// Every unresolved missed call, oldest first.
    pub async fn missed_backlog(&self) -> Result<Vec<BacklogEntry>> {
        let sql = format!("{BACKLOG} ORDER BY at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
        rows.iter().map(backlog_entry).collect()
    }

    /// Adds a missed call (at `at`) reported over the API at `reported_at`
    /// and returns it as stored.
    pub async fn add_reported_miss(
        &self,
        caller: &Phone,
        called: &str,
        queue: &str,
        at: Timestamp,
        reported_at: Timestamp,
    ) -> Result<BacklogEntry> {
        let (c, d, q) = (caller.as_str().to_owned(), called.to_owned(), queue.to_owned());
        let id = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO missed_calls (caller, called, queue, reason, task_id, at, reported_at) \
                         VALUES ($1, $2, $3, $5, NULL, $4, $6) RETURNING id",
                    )
                    .bind(c)
                    .bind(d)
                    .bind(q)
                    .bind(ms(at))
                    .bind(MissReason::Reported.as_str())
                    .bind(ms(reported_at))
                    .fetch_one(&mut *conn)
                    .await?;
                    Ok(row.try_get::<i64, _>("id")?)
                })
            })
            .await?;
        Ok(BacklogEntry {
            id,
            caller: caller.clone(),
            called: called.to_owned(),
            queue: queue.to_owned(),
            reason: MissReason::Reported,
            at,
            reported_at,
        })
    }

    /// For each caller in the backlog, their latest answered hotline call.
    pub async fn answered_backlog_callers(&self) -> Result<HashMap<Phone, Timestamp>> {
        let rows = sqlx::query(
            "SELECT caller, MAX(answered_at) AS answered_at FROM call_records WHERE answered_at IS NOT NULL \
             AND caller IN (SELECT caller FROM missed_calls WHERE resolution IS NULL) GROUP BY caller",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let caller =
                Phone::parse(&r.try_get::<String, _>("caller")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.insert(caller, from_ms(r.try_get("answered_at")?)?);
        }
        Ok(out)
    }

    /// The latest checkpoint that has fired, on any node.
    pub async fn last_checkpoint_run(&self) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT MAX(at) AS at FROM checkpoint_runs").fetch_one(&self.pool).await?;
        row.try_get::<Option<i64>, _>("at")?.map(from_ms).transpose()
    }

    /// Fires the checkpoint `at`: claims it, creates the callbacks and
    /// resolves the misses, all in one transaction. False, with nothing
    /// written, when the checkpoint has already fired (on this node or
    /// another sharing the database).
    pub async fn fire_checkpoint(
        &self,
        at: Timestamp,
        now: Timestamp,
        callbacks: &[CheckpointCallback],
        got_through: &[i64],
    ) -> Result<bool> {
        let mut claim = Rows::new(
            "INSERT INTO checkpoint_runs (at, fired_at, callbacks, got_through) VALUES ",
            "(#1, #2, #3, #4)",
            "",
        );
        claim.push([ms(at).into(), ms(now).into(), (callbacks.len() as i64).into(), (got_through.len() as i64).into()]);
        let mut resolved = Rows::new(
            "UPDATE missed_calls SET callback_task = v.column2, resolution = v.column3, resolved_at = v.column4 \
             FROM (VALUES ",
            "(#1, #2, #3, #4)",
            ") AS v WHERE missed_calls.id = v.column1 AND missed_calls.resolution IS NULL",
        );
        for cb in callbacks {
            for miss in &cb.misses {
                resolved.push([(*miss).into(), id_arg(cb.task.id), "called_back".into(), ms(now).into()]);
            }
        }
        for miss in got_through {
            resolved.push([(*miss).into(), Arg::Text(None), "got_through".into(), ms(now).into()]);
        }
        let tasks: Vec<TaskDraft> = callbacks.iter().map(|cb| cb.task.clone()).collect();
        let mut batch = batch_with_tasks(claim, &tasks);
        batch.push(resolved);
        match self.commit(batch).await {
            Ok(()) => Ok(true),
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn id_arg(t: TaskId) -> Arg {
    Arg::from(t.to_string())
}
