//! Recurring work as agents see and report it: today's items with their
//! counts (`[[recurring]]`), and how many are done. The console shows them
//! with their progress.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::store::RecurringWork;

/// The most one item may count done.
const MAX_DONE: u32 = 10_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListWork {
    /// The first day, `YYYY-MM-DD` (default today).
    #[param(value_type = Option<String>)]
    pub day: Option<Date>,
    /// The last day (default the first); at most 62 days.
    #[param(value_type = Option<String>)]
    pub to: Option<Date>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// How many are done so far (not an increment: sending it twice is safe).
    pub done: u32,
}

/// Recurring work of a day (or days): an agent's own and their queues',
/// everyone's for supervisors and admins.
#[utoipa::path(get, path = "/api/v1/recurring-work", tag = "agents", params(ListWork), security(("bearer" = [])),
    responses((status = 200, body = Vec<RecurringWork>), (status = 422, body = ErrorBody)))]
pub async fn list_work(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListWork>,
) -> Result<Json<Vec<RecurringWork>>, ApiError> {
    let first = q.day.unwrap_or_else(|| state.rules.get().calendar.date_of(Timestamp::now()));
    let last = q.to.unwrap_or(first);
    if last < first || (last - first).get_days() > 62 {
        return Err(ApiError::unprocessable("invalid_field", "to: from `day` to at most 62 days after"));
    }
    let agent = (!caller.role().oversees()).then(|| caller.id());
    let mut work = state.store.recurring_work(first, last, agent).await?;
    if let Some(agent) = agent {
        // The queue's items only for the queues the agent serves.
        let skills = state.store.user(agent).await?.map(|u| u.skills).unwrap_or_default();
        work.retain(|w| w.agent_id.is_some() || skills.contains(&w.queue));
    }
    Ok(Json(work))
}

/// Report how many of an item are done (the agent it is for, any agent for
/// the queue's, supervisors and admins).
#[utoipa::path(put, path = "/api/v1/recurring-work/{id}/done", tag = "agents", params(("id" = String, Path)),
    request_body = Progress, security(("bearer" = [])),
    responses((status = 200, body = RecurringWork), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn report_done(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<Progress>,
) -> Result<Json<RecurringWork>, ApiError> {
    let item = state.store.recurring_item(&id).await?.ok_or_else(|| ApiError::not_found("recurring work"))?;
    match item.agent_id {
        Some(agent) => caller.require_self_or_oversight(agent)?,
        None if caller.role().oversees() => {}
        None => {
            let skills = state.store.user(caller.id()).await?.map(|u| u.skills).unwrap_or_default();
            if !skills.contains(&item.queue) {
                return Err(ApiError::not_your_work("the work of a queue you do not serve"));
            }
        }
    }
    if req.done > MAX_DONE {
        return Err(ApiError::unprocessable("invalid_field", format!("done: 0-{MAX_DONE}")));
    }
    state.store.set_recurring_done(&id, req.done, caller.id(), Timestamp::now()).await?;
    tracing::info!(work = %id, done = req.done, by = %caller.id(), "recurring work progress");
    Ok(Json(state.store.recurring_item(&id).await?.ok_or_else(|| ApiError::not_found("recurring work"))?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_work)).routes(routes!(report_done))
}
