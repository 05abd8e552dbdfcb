//! `GET /api/v1/reports/{daily|weekly|monthly}`: the managers' reports, as
//! JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::ReportPeriod;
use crate::rules::reports::{self, Report};
use crate::runtime::planning::{self, PlanningSettings};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// A day of the period, `YYYY-MM-DD` in the centre's time zone; today
    /// when left out. Weeks run Monday to Sunday.
    pub date: Option<String>,
    /// `json` (the default) or `csv`; `Accept: text/csv` also gives CSV.
    pub format: Option<String>,
}

/// A daily, weekly or monthly report (supervisors and admins). A period
/// under way is reported up to now.
#[utoipa::path(get, path = "/api/v1/reports/{period}", tag = "reports", operation_id = "get_report",
    params(("period" = String, Path, description = "daily, weekly or monthly"), ReportQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "JSON, or CSV (section,item,metric,value) with format=csv",
            content((Report = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody, description = "unknown period or format, malformed date, or a date out of range"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(period): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let period: ReportPeriod = period
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_period", "the report is daily, weekly or monthly"))?;
    let csv = match q.format.as_deref() {
        None => headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/csv")),
        Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_request("invalid_format", "format is json or csv")),
    };
    let now = Timestamp::now();
    let calendar = &state.rules.get().calendar;
    let today = calendar.date_of(now);
    let date = match q.date.as_deref() {
        None => today,
        Some(raw) => raw
            .parse::<Date>()
            .map_err(|_| ApiError::bad_request("invalid_date", format!("date: {raw:?} is not a YYYY-MM-DD date")))?,
    };
    let days = reports::period_dates(period, date, today)
        .map_err(|e| ApiError::bad_request("date_out_of_range", e.to_string()))?;
    let bounds = reports::period_bounds(calendar, days.0, days.1, now);
    let mut inputs = state.store.report_inputs(bounds.0, bounds.1, days).await?;
    inputs.call_length = state.config.calls.clone();
    let lists = state.config.cases.lists();
    let mut report = reports::build(period, days, bounds, calendar, state.config.figures.clone(), lists, inputs);
    if period == ReportPeriod::Daily {
        let settings =
            PlanningSettings::of(&state.config.planning, &state.config.figures, state.config.shifts.wind_down_minutes);
        let wrap = state.rules.get().wrap_up.as_secs_f64();
        report.staffing = planning::review(&state.store, calendar, &settings, wrap, days.0).await?;
    }
    if !csv {
        return Ok(Json(report).into_response());
    }
    let mut resp = (StatusCode::OK, reports::csv::render(&report)).into_response();
    let name = format!("attachment; filename=\"switchboard-{}-{}.csv\"", report.period.as_str(), report.first_day);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).expect("an ASCII file name"));
    Ok(resp)
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report))
}
