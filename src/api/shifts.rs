//! Agents' weekly schedules and handover notes (DOMAIN.md "Shifts and
//! handover").

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::find_agent;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::api::state::AppState;
use crate::domain::UserId;
use crate::rules::dispatch::Command;
use crate::rules::shifts::{ScheduleError, WeeklySchedule};
use crate::store::ScheduleSpec;

/// The longest handover note, in characters.
const MAX_NOTE_CHARS: usize = 4000;

/// An agent's week: weekday (`mon` .. `sun`) to shifts, each a shift name
/// from `[shifts.named]` (`early`, `late`) or hours `HH:MM-HH:MM`. Days
/// left out are days off; `{}` removes the schedule.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    pub agent_id: UserId,
    /// Stored as hours: `{"mon": ["09:00-17:00"]}`.
    #[schema(value_type = Object)]
    pub schedule: ScheduleSpec,
    /// When the agent's current or next shift ends, within a week.
    #[schema(value_type = Option<String>)]
    pub next_shift_end: Option<Timestamp>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    /// What the next agent needs to know about the work handed back.
    pub note: String,
    /// Hand over at once (leaving early) instead of at the end of the shift.
    #[serde(default)]
    pub now: bool,
}

#[derive(Serialize, ToSchema)]
pub struct HandoverView {
    pub agent_id: UserId,
    pub note: String,
    #[schema(value_type = String)]
    pub written_at: Timestamp,
    /// When the held work goes back to the queue with this note.
    #[schema(value_type = String)]
    pub applies_at: Timestamp,
}

impl From<ScheduleError> for ApiError {
    fn from(e: ScheduleError) -> Self {
        let code = match e {
            ScheduleError::Overlap { .. } => "overlapping_shifts",
            ScheduleError::UnknownDay(_) | ScheduleError::BadShift { .. } => "invalid_shift",
        };
        ApiError::unprocessable(code, e.to_string())
    }
}

fn view(state: &AppState, agent_id: UserId, schedule: &WeeklySchedule) -> ScheduleView {
    let next_shift_end = schedule.next_end_after(&state.rules.get().calendar, Timestamp::now());
    ScheduleView { agent_id, schedule: schedule.to_spec(), next_shift_end }
}

/// The agent's schedule as stored (hours only, validated when set); empty
/// when the agent has none.
async fn agent_schedule(state: &AppState, id: UserId) -> Result<WeeklySchedule, ApiError> {
    match state.store.schedule(id).await? {
        Some(spec) => WeeklySchedule::parse(&spec, &Default::default()).map_err(|e| ApiError::internal(&e)),
        None => Ok(WeeklySchedule::default()),
    }
}

/// Set an agent's weekly schedule (supervisor or admin).
#[utoipa::path(put, path = "/api/v1/agents/{id}/schedule", tag = "agents", params(("id" = UserId, Path)),
    request_body(content = Object, description = "weekday to shifts, e.g. {\"mon\": [\"early\"], \"sat\": [\"09:00-13:00\"]}"),
    security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`overlapping_shifts` or `invalid_shift`")))]
pub async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(spec): ApiJson<ScheduleSpec>,
) -> Result<Json<ScheduleView>, ApiError> {
    let named = state.config.shifts.named_shifts().map_err(|p| ApiError::internal(&p.join("; ")))?;
    let schedule = WeeklySchedule::parse(&spec, &named)?;
    find_agent(&state, id).await?;
    let to_store = (!schedule.is_empty()).then(|| schedule.to_spec());
    if !state.store.set_schedule(id, to_store.as_ref()).await? {
        return Err(ApiError::not_found("agent"));
    }
    tracing::info!(agent = %id, by = %caller.id(), "schedule set");
    Ok(Json(view(&state, id, &schedule)))
}

/// An agent's weekly schedule (the agent, or a supervisor or admin).
#[utoipa::path(get, path = "/api/v1/agents/{id}/schedule", tag = "agents", params(("id" = UserId, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<ScheduleView>, ApiError> {
    caller.require_self_or_oversight(id)?;
    find_agent(&state, id).await?;
    Ok(Json(view(&state, id, &agent_schedule(&state, id).await?)))
}

/// Leave a handover note (the agent, or a supervisor or admin). At the end
/// of the agent's shift, whatever the agent still holds returns to the
/// queue with this note on its next screen-pop, and the agent goes
/// offline; with `now`, that happens at once.
#[utoipa::path(post, path = "/api/v1/agents/{id}/handover", tag = "agents", params(("id" = UserId, Path)),
    request_body = Handover, security(("bearer" = [])),
    responses((status = 200, body = HandoverView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_field`, or `no_schedule` without `now`")))]
pub async fn handover(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<Handover>,
) -> Result<Json<HandoverView>, ApiError> {
    caller.require_self_or_oversight(id)?;
    let note = req.note.trim().to_owned();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(ApiError::unprocessable("invalid_field", format!("note: 1-{MAX_NOTE_CHARS} characters")));
    }
    find_agent(&state, id).await?;
    let now = Timestamp::now();
    if req.now {
        state.hub.command(Command::EndShift { agent: id, note: Some(note.clone()) }).await?;
        tracing::info!(agent = %id, by = %caller.id(), "handed over at once");
        return Ok(Json(HandoverView { agent_id: id, note, written_at: now, applies_at: now }));
    }
    let Some(applies_at) = agent_schedule(&state, id).await?.next_end_after(&state.rules.get().calendar, now) else {
        return Err(ApiError::unprocessable(
            "no_schedule",
            "this agent has no shifts, so no shift end to hand over at; send \"now\": true to hand over at once",
        ));
    };
    if !state.store.set_handover_note(id, &note, now).await? {
        return Err(ApiError::not_found("agent"));
    }
    tracing::info!(agent = %id, by = %caller.id(), %applies_at, "handover note left");
    Ok(Json(HandoverView { agent_id: id, note, written_at: now, applies_at }))
}

/// The note waiting for the end of the agent's shift (the agent, or a
/// supervisor or admin).
#[utoipa::path(get, path = "/api/v1/agents/{id}/handover", tag = "agents", params(("id" = UserId, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = HandoverView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such agent, or no note waiting")))]
pub async fn get_handover(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<HandoverView>, ApiError> {
    caller.require_self_or_oversight(id)?;
    find_agent(&state, id).await?;
    let (note, written_at) =
        state.store.handover_note(id).await?.ok_or_else(|| ApiError::not_found("handover note"))?;
    let applies_at = agent_schedule(&state, id).await?.next_end_after(&state.rules.get().calendar, Timestamp::now());
    let applies_at = applies_at.ok_or_else(|| ApiError::not_found("handover note"))?;
    Ok(Json(HandoverView { agent_id: id, note, written_at, applies_at }))
}

/// Withdraw the note waiting for the end of the shift.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/handover", tag = "agents", params(("id" = UserId, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_handover(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<axum::http::StatusCode, ApiError> {
    caller.require_self_or_oversight(id)?;
    find_agent(&state, id).await?;
    let (_, written_at) = state.store.handover_note(id).await?.ok_or_else(|| ApiError::not_found("handover note"))?;
    state.store.clear_handover_note(id, written_at).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(put_schedule, get_schedule)).routes(routes!(
        handover,
        get_handover,
        delete_handover
    ))
}
