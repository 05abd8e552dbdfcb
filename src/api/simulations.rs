//! What-if runs for supervisors: recorded days replayed under a changed
//! configuration or another staffing, in the background, one at a time,
//! each kept with its comparison (`runtime::what_if`, the same as
//! `switchboard replay`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use figment::Figment;
use figment::providers::{Format as _, Serialized, Toml};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::config::Config;
use crate::domain::SimulationId;
use crate::runtime::what_if::{self, Comparison, ReplayConfig, Staffing, WhatIf};
use crate::store::{SimulationRecord, Store};

/// Longest configuration change accepted, in bytes.
const MAX_CHANGES: usize = 64 * 1024;
/// Runs one request may ask for per day.
const MAX_RUNS: u32 = 20;
/// A REST run covers at most a month: a year is the command line's.
const MAX_DAYS: i32 = 31;

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    /// The first recorded day (YYYY-MM-DD, the centre's time zone).
    #[schema(value_type = String)]
    pub from: Date,
    /// The last recorded day, included; at most 31 days after `from`.
    #[schema(value_type = String)]
    pub to: Date,
    /// Runs per day, averaged (default 3, at most 20).
    pub runs: Option<u32>,
    /// The first seed (default 1): the same request and seed give the same result.
    pub seed: Option<u64>,
    /// Agents and shifts instead of those recorded.
    pub staffing: Option<Staffing>,
    /// Configuration changes in TOML over the running configuration, e.g.
    /// `[kinds.inbound_call]\npriority = 250`.
    pub changes: Option<String>,
}

/// Where the runs are made: one at a time, so two supervisors' runs do not
/// take both cores from the floor.
#[derive(Clone)]
pub struct Simulations {
    turn: Arc<tokio::sync::Semaphore>,
}

impl Default for Simulations {
    fn default() -> Self {
        Simulations { turn: Arc::new(tokio::sync::Semaphore::new(1)) }
    }
}

/// What a replay needs of a configuration, or what is wrong with it.
pub fn replay_config(config: &Config) -> Result<ReplayConfig, String> {
    Ok(ReplayConfig {
        rules: config.rules().map_err(|e| e.to_string())?,
        figures: config.figures.clone(),
        named_shifts: config.shifts.named.clone(),
        wind_down: jiff::SignedDuration::from_mins(i64::from(config.shifts.wind_down_minutes)),
        back_office_capacity: config.dispatch.default_back_office_capacity,
    })
}

/// The configuration a run replays under, or which key is wrong.
fn changed_config(running: &Config, changes: Option<&str>) -> Result<Config, ApiError> {
    let Some(changes) = changes.filter(|c| !c.trim().is_empty()) else { return Ok(running.clone()) };
    if changes.len() > MAX_CHANGES {
        return Err(ApiError::unprocessable("invalid_field", "changes: at most 64 KiB"));
    }
    let config: Config = Figment::from(Serialized::defaults(running))
        .merge(Toml::string(changes))
        .extract()
        .map_err(|e| ApiError::unprocessable("invalid_field", format!("changes: {e}")))?;
    config.rules().map_err(|e| ApiError::unprocessable("invalid_field", format!("changes: {e}")))?;
    Ok(config)
}

/// Replay recorded days under changed rules or staffing, in the background.
/// Answers at once with the run, `waiting` or `running`; its comparison is
/// read at `GET /api/v1/simulations/{id}` when `done`.
#[utoipa::path(post, path = "/api/v1/simulations", tag = "simulations", request_body = SimulationRequest,
    security(("bearer" = [])),
    responses((status = 202, body = SimulationRecord), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn start_simulation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SimulationRequest>,
) -> Result<(StatusCode, Json<SimulationRecord>), ApiError> {
    WhatIf::check_period(req.from, req.to).map_err(|e| ApiError::unprocessable("invalid_field", e))?;
    if req.from.until(req.to).map_err(|e| ApiError::unprocessable("invalid_field", e.to_string()))?.get_days()
        > MAX_DAYS
    {
        return Err(ApiError::unprocessable("invalid_field", "to: at most 31 days after from"));
    }
    let runs = req.runs.unwrap_or(3);
    if !(1..=MAX_RUNS).contains(&runs) {
        return Err(ApiError::unprocessable("invalid_field", "runs: 1-20"));
    }
    let config = changed_config(&state.config, req.changes.as_deref())?;
    let config =
        replay_config(&config).map_err(|e| ApiError::unprocessable("invalid_field", format!("changes: {e}")))?;
    let what = WhatIf { from: req.from, to: req.to, seed: req.seed.unwrap_or(1), runs, staffing: req.staffing.clone() };
    let id = SimulationId::new();
    let request = serde_json::to_value(&req).expect("a request serialises");
    let now = Timestamp::now();
    state.store.insert_simulation(id, caller.id(), now, &request).await?;
    tracing::info!(simulation = %id, by = %caller.id(), from = %req.from, to = %req.to, "what-if run asked for");
    let (store, turn) = (state.store.clone(), state.simulations.turn.clone());
    tokio::spawn(async move {
        let Ok(_turn) = turn.acquire_owned().await else { return };
        if let Err(e) = store.simulation_started(id).await {
            tracing::warn!(simulation = %id, error = %e, "marking the run started failed");
        }
        let outcome = run(config, store.clone(), what).await;
        let result = outcome.as_ref().map(|c| serde_json::to_value(c).expect("a comparison serialises"));
        let written = store.simulation_finished(id, Timestamp::now(), result.as_ref().map_err(|e| e.as_str())).await;
        match (&outcome, written) {
            (_, Err(e)) => tracing::error!(simulation = %id, error = %e, "storing the run's outcome failed"),
            (Ok(_), Ok(())) => tracing::info!(simulation = %id, "what-if run done"),
            (Err(why), Ok(())) => tracing::warn!(simulation = %id, %why, "what-if run failed"),
        }
    });
    let record = state.store.simulation(id).await?.ok_or_else(|| ApiError::not_found("simulation"))?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// The replays are CPU work: on a blocking thread, not a server worker.
async fn run(config: ReplayConfig, store: Store, what: WhatIf) -> Result<Comparison, String> {
    let handle = tokio::runtime::Handle::current();
    let joined = tokio::task::spawn_blocking(move || handle.block_on(what_if::compare(&config, &store, &what))).await;
    joined.unwrap_or_else(|e| Err(format!("the run stopped: {e}")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultFormat {
    /// `json` (default) or `csv`: one row per day and one for the period.
    pub format: Option<String>,
}

/// A run with its comparison once done.
#[utoipa::path(get, path = "/api/v1/simulations/{id}", tag = "simulations", params(("id" = SimulationId, Path), ResultFormat),
    security(("bearer" = [])),
    responses((status = 200, content((SimulationRecord = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn get_simulation(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<SimulationId>,
    ApiQuery(format): ApiQuery<ResultFormat>,
) -> Result<Response, ApiError> {
    let record = state.store.simulation(id).await?.ok_or_else(|| ApiError::not_found("simulation"))?;
    match format.format.as_deref() {
        None | Some("json") => Ok(Json(record).into_response()),
        Some("csv") => {
            let Some(result) = record.result else {
                return Err(ApiError::conflict("not_done", "the run has no result yet (or failed): see its status"));
            };
            let comparison: Comparison = serde_json::from_value(result).map_err(|e| ApiError::internal(&e))?;
            let text = what_if::csv(&comparison).map_err(|e| ApiError::internal(&e))?;
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response())
        }
        Some(_) => Err(ApiError::bad_request("invalid_format", "format is json or csv")),
    }
}

/// The last 100 runs, latest first, without their results.
#[utoipa::path(get, path = "/api/v1/simulations", tag = "simulations", security(("bearer" = [])),
    responses((status = 200, body = Vec<SimulationRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_simulations(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<SimulationRecord>>, ApiError> {
    Ok(Json(state.store.simulations(100).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start_simulation, list_simulations)).routes(routes!(get_simulation))
}
