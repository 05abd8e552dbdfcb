//! The monthly red and black lists of merchants (红黑榜): the month's
//! nominations, and the lists a supervisor confirms from them before the
//! 10th of the next month (每月10日前针对上月的红黑榜评选). Unconfirmed past
//! that day, they are on the supervisors' wallboard as an escalation.

use axum::Json;
use axum::extract::State;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller, text};
use crate::api::state::AppState;
use crate::rules::reports::lists::{self, Nominations};
use crate::runtime::merchant_lists::{month_key, nominations};
use crate::store::ConfirmedLists;

const MAX_NAME_CHARS: usize = 200;
const MAX_LISTED: usize = 500;

#[derive(Serialize, ToSchema)]
pub struct MerchantListsView {
    /// `YYYY-MM`.
    pub month: String,
    /// The lists are confirmed before this day.
    #[schema(value_type = String)]
    pub confirm_before: Date,
    /// Past that day, unconfirmed, with merchants nominated.
    pub overdue: bool,
    /// From the month's ranking, volumes and reply scores (`[cases]`).
    pub nominations: Nominations,
    /// As confirmed, once they are.
    pub confirmed: Option<ConfirmedLists>,
}

/// The lists as confirmed: usually the nominations, as a supervisor edits them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmLists {
    pub red: Vec<String>,
    pub black: Vec<String>,
}

/// `YYYY-MM` of a month that is over, as its first day.
fn past_month(state: &AppState, month: &str) -> Result<Date, ApiError> {
    let bad = || ApiError::unprocessable("invalid_field", "month: expected YYYY-MM");
    if month.len() != 7 {
        return Err(bad());
    }
    let first: Date = format!("{month}-01").parse().map_err(|_| bad())?;
    let today = state.rules.get().calendar.date_of(Timestamp::now());
    if first + 1.month() > today {
        return Err(ApiError::unprocessable("invalid_field", format!("month: {month} is not over yet")));
    }
    Ok(first)
}

async fn view(state: &AppState, month: Date) -> Result<MerchantListsView, ApiError> {
    let nominations = nominations(&state.store, &state.rules.get().calendar, state.config.cases.lists(), month).await?;
    let confirmed = state.store.merchant_lists(&month_key(month)).await?;
    let confirm_before = lists::confirm_before(month);
    let today = state.rules.get().calendar.date_of(Timestamp::now());
    Ok(MerchantListsView {
        month: month_key(month),
        confirm_before,
        overdue: confirmed.is_none() && !nominations.is_empty() && today >= confirm_before,
        nominations,
        confirmed,
    })
}

/// A month's nominations and, once confirmed, its lists.
#[utoipa::path(get, path = "/api/v1/merchant-lists/{month}", tag = "reports", params(("month" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = MerchantListsView), (status = 422, body = ErrorBody)))]
pub async fn get_lists(
    State(state): State<AppState>,
    ApiPath(month): ApiPath<String>,
) -> Result<Json<MerchantListsView>, ApiError> {
    let month = past_month(&state, &month)?;
    Ok(Json(view(&state, month).await?))
}

/// Confirm a month's red and black lists (again, to change them).
#[utoipa::path(put, path = "/api/v1/merchant-lists/{month}", tag = "reports", params(("month" = String, Path)),
    request_body = ConfirmLists, security(("bearer" = [])),
    responses((status = 200, body = MerchantListsView), (status = 422, body = ErrorBody)))]
pub async fn confirm_lists(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(month): ApiPath<String>,
    ApiJson(req): ApiJson<ConfirmLists>,
) -> Result<Json<MerchantListsView>, ApiError> {
    let first = past_month(&state, &month)?;
    let clean = |field: &str, names: Vec<String>| -> Result<Vec<String>, ApiError> {
        if names.len() > MAX_LISTED {
            return Err(ApiError::unprocessable("invalid_field", format!("{field}: at most {MAX_LISTED}")));
        }
        names.iter().map(|n| text(field, n, MAX_NAME_CHARS)).collect()
    };
    let (red, black) = (clean("red", req.red)?, clean("black", req.black)?);
    if let Some(both) = red.iter().find(|m| black.contains(m)) {
        return Err(ApiError::unprocessable("invalid_field", format!("{both}: on both lists")));
    }
    let lists = ConfirmedLists { red, black, confirmed_by: caller.id(), confirmed_at: Timestamp::now() };
    state.store.confirm_merchant_lists(&month_key(first), &lists).await?;
    tracing::info!(month = %month_key(first), by = %caller.id(), "merchant lists confirmed");
    Ok(Json(view(&state, first).await?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_lists, confirm_lists))
}
