//! The missed-call backlog: misses reported by PBXes that only report them
//! (the SIP connector records its own), and the backlog with the
//! checkpoint each entry waits for.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::api::state::AppState;
use crate::domain::{MissReason, Phone, TaskKind};
use crate::store::BacklogEntry;

/// How far ahead of this server's clock a reported time may be (clock skew).
const MAX_SKEW: SignedDuration = SignedDuration::from_secs(60);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MissedCallBody {
    /// The number that called.
    pub caller: String,
    /// The number dialled (the hotline).
    pub called: String,
    /// When the call was missed, RFC 3339; default now. A miss reported
    /// after its checkpoint passed is released at the next checkpoint and
    /// is due by the end of that checkpoint's day.
    #[schema(value_type = Option<String>)]
    pub at: Option<Timestamp>,
}

/// A missed call in the backlog and the checkpoint that releases it.
#[derive(Serialize, ToSchema)]
pub struct BacklogView {
    pub id: i64,
    #[schema(value_type = String)]
    pub caller: Phone,
    pub called: String,
    pub queue: String,
    pub reason: MissReason,
    /// When the call was missed: local time of the centre, RFC 3339 with offset.
    pub at: String,
    /// When the centre learnt of it, local time with offset.
    pub reported_at: String,
    /// The checkpoint that releases it as a callback, local time with offset.
    pub release_at: String,
}

fn local(state: &AppState, t: Timestamp) -> String {
    t.to_zoned(state.rules.get().calendar.time_zone().clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn view(state: &AppState, e: BacklogEntry) -> BacklogView {
    let release_at = e.miss().release_at(&state.rules.get().calendar, &state.checkpoints);
    BacklogView {
        id: e.id,
        at: local(state, e.at),
        reported_at: local(state, e.reported_at),
        release_at: local(state, release_at),
        caller: e.caller,
        called: e.called,
        queue: e.queue,
        reason: e.reason,
    }
}

/// Report a missed hotline call (a PBX's token, or a supervisor's or admin's).
#[utoipa::path(post, path = "/api/v1/missed-calls", tag = "calls", operation_id = "report_missed_call", request_body = MissedCallBody,
    security(("bearer" = [])),
    responses((status = 201, body = BacklogView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    _who: Principal,
    ApiJson(body): ApiJson<MissedCallBody>,
) -> Result<(StatusCode, Json<BacklogView>), ApiError> {
    let caller =
        Phone::parse(&body.caller).map_err(|e| ApiError::unprocessable("invalid_phone", format!("caller: {e}")))?;
    let called_ok = (1..=40).contains(&body.called.len())
        && body.called.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.*#".contains(&b));
    if !called_ok {
        return Err(ApiError::unprocessable("invalid_field", "called: 1-40 digits, letters and + - . * #"));
    }
    let now = Timestamp::now();
    let at = body.at.unwrap_or(now);
    if at > now + MAX_SKEW {
        return Err(ApiError::unprocessable("at_in_future", "at: a missed call cannot be in the future"));
    }
    // The queue the number is served by, else the hotline's.
    let queue = match state.config.sip.numbers.get(&body.called) {
        Some(q) => q.clone(),
        None => state.rules.get().queue_name(state.rules.get().kind(TaskKind::InboundCall).queue).to_owned(),
    };
    let entry = state.store.add_reported_miss(&caller, &body.called, &queue, at, now).await?;
    tracing::info!(miss = entry.id, caller = %caller, "missed call reported");
    Ok((StatusCode::CREATED, Json(view(&state, entry))))
}

/// The missed-call backlog, oldest first (supervisors and admins).
#[utoipa::path(get, path = "/api/v1/missed-calls", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = Vec<BacklogView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn backlog(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<BacklogView>>, ApiError> {
    let entries = state.store.missed_backlog().await?;
    Ok(Json(entries.into_iter().map(|e| view(&state, e)).collect()))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report, backlog))
}
