//! The configuration changed while the centre runs (admins), and its
//! change log. A new configuration is checked first: a bad value is
//! refused naming its key, a key read only at start (listening addresses,
//! the database, queues) is refused by name, and either way nothing
//! changes. A good one is applied to the dispatcher at one instant, with no
//! console closed and no offer dropped, then to everything that plans
//! work, and recorded with who, when and the difference.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::config::{Config, ConfigChange, live_changes, live_part};
use crate::domain::UserId;
use crate::store::{ChangeSource, ConfigChangeRecord, NewConfigChange};

/// Longest configuration accepted, in bytes.
const MAX_TOML: usize = 256 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    /// TOML in the configuration file's form: the keys it names replace
    /// the running ones (a whole file, or only what changes, such as
    /// `[dispatch]\noffer_timeout_secs = 20`).
    pub toml: String,
    /// Re-plan live tasks under the new rules: each takes its kind's new
    /// priority, keeping its enqueue time. Without it they keep theirs.
    #[serde(default)]
    pub reevaluate: bool,
}

/// What a reload applied.
#[derive(Serialize, ToSchema)]
pub struct ConfigApplied {
    /// The version recorded; absent when nothing changed.
    pub version: Option<i64>,
    /// Each key changed, with its old and new value.
    pub changes: Vec<ConfigChange>,
    /// Live tasks that took a new priority (with `reevaluate`).
    pub replanned: u32,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u32>,
}

/// Makes the new configuration from the running one (`new`, called while
/// no other reload runs, so that two admins' changes cannot undo each
/// other), checks it and, if every change may be made live, applies it and
/// records it.
pub async fn reload(
    state: &AppState,
    new: impl FnOnce(&Config) -> Result<Config, ApiError>,
    by: Option<UserId>,
    source: ChangeSource,
    reevaluate: bool,
) -> Result<ConfigApplied, ApiError> {
    let mut running = state.running.lock().await;
    let new = new(&running)?;
    let invalid = |problems: Vec<String>| ApiError::unprocessable("invalid_config", problems.join("; "));
    let rules = new.rules().map_err(|e| invalid(e.problems))?;
    let changes =
        live_changes(&running, &new).map_err(|refused| ApiError::unprocessable("not_live", refused.join("; ")))?;
    if changes.is_empty() && !reevaluate {
        return Ok(ConfigApplied { version: None, changes, replanned: 0 });
    }
    let applied = state
        .hub
        .apply_rules(rules.clone(), reevaluate)
        .await?
        .map_err(|refused| ApiError::unprocessable("not_live", refused.to_string()))?;
    state.rules.set(Arc::new(rules));
    let record = NewConfigChange {
        at: Timestamp::now(),
        by,
        source,
        reevaluate,
        replanned: applied.replanned.len() as u32,
        changes: serde_json::to_value(&changes).unwrap_or_default(),
        config: live_part(&new).to_string(),
    };
    let version = state.store.record_config_change(record, &applied.replanned).await.map_err(|e| {
        tracing::error!(error = %e, "configuration applied but not recorded");
        ApiError::internal(&e)
    })?;
    *running = Arc::new(new);
    let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    tracing::info!(version, source = source.as_str(), reevaluate, keys = ?keys, "configuration applied");
    Ok(ConfigApplied { version: Some(version), replanned: applied.replanned.len() as u32, changes })
}

/// Change the configuration while the centre runs (admins).
#[utoipa::path(put, path = "/api/v1/config", tag = "config", request_body = ConfigUpdate, security(("bearer" = [])),
    responses((status = 200, body = ConfigApplied), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_config` (the key named) or `not_live` (a restart is needed)")))]
pub async fn put_config(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ConfigUpdate>,
) -> Result<Json<ConfigApplied>, ApiError> {
    if req.toml.len() > MAX_TOML {
        return Err(ApiError::unprocessable("invalid_config", format!("toml: at most {MAX_TOML} bytes")));
    }
    let over_running = |running: &Config| {
        running.overlay(&req.toml).map_err(|e| ApiError::unprocessable("invalid_config", e.problems.join("; ")))
    };
    Ok(Json(reload(&state, over_running, Some(caller.id()), ChangeSource::Api, req.reevaluate).await?))
}

/// The configuration's changes while the server ran, newest first.
#[utoipa::path(get, path = "/api/v1/config/changes", tag = "config", params(ChangesQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<ConfigChangeRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_changes(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<Vec<ConfigChangeRecord>>, ApiError> {
    Ok(Json(state.store.config_changes(q.limit.unwrap_or(50).min(500)).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(put_config)).routes(routes!(list_changes))
}
