//! Shift swaps (调班, seed 002): an agent asks to exchange one day's shifts
//! with a colleague; nothing changes until a supervisor approves, which
//! writes that date into both schedules (`rules/shifts.rs`,
//! `WeeklySchedule::swap`). The shift clock reads them within seconds.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::find_agent;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, optional_text};
use crate::api::state::AppState;
use crate::domain::{SwapId, SwapStatus, UserId};
use crate::rules::shifts::{SwapError, WeeklySchedule};
use crate::store::{Decision, NewSwap, ScheduleSpec, StoreError, Swap};

const MAX_NOTE_CHARS: usize = 1000;
/// How far ahead a swap may be asked for.
const MAX_DAYS_AHEAD: i64 = 90;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSwap {
    /// The colleague whose shifts that day you take, giving them yours.
    pub with: UserId,
    /// The day, after today and within 90 days.
    #[schema(value_type = String, example = "2026-12-10")]
    pub day: Date,
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    pub note: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListSwaps {
    pub status: Option<SwapStatus>,
}

impl From<SwapError> for ApiError {
    fn from(e: SwapError) -> Self {
        ApiError::unprocessable("nothing_to_swap", e.to_string())
    }
}

async fn schedule_of(state: &AppState, agent: UserId) -> Result<(Option<ScheduleSpec>, WeeklySchedule), ApiError> {
    let spec = state.store.schedule(agent).await?;
    let schedule = match &spec {
        Some(spec) => WeeklySchedule::parse(spec, &Default::default()).map_err(|e| ApiError::internal(&e))?,
        None => WeeklySchedule::default(),
    };
    Ok((spec, schedule))
}

fn tomorrow(state: &AppState) -> Date {
    let today = state.rules.get().calendar.date_of(Timestamp::now());
    today.tomorrow().unwrap_or(today)
}

async fn find_swap(state: &AppState, id: SwapId) -> Result<Swap, ApiError> {
    state.store.swap(id).await?.ok_or_else(|| ApiError::not_found("swap"))
}

/// Ask to swap one day's shifts with a colleague (agents and dispatchers,
/// for themselves). In effect only once a supervisor approves it.
#[utoipa::path(post, path = "/api/v1/shift-swaps", tag = "agents", request_body = RequestSwap,
    security(("bearer" = [])),
    responses((status = 201, body = Swap), (status = 422, body = ErrorBody,
        description = "`invalid_field` (the day, yourself), `unknown_agent`, `nothing_to_swap`")))]
pub async fn request_swap(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<RequestSwap>,
) -> Result<(StatusCode, Json<Swap>), ApiError> {
    let first = tomorrow(&state);
    if req.day < first || req.day > first + MAX_DAYS_AHEAD.days() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("day: from tomorrow ({first}) to {MAX_DAYS_AHEAD} days ahead"),
        ));
    }
    if req.with == caller.id() {
        return Err(ApiError::unprocessable("invalid_field", "with: a colleague, not yourself"));
    }
    find_agent(&state, req.with)
        .await
        .map_err(|_| ApiError::unprocessable("unknown_agent", "with: no such agent or dispatcher"))?;
    // Refused now if there would be nothing to exchange.
    let (_, mut mine) = schedule_of(&state, caller.id()).await?;
    let (_, mut theirs) = schedule_of(&state, req.with).await?;
    WeeklySchedule::swap(&mut mine, &mut theirs, req.day)?;
    let new = NewSwap {
        id: SwapId::new(),
        requester: caller.id(),
        partner: req.with,
        day: req.day,
        note: optional_text("note", req.note, MAX_NOTE_CHARS)?,
        at: Timestamp::now(),
    };
    state.store.insert_swap(&new).await?;
    tracing::info!(swap = %new.id, requester = %new.requester, partner = %new.partner, day = %new.day, "shift swap asked for");
    Ok((StatusCode::CREATED, Json(find_swap(&state, new.id).await?)))
}

/// Shift swaps, latest first: an agent's own (asked for or with them);
/// supervisors and admins see all.
#[utoipa::path(get, path = "/api/v1/shift-swaps", tag = "agents", params(ListSwaps), security(("bearer" = [])),
    responses((status = 200, body = Vec<Swap>)))]
pub async fn list_swaps(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListSwaps>,
) -> Result<Json<Vec<Swap>>, ApiError> {
    let involving = (!caller.role().oversees()).then(|| caller.id());
    Ok(Json(state.store.swaps(involving, q.status).await?))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    id: SwapId,
    status: SwapStatus,
    note: Option<String>,
) -> Result<Swap, ApiError> {
    let swap = find_swap(state, id).await?;
    if swap.status != SwapStatus::Requested {
        return Err(ApiError::conflict("swap_decided", format!("the swap is already {}", swap.status)));
    }
    let mut schedules = Vec::new();
    if status == SwapStatus::Approved {
        if swap.day < tomorrow(state) {
            return Err(ApiError::conflict("swap_expired", format!("{} has begun", swap.day)));
        }
        let (was_a, mut a) = schedule_of(state, swap.requester_id).await?;
        let (was_b, mut b) = schedule_of(state, swap.partner_id).await?;
        WeeklySchedule::swap(&mut a, &mut b, swap.day)
            .map_err(|e| ApiError::conflict("nothing_to_swap", e.to_string()))?;
        // Dates gone by are dropped as the schedules are written.
        let today = state.rules.get().calendar.date_of(Timestamp::now());
        for (agent, was, mut becomes) in [(swap.requester_id, was_a, a), (swap.partner_id, was_b, b)] {
            becomes.forget_before(today);
            schedules.push((agent, was, becomes.to_spec()));
        }
    }
    let decision = Decision {
        swap: id,
        status,
        by: caller.id(),
        note: optional_text("note", note, MAX_NOTE_CHARS)?,
        at: Timestamp::now(),
        schedules,
    };
    match state.store.decide_swap(decision).await {
        Ok(true) => {}
        Ok(false) => return Err(ApiError::conflict("swap_decided", "the swap was decided meanwhile")),
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict("schedule_changed", "a schedule changed meanwhile; try again"));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(swap = %id, %status, by = %caller.id(), "shift swap decided");
    find_swap(state, id).await
}

/// Approve a swap (supervisors and admins): both schedules take the
/// exchanged shifts on that day.
#[utoipa::path(post, path = "/api/v1/shift-swaps/{id}/approve", tag = "agents", params(("id" = SwapId, Path)),
    request_body = Decide, security(("bearer" = [])),
    responses((status = 200, body = Swap), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody,
        description = "`swap_decided`, `swap_expired`, `nothing_to_swap` (the schedules changed), `schedule_changed`")))]
pub async fn approve_swap(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SwapId>,
    ApiJson(req): ApiJson<Decide>,
) -> Result<Json<Swap>, ApiError> {
    Ok(Json(decide(&state, &caller, id, SwapStatus::Approved, req.note).await?))
}

/// Reject a swap (supervisors and admins).
#[utoipa::path(post, path = "/api/v1/shift-swaps/{id}/reject", tag = "agents", params(("id" = SwapId, Path)),
    request_body = Decide, security(("bearer" = [])),
    responses((status = 200, body = Swap), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject_swap(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SwapId>,
    ApiJson(req): ApiJson<Decide>,
) -> Result<Json<Swap>, ApiError> {
    Ok(Json(decide(&state, &caller, id, SwapStatus::Rejected, req.note).await?))
}

/// Withdraw a swap you asked for, before it is decided.
#[utoipa::path(post, path = "/api/v1/shift-swaps/{id}/cancel", tag = "agents", params(("id" = SwapId, Path)),
    request_body = Decide, security(("bearer" = [])),
    responses((status = 200, body = Swap), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel_swap(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<SwapId>,
    ApiJson(req): ApiJson<Decide>,
) -> Result<Json<Swap>, ApiError> {
    let swap = find_swap(&state, id).await?;
    if swap.requester_id != caller.id() {
        return Err(ApiError::not_your_work("only the agent who asked may withdraw a swap"));
    }
    Ok(Json(decide(&state, &caller, id, SwapStatus::Cancelled, req.note).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_swap, list_swaps))
        .routes(routes!(approve_swap))
        .routes(routes!(reject_swap))
        .routes(routes!(cancel_swap))
}
