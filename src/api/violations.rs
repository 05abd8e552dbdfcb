//! Violations of partner drivers and inns (违规行为): recorded with the
//! penalty and the feedback given, and read back per partner. Dispatchers,
//! supervisors and admins keep them.

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
use crate::domain::{DriverId, InnId, ViolationId, ViolationParty};
use crate::store::{NewViolation, Violation};

const MAX_TEXT: usize = 2000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordViolation {
    /// What the partner did.
    pub what: String,
    /// When it happened (default now); not in the future.
    #[schema(value_type = Option<String>)]
    pub occurred_at: Option<Timestamp>,
    /// The penalty decided (处罚结果).
    pub penalty: Option<String>,
    /// The feedback given to the partner (反馈).
    pub feedback: Option<String>,
}

async fn record(
    state: &AppState,
    caller: &Caller,
    party: ViolationParty,
    party_id: String,
    req: RecordViolation,
) -> Result<(StatusCode, Json<Violation>), ApiError> {
    let now = Timestamp::now();
    let occurred_at = req.occurred_at.unwrap_or(now);
    if occurred_at > now + jiff::SignedDuration::from_mins(5) {
        return Err(ApiError::unprocessable("invalid_field", "occurred_at: must not be in the future"));
    }
    let new = NewViolation {
        id: ViolationId::new(),
        party,
        party_id,
        occurred_at,
        what: text("what", &req.what, MAX_TEXT)?,
        penalty: optional_text("penalty", req.penalty, MAX_TEXT)?,
        feedback: optional_text("feedback", req.feedback, MAX_TEXT)?,
        recorded_by: caller.id(),
        recorded_at: now,
    };
    state.store.insert_violation(&new).await?;
    tracing::info!(violation = %new.id, %party, party_id = %new.party_id, "violation recorded");
    let stored = state.store.violations(party, &new.party_id).await?.into_iter().find(|v| v.id == new.id);
    Ok((StatusCode::CREATED, Json(stored.ok_or_else(|| ApiError::not_found("violation"))?)))
}

async fn find_driver(state: &AppState, id: DriverId) -> Result<String, ApiError> {
    let driver = state.store.driver(id).await?.ok_or_else(|| ApiError::not_found("driver"))?;
    Ok(driver.id.to_string())
}

async fn find_inn(state: &AppState, id: InnId) -> Result<String, ApiError> {
    let inn = state.store.inns().await?.into_iter().find(|i| i.id == id).ok_or_else(|| ApiError::not_found("inn"))?;
    Ok(inn.id.to_string())
}

/// Record a driver's violation; the driver's recent violations rank them
/// after drivers with fewer among the suggested drivers (`[cars]
/// violation_window_days`).
#[utoipa::path(post, path = "/api/v1/drivers/{id}/violations", tag = "cars", params(("id" = DriverId, Path)),
    request_body = RecordViolation, security(("bearer" = [])),
    responses((status = 201, body = Violation), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_driver_violation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<DriverId>,
    ApiJson(req): ApiJson<RecordViolation>,
) -> Result<(StatusCode, Json<Violation>), ApiError> {
    let party_id = find_driver(&state, id).await?;
    record(&state, &caller, ViolationParty::Driver, party_id, req).await
}

/// A driver's violations, latest first.
#[utoipa::path(get, path = "/api/v1/drivers/{id}/violations", tag = "cars", params(("id" = DriverId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<Violation>), (status = 404, body = ErrorBody)))]
pub async fn driver_violations(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DriverId>,
) -> Result<Json<Vec<Violation>>, ApiError> {
    let party_id = find_driver(&state, id).await?;
    Ok(Json(state.store.violations(ViolationParty::Driver, &party_id).await?))
}

/// Record a partner inn's violation.
#[utoipa::path(post, path = "/api/v1/inns/{id}/violations", tag = "inns", params(("id" = InnId, Path)),
    request_body = RecordViolation, security(("bearer" = [])),
    responses((status = 201, body = Violation), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn record_inn_violation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InnId>,
    ApiJson(req): ApiJson<RecordViolation>,
) -> Result<(StatusCode, Json<Violation>), ApiError> {
    let party_id = find_inn(&state, id).await?;
    record(&state, &caller, ViolationParty::Inn, party_id, req).await
}

/// A partner inn's violations, latest first.
#[utoipa::path(get, path = "/api/v1/inns/{id}/violations", tag = "inns", params(("id" = InnId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<Violation>), (status = 404, body = ErrorBody)))]
pub async fn inn_violations(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<InnId>,
) -> Result<Json<Vec<Violation>>, ApiError> {
    let party_id = find_inn(&state, id).await?;
    Ok(Json(state.store.violations(ViolationParty::Inn, &party_id).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record_driver_violation, driver_violations))
        .routes(routes!(record_inn_violation, inn_violations))
}
