//! Calls Switchboard placed: each row written before the call's first
//! INVITE leaves, its progress and end as they come, and the legs the SIP
//! layer stored (opaque here) so that calls a crash left open are found
//! and ended by the next leader.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{CallPurpose, HungUpBy, Phone, PlacedOutcome, TaskId, UserId};

/// A call about to be placed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPlacedCall {
    pub id: String,
    pub purpose: CallPurpose,
    pub task: Option<TaskId>,
    /// The trip or inn booking, for travel calls.
    pub subject: Option<String>,
    pub agent: UserId,
    pub agent_uri: String,
    pub number: Phone,
    pub customer_uri: String,
    pub placed_at: Timestamp,
    /// What the SIP layer stores of the call before its first INVITE.
    pub legs: String,
}

/// A step of a placed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStep {
    AgentAnswered,
    CustomerRinging,
    Answered,
}

/// How a placed call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedEnd {
    pub outcome: PlacedOutcome,
    pub agent_code: Option<u16>,
    pub customer_code: Option<u16>,
    pub hung_up: Option<HungUpBy>,
    pub at: Timestamp,
}

/// A placed call's record: direction outbound, both legs, codes and times.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PlacedCall {
    pub id: String,
    /// Always `outbound`: inbound calls are at `GET /api/v1/calls`.
    pub direction: &'static str,
    pub purpose: CallPurpose,
    pub task_id: Option<TaskId>,
    pub subject: Option<String>,
    pub agent: UserId,
    /// The agent's leg: their phone.
    pub agent_uri: String,
    /// The customer's leg: the number and its Request-URI through the PBX.
    #[schema(value_type = String)]
    pub number: Phone,
    pub customer_uri: String,
    #[schema(value_type = String)]
    pub placed_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub agent_answered_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub customer_ringing_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub answered_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<Timestamp>,
    /// The agent leg's final code when it did not answer.
    pub agent_code: Option<u16>,
    /// The customer leg's final code (200 when answered).
    pub customer_code: Option<u16>,
    /// `null` while the call is going on.
    pub outcome: Option<PlacedOutcome>,
    pub hung_up_by: Option<HungUpBy>,
    /// Milliseconds the customer's phone rang.
    pub ringing_ms: Option<i64>,
    /// Milliseconds from the customer's answer to the end.
    pub talk_ms: Option<i64>,
}

/// A call left open (no end recorded), with what its legs stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenCall {
    pub id: String,
    pub task: Option<TaskId>,
    pub agent: UserId,
    pub legs: String,
}

const COLUMNS: &str = "id, purpose, task_id, subject, agent, agent_uri, number, customer_uri, placed_at, \
     agent_answered_at, customer_ringing_at, answered_at, ended_at, agent_code, customer_code, outcome, hung_up";

fn placed_from_row(r: &AnyRow) -> Result<PlacedCall> {
    let code = |col: &str| -> Result<Option<u16>> { Ok(r.try_get::<Option<i64>, _>(col)?.map(|c| c as u16)) };
    let ringing_at = opt_ms(r.try_get("customer_ringing_at")?)?;
    let answered_at = opt_ms(r.try_get("answered_at")?)?;
    let ended_at = opt_ms(r.try_get("ended_at")?)?;
    let span =
        |a: Option<Timestamp>, b: Option<Timestamp>| a.zip(b).map(|(a, b)| b.as_millisecond() - a.as_millisecond());
    Ok(PlacedCall {
        id: r.try_get("id")?,
        direction: "outbound",
        purpose: parse(r, "purpose")?,
        task_id: parse_opt(r, "task_id")?,
        subject: r.try_get("subject")?,
        agent: parse(r, "agent")?,
        agent_uri: r.try_get("agent_uri")?,
        number: Phone::parse(&r.try_get::<String, _>("number")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        customer_uri: r.try_get("customer_uri")?,
        placed_at: from_ms(r.try_get("placed_at")?)?,
        agent_answered_at: opt_ms(r.try_get("agent_answered_at")?)?,
        customer_ringing_at: ringing_at,
        answered_at,
        ended_at,
        agent_code: code("agent_code")?,
        customer_code: code("customer_code")?,
        outcome: parse_opt(r, "outcome")?,
        hung_up_by: parse_opt(r, "hung_up")?,
        ringing_ms: span(ringing_at, answered_at.or(ended_at)),
        talk_ms: span(answered_at, ended_at),
    })
}

impl Store {
    /// Records a call before anything of it is sent.
    pub async fn insert_placed_call(&self, c: &NewPlacedCall) -> Result<()> {
        sqlx::query(
            "INSERT INTO placed_calls (id, purpose, task_id, subject, agent, agent_uri, number, customer_uri, placed_at, \
             dialogs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.id)
        .bind(c.purpose.as_str())
        .bind(c.task.map(|t| t.to_string()))
        .bind(c.subject.clone())
        .bind(c.agent.to_string())
        .bind(&c.agent_uri)
        .bind(c.number.as_str())
        .bind(&c.customer_uri)
        .bind(ms(c.placed_at))
        .bind(&c.legs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores the legs of an open call (the SIP layer's text).
    pub async fn store_call_legs(&self, id: &str, legs: &str) -> Result<()> {
        sqlx::query("UPDATE placed_calls SET dialogs = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(legs)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a step; the first time counts.
    pub async fn placed_call_step(&self, id: &str, step: CallStep, at: Timestamp) -> Result<()> {
        let sql = match step {
            CallStep::AgentAnswered => {
                "UPDATE placed_calls SET agent_answered_at = $2 WHERE id = $1 AND agent_answered_at IS NULL"
            }
            CallStep::CustomerRinging => {
                "UPDATE placed_calls SET customer_ringing_at = $2 WHERE id = $1 AND customer_ringing_at IS NULL"
            }
            CallStep::Answered => "UPDATE placed_calls SET answered_at = $2 WHERE id = $1 AND answered_at IS NULL",
        };
        sqlx::query(sql).bind(id).bind(ms(at)).execute(&self.pool).await?;
        Ok(())
    }

    /// Records the end once; `false` when the call had already ended.
    pub async fn end_placed_call(&self, id: &str, end: &PlacedEnd) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE placed_calls SET ended_at = $2, outcome = $3, agent_code = $4, customer_code = $5, hung_up = $6, \
             dialogs = '' WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id)
        .bind(ms(end.at))
        .bind(end.outcome.as_str())
        .bind(end.agent_code.map(i64::from))
        .bind(end.customer_code.map(i64::from))
        .bind(end.hung_up.map(|h| h.as_str()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every call with no end recorded: after a crash, those to end.
    pub async fn open_placed_calls(&self) -> Result<Vec<OpenCall>> {
        let rows = sqlx::query("SELECT id, task_id, agent, dialogs FROM placed_calls WHERE ended_at IS NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenCall {
                    id: r.try_get("id")?,
                    task: parse_opt(r, "task_id")?,
                    agent: parse(r, "agent")?,
                    legs: r.try_get("dialogs")?,
                })
            })
            .collect()
    }

    /// When a call to `number` was last placed.
    pub async fn last_call_to(&self, number: &Phone) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT MAX(placed_at) AS at FROM placed_calls WHERE number = $1")
            .bind(number.as_str())
            .fetch_one(&self.pool)
            .await?;
        opt_ms(row.try_get("at")?)
    }

    pub async fn placed_call(&self, id: &str) -> Result<Option<PlacedCall>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM placed_calls WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(placed_from_row).transpose()
    }

    /// The latest placed calls, newest first; of one task when given.
    pub async fn placed_calls(&self, task: Option<TaskId>, limit: u32) -> Result<Vec<PlacedCall>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM placed_calls WHERE (CAST($1 AS TEXT) IS NULL OR task_id = $1) \
             ORDER BY placed_at DESC, id DESC LIMIT $2"
        ));
        let rows = sqlx::query(sql).bind(task.map(|t| t.to_string())).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(placed_from_row).collect()
    }
}
