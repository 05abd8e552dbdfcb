//! Call-state events from the PBX, and the call records (CDR).
//!
//! Contract: the PBX reports events for calls Switchboard redirected,
//! naming the call by the SIP Call-ID of its INVITE and the agent by user
//! name. `answered` is the agent taking the offered call (as `accept` on the
//! console); `hangup` ends it (as `complete` with outcome `reached`) and
//! starts wrap-up, in which the agent's console can add the call summary
//! (the `summary` message); `no_answer` is a declined offer: the task goes back to
//! the queue, and because the caller is at the PBX and no longer queued at
//! Switchboard, the connector closes it as a missed call, which the
//! follow-up calls back (the PBX may also send the caller to the hotline
//! again, which is a new call). `ringing` and `transfer` are recorded only.
//! Every event is applied once per `event_id`.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{Outcome, TaskId};
use crate::rules::dispatch::Command;
use crate::runtime::hub::HubError;
use crate::store::{CallRecord, CtiEvent};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CtiEventKind {
    Ringing,
    Answered,
    Hangup,
    NoAnswer,
    Transfer,
}

impl CtiEventKind {
    /// The wire name, as stored with the event.
    pub fn as_str(self) -> &'static str {
        match self {
            CtiEventKind::Ringing => "ringing",
            CtiEventKind::Answered => "answered",
            CtiEventKind::Hangup => "hangup",
            CtiEventKind::NoAnswer => "no_answer",
            CtiEventKind::Transfer => "transfer",
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CtiEventBody {
    /// Unique per event; a repeated id is acknowledged and ignored.
    pub event_id: String,
    /// The SIP Call-ID of the INVITE the PBX sent to Switchboard.
    pub call_id: String,
    pub event: CtiEventKind,
    /// The agent's user name.
    pub agent: Option<String>,
    /// When it happened at the PBX (default: now).
    pub at: Option<Timestamp>,
}

#[derive(Serialize, ToSchema)]
pub struct CtiResult {
    pub duplicate: bool,
    /// Whether the event changed the task (an `answered` for an offer that
    /// already timed out, for example, does not).
    pub applied: bool,
    pub task_id: Option<TaskId>,
}

/// Report a call-state event (PBX token, not a user token).
#[utoipa::path(post, path = "/api/v1/cti/events", tag = "calls", request_body = CtiEventBody, security(("bearer" = [])),
    responses((status = 200, body = CtiResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn post_event(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<CtiEventBody>,
) -> Result<Json<CtiResult>, ApiError> {
    let Principal::Pbx(pbx) = who else { return Err(ApiError::forbidden("this needs a PBX token")) };
    if body.event_id.is_empty() || body.event_id.len() > 200 || body.call_id.is_empty() || body.call_id.len() > 500 {
        return Err(ApiError::unprocessable("invalid_field", "event_id (1-200) and call_id (1-500) are required"));
    }
    let needs_agent = matches!(body.event, CtiEventKind::Answered | CtiEventKind::Hangup | CtiEventKind::NoAnswer);
    if needs_agent && body.agent.is_none() {
        return Err(ApiError::unprocessable("invalid_field", "agent: required for answered, hangup and no_answer"));
    }
    let call = state.store.call_by_sip_id(&body.call_id).await?.ok_or_else(|| ApiError::not_found("call"))?;
    let agent = match &body.agent {
        Some(name) => Some(
            state
                .store
                .user_by_name(name)
                .await?
                .ok_or_else(|| ApiError::unprocessable("unknown_agent", "no agent of that name"))?,
        ),
        None => None,
    };
    let at = body.at.unwrap_or_else(Timestamp::now);
    let event = CtiEvent {
        event_id: body.event_id.clone(),
        pbx,
        sip_call_id: body.call_id.clone(),
        event: body.event.as_str().to_owned(),
        agent: body.agent.clone(),
        at,
    };
    if !state.store.record_cti_event(&event, Timestamp::now()).await? {
        return Ok(Json(CtiResult { duplicate: true, applied: false, task_id: Some(call.task_id) }));
    }
    let task = call.task_id;
    let command = match (body.event, agent) {
        (CtiEventKind::Answered, Some(a)) => Some(Command::Accept { agent: a.id, task }),
        (CtiEventKind::Hangup, Some(a)) => {
            Some(Command::Complete { agent: a.id, task, outcome: Outcome::Reached, summary: None })
        }
        (CtiEventKind::NoAnswer, Some(a)) => Some(Command::Decline { agent: a.id, task }),
        _ => None,
    };
    let applied = match command {
        None => false,
        Some(cmd) => match state.hub.command(cmd).await {
            Ok(_) => true,
            // Already settled another way (the console, a timeout): recorded, not applied.
            Err(HubError::Dispatch(e)) => {
                tracing::info!(%task, error = %e, "CTI event not applied");
                false
            }
            Err(HubError::Stopped) => return Err(ApiError::unavailable()),
        },
    };
    Ok(Json(CtiResult { duplicate: false, applied, task_id: Some(task) }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCalls {
    /// Newest first; default 100, at most 1000.
    pub limit: Option<u32>,
}

/// Call records (CDR), newest first (supervisors, dispatchers, admins).
#[utoipa::path(get, path = "/api/v1/calls", tag = "calls", params(ListCalls), security(("bearer" = [])),
    responses((status = 200, body = Vec<CallRecord>), (status = 403, body = ErrorBody)))]
pub async fn list_calls(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ListCalls>,
) -> Result<Json<Vec<CallRecord>>, ApiError> {
    Ok(Json(state.store.call_records(q.limit.unwrap_or(100).clamp(1, 1000)).await?))
}

/// One call's record; while the caller is queued, with their position
/// and estimated wait (what the PBX may announce).
#[utoipa::path(get, path = "/api/v1/calls/{task_id}", tag = "calls", params(("task_id" = TaskId, Path)), security(("bearer" = [])),
    responses((status = 200, body = CallRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_call(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(task): ApiPath<TaskId>,
) -> Result<Json<CallRecord>, ApiError> {
    let mut call = state.store.call_record(task).await?.ok_or_else(|| ApiError::not_found("call"))?;
    call.wait = state.planning.task(task);
    Ok(Json(call))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_event)).routes(routes!(list_calls)).routes(routes!(get_call))
}
