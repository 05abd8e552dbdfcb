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
}

impl ChangeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeSource::Api => "api",
            ChangeSource::Cli => "cli",
            ChangeSource::Signal => "signal",
        }
    }

    fn parse(s: &str) -> Result<ChangeSource> {
        Ok(match s {
            "api" => ChangeSource::Api,
            "cli" => ChangeSource::Cli,
            "signal" => ChangeSource::Signal,
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
