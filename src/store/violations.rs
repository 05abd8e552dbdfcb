//! Violations of partner drivers and inns (违规行为), with the penalty and
//! the feedback given: a record kept, never changed.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{UserId, ViolationId, ViolationParty};

#[derive(Clone, Debug)]
pub struct NewViolation {
    pub id: ViolationId,
    pub party: ViolationParty,
    /// The driver's or the inn's id.
    pub party_id: String,
    pub occurred_at: Timestamp,
    pub what: String,
    pub penalty: Option<String>,
    pub feedback: Option<String>,
    pub recorded_by: UserId,
    pub recorded_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Violation {
    pub id: ViolationId,
    pub party: ViolationParty,
    pub party_id: String,
    /// When it happened.
    #[schema(value_type = String)]
    pub occurred_at: Timestamp,
    /// What the partner did.
    pub what: String,
    /// The penalty decided (处罚结果).
    pub penalty: Option<String>,
    /// The feedback given to the partner (反馈).
    pub feedback: Option<String>,
    pub recorded_by: UserId,
    #[schema(value_type = String)]
    pub recorded_at: Timestamp,
}

fn violation_from_row(r: &AnyRow) -> Result<Violation> {
    Ok(Violation {
        id: parse(r, "id")?,
        party: parse(r, "party")?,
        party_id: r.try_get("party_id")?,
        occurred_at: from_ms(r.try_get("occurred_at")?)?,
        what: r.try_get("what")?,
        penalty: r.try_get("penalty")?,
        feedback: r.try_get("feedback")?,
        recorded_by: parse(r, "recorded_by")?,
        recorded_at: from_ms(r.try_get("recorded_at")?)?,
    })
}

impl Store {
    pub async fn insert_violation(&self, v: &NewViolation) -> Result<()> {
        sqlx::query(
            "INSERT INTO violations (id, party, party_id, occurred_at, what, penalty, feedback, recorded_by, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(v.id.to_string())
        .bind(v.party.as_str())
        .bind(&v.party_id)
        .bind(ms(v.occurred_at))
        .bind(&v.what)
        .bind(v.penalty.clone())
        .bind(v.feedback.clone())
        .bind(v.recorded_by.to_string())
        .bind(ms(v.recorded_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One partner's violations, latest first.
    pub async fn violations(&self, party: ViolationParty, party_id: &str) -> Result<Vec<Violation>> {
        let rows = sqlx::query(
            "SELECT id, party, party_id, occurred_at, what, penalty, feedback, recorded_by, recorded_at \
             FROM violations WHERE party = $1 AND party_id = $2 ORDER BY occurred_at DESC, id DESC",
        )
        .bind(party.as_str())
        .bind(party_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(violation_from_row).collect()
    }

    /// How many violations each partner of `party` has had since `since`.
    pub async fn violation_counts(&self, party: ViolationParty, since: Timestamp) -> Result<HashMap<String, u32>> {
        let rows = sqlx::query(
            "SELECT party_id, COUNT(*) AS n FROM violations WHERE party = $1 AND occurred_at >= $2 GROUP BY party_id",
        )
        .bind(party.as_str())
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("party_id")?, r.try_get::<i64, _>("n")? as u32))).collect()
    }
}
