//! Private-car orders: `POST/GET /api/v1/car-orders`, `GET
//! /api/v1/car-orders/{id}`, and the pools proposed among open drop-offs,
//! `GET /api/v1/pool-proposals`. Each order becomes a `car_dispatch` task
//! for the dispatchers, due when a driver must have confirmed it
//! (`rules/travel/cars.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller, optional_text, text};
use crate::api::state::AppState;
use crate::domain::{CarOrderId, CarOrderKind, CarOrderStatus, Phone, TaskKind};
use crate::rules::dispatch::TaskDraft;
use crate::rules::travel::cars::{CarOrderError, OrderRequest};
use crate::runtime::intake;
use crate::runtime::travel_board::{self, PoolProposalView};
use crate::store::{CarOrder, Driver, NewCarOrder};

const MAX_TEXT: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCarOrder {
    pub kind: CarOrderKind,
    /// The passenger's name.
    pub passenger: String,
    #[schema(value_type = String, example = "13800138000")]
    pub phone: Phone,
    pub passengers: u32,
    /// Pickups and drop-offs: the airport.
    pub airport: Option<String>,
    /// RFC 3339: the pickup at arrival, the charter's start, the drop-off's departure.
    #[schema(value_type = String)]
    pub time: Timestamp,
    /// Pieces of luggage.
    pub luggage: Option<u32>,
    pub flight: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<CarOrderError> for ApiError {
    fn from(e: CarOrderError) -> Self {
        let code = match e {
            CarOrderError::TimeInPast => "time_in_past",
            CarOrderError::NoPassengers | CarOrderError::TooManyPassengers { .. } => "passengers",
            CarOrderError::AirportMissing(_) => "airport_missing",
        };
        ApiError::unprocessable(code, e.to_string())
    }
}

/// Seats of the largest vehicle among the drivers that pass `keep`; 0 without any.
pub(super) async fn largest_vehicle(state: &AppState, keep: impl Fn(&Driver) -> bool) -> Result<u32, ApiError> {
    Ok(state.store.drivers(None).await?.iter().filter(|d| keep(d)).map(|d| d.seats).max().unwrap_or(0))
}

/// Take a private-car order. It becomes a `car_dispatch` task for the
/// dispatchers, due by the time a driver must have confirmed it.
#[utoipa::path(post, path = "/api/v1/car-orders", tag = "cars", request_body = CreateCarOrder, security(("bearer" = [])),
    responses((status = 201, body = CarOrder), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_car_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateCarOrder>,
) -> Result<(StatusCode, Json<CarOrder>), ApiError> {
    let now = Timestamp::now();
    let passenger = text("passenger", &req.passenger, MAX_TEXT)?;
    let airport = optional_text("airport", req.airport, MAX_TEXT)?;
    let request = OrderRequest { kind: req.kind, passengers: req.passengers, airport: airport.clone(), time: req.time };
    let rules = &state.config.cars;
    // Any driver's car counts: one off duty now may drive at the order's time.
    rules.check(&request, now, largest_vehicle(&state, |_| true).await?)?;
    let confirm_by = rules.confirm_by(req.time, now);
    let order = NewCarOrder {
        id: CarOrderId::new(),
        kind: req.kind,
        passenger,
        phone: req.phone,
        passengers: req.passengers,
        luggage: req.luggage,
        flight: optional_text("flight", req.flight, MAX_TEXT)?,
        airport,
        from_address: optional_text("from", req.from, MAX_TEXT)?,
        to_address: optional_text("to", req.to, MAX_TEXT)?,
        time: req.time,
        confirm_by,
        created_by: Some(caller.id()),
        created_at: now,
    };
    let plan = state.rules.get().plan(TaskKind::CarDispatch, now, None, Some(confirm_by));
    let zone = state.rules.get().calendar.time_zone().clone();
    let reason = format!(
        "{} for {} ({} passenger{}{}) at {}: find a driver, phone to confirm, dispatch",
        order.kind.as_str(),
        order.passenger,
        order.passengers,
        if order.passengers == 1 { "" } else { "s" },
        order.airport.as_deref().map(|a| format!(", {a}")).unwrap_or_default(),
        order.time.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M"),
    );
    let row = TaskDraft {
        created_by: Some(caller.id()),
        ..TaskDraft::new(&state.rules.get(), TaskKind::CarDispatch, plan, order.phone.clone(), Some(reason), now, None)
    };
    let drafts = [row];
    intake::store_then_dispatch(&state.hub, &state.rules.get(), &drafts, async {
        state.store.create_car_order(&order, &drafts[0]).await.map(|()| true)
    })
    .await?;
    state.board.touch();
    tracing::info!(order = %order.id, kind = order.kind.as_str(), "car order taken");
    let stored =
        state.store.car_order(order.id).await?.ok_or_else(|| ApiError::internal(&"a stored order vanished"))?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Open orders, soonest service first.
#[utoipa::path(get, path = "/api/v1/car-orders", tag = "cars", security(("bearer" = [])),
    responses((status = 200, body = Vec<CarOrder>), (status = 403, body = ErrorBody)))]
pub async fn list_car_orders(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<CarOrder>>, ApiError> {
    Ok(Json(state.store.car_orders(CarOrderStatus::Open).await?))
}

/// One order with every step of its history (an agent: one they took, or
/// whose task is offered to or held by them).
#[utoipa::path(get, path = "/api/v1/car-orders/{id}", tag = "cars", params(("id" = CarOrderId, Path)), security(("bearer" = [])),
    responses((status = 200, body = CarOrder), (status = 404, body = ErrorBody)))]
pub async fn get_car_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CarOrderId>,
) -> Result<Json<CarOrder>, ApiError> {
    let order = state.store.car_order(id).await?.ok_or_else(|| ApiError::not_found("car order"))?;
    if caller.role() == crate::domain::Role::Agent {
        let took_it = state.store.task(order.task_id).await?.is_some_and(|t| t.created_by == Some(caller.id()));
        let tasks = [Some(order.task_id), order.insurance_task_id].into_iter().flatten().collect();
        super::own::require(took_it || super::own::holds_any(&state, caller.id(), tasks).await?, "this order")?;
    }
    Ok(Json(order))
}

/// Pools proposed among the open drop-offs not yet in a trip, leaving
/// out proposals a dispatcher turned down.
#[utoipa::path(get, path = "/api/v1/pool-proposals", tag = "cars", security(("bearer" = [])),
    responses((status = 200, body = Vec<PoolProposalView>), (status = 403, body = ErrorBody)))]
pub async fn pool_proposals(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<PoolProposalView>>, ApiError> {
    let open = state.store.car_orders(CarOrderStatus::Open).await?;
    Ok(Json(travel_board::pool_proposals(&state.store, &state.config.cars, &open).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_car_order, list_car_orders))
        .routes(routes!(get_car_order))
        .routes(routes!(pool_proposals))
}
