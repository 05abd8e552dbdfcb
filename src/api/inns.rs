//! Inns and their bookings: `POST/GET /api/v1/inns`, `POST/GET
//! /api/v1/inn-orders`, `GET/PATCH /api/v1/inn-orders/{id}`. The inn back
//! office reports bookings (again with the same `reference` to change a
//! status); the travel watch phones about those left unprocessed
//! (`rules/travel/inns.rs`, `runtime/jobs/travel.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, optional_text, text};
use crate::api::state::AppState;
use crate::domain::{InnOrderId, InnOrderStatus, Phone};
use crate::store::{Inn, InnOrder, NewInnOrder};

const MAX_TEXT: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInn {
    pub name: String,
    #[schema(value_type = String, example = "057188886666")]
    pub front_desk_phone: Phone,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInnOrder {
    /// The inn's name, as registered under /api/v1/inns.
    pub inn: String,
    #[schema(value_type = String)]
    pub front_desk_phone: Phone,
    pub guest: String,
    pub status: InnOrderStatus,
    /// RFC 3339: when the inn back office made the booking.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The back office's order id; reporting it again updates the status.
    pub reference: Option<String>,
    pub check_in: Option<String>,
    pub check_out: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInnOrder {
    pub status: InnOrderStatus,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListInnOrders {
    /// Default `unprocessed`.
    pub status: Option<InnOrderStatus>,
}

/// Register an inn whose bookings the centre watches.
#[utoipa::path(post, path = "/api/v1/inns", tag = "inns", request_body = CreateInn, security(("bearer" = [])),
    responses((status = 201, body = Inn), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_inn(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<CreateInn>,
) -> Result<(StatusCode, Json<Inn>), ApiError> {
    let name = text("name", &req.name, MAX_TEXT)?;
    Ok((StatusCode::CREATED, Json(state.store.create_inn(&name, &req.front_desk_phone, Timestamp::now()).await?)))
}

#[utoipa::path(get, path = "/api/v1/inns", tag = "inns", security(("bearer" = [])),
    responses((status = 200, body = Vec<Inn>)))]
pub async fn list_inns(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<Inn>>, ApiError> {
    Ok(Json(state.store.inns().await?))
}

/// Report a booking from the inn back office (or again, with the same
/// `reference`, to change its status). An unknown inn is 422 `unknown_inn`.
#[utoipa::path(post, path = "/api/v1/inn-orders", tag = "inns", request_body = ReportInnOrder,
    security(("bearer" = [])),
    responses((status = 201, body = InnOrder), (status = 200, body = InnOrder), (status = 422, body = ErrorBody)))]
pub async fn report_inn_order(
    State(state): State<AppState>,
    _who: super::access::Principal,
    ApiJson(req): ApiJson<ReportInnOrder>,
) -> Result<(StatusCode, Json<InnOrder>), ApiError> {
    let now = Timestamp::now();
    let name = text("inn", &req.inn, MAX_TEXT)?;
    let guest = text("guest", &req.guest, MAX_TEXT)?;
    if req.created_at > now + jiff::SignedDuration::from_mins(5) {
        return Err(ApiError::unprocessable("created_in_future", "created_at is in the future"));
    }
    let inn =
        state.store.inn_named(&name).await?.ok_or_else(|| {
            ApiError::unprocessable("unknown_inn", format!("inn: no inn named {name:?} is registered"))
        })?;
    let order = NewInnOrder {
        inn: inn.id,
        reference: optional_text("reference", req.reference, MAX_TEXT)?,
        front_desk_phone: req.front_desk_phone,
        guest,
        check_in: optional_text("check_in", req.check_in, MAX_TEXT)?,
        check_out: optional_text("check_out", req.check_out, MAX_TEXT)?,
        status: req.status,
        created_at: req.created_at,
        remind_at: state.config.inns.first_due(req.created_at),
    };
    let (id, created, task) = state.store.report_inn_order(&order, now).await?;
    if let Some(task) = task {
        super::trips::settle(&state, task, format!("the inn's booking is {}", req.status)).await;
    }
    state.board.touch();
    tracing::info!(order = %id, inn = %inn.name, status = req.status.as_str(), created, "inn booking reported");
    let stored = state.store.inn_order(id).await?.ok_or_else(|| ApiError::internal(&"a stored booking vanished"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(stored)))
}

/// Bookings by status (default the unprocessed ones), oldest first.
#[utoipa::path(get, path = "/api/v1/inn-orders", tag = "inns", params(ListInnOrders), security(("bearer" = [])),
    responses((status = 200, body = Vec<InnOrder>)))]
pub async fn list_inn_orders(
    State(state): State<AppState>,
    _who: super::access::Principal,
    ApiQuery(q): ApiQuery<ListInnOrders>,
) -> Result<Json<Vec<InnOrder>>, ApiError> {
    Ok(Json(state.store.inn_orders(q.status.unwrap_or(InnOrderStatus::Unprocessed)).await?))
}

/// One booking with its history: reported, reminders, escalation, status changes.
#[utoipa::path(get, path = "/api/v1/inn-orders/{id}", tag = "inns", params(("id" = InnOrderId, Path)), security(("bearer" = [])),
    responses((status = 200, body = InnOrder), (status = 404, body = ErrorBody)))]
pub async fn get_inn_order(
    State(state): State<AppState>,
    who: super::access::Principal,
    ApiPath(id): ApiPath<InnOrderId>,
) -> Result<Json<InnOrder>, ApiError> {
    Ok(Json(own_booking(&state, &who, id).await?))
}

/// A booking, for an agent only when its reminder is offered to or held by them.
pub(super) async fn own_booking(
    state: &AppState,
    who: &super::access::Principal,
    id: InnOrderId,
) -> Result<InnOrder, ApiError> {
    let order = state.store.inn_order(id).await?.ok_or_else(|| ApiError::not_found("inn order"))?;
    if let super::access::Principal::User(claims) = who
        && claims.role == crate::domain::Role::Agent
    {
        let tasks = order.task_id.into_iter().collect();
        super::own::require(super::own::holds_any(state, claims.user, tasks).await?, "this booking")?;
    }
    Ok(order)
}

/// Set a booking's status (the agent heard the inn processed it, say).
#[utoipa::path(patch, path = "/api/v1/inn-orders/{id}", tag = "inns", params(("id" = InnOrderId, Path)), request_body = PatchInnOrder,
    security(("bearer" = [])),
    responses((status = 200, body = InnOrder), (status = 404, body = ErrorBody)))]
pub async fn patch_inn_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InnOrderId>,
    ApiJson(req): ApiJson<PatchInnOrder>,
) -> Result<Json<InnOrder>, ApiError> {
    own_booking(&state, &super::access::Principal::User(caller.0), id).await?;
    let task = state
        .store
        .set_inn_order_status(id, req.status, Some(caller.id()), Timestamp::now())
        .await?
        .ok_or_else(|| ApiError::not_found("inn order"))?;
    if let Some(task) = task {
        super::trips::settle(&state, task, format!("the inn's booking is {}", req.status)).await;
    }
    state.board.touch();
    state.store.inn_order(id).await?.map(Json).ok_or_else(|| ApiError::not_found("inn order"))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inn, list_inns))
        .routes(routes!(report_inn_order, list_inn_orders))
        .routes(routes!(get_inn_order, patch_inn_order))
}
