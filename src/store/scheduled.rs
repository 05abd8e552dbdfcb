//! Scheduled tasks: stored `scheduled`, offered to no one before their
//! start time, then moved to `waiting` by the scheduler.

use jiff::Timestamp;
use sqlx::Row;

use super::tasks::{ATTEMPTS_SO_FAR, AttemptsSoFar, TASK_COLUMNS, attempts_so_far, insert_event, task_from_row};
use super::*;
use crate::domain::{TaskId, UserId};

/// The most scheduled tasks released in one pass; the rest go in the next.
const RELEASE_BATCH: i64 = 500;

impl Store {
    /// Scheduled tasks whose start time has come, earliest first, each
    /// with the calls it has had.
    pub async fn due_scheduled(&self, now: Timestamp) -> Result<Vec<(TaskRecord, AttemptsSoFar)>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS}, {ATTEMPTS_SO_FAR} FROM tasks WHERE status = 'scheduled' AND not_before <= $1 \
             ORDER BY not_before, id LIMIT {RELEASE_BATCH}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((task_from_row(r)?, attempts_so_far(r)?))).collect()
    }

    /// The earliest start time among scheduled tasks.
    pub async fn next_scheduled(&self) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT MIN(not_before) AS at FROM tasks WHERE status = 'scheduled'")
            .fetch_one(&self.pool)
            .await?;
        row.try_get::<Option<i64>, _>("at")?.map(from_ms).transpose()
    }

    /// Moves a scheduled task to `waiting`, entering its queue at `now`.
    /// False when it is no longer scheduled (released by another node, or
    /// cancelled): then nothing changes.
    pub async fn release_scheduled(&self, task: TaskId, now: Timestamp) -> Result<bool> {
        self.leave_schedule(task, now, "waiting", "released", None).await
    }

    /// Cancels a task that is still scheduled; false when it is not.
    pub async fn cancel_scheduled(&self, task: TaskId, now: Timestamp, by: Option<UserId>) -> Result<bool> {
        self.leave_schedule(task, now, "cancelled", "cancelled", by).await
    }

    async fn leave_schedule(
        &self,
        task: TaskId,
        now: Timestamp,
        status: &'static str,
        event: &'static str,
        by: Option<UserId>,
    ) -> Result<bool> {
        let (id, at, by) = (task.to_string(), ms(now), by.map(|u| u.to_string()));
        self.write_tx(move |conn| {
            Box::pin(async move {
                let closed = (status == "cancelled").then_some(at);
                let changed = sqlx::query(
                    "UPDATE tasks SET status = $1, enqueued_at = $2, updated_at = $2, closed_at = $3 \
                     WHERE id = $4 AND status = 'scheduled'",
                )
                .bind(status)
                .bind(at)
                .bind(closed)
                .bind(&id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                insert_event(conn, &id, at, event, by, None).await?;
                Ok(true)
            })
        })
        .await
    }
}
