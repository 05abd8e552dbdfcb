//! Queues, the kinds of work, and customers.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::api::state::AppState;
use crate::domain::{Channel, Phone, TaskKind};
use crate::rules::dispatch::QueueStats;
use crate::store::{Customer, CustomerProfile};

const MAX_NAME_CHARS: usize = 100;
const MAX_NOTES_CHARS: usize = 4000;

/// A kind of work and its rule (`[kinds]`).
#[derive(Serialize, ToSchema)]
pub struct KindView {
    pub kind: TaskKind,
    /// One of the manuals' kinds, or the centre's own.
    pub built_in: bool,
    /// The centre's own kinds' name for people.
    pub label: Option<String>,
    pub queue: String,
    pub priority: u8,
    pub channel: Channel,
    /// Due this long after creation unless the creator says; none if absent.
    pub deadline_minutes: Option<i64>,
    pub attempts: u32,
    /// Agents may create tasks of it (`[access] agent_task_kinds`).
    pub agents_may_create: bool,
}

/// Every kind of work: the built-in ones, then the centre's own.
#[utoipa::path(get, path = "/api/v1/kinds", tag = "floor", security(("bearer" = [])),
    responses((status = 200, body = Vec<KindView>), (status = 401, body = ErrorBody)))]
pub async fn list_kinds(State(state): State<AppState>, _caller: Caller) -> Json<Vec<KindView>> {
    let rules = &state.rules;
    let view = |kind: TaskKind, label: Option<String>| {
        let r = rules.kind(kind);
        KindView {
            kind,
            built_in: label.is_none(),
            label,
            queue: rules.queue_name(r.queue).to_owned(),
            priority: r.priority,
            channel: r.channel,
            deadline_minutes: r.deadline_after.map(|d| d.as_mins()),
            attempts: r.attempts,
            agents_may_create: state.config.access.agent_task_kinds.contains(&kind),
        }
    };
    let built_in = TaskKind::ALL.iter().map(|k| view(*k, None));
    let own: Vec<KindView> = rules.custom_kinds().map(|(k, label)| view(k, Some(label.to_owned()))).collect();
    Json(built_in.chain(own).collect())
}

/// Every queue with its live counts and longest wait.
#[utoipa::path(get, path = "/api/v1/queues", tag = "floor", security(("bearer" = [])),
    responses((status = 200, body = Vec<QueueStats>), (status = 401, body = ErrorBody)))]
pub async fn list_queues(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<QueueStats>>, ApiError> {
    Ok(Json(state.hub.query(|d, now| d.queue_stats(now)).await?))
}

/// Agents and dispatchers see and change only the customer of work offered
/// to or held by them (the screen-pop's record); supervisors and admins
/// every customer.
async fn require_customer_of_own_work(state: &AppState, caller: &Caller, phone: &Phone) -> Result<(), ApiError> {
    if caller.role().oversees() {
        return Ok(());
    }
    super::own::require(super::own::holds_customer(state, caller.id(), phone).await?, "this customer")
}

fn phone(raw: &str) -> Result<Phone, ApiError> {
    Phone::parse(raw).map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))
}

/// A customer by phone number, with past calls and open complaint cases
/// (agents and dispatchers: the customer of a task offered to or held by them).
#[utoipa::path(get, path = "/api/v1/customers/{phone}", tag = "customers", params(("phone" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CustomerProfile), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<CustomerProfile>, ApiError> {
    let phone = phone(&raw)?;
    require_customer_of_own_work(&state, &caller, &phone).await?;
    let profile = state.store.customer_profile(&phone).await?;
    if profile.customer.is_none() && profile.past_calls.is_empty() && profile.open_cases.is_empty() {
        return Err(ApiError::not_found("customer"));
    }
    Ok(Json(profile))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCustomer {
    pub name: Option<String>,
    pub notes: Option<String>,
}

/// Create or update a customer; fields left out are kept.
#[utoipa::path(put, path = "/api/v1/customers/{phone}", tag = "customers", params(("phone" = String, Path)),
    request_body = PutCustomer, security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 422, body = ErrorBody)))]
pub async fn put_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<PutCustomer>,
) -> Result<Json<Customer>, ApiError> {
    let phone = phone(&raw)?;
    require_customer_of_own_work(&state, &caller, &phone).await?;
    if req.name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME_CHARS) {
        return Err(ApiError::unprocessable("invalid_field", format!("name: at most {MAX_NAME_CHARS} characters")));
    }
    if req.notes.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTES_CHARS) {
        return Err(ApiError::unprocessable("invalid_field", format!("notes: at most {MAX_NOTES_CHARS} characters")));
    }
    let c = state.store.upsert_customer(&phone, req.name.as_deref(), req.notes.as_deref(), Timestamp::now()).await?;
    Ok(Json(c))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_queues))
        .routes(routes!(list_kinds))
        .routes(routes!(get_customer, put_customer))
}
