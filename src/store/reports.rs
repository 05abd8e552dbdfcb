//! What a report reads: plain selects and portable aggregates (the same
//! SQL on SQLite and PostgreSQL; sums cast to BIGINT, which PostgreSQL
//! would otherwise return as NUMERIC).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;

use super::*;
use crate::domain::{CaseStatus, Channel, DepartmentId, UserId, WorkNumber};
use crate::rules::reports::recurring::RecurringRow;
use crate::rules::reports::satisfaction::SatisfactionRow;
use crate::rules::reports::{
    AgentName, AttemptRow, CallbackRow, CaseRow, Inputs, MissedCalls, OVERDUE_LISTED, OpenMajorCase, OverdueTask,
};

/// Callbacks due in the period: not inbound calls, not cancelled.
const DUE: &str = "t.kind <> 'inbound_call' AND t.status <> 'cancelled' AND t.deadline >= $1 AND t.deadline < $2";
/// Of those, the ones past their deadline: closed after it, or still open
/// when it passed.
const LATE: &str = "((t.closed_at IS NULL AND t.deadline < $3) OR t.closed_at > t.deadline)";

impl Store {
    /// Everything a report over `[from, to)` needs; `to` is also "now" for
    /// deciding what is overdue. `days` are the period's first and
    /// next-after-last local days: work planned for a day (warranty
    /// callbacks) counts in its day's period from the morning on.
    pub async fn report_inputs(&self, from: Timestamp, to: Timestamp, days: (Date, Date)) -> Result<Inputs> {
        Ok(Inputs {
            events: self.floor_events_between(from, Some(to)).await?,
            callbacks: self.callbacks_due(from, to).await?,
            cases: self.cases_received(from, to).await?,
            attempts: self.attempts_ended(from, to).await?,
            overdue_tasks: self.overdue_tasks(from, to).await?,
            overdue_task_count: self.overdue_task_count(from, to).await?,
            missed: self.missed_calls_received(from, to).await?,
            names: self.display_names().await?,
            satisfaction: self.satisfaction_answers(from, to).await?,
            departments: self.department_names().await?,
            open_major: self.open_major_cases(to).await?,
            recurring: self.recurring_released(from, to).await?,
            warranty: self.warranty_callbacks_due(days.0, days.1).await?,
            events_held: self.events_held(days.0, days.1).await?,
            talks: self.placed_talks(from, to).await?,
            call_length: Default::default(),
        })
    }

    /// Placed calls answered and ended in the period: agent, talk time.
    async fn placed_talks(&self, from: Timestamp, to: Timestamp) -> Result<Vec<(UserId, i64)>> {
        let rows = sqlx::query(
            "SELECT agent, answered_at, ended_at FROM placed_calls \
             WHERE answered_at IS NOT NULL AND ended_at >= $1 AND ended_at < $2 ORDER BY ended_at",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let (answered, ended): (i64, i64) = (r.try_get("answered_at")?, r.try_get("ended_at")?);
                Ok((parse(r, "agent")?, ended - answered))
            })
            .collect()
    }

    async fn callbacks_due(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CallbackRow>> {
        let sql = format!(
            "SELECT t.kind, COUNT(*) AS due, \
               CAST(SUM(CASE WHEN t.status = 'completed' AND t.closed_at <= t.deadline THEN 1 ELSE 0 END) AS BIGINT) AS done_in_time, \
               CAST(SUM(CASE WHEN {LATE} THEN 1 ELSE 0 END) AS BIGINT) AS late, \
               CAST(SUM(COALESCE(a.n, 0)) AS BIGINT) AS attempts \
             FROM tasks t LEFT JOIN \
               (SELECT task_id, COUNT(*) AS n FROM attempts WHERE outcome IS NOT NULL GROUP BY task_id) a \
               ON a.task_id = t.id \
             WHERE {DUE} GROUP BY t.kind ORDER BY t.kind"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(from))
            .bind(ms(to))
            .bind(ms(to))
            .fetch_all(&self.pool)
            .await?;
        let count = |row: &sqlx::any::AnyRow, col: &str| -> Result<u32> { Ok(row.try_get::<i64, _>(col)? as u32) };
        rows.iter()
            .map(|row| {
                Ok(CallbackRow {
                    kind: parse(row, "kind")?,
                    due: count(row, "due")?,
                    done_in_time: count(row, "done_in_time")?,
                    late: count(row, "late")?,
                    attempts: count(row, "attempts")?,
                })
            })
            .collect()
    }

    /// Cases received in `[from, to)` as the reports read them (also the
    /// monthly lists' reminder).
    pub async fn cases_received(&self, from: Timestamp, to: Timestamp) -> Result<Vec<CaseRow>> {
        let rows = sqlx::query(
            "SELECT channel, merchant, category, brand, major, status, answer_by, answered_at, \
               merchant_reply_by, merchant_replied_at \
             FROM cases WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: CaseStatus = parse(row, "status")?;
                Ok(CaseRow {
                    channel: parse(row, "channel")?,
                    merchant: row.try_get("merchant")?,
                    category: row.try_get("category")?,
                    brand: row.try_get("brand")?,
                    major: row.try_get::<i64, _>("major")? != 0,
                    resolved: status == CaseStatus::Resolved,
                    answer_by: from_ms(row.try_get("answer_by")?)?,
                    answered_at: opt_ms(row.try_get("answered_at")?)?,
                    merchant_reply_by: opt_ms(row.try_get("merchant_reply_by")?)?,
                    merchant_replied_at: opt_ms(row.try_get("merchant_replied_at")?)?,
                })
            })
            .collect()
    }

    async fn attempts_ended(&self, from: Timestamp, to: Timestamp) -> Result<Vec<AttemptRow>> {
        let rows = sqlx::query(
            "SELECT a.agent_id, a.accepted_at, a.ended_at, a.outcome, t.channel \
             FROM attempts a JOIN tasks t ON t.id = a.task_id \
             WHERE a.ended_at >= $1 AND a.ended_at < $2 ORDER BY a.ended_at",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let channel: Channel = parse(row, "channel")?;
                Ok(AttemptRow {
                    agent: parse(row, "agent_id")?,
                    accepted_at: from_ms(row.try_get("accepted_at")?)?,
                    ended_at: from_ms(row.try_get("ended_at")?)?,
                    outcome: parse_opt(row, "outcome")?,
                    voice: channel == Channel::Voice,
                })
            })
            .collect()
    }

    async fn overdue_tasks(&self, from: Timestamp, to: Timestamp) -> Result<Vec<OverdueTask>> {
        let sql = format!(
            "SELECT t.id, t.kind, t.customer_phone, t.deadline, t.status, t.closed_at FROM tasks t \
             WHERE {DUE} AND {LATE} ORDER BY t.deadline, t.id LIMIT {OVERDUE_LISTED}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(from))
            .bind(ms(to))
            .bind(ms(to))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OverdueTask {
                    task_id: row.try_get("id")?,
                    kind: parse(row, "kind")?,
                    customer_phone: row.try_get("customer_phone")?,
                    deadline: from_ms(row.try_get("deadline")?)?,
                    status: parse(row, "status")?,
                    closed_at: opt_ms(row.try_get("closed_at")?)?,
                })
            })
            .collect()
    }

    async fn overdue_task_count(&self, from: Timestamp, to: Timestamp) -> Result<u32> {
        let sql = format!("SELECT COUNT(*) AS n FROM tasks t WHERE {DUE} AND {LATE}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(from))
            .bind(ms(to))
            .bind(ms(to))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? as u32)
    }

    async fn missed_calls_received(&self, from: Timestamp, to: Timestamp) -> Result<MissedCalls> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS received, \
               CAST(SUM(CASE WHEN resolution = 'called_back' THEN 1 ELSE 0 END) AS BIGINT) AS called_back, \
               CAST(SUM(CASE WHEN resolution = 'got_through' THEN 1 ELSE 0 END) AS BIGINT) AS got_through, \
               CAST(SUM(CASE WHEN resolution IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS waiting \
             FROM missed_calls WHERE at >= $1 AND at < $2",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_one(&self.pool)
        .await?;
        // SUM over no rows is NULL.
        let count = |col: &str| -> Result<u32> { Ok(row.try_get::<Option<i64>, _>(col)?.unwrap_or(0) as u32) };
        Ok(MissedCalls {
            received: count("received")?,
            called_back: count("called_back")?,
            got_through: count("got_through")?,
            waiting: count("waiting")?,
        })
    }

    /// Every account's name and work number, the deleted included: a
    /// report names who did the work.
    async fn display_names(&self) -> Result<BTreeMap<UserId, AgentName>> {
        let rows = sqlx::query("SELECT id, display_name, work_number FROM users").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let work_number = row
                    .try_get::<Option<String>, _>("work_number")?
                    .map(|w| WorkNumber::parse(&w).map_err(|e| StoreError::Corrupt(e.to_string())))
                    .transpose()?;
                Ok((parse(row, "id")?, AgentName { name: row.try_get("display_name")?, work_number }))
            })
            .collect()
    }

    /// The satisfaction calls' answers given in `[from, to)`.
    pub async fn satisfaction_answers(&self, from: Timestamp, to: Timestamp) -> Result<Vec<SatisfactionRow>> {
        let rows = sqlx::query(
            "SELECT satisfied, owner_id, department_id FROM satisfaction_answers \
             WHERE at >= $1 AND at < $2 ORDER BY at, id",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SatisfactionRow {
                    satisfied: row.try_get::<i64, _>("satisfied")? != 0,
                    owner: parse(row, "owner_id")?,
                    department: parse_opt(row, "department_id")?,
                })
            })
            .collect()
    }

    async fn department_names(&self) -> Result<BTreeMap<DepartmentId, String>> {
        let rows = sqlx::query("SELECT id, name FROM departments").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok((parse(row, "id")?, row.try_get("name")?))).collect()
    }

    /// Major complaints received before `to` and not resolved, oldest first.
    async fn open_major_cases(&self, to: Timestamp) -> Result<Vec<OpenMajorCase>> {
        let rows = sqlx::query(
            "SELECT id, merchant, category, received_at, status, owner_id, updated_at FROM cases \
             WHERE major <> 0 AND status <> 'resolved' AND received_at < $1 ORDER BY received_at, id",
        )
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OpenMajorCase {
                    case_id: parse(row, "id")?,
                    merchant: row.try_get("merchant")?,
                    category: row.try_get("category")?,
                    received_at: from_ms(row.try_get("received_at")?)?,
                    status: parse(row, "status")?,
                    owner_id: parse(row, "owner_id")?,
                    updated_at: from_ms(row.try_get("updated_at")?)?,
                })
            })
            .collect()
    }

    /// Recurring work of the releases in `[from, to)`.
    async fn recurring_released(&self, from: Timestamp, to: Timestamp) -> Result<Vec<RecurringRow>> {
        let rows = sqlx::query(
            "SELECT rule, label, agent_id, target, done FROM recurring_work \
             WHERE released_at >= $1 AND released_at < $2 ORDER BY day, rule, agent_id",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RecurringRow {
                    rule: row.try_get("rule")?,
                    label: row.try_get("label")?,
                    agent: parse_opt(row, "agent_id")?,
                    target: row.try_get::<i64, _>("target")? as u32,
                    done: row.try_get::<i64, _>("done")? as u32,
                })
            })
            .collect()
    }
}
