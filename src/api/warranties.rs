//! `POST /api/v1/warranties`: a product delivered under warranty; its
//! callbacks (`rules/warranty.rs`, 7dc、3dc回访) are created with it, all or
//! nothing. `GET` lists them with how each callback stands.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery};
use crate::api::state::AppState;
use crate::domain::{Phone, TaskKind};
use crate::rules::dispatch::TaskDraft;
use crate::rules::warranty::{self, Warranty};
use crate::runtime::intake;
use crate::store::{NewWarranty, WarrantyRecord};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarrantyBody {
    #[schema(value_type = String, example = "13800138000")]
    pub customer_phone: Phone,
    /// What was bought (model, colour): 1-200 characters.
    #[schema(example = "电动车 X1 (红)")]
    pub product: String,
    /// At most 100 characters.
    pub serial_number: Option<String>,
    /// The day it reached the customer, `YYYY-MM-DD`: the callbacks count
    /// from it.
    #[schema(value_type = String, example = "2026-12-01")]
    pub delivered_on: Date,
    /// The warranty's last day.
    #[schema(value_type = String, example = "2027-12-01")]
    pub warranty_until: Date,
    /// Stored in the CRM when given.
    pub customer_name: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListWarranties {
    /// Only this customer's.
    #[param(value_type = Option<String>)]
    pub phone: Option<Phone>,
}

fn check(body: &WarrantyBody) -> Result<(), ApiError> {
    if !(1..=200).contains(&body.product.trim().chars().count()) {
        return Err(ApiError::unprocessable("invalid_field", "product: 1-200 characters"));
    }
    if body.serial_number.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::unprocessable("invalid_field", "serial_number: at most 100 characters"));
    }
    if body.customer_name.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::unprocessable("invalid_field", "customer_name: at most 100 characters"));
    }
    Ok(())
}

/// Record a product under warranty and create its callbacks: one each of
/// `[warranty] callback_days` after delivery (3 and 7 by default), on the
/// first working day at or after that date and due at its close, none
/// after the warranty's last day.
#[utoipa::path(post, path = "/api/v1/warranties", tag = "tasks", request_body = WarrantyBody,
    security(("bearer" = [])),
    responses((status = 201, body = WarrantyRecord), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`invalid_field`: a field missing or out of range, `warranty_until` before `delivered_on`, a delivery over a year ahead")))]
pub async fn add(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<WarrantyBody>,
) -> Result<(StatusCode, Json<WarrantyRecord>), ApiError> {
    let by = who.user();
    check(&body)?;
    let now = Timestamp::now();
    let w = Warranty { delivered_on: body.delivered_on, warranty_until: body.warranty_until };
    let plans = warranty::plan(&state.rules.get().calendar, &state.config.warranty, &w, now)
        .map_err(|e| ApiError::unprocessable("invalid_field", e.to_string()))?;
    let phone = &body.customer_phone;
    let product = body.product.trim().to_owned();
    let callbacks: Vec<(u32, Date, TaskDraft)> = plans
        .iter()
        .map(|p| {
            let kind = TaskKind::WarrantyCallback;
            let plan = state.rules.get().plan(kind, now, None, Some(p.deadline));
            let reason = Some(format!(
                "warranty callback, day {} after delivery of {product} on {}: ask how it works, note any problem",
                p.days_after, body.delivered_on
            ));
            let row = TaskDraft::new(&state.rules.get(), kind, plan, phone.clone(), reason, now, by);
            (p.days_after, p.day, TaskDraft { not_before: p.not_before.filter(|t| *t > now), ..row })
        })
        .collect();
    super::customers::name_from_intake(&state, phone, body.customer_name.as_deref(), by).await?;
    let stored = NewWarranty {
        id: uuid::Uuid::now_v7().to_string(),
        customer_phone: phone.clone(),
        product,
        serial_number: body.serial_number.clone(),
        delivered_on: body.delivered_on,
        warranty_until: body.warranty_until,
        at: now,
        by,
        callbacks,
    };
    let tasks: Vec<TaskDraft> = stored.callbacks.iter().map(|(_, _, t)| t.clone()).collect();
    intake::store_then_dispatch(&state.hub, &state.rules.get(), &tasks, async {
        state.store.add_warranty(&stored).await.map(|()| true)
    })
    .await?;
    tracing::info!(warranty = %stored.id, callbacks = tasks.len(), "warranty recorded");
    let record = state.store.warranties(Some(phone)).await?.into_iter().find(|w| w.id == stored.id);
    let record = record.ok_or_else(|| ApiError::internal(&"the warranty just stored is not found"))?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Warranties, newest first (at most 500), each with its callbacks' states.
#[utoipa::path(get, path = "/api/v1/warranties", tag = "tasks", params(ListWarranties),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<WarrantyRecord>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListWarranties>,
) -> Result<Json<Vec<WarrantyRecord>>, ApiError> {
    Ok(Json(state.store.warranties(q.phone.as_ref()).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(add, list))
}
