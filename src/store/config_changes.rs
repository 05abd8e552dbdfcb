//! The configuration's change log: each version applied while the server
//! ran, and the priorities a re-evaluation gave live tasks.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{TaskId, UserId};

/// How a change was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// `PUT /api/v1/config`.
    Api,
    /// `switchboard reload`.
    Cli,
    /// SIGHUP.
    Signal,
    /// A start with a file edited since the last recorded version.
    Start,
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Api => "api",
            ChangeSource::Cli => "cli",
            ChangeSource::Signal => "signal",
            ChangeSource::Start => "start",
        }
    }

    fn parse(s: &str) -> Result<ChangeSource> {
        Ok(match s {
            "api" => ChangeSource::Api,
            "cli" => ChangeSource::Cli,
            "signal" => ChangeSource::Signal,
            "start" => ChangeSource::Start,
            other => return Err(StoreError::Corrupt(format!("change source `{other}`"))),
        })
    }
}

/// A change to record: the version number is given by the store.
#[derive(Clone, Debug)]
pub struct NewConfigChange {
    pub at: Timestamp,
    pub by: Option<UserId>,
    pub source: ChangeSource,
    pub reevaluate: bool,
    pub replanned: u32,
    /// The keys changed with their old and new values.
    pub changes: serde_json::Value,
    /// The live sections as applied (`[dispatch]`, `[kinds]`, `[routing]`), in JSON.
    pub config: String,
}

/// An applied version, as kept (without the whole file, for lists).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConfigChangeRecord {
    pub version: i64,
    #[schema(value_type = String)]
    pub changed_at: Timestamp,
    /// Who asked (absent: the command line or a signal).
    pub changed_by: Option<UserId>,
    pub source: ChangeSource,
    /// Live tasks were re-planned under the new rules.
    pub reevaluate: bool,
    /// How many live tasks took a new priority.
    pub replanned: u32,
    /// Each key changed: `{key, from, to}`.
    #[schema(value_type = Vec<Object>)]
    pub changes: serde_json::Value,
}

fn change_from_row(r: &AnyRow) -> Result<ConfigChangeRecord> {
    let changes: String = r.try_get("changes")?;
    Ok(ConfigChangeRecord {
        version: r.try_get("version")?,
        changed_at: from_ms(r.try_get("changed_at")?)?,
        changed_by: parse_opt(r, "changed_by")?,
        source: ChangeSource::parse(&r.try_get::<String, _>("source")?)?,
        reevaluate: r.try_get::<i64, _>("reevaluate")? != 0,
        replanned: r.try_get::<i64, _>("replanned")? as u32,
        changes: serde_json::from_str(&changes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

impl Store {
    /// Records an applied change as the next version, and stores the
    /// priorities live tasks took, in one transaction; returns the version.
    pub async fn record_config_change(&self, change: NewConfigChange, replanned: &[(TaskId, u8)]) -> Result<i64> {
        let replanned: Vec<(String, i64)> = replanned.iter().map(|(t, p)| (t.to_string(), i64::from(*p))).collect();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let row = sqlx::query("SELECT COALESCE(MAX(version), 0) + 1 AS next FROM config_changes")
                    .fetch_one(&mut *conn)
                    .await?;
                let version: i64 = row.try_get("next")?;
                sqlx::query(
                    "INSERT INTO config_changes (version, changed_at, changed_by, source, reevaluate, replanned, \
                     changes, config) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(version)
                .bind(ms(change.at))
                .bind(change.by.map(|u| u.to_string()))
                .bind(change.source.as_str())
                .bind(i64::from(change.reevaluate))
                .bind(i64::from(change.replanned))
                .bind(change.changes.to_string())
                .bind(&change.config)
                .execute(&mut *conn)
                .await?;
                for (task, priority) in &replanned {
                    sqlx::query("UPDATE tasks SET priority = $1, updated_at = $2 WHERE id = $3")
                        .bind(*priority)
                        .bind(ms(change.at))
                        .bind(task)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(version)
            })
        })
        .await
    }

    /// The newest version with its live sections as applied.
    pub async fn latest_config_change(&self) -> Result<Option<(ConfigChangeRecord, serde_json::Value)>> {
        let row = sqlx::query(
            "SELECT version, changed_at, changed_by, source, reevaluate, replanned, changes, config \
             FROM config_changes ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let config: String = row.try_get("config")?;
        let live = serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((change_from_row(&row)?, live)))
    }

    /// The applied versions, newest first.
    pub async fn config_changes(&self, limit: u32) -> Result<Vec<ConfigChangeRecord>> {
        let rows = sqlx::query(
            "SELECT version, changed_at, changed_by, source, reevaluate, replanned, changes FROM config_changes \
             ORDER BY version DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(change_from_row).collect()
    }
}

/// Where a reload asked for from the command line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadStatus {
    Pending,
    /// A server is applying it.
    Taken,
    /// Applied as a new version, or found to change nothing.
    Applied,
    /// Refused: a bad value, or a key that changes only with a restart.
    Refused,
    /// No server took it in time.
    Expired,
}

impl ReloadStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReloadStatus::Pending => "pending",
            ReloadStatus::Taken => "taken",
            ReloadStatus::Applied => "applied",
            ReloadStatus::Refused => "refused",
            ReloadStatus::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<ReloadStatus> {
        Ok(match s {
            "pending" => ReloadStatus::Pending,
            "taken" => ReloadStatus::Taken,
            "applied" => ReloadStatus::Applied,
            "refused" => ReloadStatus::Refused,
            "expired" => ReloadStatus::Expired,
            other => return Err(StoreError::Corrupt(format!("reload status `{other}`"))),
        })
    }
}

/// A reload asked for from the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct ReloadRequest {
    pub id: i64,
    pub requested_at: Timestamp,
    pub reevaluate: bool,
    pub status: ReloadStatus,
    /// What the server said: the version and keys applied, or why not.
    pub outcome: Option<String>,
}

fn request_from_row(r: &AnyRow) -> Result<ReloadRequest> {
    Ok(ReloadRequest {
        id: r.try_get("id")?,
        requested_at: from_ms(r.try_get("requested_at")?)?,
        reevaluate: r.try_get::<i64, _>("reevaluate")? != 0,
        status: ReloadStatus::parse(&r.try_get::<String, _>("status")?)?,
        outcome: r.try_get("outcome")?,
    })
}

impl Store {
    /// Asks the leading server to re-read its configuration file.
    pub async fn request_reload(&self, at: Timestamp, reevaluate: bool) -> Result<i64> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let row = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM reload_requests")
                    .fetch_one(&mut *conn)
                    .await?;
                let id: i64 = row.try_get("next")?;
                sqlx::query(
                    "INSERT INTO reload_requests (id, requested_at, reevaluate, status) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(ms(at))
                .bind(i64::from(reevaluate))
                .bind(ReloadStatus::Pending.as_str())
                .execute(&mut *conn)
                .await?;
                Ok(id)
            })
        })
        .await
    }

    /// The oldest reload still pending.
    pub async fn next_reload_request(&self) -> Result<Option<ReloadRequest>> {
        let row = sqlx::query(
            "SELECT id, requested_at, reevaluate, status, outcome FROM reload_requests WHERE status = $1 \
             ORDER BY id LIMIT 1",
        )
        .bind(ReloadStatus::Pending.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    pub async fn reload_request(&self, id: i64) -> Result<Option<ReloadRequest>> {
        let row =
            sqlx::query("SELECT id, requested_at, reevaluate, status, outcome FROM reload_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(request_from_row).transpose()
    }

    /// Takes a pending request to apply it; false if it was no longer
    /// pending (the command gave up on it).
    pub async fn take_reload_request(&self, id: i64) -> Result<bool> {
        let taken = sqlx::query("UPDATE reload_requests SET status = $1 WHERE id = $2 AND status = $3")
            .bind(ReloadStatus::Taken.as_str())
            .bind(id)
            .bind(ReloadStatus::Pending.as_str())
            .execute(&self.pool)
            .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Ends a pending or taken request with its outcome; false if it had
    /// ended already.
    pub async fn finish_reload_request(
        &self,
        id: i64,
        status: ReloadStatus,
        outcome: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE reload_requests SET status = $1, outcome = $2, finished_at = $3 \
             WHERE id = $4 AND status IN ($5, $6)",
        )
        .bind(status.as_str())
        .bind(outcome)
        .bind(ms(at))
        .bind(id)
        .bind(ReloadStatus::Pending.as_str())
        .bind(ReloadStatus::Taken.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
