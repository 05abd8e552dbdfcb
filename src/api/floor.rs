//! Queues and the kinds of work.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{Channel, TaskKind};
use crate::rules::dispatch::{QueueStats, SkillLevel};

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
    /// Who may take a waiting task first: each step's wanted levels and
    /// seconds; after the last, anyone serving the queue.
    pub steps: Vec<StepView>,
}

/// One routing step of a kind.
#[derive(Serialize, ToSchema)]
pub struct StepView {
    pub wants: Vec<SkillLevel>,
    pub wait_secs: i64,
}

/// Every kind of work: the built-in ones, then the centre's own.
#[utoipa::path(get, path = "/api/v1/kinds", tag = "floor", security(("bearer" = [])),
    responses((status = 200, body = Vec<KindView>), (status = 401, body = ErrorBody)))]
pub async fn list_kinds(State(state): State<AppState>, _caller: Caller) -> Json<Vec<KindView>> {
    let rules = &state.rules.get();
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
            steps: r
                .steps
                .iter()
                .map(|s| StepView {
                    wants: s
                        .wants
                        .iter()
                        .map(|&(q, level)| SkillLevel { skill: rules.queue_name(q).to_owned(), level })
                        .collect(),
                    wait_secs: s.wait.as_secs(),
                })
                .collect(),
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

/// A queue's waiting work and how long a caller arriving now would wait.
#[derive(Serialize, ToSchema)]
pub struct QueueWaitView {
    pub queue: String,
    pub waiting: u32,
    /// Whole seconds; absent when nobody able to take the work is at work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_wait_secs: Option<u32>,
    /// When the estimate was made (four times a second, less often on a very long queue).
    pub as_of: Option<jiff::Timestamp>,
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitFormat {
    /// `text`: only the seconds as plain text (empty when unknown), for a
    /// PBX dialplan that says the number.
    pub format: Option<String>,
}

/// The wait of a caller arriving now in this queue, for the PBX to
/// announce before it sends the call, or for any screen.
#[utoipa::path(get, path = "/api/v1/queues/{name}/wait", tag = "floor", params(("name" = String, Path), WaitFormat),
    security(("bearer" = [])),
    responses((status = 200, content((QueueWaitView = "application/json"), (String = "text/plain"))),
        (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn queue_wait(
    State(state): State<AppState>,
    _who: Principal,
    ApiPath(name): ApiPath<String>,
    ApiQuery(format): ApiQuery<WaitFormat>,
) -> Result<Response, ApiError> {
    if state.rules.get().queue_index(&name).is_none() {
        return Err(ApiError::not_found("queue"));
    }
    let (q, at) = state.planning.queue(&name).unwrap_or_default();
    match format.format.as_deref() {
        None | Some("json") => Ok(Json(QueueWaitView {
            queue: name,
            waiting: q.waiting,
            estimated_wait_secs: q.estimated_wait_secs,
            as_of: at,
        })
        .into_response()),
        Some("text") => {
            let body = q.estimated_wait_secs.map(|s| s.to_string()).unwrap_or_default();
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
        }
        Some(_) => Err(ApiError::bad_request("invalid_format", "format is json or text")),
    }
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_queues)).routes(routes!(queue_wait)).routes(routes!(list_kinds))
}
