//! The customer file (客户资料): a customer's record with its history, read
//! and kept up to date from the console, listed by region; the centre's own
//! fields (`[[customers.fields]]`). The rules of a change are in
//! `rules/customer_file.rs`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{Phone, UserId};
use crate::rules::customer_file::{self, FieldDef, FilePatch};
use crate::store::{Customer, CustomerChange, CustomerProfile};

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

/// Changes a customer's record (creating it when new) with its history;
/// a change the rules refuse writes nothing and is a 422 naming the part.
pub async fn update(
    state: &AppState,
    phone: &Phone,
    patch: FilePatch,
    by: Option<UserId>,
) -> Result<Customer, ApiError> {
    let settings = state.config.customers.clone();
    let own = phone.clone();
    let changed = state
        .store
        .update_customer(phone, Timestamp::now(), by, move |before| {
            customer_file::apply(&settings, &own, before, &patch)
        })
        .await?;
    changed.map_err(|e| ApiError::unprocessable("invalid_field", e.to_string()))
}

/// Sets a customer's name when a registration, a task or a warranty gives
/// one; `None` changes nothing.
pub async fn name_from_intake(
    state: &AppState,
    phone: &Phone,
    name: Option<&str>,
    by: Option<UserId>,
) -> Result<(), ApiError> {
    if let Some(name) = name {
        update(state, phone, FilePatch { name: Some(name.to_owned()), ..FilePatch::default() }, by).await?;
    }
    Ok(())
}

/// A customer by phone number, with past calls, open complaint cases and
/// registrations (agents and dispatchers: the customer of a task offered
/// to or held by them).
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

/// A change to a customer's record. Left out: kept; an empty text:
/// cleared; a list: replaced whole; one of `fields` set to `""`: removed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCustomer {
    pub name: Option<String>,
    pub notes: Option<String>,
    /// Other numbers they answer on (at most 5).
    pub other_phones: Option<Vec<String>>,
    pub address: Option<String>,
    /// 地区.
    pub region: Option<String>,
    /// 负责人.
    pub contact_person: Option<String>,
    /// At most 20, each at most 30 characters.
    pub tags: Option<Vec<String>>,
    /// The centre's own fields (`GET /api/v1/customer-fields`).
    pub fields: Option<BTreeMap<String, String>>,
    /// The customer asked not to be called: Switchboard refuses to place
    /// a call to them (`dial_refused`).
    pub do_not_call: Option<bool>,
}

/// Create or update a customer's record; each part changed is kept in its
/// history with who changed it.
#[utoipa::path(put, path = "/api/v1/customers/{phone}", tag = "customers", params(("phone" = String, Path)),
    request_body = PutCustomer, security(("bearer" = [])),
    responses((status = 200, body = Customer), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<PutCustomer>,
) -> Result<Json<Customer>, ApiError> {
    let phone = phone(&raw)?;
    require_customer_of_own_work(&state, &caller, &phone).await?;
    let other_phones = req
        .other_phones
        .map(|list| list.iter().map(|p| Phone::parse(p)).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|e| ApiError::unprocessable("invalid_field", format!("other_phones: {e}")))?;
    let patch = FilePatch {
        name: req.name,
        notes: req.notes,
        other_phones,
        address: req.address,
        region: req.region,
        contact_person: req.contact_person,
        tags: req.tags,
        fields: req.fields,
        do_not_call: req.do_not_call,
    };
    Ok(Json(update(&state, &phone, patch, Some(caller.id())).await?))
}

/// The history of a customer's record, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/customers/{phone}/changes", tag = "customers", params(("phone" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<CustomerChange>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn customer_changes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<Vec<CustomerChange>>, ApiError> {
    let phone = phone(&raw)?;
    require_customer_of_own_work(&state, &caller, &phone).await?;
    Ok(Json(state.store.customer_changes(&phone).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCustomers {
    /// Only this region's (地区).
    pub region: Option<String>,
    /// Only those with this tag.
    pub tag: Option<String>,
}

/// Customers by region, then name (at most 500; supervisors and admins).
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(ListCustomers), security(("bearer" = [])),
    responses((status = 200, body = Vec<Customer>), (status = 403, body = ErrorBody)))]
pub async fn list_customers(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListCustomers>,
) -> Result<Json<Vec<Customer>>, ApiError> {
    Ok(Json(state.store.customers_by(q.region.as_deref(), q.tag.as_deref()).await?))
}

/// The centre's own fields of the customer file (`[[customers.fields]]`),
/// for the console's form.
#[utoipa::path(get, path = "/api/v1/customer-fields", tag = "customers", security(("bearer" = [])),
    responses((status = 200, body = Vec<FieldDef>)))]
pub async fn customer_fields(State(state): State<AppState>) -> Json<Vec<FieldDef>> {
    Json(state.config.customers.fields.clone())
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_customer, put_customer))
        .routes(routes!(customer_changes))
        .routes(routes!(list_customers))
        .routes(routes!(customer_fields))
}
