//! Private-car drivers: `POST/GET /api/v1/drivers`, `GET/PATCH
//! /api/v1/drivers/{id}`. Dispatchers keep them; supervisors and admins
//! may too.

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
use crate::domain::{DriverId, DriverStatus, Phone};
use crate::store::{Driver, NewDriver};

/// The largest vehicle the centre dispatches (a coach).
const MAX_SEATS: u32 = 60;
const MAX_TEXT: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDriver {
    pub name: String,
    #[schema(value_type = String, example = "13900001111")]
    pub phone: Phone,
    /// Passenger seats, 1-60.
    pub seats: u32,
    /// The service area the driver covers.
    pub area: String,
    /// Make, model and plate.
    pub vehicle: Option<String>,
    /// Default `available`.
    pub status: Option<DriverStatus>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchDriver {
    pub status: DriverStatus,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListDrivers {
    pub status: Option<DriverStatus>,
}

/// Add a driver.
#[utoipa::path(post, path = "/api/v1/drivers", tag = "drivers", request_body = CreateDriver, security(("bearer" = [])),
    responses((status = 201, body = Driver), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_driver(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<CreateDriver>,
) -> Result<(StatusCode, Json<Driver>), ApiError> {
    if !(1..=MAX_SEATS).contains(&req.seats) {
        return Err(ApiError::unprocessable("invalid_field", format!("seats: 1-{MAX_SEATS}")));
    }
    let new = NewDriver {
        name: text("name", &req.name, MAX_TEXT)?,
        phone: req.phone,
        vehicle: optional_text("vehicle", req.vehicle, MAX_TEXT)?,
        seats: req.seats,
        area: text("area", &req.area, MAX_TEXT)?,
        status: req.status.unwrap_or(DriverStatus::Available),
    };
    let driver = state.store.create_driver(new, Timestamp::now()).await?;
    state.board.touch();
    Ok((StatusCode::CREATED, Json(driver)))
}

/// List drivers, by name; `?status=available` for those free now.
#[utoipa::path(get, path = "/api/v1/drivers", tag = "drivers", params(ListDrivers), security(("bearer" = [])),
    responses((status = 200, body = Vec<Driver>), (status = 403, body = ErrorBody)))]
pub async fn list_drivers(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ListDrivers>,
) -> Result<Json<Vec<Driver>>, ApiError> {
    Ok(Json(state.store.drivers(q.status).await?))
}

#[utoipa::path(get, path = "/api/v1/drivers/{id}", tag = "drivers", params(("id" = DriverId, Path)), security(("bearer" = [])),
    responses((status = 200, body = Driver), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_driver(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<DriverId>,
) -> Result<Json<Driver>, ApiError> {
    state.store.driver(id).await?.map(Json).ok_or_else(|| ApiError::not_found("driver"))
}

/// Set a driver's status (`off_duty`, `available`, `assigned`, `on_trip`).
#[utoipa::path(patch, path = "/api/v1/drivers/{id}", tag = "drivers", params(("id" = DriverId, Path)), request_body = PatchDriver,
    security(("bearer" = [])),
    responses((status = 200, body = Driver), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn patch_driver(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<DriverId>,
    ApiJson(req): ApiJson<PatchDriver>,
) -> Result<Json<Driver>, ApiError> {
    let driver = state.store.set_driver_status(id, req.status, Timestamp::now()).await?;
    state.board.touch();
    driver.map(Json).ok_or_else(|| ApiError::not_found("driver"))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_driver, list_drivers)).routes(routes!(get_driver, patch_driver))
}
