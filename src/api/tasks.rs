//! Tasks: create, list, read, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{Phone, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Command;
use crate::rules::dispatch::TaskDraft;
use crate::runtime::intake;
use crate::store::{TaskFilter, TaskRecord};

const MAX_REASON_CHARS: usize = 2000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub kind: TaskKind,
    #[schema(value_type = String, example = "13800138000")]
    pub customer_phone: Phone,
    /// Why the task exists, shown to the agent.
    pub reason: Option<String>,
    /// Overrides the kind's default deadline.
    pub deadline: Option<Timestamp>,
    /// Overrides the kind's priority (0-255, higher first).
    pub priority: Option<u8>,
    /// Stored in the CRM when given.
    pub customer_name: Option<String>,
    /// Offered to no one before this time: the task is `scheduled` until
    /// then (a time already past means at once).
    pub not_before: Option<Timestamp>,
    /// Kept for this agent for `[routing] wait_for_preferred_secs`, then
    /// anyone serving the queue may take it. Agents may name only
    /// themselves.
    pub prefer_agent: Option<UserId>,
    /// Never offered to this agent (a customer to be called back by
    /// another agent). Agents may name only themselves.
    pub avoid_agent: Option<UserId>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListTasks {
    pub status: Option<TaskStatus>,
    pub kind: Option<TaskKind>,
    /// Only tasks offered to, held or closed by this agent. Agents always see only their own.
    pub agent: Option<UserId>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Create a task; the dispatcher offers it at once if an agent is free, or
/// from `not_before` on.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = CreateTask, security(("bearer" = [])),
    responses((status = 201, body = TaskRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<TaskRecord>), ApiError> {
    if req.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::unprocessable(
            "reason_too_long",
            format!("reason is limited to {MAX_REASON_CHARS} characters"),
        ));
    }
    let now = Timestamp::now();
    if !state.rules.get().knows(req.kind) {
        // A kind of the centre's own named in the store, since removed.
        return Err(ApiError::unprocessable("unknown_kind", format!("kind: `{}` is not configured", req.kind)));
    }
    if caller.role().takes_work() {
        may_create(&state, &req, now)?;
    }
    if req.deadline.is_some_and(|d| d <= now) {
        return Err(ApiError::unprocessable("deadline_in_past", "deadline must be in the future"));
    }
    let not_before = req.not_before.filter(|t| *t > now);
    if let (Some(start), Some(deadline)) = (not_before, req.deadline)
        && start > deadline
    {
        return Err(ApiError::unprocessable("not_before_after_deadline", "not_before must not be after the deadline"));
    }
    let plan = state.rules.get().plan(req.kind, now, req.priority, req.deadline);
    let planned = TaskDraft::new(
        &state.rules.get(),
        req.kind,
        plan,
        req.customer_phone.clone(),
        req.reason.clone(),
        now,
        Some(caller.id()),
    );
    let reserved = req.prefer_agent.map(|agent| state.rules.get().stickiness.prefer(agent, not_before.unwrap_or(now)));
    let mut row = TaskDraft { not_before, reserved, avoid_agent: req.avoid_agent, ..planned };
    agents_named(&state, &caller, &req).await?;
    intake::stick_to_last_agents(&state.store, &state.rules.get().stickiness, std::slice::from_mut(&mut row), now)
        .await?;
    super::customers::name_from_intake(&state, &req.customer_phone, req.customer_name.as_deref(), Some(caller.id()))
        .await?;
    let id = row.id;
    let drafts = [row];
    intake::store_then_dispatch(&state.hub, &state.rules.get(), &drafts, async {
        state.store.insert_task(&drafts[0]).await.map(|()| true)
    })
    .await?;
    match not_before {
        // The scheduler hands it to the dispatcher when the time comes.
        Some(start) => tracing::info!(task = %id, kind = %req.kind, %start, "task scheduled"),
        None => tracing::info!(task = %id, kind = %req.kind, "task created"),
    }
    Ok((StatusCode::CREATED, Json(live_view(&state, id).await?)))
}

/// `prefer_agent` and `avoid_agent` name agents who take work, two
/// different ones, and an agent names only themselves.
async fn agents_named(state: &AppState, caller: &Caller, req: &CreateTask) -> Result<(), ApiError> {
    if req.prefer_agent.is_some() && req.prefer_agent == req.avoid_agent {
        return Err(ApiError::unprocessable("invalid_field", "prefer_agent and avoid_agent name the same agent"));
    }
    for (field, agent) in [("prefer_agent", req.prefer_agent), ("avoid_agent", req.avoid_agent)] {
        let Some(agent) = agent else { continue };
        if caller.role().takes_work() && agent != caller.id() {
            let message = format!("{field}: agents may name only themselves");
            return Err(ApiError::not_your_work(message).with_code("agent_not_allowed"));
        }
        if !state.store.user(agent).await?.is_some_and(|u| u.routable()) {
            return Err(ApiError::unprocessable("invalid_field", format!("{field}: no agent with this id takes work")));
        }
    }
    Ok(())
}

/// What agents and dispatchers may create themselves (`[access]
/// agent_task_kinds`): a listed kind, at its own priority, due no earlier
/// than the kind's default deadline. The rest is made by the centre's
/// rules or by supervisors.
fn may_create(state: &AppState, req: &CreateTask, now: Timestamp) -> Result<(), ApiError> {
    if !state.config.access.agent_task_kinds.contains(&req.kind) {
        let kinds: Vec<&str> = state.config.access.agent_task_kinds.iter().map(|k| k.as_str()).collect();
        let message = format!("agents may create only {} tasks", kinds.join(", "));
        return Err(ApiError::not_your_work(message).with_code("kind_not_allowed"));
    }
    if req.priority.is_some() {
        return Err(ApiError::not_your_work("only supervisors set a task's priority").with_code("priority_not_allowed"));
    }
    let default = state.rules.get().plan(req.kind, now, None, None).deadline;
    if let (Some(asked), Some(default)) = (req.deadline, default)
        && asked < default
    {
        return Err(ApiError::not_your_work(format!("the deadline may not be earlier than the kind's ({default})"))
            .with_code("deadline_not_allowed"));
    }
    Ok(())
}

/// List tasks, newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(ListTasks), security(("bearer" = [])),
    responses((status = 200, body = Vec<TaskRecord>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListTasks>,
) -> Result<Json<Vec<TaskRecord>>, ApiError> {
    let agent = if caller.role().takes_work() { Some(caller.id()) } else { q.agent };
    let filter = TaskFilter { status: q.status, kind: q.kind, agent, limit: q.limit.unwrap_or(100).clamp(1, 1000) };
    let mut tasks = state.store.tasks(&filter).await?;
    let now = Timestamp::now();
    tasks.iter_mut().for_each(|t| t.mark_overdue(now));
    Ok(Json(tasks))
}

/// One task with every attempt and event.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = TaskId, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaskRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<TaskRecord>, ApiError> {
    let task = live_view(&state, id).await?;
    if caller.role().takes_work() {
        let involved = task.agent_id == Some(caller.id())
            || task.created_by == Some(caller.id())
            || task.attempts.iter().any(|a| a.agent_id == caller.id());
        if !involved {
            return Err(ApiError::not_your_work("agents see only tasks they were given or created"));
        }
    }
    let mut task = task;
    if matches!(task.status, TaskStatus::Waiting | TaskStatus::Offered) {
        task.wait = state.planning.task(id);
    }
    Ok(Json(task))
}

/// Cancel a task that is not closed yet. Its agent, if any, is told at once.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "tasks", params(("id" = TaskId, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = TaskRecord), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<TaskRecord>, ApiError> {
    let task = state.store.task(id).await?.ok_or_else(|| ApiError::not_found("task"))?;
    if task.status.is_terminal() {
        return Err(ApiError::conflict("task_closed", format!("the task is already {}", task.status)));
    }
    // Still scheduled, it is in the store only; else (or if the scheduler
    // released it just now) the dispatcher closes it.
    if task.status != TaskStatus::Scheduled
        || !state.store.cancel_scheduled(id, Timestamp::now(), Some(caller.id())).await?
    {
        state.hub.command(Command::CancelTask { task: id }).await?;
    }
    tracing::info!(task = %id, by = %caller.id(), "task cancelled");
    Ok(Json(live_view(&state, id).await?))
}

/// A task as it stands now: its status, agent and history as of every
/// decision the dispatcher has made so far.
pub async fn live_view(state: &AppState, id: TaskId) -> Result<TaskRecord, ApiError> {
    // One story: every record the dispatcher has made is stored first, and
    // the status, the agent and the history are then read together from
    // the store. Status from the live dispatcher beside history from SQL
    // could show an offer to one agent with the events of the one before.
    state.hub.flush().await?;
    let mut task = state.store.task(id).await?.ok_or_else(|| ApiError::not_found("task"))?;
    task.mark_overdue(Timestamp::now());
    Ok(task)
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_task, list_tasks)).routes(routes!(get_task)).routes(routes!(cancel_task))
}
