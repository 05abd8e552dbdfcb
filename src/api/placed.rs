//! Calls Switchboard places (`[sip.outbound]`): an agent asks for the call
//! of a task they hold (the same as the console's `dial` message, with
//! the same refusals), and the outbound call records are read here.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{DriverId, InnOrderId, TaskId, TripId};
use crate::sip::placer::DialError;
use crate::store::PlacedCall;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostDial {
    /// A task you hold whose kind is dialled `preview` or `progressive`.
    pub task_id: TaskId,
}

#[derive(Serialize, ToSchema)]
pub struct Dialled {
    /// The call's id: its record at `GET /api/v1/calls/outbound/{id}`.
    pub call_id: String,
}

impl From<DialError> for ApiError {
    fn from(e: DialError) -> Self {
        let status = match e {
            DialError::Manual(_) | DialError::NoPhone | DialError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            DialError::NotHeld | DialError::InProgress => StatusCode::CONFLICT,
            DialError::NotConfigured | DialError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            DialError::Internal => return ApiError::internal(&"placing a call failed"),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

/// Place the call of a task you hold: your phone rings first, then the
/// customer's through the PBX. Refused, with nothing placed, outside
/// working hours, too soon after the last call to the number, or for a
/// customer marked do-not-call.
#[utoipa::path(post, path = "/api/v1/calls/outbound", tag = "calls", request_body = PostDial, security(("bearer" = [])),
    responses((status = 202, body = Dialled), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_dial(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PostDial>,
) -> Result<(StatusCode, Json<Dialled>), ApiError> {
    let placer = state.placer.as_ref().ok_or(DialError::NotConfigured)?;
    let call_id = placer.dial(caller.id(), body.task_id).await?;
    Ok((StatusCode::ACCEPTED, Json(Dialled { call_id })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostDriverCall {
    /// A driver, usually one of the trip's suggestions.
    pub driver_id: DriverId,
}

/// Call a trip's driver: your phone rings first, then the driver's. A
/// driver who does not answer is recorded `no_answer` on the trip without
/// typing; `confirmed` or `declined` stay yours to record
/// (`POST /api/v1/trips/{id}/calls`).
#[utoipa::path(post, path = "/api/v1/trips/{id}/driver-calls", tag = "cars", params(("id" = TripId, Path)),
    request_body = PostDriverCall, security(("bearer" = [])),
    responses((status = 202, body = Dialled), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_driver_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(trip): ApiPath<TripId>,
    ApiJson(body): ApiJson<PostDriverCall>,
) -> Result<(StatusCode, Json<Dialled>), ApiError> {
    let placer = state.placer.as_ref().ok_or(DialError::NotConfigured)?;
    state.store.trip(trip).await?.ok_or_else(|| ApiError::not_found("trip"))?;
    let driver =
        state.store.driver(body.driver_id).await?.ok_or_else(|| {
            ApiError::unprocessable("unknown_driver", format!("driver_id: no driver {}", body.driver_id))
        })?;
    let call_id = placer.dial_driver(caller.id(), trip, &driver).await?;
    Ok((StatusCode::ACCEPTED, Json(Dialled { call_id })))
}

/// Call an inn's front desk about a booking (the agent holding its
/// reminder, or a dispatcher): your phone first, then the desk.
#[utoipa::path(post, path = "/api/v1/inn-orders/{id}/calls", tag = "inns", params(("id" = InnOrderId, Path)),
    security(("bearer" = [])),
    responses((status = 202, body = Dialled), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn post_inn_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InnOrderId>,
) -> Result<(StatusCode, Json<Dialled>), ApiError> {
    let order = super::inns::own_booking(&state, &super::access::Principal::User(caller.0), id).await?;
    let placer = state.placer.as_ref().ok_or(DialError::NotConfigured)?;
    let call_id = placer.dial_inn(caller.id(), &id.to_string(), &order.front_desk_phone).await?;
    Ok((StatusCode::ACCEPTED, Json(Dialled { call_id })))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListPlaced {
    /// Only the calls of this task.
    pub task_id: Option<TaskId>,
    /// Newest first; default 100, at most 1000.
    pub limit: Option<u32>,
}

/// Outbound call records, newest first: both legs, their codes and times,
/// the outcome and who hung up.
#[utoipa::path(get, path = "/api/v1/calls/outbound", tag = "calls", params(ListPlaced), security(("bearer" = [])),
    responses((status = 200, body = Vec<PlacedCall>), (status = 403, body = ErrorBody)))]
pub async fn list_placed(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ListPlaced>,
) -> Result<Json<Vec<PlacedCall>>, ApiError> {
    Ok(Json(state.store.placed_calls(q.task_id, q.limit.unwrap_or(100).clamp(1, 1000)).await?))
}

/// One outbound call's record.
#[utoipa::path(get, path = "/api/v1/calls/outbound/{id}", tag = "calls", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = PlacedCall), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_placed(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PlacedCall>, ApiError> {
    Ok(Json(state.store.placed_call(&id).await?.ok_or_else(|| ApiError::not_found("call"))?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(post_dial, list_placed))
        .routes(routes!(get_placed))
        .routes(routes!(post_driver_call))
        .routes(routes!(post_inn_call))
}
