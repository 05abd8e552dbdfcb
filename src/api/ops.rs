//! What operators and supervisors read: `/health`, `/metrics` and the live
//! figures as JSON.

use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use crate::api::state::AppState;
use crate::rules::figures::FloorFigures;
use crate::runtime::figures::FloorFeed;

/// How long `/health` waits for each dependency.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` while Redis does not answer (the server goes on
    /// answering, holds changes up to `redis.max_pending`, then refuses new
    /// work with 503); `unavailable` (with HTTP 503) when the database or
    /// the dispatcher does not answer.
    pub status: &'static str,
    pub live_tasks: usize,
    /// `ok`, `unreachable`, or `not_configured` (the node runs alone).
    pub redis: &'static str,
    /// Changes made but not yet in Redis.
    pub pending_changes: usize,
    /// Each dependency on its own.
    pub checks: Checks,
}

#[derive(Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    pub dispatcher: Check,
    pub redis: Check,
    /// The live figures behind the wallboard.
    pub figures: Check,
}

#[derive(Serialize, ToSchema)]
pub struct Check {
    /// `ok`, `unreachable`, `stopped` or `not_configured`.
    pub status: &'static str,
    /// Whether the node can work without it.
    pub required: bool,
    /// Milliseconds the check took, when it answered.
    pub latency_ms: Option<u64>,
}

async fn timed<T, E>(f: impl Future<Output = Result<T, E>>) -> (Option<T>, Option<u64>) {
    let started = std::time::Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(v)) => (Some(v), Some(started.elapsed().as_millis() as u64)),
        _ => (None, None),
    }
}

/// Liveness and readiness, dependency by dependency. HTTP 503 when the
/// node cannot work (the database or the dispatcher does not answer).
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let (live_tasks, dispatcher_ms) = timed(state.hub.query(|d, _| d.live_task_count())).await;
    let (users, database_ms) = timed(state.store.user_count()).await;
    let (redis, pending_changes) = match &state.live {
        None => ("not_configured", 0),
        Some(h) if h.is_degraded() => ("unreachable", h.pending()),
        Some(h) => ("ok", h.pending()),
    };
    let figures = match &state.floor {
        Some(f) if !f.is_closed() => "ok",
        Some(_) => "stopped",
        None => "not_configured",
    };
    let up = |answered: bool| if answered { "ok" } else { "unreachable" };
    let checks = Checks {
        database: Check { status: up(users.is_some()), required: true, latency_ms: database_ms },
        dispatcher: Check { status: up(live_tasks.is_some()), required: true, latency_ms: dispatcher_ms },
        redis: Check { status: redis, required: false, latency_ms: None },
        figures: Check { status: figures, required: false, latency_ms: None },
    };
    let (code, status) = match (users.is_some() && live_tasks.is_some(), redis) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, "unreachable") => (StatusCode::OK, "degraded"),
        (true, _) => (StatusCode::OK, "ok"),
    };
    if code != StatusCode::OK {
        tracing::error!(
            database = checks.database.status,
            dispatcher = checks.dispatcher.status,
            "health check failed"
        );
    }
    let body = Health { status, live_tasks: live_tasks.unwrap_or(0), redis, pending_changes, checks };
    (code, Json(body)).into_response()
}

/// Prometheus metrics, in the text exposition format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let latest = state.floor.as_ref().map(|f| f.latest());
    let text = state.metrics.render(latest.as_ref().map(|l| &l.figures));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The live figures now: what the wallboard shows, as one document.
#[utoipa::path(get, path = "/api/v1/figures", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = FloorFigures), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn figures(State(state): State<AppState>, _caller: Caller) -> Result<Json<FloorFigures>, ApiError> {
    Ok(Json(feed(&state)?.latest().figures.clone()))
}

/// The live figures' feed, or 503 where none runs (a router built without one).
pub fn feed(state: &AppState) -> Result<FloorFeed, ApiError> {
    state.floor.clone().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "figures_unavailable", "the live figures are not running")
    })
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(figures))
        .routes(routes!(health))
        // `/metrics` is Prometheus's text format, not part of the API's document.
        .route("/metrics", axum::routing::get(metrics))
}
