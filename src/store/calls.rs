//! Missed hotline calls and the backlog the follow-up works from.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::*;
use crate::domain::{Phone, TaskId};

/// One call that nobody answered.
#[derive(Clone, Debug, PartialEq)]
pub struct MissedCall {
    pub caller: Phone,
    /// The number dialled (the Request-URI's user part).
    pub called: String,
    pub queue: String,
    /// `abandoned` (hung up while queued) or `queue_timeout`.
    pub reason: &'static str,
    pub task: Option<TaskId>,
    pub at: Timestamp,
}

/// A caller in the backlog: one entry however many times they called.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MissedCaller {
    pub caller: Phone,
    pub calls: u32,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

impl Store {
    pub async fn record_missed_call(&self, call: &MissedCall) -> Result<()> {
        sqlx::query(
            "INSERT INTO missed_calls (caller, called, queue, reason, task_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(call.caller.as_str())
        .bind(&call.called)
        .bind(&call.queue)
        .bind(call.reason)
        .bind(call.task.map(|t| t.to_string()))
        .bind(ms(call.at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Missed calls since `since`, one entry per caller, oldest first.
    pub async fn missed_callers(&self, since: Timestamp) -> Result<Vec<MissedCaller>> {
        let rows = sqlx::query(
            "SELECT caller, COUNT(*) AS calls, MIN(at) AS first_at, MAX(at) AS last_at FROM missed_calls \
             WHERE at >= $1 GROUP BY caller ORDER BY MIN(at), caller",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MissedCaller {
                    caller: Phone::parse(&r.try_get::<String, _>("caller")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    calls: r.try_get::<i64, _>("calls")? as u32,
                    first_at: from_ms(r.try_get("first_at")?)?,
                    last_at: from_ms(r.try_get("last_at")?)?,
                })
            })
            .collect()
    }
}
