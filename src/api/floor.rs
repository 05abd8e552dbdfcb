//! Queues and the kinds of work.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use crate::api::state::AppState;
use crate::domain::{Channel, TaskKind};
use crate::rules::dispatch::QueueStats;

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

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_queues)).routes(routes!(list_kinds))
}
