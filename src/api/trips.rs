//! The dispatcher's flow for private cars, as the manual runs it: plan a
//! trip (one order, or a pool accepted or edited), phone drivers in the
//! suggested order and record each answer, dispatch the confirmed trip,
//! register the insurance, complete. Every step is in each order's history.
//!
//! `POST /api/v1/trips`, `GET /api/v1/trips/{id}`,
//! `GET /api/v1/trips/{id}/suggested-drivers`, `POST /api/v1/trips/{id}/calls`,
//! `POST /api/v1/trips/{id}/dispatch`, `POST /api/v1/pool-proposals/{id}/accept|reject`,
//! `GET /api/v1/car-orders/{id}/suggested-drivers`,
//! `POST /api/v1/car-orders/{id}/insurance|complete|cancel`.

use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use super::cars::largest_vehicle;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller, text};
use crate::api::state::AppState;
use crate::domain::{
    CarOrderId, CarOrderKind, CarOrderStatus, DriverCallOutcome, DriverId, Outcome, TaskId, TaskKind, TripId,
    TripStatus, ViolationParty,
};
use crate::rules::dispatch::TaskDraft;
use crate::rules::dispatch::{Command, DispatchError};
use crate::rules::travel::pooling::{self, DropOff, GroupError};
use crate::rules::travel::trips::{DriverFacts, Need, Span, Suggestion, suggest};
use crate::runtime::hub::HubError;
use crate::runtime::{intake, travel_board};
use crate::store::{CarOrder, NewTrip, Trip, TripRefusal};

const MAX_POLICY: usize = 64;

impl From<TripRefusal> for ApiError {
    fn from(e: TripRefusal) -> Self {
        let code = match e {
            TripRefusal::OrderTaken(_) => "order_taken",
            TripRefusal::TripState(..) => "trip_state",
            TripRefusal::DoubleBooked(_) => "driver_double_booked",
            TripRefusal::OrderState(..) => "order_state",
            TripRefusal::InsuranceMissing => "insurance_missing",
        };
        ApiError::conflict(code, e.to_string())
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        ApiError::unprocessable("pool_invalid", e.to_string())
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanTrip {
    /// One order of any kind, or two or more drop-offs that pool.
    pub order_ids: Vec<CarOrderId>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptPool {
    /// The dispatcher's edit of the proposal; absent: the proposal as it is.
    pub order_ids: Option<Vec<CarOrderId>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriverCallRequest {
    pub driver_id: DriverId,
    pub outcome: DriverCallOutcome,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsuranceRequest {
    pub policy_number: String,
}

async fn load_order(state: &AppState, id: CarOrderId) -> Result<CarOrder, ApiError> {
    state.store.car_order(id).await?.ok_or_else(|| ApiError::not_found("car order"))
}

async fn load_trip(state: &AppState, id: TripId) -> Result<Trip, ApiError> {
    state.store.trip(id).await?.ok_or_else(|| ApiError::not_found("trip"))
}

/// Checks the orders can ride together and plans their trip.
async fn plan(state: &AppState, caller: &Caller, ids: &[CarOrderId], pool: Option<String>) -> Result<Trip, ApiError> {
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    if unique.is_empty() || unique.len() != ids.len() {
        return Err(ApiError::unprocessable("invalid_field", "order_ids: one or more, each once"));
    }
    let mut orders = Vec::with_capacity(ids.len());
    for id in ids {
        let order = load_order(state, *id)
            .await
            .map_err(|_| ApiError::unprocessable("unknown_order", format!("order_ids: no car order {id}")))?;
        if order.status != CarOrderStatus::Open || order.trip_id.is_some() {
            return Err(TripRefusal::OrderTaken(order.id).into());
        }
        orders.push(order);
    }
    if orders.len() > 1 {
        if let Some(o) = orders.iter().find(|o| o.kind != CarOrderKind::Dropoff) {
            return Err(ApiError::unprocessable(
                "pool_invalid",
                format!("only drop-offs pool; {} is a {}", o.id, o.kind),
            ));
        }
        let drop_offs: Vec<DropOff> = orders
            .iter()
            .map(|o| DropOff {
                order: o.id,
                airport: o.airport.clone().unwrap_or_default(),
                departs: o.time,
                passengers: o.passengers,
            })
            .collect();
        let capacity = largest_vehicle(state, |_| true).await?;
        pooling::check_group(&drop_offs, state.config.cars.pool_window(), capacity)?;
    }
    let first = orders.iter().map(|o| o.time).min().expect("one or more");
    let last = orders.iter().map(|o| o.time).max().expect("one or more");
    let trip = NewTrip {
        id: TripId::new(),
        orders: orders.iter().map(|o| o.id).collect(),
        span: Span::around(first, last, state.config.cars.trip_span()),
        passengers: orders.iter().map(|o| o.passengers).sum(),
        pool_id: pool,
        by: caller.id(),
        at: Timestamp::now(),
    };
    state.store.create_trip(&trip).await??;
    state.board.touch();
    tracing::info!(trip = %trip.id, orders = trip.orders.len(), "trip planned");
    load_trip(state, trip.id).await
}

/// Plan a trip: one order, or drop-offs the dispatcher pools by hand.
#[utoipa::path(post, path = "/api/v1/trips", tag = "cars", request_body = PlanTrip, security(("bearer" = [])),
    responses((status = 201, body = Trip), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn plan_trip(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<PlanTrip>,
) -> Result<(StatusCode, Json<Trip>), ApiError> {
    Ok((StatusCode::CREATED, Json(plan(&state, &caller, &req.order_ids, None).await?)))
}

/// Accept a proposed pool as one trip, as proposed or edited (`order_ids`).
#[utoipa::path(post, path = "/api/v1/pool-proposals/{id}/accept", tag = "cars", params(("id" = String, Path)), request_body = AcceptPool,
    security(("bearer" = [])),
    responses((status = 201, body = Trip), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn accept_pool(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Trip>), ApiError> {
    // The body is optional: none accepts the proposal as it is.
    let edit: AcceptPool = if body.iter().all(u8::is_ascii_whitespace) {
        AcceptPool::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.is_data() {
            true => ApiError::unprocessable("invalid_body", e.to_string()),
            false => ApiError::bad_request("malformed_json", e.to_string()),
        })?
    };
    let open = state.store.car_orders(CarOrderStatus::Open).await?;
    let proposals = travel_board::pool_proposals(&state.store, &state.config.cars, &open).await?;
    let proposal = proposals.into_iter().find(|p| p.id == id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such proposal now (orders changed, or it was turned down)",
        )
    })?;
    let orders = edit.order_ids.unwrap_or(proposal.order_ids);
    Ok((StatusCode::CREATED, Json(plan(&state, &caller, &orders, Some(id)).await?)))
}

/// Turn a proposed pool down: it is not proposed again.
#[utoipa::path(post, path = "/api/v1/pool-proposals/{id}/reject", tag = "cars", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn reject_pool(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found("pool proposal"));
    }
    state.store.reject_pool(&id, caller.id(), Timestamp::now()).await?;
    state.board.touch();
    Ok(StatusCode::NO_CONTENT)
}

/// One trip with its orders and every call to a driver about it.
#[utoipa::path(get, path = "/api/v1/trips/{id}", tag = "cars", params(("id" = TripId, Path)), security(("bearer" = [])),
    responses((status = 200, body = Trip), (status = 404, body = ErrorBody)))]
pub async fn get_trip(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<TripId>,
) -> Result<Json<Trip>, ApiError> {
    Ok(Json(load_trip(&state, id).await?))
}

/// Ranks every driver for `need`, with who already passed on `trip`.
async fn rank(state: &AppState, need: &Need, trip: Option<TripId>) -> Result<Vec<Suggestion>, ApiError> {
    let zone = state.rules.get().calendar.time_zone().clone();
    let now = Timestamp::now();
    let midnight = now.to_zoned(zone.clone()).start_of_day().map_err(|e| ApiError::internal(&e))?;
    let (day_start, day_end) =
        (midnight.timestamp(), midnight.tomorrow().map_err(|e| ApiError::internal(&e))?.timestamp());
    let bookings = state.store.driver_bookings(day_start).await?;
    let window = jiff::SignedDuration::from_hours(24 * i64::from(state.config.cars.violation_window_days));
    let violations = state
        .store
        .violation_counts(ViolationParty::Driver, now.saturating_sub(window).map_err(|e| ApiError::internal(&e))?)
        .await?;
    let passed = match trip {
        Some(t) => state.store.trip_calls(t).await?,
        None => HashMap::new(),
    };
    let drivers: Vec<DriverFacts> = state
        .store
        .drivers(None)
        .await?
        .into_iter()
        .map(|d| {
            let mine = bookings.iter().filter(|b| b.driver == d.id);
            DriverFacts {
                booked: mine
                    .clone()
                    .filter(|b| {
                        Some(b.trip) != trip && matches!(b.status, TripStatus::Confirmed | TripStatus::Dispatched)
                    })
                    .map(|b| b.span)
                    .collect(),
                trips_today: mine.filter(|b| b.span.start >= day_start && b.span.start < day_end).count() as u32,
                passed: passed.get(&d.id).and_then(|(outcome, at)| match outcome {
                    DriverCallOutcome::Declined => Some((*at, "declined")),
                    DriverCallOutcome::NoAnswer => Some((*at, "did not answer")),
                    DriverCallOutcome::Confirmed => None,
                }),
                violations: violations.get(&d.id.to_string()).copied().unwrap_or(0),
                id: d.id,
                name: d.name,
                seats: d.seats,
                area: d.area,
                status: d.status,
            }
        })
        .collect();
    Ok(suggest(need, &drivers, &zone))
}

fn places(order: &CarOrder) -> impl Iterator<Item = String> + '_ {
    [&order.airport, &order.from_address, &order.to_address].into_iter().flatten().cloned()
}

/// Drivers for a trip, ranked: free for its whole time, seats enough, the
/// trip's area, fewest trips today; those who cannot take it follow with why.
#[utoipa::path(get, path = "/api/v1/trips/{id}/suggested-drivers", tag = "cars", params(("id" = TripId, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = ErrorBody)))]
pub async fn trip_suggestions(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<TripId>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    let trip = load_trip(&state, id).await?;
    let mut need = Need { span: trip.span, passengers: trip.passengers, places: Vec::new() };
    for order in &trip.order_ids {
        need.places.extend(places(&load_order(&state, *order).await?));
    }
    Ok(Json(rank(&state, &need, Some(id)).await?))
}

/// Drivers for one order: its trip's ranking once it has one.
#[utoipa::path(get, path = "/api/v1/car-orders/{id}/suggested-drivers", tag = "cars", params(("id" = CarOrderId, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<Suggestion>), (status = 404, body = ErrorBody)))]
pub async fn order_suggestions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CarOrderId>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    let order = load_order(&state, id).await?;
    if let Some(trip) = order.trip_id {
        return trip_suggestions(State(state), caller, ApiPath(trip)).await;
    }
    let span = Span::around(order.time, order.time, state.config.cars.trip_span());
    let need = Need { span, passengers: order.passengers, places: places(&order).collect() };
    Ok(Json(rank(&state, &need, None).await?))
}

/// Record a phone call to a driver about a planned trip: `confirmed` gives
/// the trip its driver (409 `driver_double_booked` when another trip of
/// theirs overlaps); `declined` and `no_answer` are recorded and the driver
/// drops down the suggestions.
#[utoipa::path(post, path = "/api/v1/trips/{id}/calls", tag = "cars", params(("id" = TripId, Path)), request_body = DriverCallRequest,
    security(("bearer" = [])),
    responses((status = 201, body = Trip), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn record_call(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TripId>,
    ApiJson(req): ApiJson<DriverCallRequest>,
) -> Result<(StatusCode, Json<Trip>), ApiError> {
    load_trip(&state, id).await?;
    let driver =
        state.store.driver(req.driver_id).await?.ok_or_else(|| {
            ApiError::unprocessable("unknown_driver", format!("driver_id: no driver {}", req.driver_id))
        })?;
    if req.outcome == DriverCallOutcome::Confirmed {
        let trip = load_trip(&state, id).await?;
        if driver.seats < trip.passengers {
            let msg = format!("{} has {} seats for {} passengers", driver.name, driver.seats, trip.passengers);
            return Err(ApiError::unprocessable("seats", msg));
        }
    }
    state.store.record_driver_call(id, driver.id, &driver.name, req.outcome, caller.id(), Timestamp::now()).await??;
    state.board.touch();
    tracing::info!(trip = %id, driver = %driver.id, outcome = req.outcome.as_str(), "driver phoned");
    Ok((StatusCode::CREATED, Json(load_trip(&state, id).await?)))
}

/// Closes a live task whose work was done elsewhere; one that is not live
/// (closed already, or waiting in the schedule, which the store closed) is
/// left as it is.
pub(super) async fn settle(state: &AppState, task: TaskId, summary: String) {
    close_if_live(state, Command::Settle { task, outcome: Outcome::Done, summary }, task).await;
}

/// Sends a command that closes `task`, ignoring that it is no longer live.
async fn close_if_live(state: &AppState, command: Command, task: TaskId) {
    match state.hub.command(command).await {
        Ok(_) | Err(HubError::Dispatch(DispatchError::UnknownTask)) => {}
        Err(e) => tracing::warn!(%task, error = %e, "closing a task whose work ended elsewhere failed"),
    }
}

/// Dispatch a confirmed trip: its orders become `dispatched`, their
/// `car_dispatch` tasks are done, and each gets an `insurance_registration` task.
#[utoipa::path(post, path = "/api/v1/trips/{id}/dispatch", tag = "cars", params(("id" = TripId, Path)), security(("bearer" = [])),
    responses((status = 200, body = Trip), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn dispatch_trip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TripId>,
) -> Result<Json<Trip>, ApiError> {
    let trip = load_trip(&state, id).await?;
    let driver = match trip.driver_id {
        Some(d) => state.store.driver(d).await?.map(|d| d.name).unwrap_or_default(),
        None => String::new(),
    };
    let now = Timestamp::now();
    let rules = state.rules.get().clone();
    let by = caller.id();
    let insurance = move |order: &CarOrder| {
        let kind = TaskKind::InsuranceRegistration;
        let plan = rules.plan(kind, now, None, Some(order.time));
        let reason = format!(
            "register travel insurance for {} ({} passengers), car order {}",
            order.passenger, order.passengers, order.id
        );
        TaskDraft {
            created_by: Some(by),
            ..TaskDraft::new(&rules, kind, plan, order.phone.clone(), Some(reason), now, None)
        }
    };
    let dispatched = state.store.dispatch_trip(id, insurance, by, now).await??;
    for (order, _) in &dispatched {
        settle(&state, order.task_id, format!("dispatched in trip {id} with {driver}")).await;
    }
    // Stored with the trip's dispatch, above.
    let insurance: Vec<_> = dispatched.iter().map(|(_, row)| row.to_new_task(&state.rules.get())).collect();
    intake::hand_over(&state.hub, insurance).await;
    state.board.touch();
    tracing::info!(trip = %id, orders = dispatched.len(), "trip dispatched");
    Ok(Json(load_trip(&state, id).await?))
}

/// Record a dispatched order's travel insurance policy number; its
/// `insurance_registration` task is done.
#[utoipa::path(post, path = "/api/v1/car-orders/{id}/insurance", tag = "cars", params(("id" = CarOrderId, Path)), request_body = InsuranceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = CarOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn register_insurance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CarOrderId>,
    ApiJson(req): ApiJson<InsuranceRequest>,
) -> Result<Json<CarOrder>, ApiError> {
    let order = load_order(&state, id).await?;
    if caller.role() == crate::domain::Role::Agent {
        let tasks = order.insurance_task_id.into_iter().collect();
        super::own::require(super::own::holds_any(&state, caller.id(), tasks).await?, "this order's insurance")?;
    }
    let policy = text("policy_number", &req.policy_number, MAX_POLICY)?;
    let task = state.store.register_insurance(id, &policy, caller.id(), Timestamp::now()).await??;
    if let Some(task) = task {
        settle(&state, task, format!("policy {policy} registered")).await;
    }
    state.board.touch();
    Ok(Json(load_order(&state, id).await?))
}

/// Complete a dispatched order; 409 `insurance_missing` without a policy number.
#[utoipa::path(post, path = "/api/v1/car-orders/{id}/complete", tag = "cars", params(("id" = CarOrderId, Path)), security(("bearer" = [])),
    responses((status = 200, body = CarOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CarOrderId>,
) -> Result<Json<CarOrder>, ApiError> {
    load_order(&state, id).await?;
    state.store.complete_car_order(id, caller.id(), Timestamp::now()).await??;
    state.board.touch();
    Ok(Json(load_order(&state, id).await?))
}

/// Cancel an order not yet dispatched; it leaves its trip, and its task closes.
#[utoipa::path(post, path = "/api/v1/car-orders/{id}/cancel", tag = "cars", params(("id" = CarOrderId, Path)), security(("bearer" = [])),
    responses((status = 200, body = CarOrder), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CarOrderId>,
) -> Result<Json<CarOrder>, ApiError> {
    load_order(&state, id).await?;
    let task = state.store.cancel_car_order(id, caller.id(), Timestamp::now()).await??;
    close_if_live(&state, Command::CancelTask { task }, task).await;
    state.board.touch();
    Ok(Json(load_order(&state, id).await?))
}

/// The dispatch board as the dispatchers' sockets receive it.
#[utoipa::path(get, path = "/api/v1/dispatch-board", tag = "cars", security(("bearer" = [])),
    responses((status = 200, body = travel_board::DispatchBoard), (status = 403, body = ErrorBody)))]
pub async fn dispatch_board(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<travel_board::DispatchBoard>, ApiError> {
    Ok(Json(travel_board::load(&state.store, &state.config.cars, Timestamp::now()).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accept_pool))
        .routes(routes!(reject_pool))
        .routes(routes!(order_suggestions))
        .routes(routes!(register_insurance))
        .routes(routes!(complete_order))
        .routes(routes!(cancel_order))
        .routes(routes!(plan_trip))
        .routes(routes!(get_trip))
        .routes(routes!(trip_suggestions))
        .routes(routes!(record_call))
        .routes(routes!(dispatch_trip))
        .routes(routes!(dispatch_board))
}
