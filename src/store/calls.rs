//! Missed hotline calls and the backlog the follow-up works from.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::*;
use crate::domain::{MissReason, Phone, TaskId};
use crate::rules::dispatch::TaskDraft;
use crate::rules::planning::estimate::WaitEstimate;

/// One call that nobody answered.
#[derive(Clone, Debug, PartialEq)]
pub struct MissedCall {
    pub caller: Phone,
    /// The number dialled (the Request-URI's user part).
    pub called: String,
    pub queue: String,
    pub reason: MissReason,
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
        self.apply_call_writes(&[CallWrite::Missed(call.clone())]).await
    }

    /// Applies the connector's writes in order, in one transaction.
    pub async fn apply_call_writes(&self, writes: &[CallWrite]) -> Result<()> {
        self.write(writes, &[], None).await
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

/// How a hotline call ended, as far as Switchboard knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// Still waiting in the queue.
    Queued,
    /// Sent to an agent's phone by 302; not yet answered.
    Redirected,
    Answered,
    /// The caller hung up while queued.
    Abandoned,
    /// The wait ran out.
    TimedOut,
    /// Redirected, but the agent did not take it.
    Unanswered,
    /// Answered and hung up.
    Completed,
}

impl CallOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Queued => "queued",
            CallOutcome::Redirected => "redirected",
            CallOutcome::Answered => "answered",
            CallOutcome::Abandoned => "abandoned",
            CallOutcome::TimedOut => "timed_out",
            CallOutcome::Unanswered => "unanswered",
            CallOutcome::Completed => "completed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => CallOutcome::Queued,
            "redirected" => CallOutcome::Redirected,
            "answered" => CallOutcome::Answered,
            "abandoned" => CallOutcome::Abandoned,
            "timed_out" => CallOutcome::TimedOut,
            "unanswered" => CallOutcome::Unanswered,
            "completed" => CallOutcome::Completed,
            other => return Err(StoreError::Corrupt(format!("call outcome `{other}`"))),
        })
    }
}

/// A call's record (CDR).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CallRecord {
    pub task_id: TaskId,
    pub sip_call_id: String,
    pub caller: Option<String>,
    pub called: String,
    pub queue: String,
    pub enqueued_at: Timestamp,
    /// Agents the call was offered to, in order.
    pub offered_agents: Vec<String>,
    pub redirected_at: Option<Timestamp>,
    pub answered_by: Option<String>,
    /// The work number (工号) of the agent who answered.
    pub answered_by_work_number: Option<String>,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub outcome: CallOutcome,
    /// Milliseconds from entering the queue to being answered (or to the end, if never answered).
    pub wait_ms: Option<i64>,
    /// Milliseconds from answer to hang-up.
    pub talk_ms: Option<i64>,
    /// While the caller is queued: their position and estimated wait as of
    /// the last estimate (made four times a second) (set by `GET /api/v1/calls/{task_id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitEstimate>,
}

/// A write the SIP connector makes, applied in order by its writer.
#[derive(Clone, Debug, PartialEq)]
pub enum CallWrite {
    /// A call entered the queue: its task and its record.
    NewCall {
        task: TaskDraft,
        sip_call_id: String,
        caller: Option<Phone>,
        called: String,
    },
    /// Sent to this agent's phone by 302.
    Redirected {
        task: TaskId,
        agent: String,
        at: Timestamp,
    },
    Answered {
        task: TaskId,
        agent: String,
        at: Timestamp,
    },
    /// Ended without being answered (the first end counts).
    Ended {
        task: TaskId,
        outcome: CallOutcome,
        at: Timestamp,
    },
    /// An answered call hung up.
    Completed {
        task: TaskId,
        at: Timestamp,
    },
    Missed(MissedCall),
}

/// A call-state event from a PBX.
#[derive(Clone, Debug, PartialEq)]
pub struct CtiEvent {
    pub event_id: String,
    pub pbx: String,
    pub sip_call_id: String,
    pub event: String,
    pub agent: Option<String>,
    pub at: Timestamp,
}

/// A call record with the work number of the agent who answered it (as
/// the account has it now).
const CALL_COLUMNS: &str = "c.task_id, c.sip_call_id, c.caller, c.called, c.queue, c.enqueued_at, c.offered_agents, \
     c.redirected_at, c.answered_by, c.answered_at, c.ended_at, c.outcome, u.work_number AS answered_work_number \
     FROM call_records c LEFT JOIN users u ON u.id = c.answered_by";

impl Store {
    pub async fn call_record(&self, task: TaskId) -> Result<Option<CallRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CALL_COLUMNS} WHERE c.task_id = $1"));
        let row = sqlx::query(sql).bind(task.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(call_from_row).transpose()
    }

    pub async fn call_by_sip_id(&self, sip_call_id: &str) -> Result<Option<CallRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CALL_COLUMNS} WHERE c.sip_call_id = $1 ORDER BY c.enqueued_at DESC LIMIT 1"
        ));
        let row = sqlx::query(sql).bind(sip_call_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(call_from_row).transpose()
    }

    pub async fn call_records(&self, limit: u32) -> Result<Vec<CallRecord>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {CALL_COLUMNS} ORDER BY c.enqueued_at DESC, c.task_id DESC LIMIT $1"));
        let rows = sqlx::query(sql).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Stores a PBX event once; `false` when this event id was seen before.
    pub async fn record_cti_event(&self, e: &CtiEvent, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO cti_events (event_id, pbx, sip_call_id, event, agent, at, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&e.event_id)
        .bind(&e.pbx)
        .bind(&e.sip_call_id)
        .bind(&e.event)
        .bind(&e.agent)
        .bind(ms(e.at))
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn call_from_row(r: &sqlx::any::AnyRow) -> Result<CallRecord> {
    let offered: String = r.try_get("offered_agents")?;
    let enqueued_at = from_ms(r.try_get("enqueued_at")?)?;
    let answered_at = opt_ms(r.try_get("answered_at")?)?;
    let ended_at = opt_ms(r.try_get("ended_at")?)?;
    let wait_end = answered_at.or(ended_at);
    Ok(CallRecord {
        task_id: parse(r, "task_id")?,
        sip_call_id: r.try_get("sip_call_id")?,
        caller: r.try_get("caller")?,
        called: r.try_get("called")?,
        queue: r.try_get("queue")?,
        enqueued_at,
        offered_agents: offered.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        redirected_at: opt_ms(r.try_get("redirected_at")?)?,
        answered_by: r.try_get("answered_by")?,
        answered_by_work_number: r.try_get("answered_work_number")?,
        answered_at,
        ended_at,
        outcome: CallOutcome::parse(&r.try_get::<String, _>("outcome")?)?,
        wait_ms: wait_end.map(|t| t.as_millisecond() - enqueued_at.as_millisecond()),
        talk_ms: answered_at.zip(ended_at).map(|(a, e)| e.as_millisecond() - a.as_millisecond()),
        wait: None,
    })
}
