//! What-if runs asked for over REST: each request kept with its outcome,
//! the comparison stored as the JSON the API serves.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{SimulationId, UserId};

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimulationStatus {
    /// Waiting for the run before it (one runs at a time).
    Waiting,
    Running,
    Done,
    Failed,
}

impl SimulationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SimulationStatus::Waiting => "waiting",
            SimulationStatus::Running => "running",
            SimulationStatus::Done => "done",
            SimulationStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<SimulationStatus> {
        Ok(match s {
            "waiting" => SimulationStatus::Waiting,
            "running" => SimulationStatus::Running,
            "done" => SimulationStatus::Done,
            "failed" => SimulationStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("simulation status `{other}`"))),
        })
    }
}

/// A run, as kept.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SimulationRecord {
    pub id: SimulationId,
    pub requested_by: UserId,
    #[schema(value_type = String)]
    pub requested_at: Timestamp,
    /// The request as given.
    #[schema(value_type = Object)]
    pub request: serde_json::Value,
    pub status: SimulationStatus,
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
    /// The comparison, once done (left out of lists).
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

fn simulation_from_row(r: &AnyRow, with_result: bool) -> Result<SimulationRecord> {
    let json = |text: String| serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()));
    let result: Option<String> = if with_result { r.try_get("result")? } else { None };
    Ok(SimulationRecord {
        id: parse(r, "id")?,
        requested_by: parse(r, "requested_by")?,
        requested_at: from_ms(r.try_get("requested_at")?)?,
        request: json(r.try_get("request")?)?,
        status: SimulationStatus::parse(&r.try_get::<String, _>("status")?)?,
        finished_at: opt_ms(r.try_get("finished_at")?)?,
        result: result.map(json).transpose()?,
        error: r.try_get("error")?,
    })
}

impl Store {
    pub async fn insert_simulation(
        &self,
        id: SimulationId,
        by: UserId,
        at: Timestamp,
        request: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO simulations (id, requested_by, requested_at, request, status) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.to_string())
        .bind(by.to_string())
        .bind(ms(at))
        .bind(request.to_string())
        .bind(SimulationStatus::Waiting.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn simulation_started(&self, id: SimulationId) -> Result<()> {
        sqlx::query("UPDATE simulations SET status = $1 WHERE id = $2")
            .bind(SimulationStatus::Running.as_str())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The run's end: its comparison, or why it failed.
    pub async fn simulation_finished(
        &self,
        id: SimulationId,
        at: Timestamp,
        outcome: std::result::Result<&serde_json::Value, &str>,
    ) -> Result<()> {
        let (status, result, error) = match outcome {
            Ok(result) => (SimulationStatus::Done, Some(result.to_string()), None),
            Err(error) => (SimulationStatus::Failed, None, Some(error.to_owned())),
        };
        sqlx::query("UPDATE simulations SET status = $1, finished_at = $2, result = $3, error = $4 WHERE id = $5")
            .bind(status.as_str())
            .bind(ms(at))
            .bind(result)
            .bind(error)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Runs left unfinished by a server that stopped: failed, with the
    /// reason, so none stays "running" for ever.
    pub async fn fail_unfinished_simulations(&self, at: Timestamp) -> Result<u64> {
        let done =
            sqlx::query("UPDATE simulations SET status = $1, finished_at = $2, error = $3 WHERE status IN ($4, $5)")
                .bind(SimulationStatus::Failed.as_str())
                .bind(ms(at))
                .bind("the server stopped before the run finished; ask for it again")
                .bind(SimulationStatus::Waiting.as_str())
                .bind(SimulationStatus::Running.as_str())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    pub async fn simulation(&self, id: SimulationId) -> Result<Option<SimulationRecord>> {
        let row = sqlx::query("SELECT * FROM simulations WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| simulation_from_row(r, true)).transpose()
    }

    /// The latest runs first, without their results.
    pub async fn simulations(&self, limit: u32) -> Result<Vec<SimulationRecord>> {
        let rows = sqlx::query(
            "SELECT id, requested_by, requested_at, request, status, finished_at, error FROM simulations \
             ORDER BY requested_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| simulation_from_row(r, false)).collect()
    }
}
