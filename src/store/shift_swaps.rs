//! Shift swaps (调班) and their decisions. An approval writes the two
//! agents' new schedules with the decision, all or nothing.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::shifts::ScheduleSpec;
use super::*;
use crate::domain::{SwapId, SwapStatus, UserId};

#[derive(Clone, Debug)]
pub struct NewSwap {
    pub id: SwapId,
    pub requester: UserId,
    pub partner: UserId,
    pub day: Date,
    pub note: Option<String>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Swap {
    pub id: SwapId,
    /// The agent who asked.
    pub requester_id: UserId,
    /// The colleague whose shifts that day they take, giving theirs.
    pub partner_id: UserId,
    #[schema(value_type = String)]
    pub day: Date,
    pub note: Option<String>,
    pub status: SwapStatus,
    #[schema(value_type = String)]
    pub requested_at: Timestamp,
    pub decided_by: Option<UserId>,
    #[schema(value_type = Option<String>)]
    pub decided_at: Option<Timestamp>,
    pub decision_note: Option<String>,
}

/// A decision on a swap still `requested`.
pub struct Decision {
    pub swap: SwapId,
    pub status: SwapStatus,
    pub by: UserId,
    pub note: Option<String>,
    pub at: Timestamp,
    /// For an approval: each agent's schedule as read (to check it did not
    /// change meanwhile) and as it becomes.
    pub schedules: Vec<(UserId, Option<ScheduleSpec>, ScheduleSpec)>,
}

const SWAP_COLUMNS: &str =
    "id, requester_id, partner_id, day, note, status, requested_at, decided_by, decided_at, decision_note";

fn swap_from_row(r: &AnyRow) -> Result<Swap> {
    Ok(Swap {
        id: parse(r, "id")?,
        requester_id: parse(r, "requester_id")?,
        partner_id: parse(r, "partner_id")?,
        day: parse(r, "day")?,
        note: r.try_get("note")?,
        status: parse(r, "status")?,
        requested_at: from_ms(r.try_get("requested_at")?)?,
        decided_by: parse_opt(r, "decided_by")?,
        decided_at: opt_ms(r.try_get("decided_at")?)?,
        decision_note: r.try_get("decision_note")?,
    })
}

impl Store {
    pub async fn insert_swap(&self, s: &NewSwap) -> Result<()> {
        sqlx::query(
            "INSERT INTO shift_swaps (id, requester_id, partner_id, day, note, status, requested_at) \
             VALUES ($1, $2, $3, $4, $5, 'requested', $6)",
        )
        .bind(s.id.to_string())
        .bind(s.requester.to_string())
        .bind(s.partner.to_string())
        .bind(s.day.to_string())
        .bind(s.note.clone())
        .bind(ms(s.at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn swap(&self, id: SwapId) -> Result<Option<Swap>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {SWAP_COLUMNS} FROM shift_swaps WHERE id = $1"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(swap_from_row).transpose()
    }

    /// Swaps `involving` asked for or with (all with `None`), with `status`
    /// if given, latest first.
    pub async fn swaps(&self, involving: Option<UserId>, status: Option<SwapStatus>) -> Result<Vec<Swap>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SWAP_COLUMNS} FROM shift_swaps \
             WHERE (CAST($1 AS TEXT) IS NULL OR requester_id = $1 OR partner_id = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR status = $2) ORDER BY requested_at DESC, id DESC LIMIT 1000"
        ));
        let rows = sqlx::query(sql)
            .bind(involving.map(|u| u.to_string()))
            .bind(status.map(|s| s.as_str()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(swap_from_row).collect()
    }

    /// Records a decision on a swap still `requested`, and for an approval
    /// the two new schedules; false (nothing written) if it was decided
    /// meanwhile. A schedule changed since it was read is a
    /// [`StoreError::Conflict`], with nothing written.
    pub async fn decide_swap(&self, d: Decision) -> Result<bool> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query(
                    "UPDATE shift_swaps SET status = $1, decided_by = $2, decided_at = $3, decision_note = $4 \
                     WHERE id = $5 AND status = 'requested'",
                )
                .bind(d.status.as_str())
                .bind(d.by.to_string())
                .bind(ms(d.at))
                .bind(d.note.clone())
                .bind(d.swap.to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                let json = |s: &ScheduleSpec| serde_json::to_string(s).expect("a map of strings serialises");
                for (agent, was, becomes) in &d.schedules {
                    let written = sqlx::query(
                        "UPDATE users SET schedule = $1 WHERE id = $2 \
                         AND ((CAST($3 AS TEXT) IS NULL AND schedule IS NULL) OR schedule = $3)",
                    )
                    .bind(json(becomes))
                    .bind(agent.to_string())
                    .bind(was.as_ref().map(json))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if written == 0 {
                        return Err(StoreError::Conflict("a newer schedule"));
                    }
                }
                Ok(true)
            })
        })
        .await
    }
}
