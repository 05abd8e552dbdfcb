//! Agents (users who take work) and user administration.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::api::state::AppState;
use crate::auth::accounts::{self, NewAccount};
use crate::domain::{AgentStatus, Role, TaskId, UserId, WorkNumber};
use crate::rules::dispatch::{AgentView, Command};
use crate::store::{User, UserPatch};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    /// At least 8 characters and at most 1,024 bytes; not the username, not
    /// containing it, and not one of the most common passwords (else 422
    /// `weak_password` or `password_too_long`).
    pub password: String,
    /// Defaults to `agent` on `/agents`; required on `/users`.
    pub role: Option<Role>,
    pub display_name: Option<String>,
    /// The work number (工号) the agent gives on the phone: 1-10 digits or
    /// letters, such as `010`; unique among accounts (409
    /// `work_number_taken`).
    pub work_number: Option<String>,
    pub sip_uri: Option<String>,
    #[serde(default)]
    pub skills: Vec<String>,
    /// The agent's level in some of its skills, 1 (learning) to 5
    /// (expert); a skill left out is level 1. Routing steps of a task kind
    /// ask for minimum levels.
    #[serde(default)]
    pub levels: BTreeMap<String, u8>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    pub display_name: Option<String>,
    /// The work number (工号); `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub work_number: Option<Option<String>>,
    /// `null` removes the SIP URI.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub sip_uri: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    /// Levels (1-5) by skill, replacing the agent's; a skill left out is
    /// level 1. Applies to the next routing decision.
    pub levels: Option<BTreeMap<String, u8>>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
}

/// A work number set (`Some(Some)`), removed (`Some(None)`) or left alone.
pub(super) fn work_number_patch(raw: Option<Option<String>>) -> Result<Option<Option<WorkNumber>>, ApiError> {
    Ok(match raw {
        Some(Some(w)) => Some(Some(accounts::check_work_number(&w)?)),
        Some(None) => Some(None),
        None => None,
    })
}

pub(super) fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    /// `available`, `offline`, or `break` with a reason.
    #[serde(flatten)]
    pub status: AgentStatus,
}

/// An agent's record with the dispatcher's live view.
#[derive(Serialize, ToSchema)]
pub struct AgentInfo {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    #[schema(value_type = Option<String>)]
    pub work_number: Option<WorkNumber>,
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    /// Levels above 1, by skill.
    pub levels: BTreeMap<String, u8>,
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
    #[serde(flatten)]
    pub status: AgentStatus,
    pub status_since: Timestamp,
    pub connected: bool,
    pub tasks: Vec<TaskId>,
    pub missed_offers_in_a_row: u32,
    /// In the last minutes of a shift or past its end: offered nothing new.
    pub winding_down: bool,
    /// In the answer to a status change only: queues the break or going
    /// offline left with nobody online in working hours (hand over first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_uncovered: Vec<String>,
}

fn agent_info(user: User, live: Option<&AgentView>) -> AgentInfo {
    AgentInfo {
        id: user.id,
        username: user.username,
        role: user.role,
        display_name: user.display_name,
        work_number: user.work_number,
        sip_uri: user.sip_uri,
        skills: user.skills,
        levels: user.levels,
        voice_capacity: user.voice_capacity,
        back_office_capacity: user.back_office_capacity,
        status: live.map_or(user.status, |l| l.status.clone()),
        status_since: live.map_or(user.status_since, |l| l.status_since),
        connected: live.is_some_and(|l| l.connected),
        tasks: live.map(|l| l.tasks.clone()).unwrap_or_default(),
        missed_offers_in_a_row: live.map_or(0, |l| l.missed_offers_in_a_row),
        winding_down: live.is_some_and(|l| l.winding_down),
        left_uncovered: Vec::new(),
    }
}

pub(super) async fn create(state: &AppState, req: CreateUser, role: Role) -> Result<User, ApiError> {
    let account = NewAccount {
        username: req.username,
        password: req.password,
        role,
        display_name: req.display_name,
        work_number: req.work_number,
        sip_uri: req.sip_uri,
        skills: req.skills,
        levels: req.levels,
        voice_capacity: req.voice_capacity,
        back_office_capacity: req.back_office_capacity,
    };
    let user =
        accounts::create(&state.store, &state.rules.get(), state.config.dispatch.default_back_office_capacity, account)
            .await?;
    state.accounts().apply(user.id).await.map_err(|e| ApiError::internal(&e))?;
    tracing::info!(user = %user.username, role = %user.role, "user created");
    Ok(user)
}

/// Create an agent (admin only); the role defaults to `agent`.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let role = req.role.unwrap_or(Role::Agent);
    if !role.takes_work() {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "role: an agent is `agent` or `dispatcher`; use /api/v1/users",
        ));
    }
    Ok((StatusCode::CREATED, Json(create(&state, req, role).await?)))
}

/// Every agent and dispatcher with live status.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = Vec<AgentInfo>), (status = 403, body = ErrorBody)))]
pub async fn list_agents(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<AgentInfo>>, ApiError> {
    let users = state.store.users().await?;
    let live = state.hub.query(|d, _| d.agents_view()).await?;
    let agents = users
        .into_iter()
        .filter(User::routable)
        .map(|u| {
            let view = live.iter().find(|v| v.id == u.id);
            agent_info(u, view)
        })
        .collect();
    Ok(Json(agents))
}

/// One agent with live status (agents may read only themselves).
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = UserId, Path)), security(("bearer" = [])),
    responses((status = 200, body = AgentInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<AgentInfo>, ApiError> {
    // Dispatchers see every agent, as on the list; agents only themselves.
    if caller.role() == Role::Agent {
        caller.require_self_or_oversight(id)?;
    }
    agent_response(&state, id).await
}

/// The user `id` if it takes work (an agent or a dispatcher, not
/// disabled), else 404.
pub(super) async fn find_agent(state: &AppState, id: UserId) -> Result<User, ApiError> {
    state.store.user(id).await?.filter(User::routable).ok_or_else(|| ApiError::not_found("agent"))
}

async fn agent_response(state: &AppState, id: UserId) -> Result<Json<AgentInfo>, ApiError> {
    let user = find_agent(state, id).await?;
    let live = state.hub.query(move |d, _| d.agents_view().into_iter().find(|v| v.id == id)).await?;
    Ok(Json(agent_info(user, live.as_ref())))
}

/// Change an agent's profile (supervisor or admin); routing follows at once.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", params(("id" = UserId, Path)), request_body = UpdateAgent,
    security(("bearer" = [])),
    responses((status = 200, body = AgentInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<UpdateAgent>,
) -> Result<Json<AgentInfo>, ApiError> {
    let patch = UserPatch {
        display_name: req.display_name,
        work_number: work_number_patch(req.work_number)?,
        sip_uri: req.sip_uri,
        skills: req.skills,
        levels: req.levels,
        voice_capacity: req.voice_capacity,
        back_office_capacity: req.back_office_capacity,
        ..UserPatch::default()
    };
    let user = find_agent(&state, id).await?;
    accounts::update(&state.store, &state.rules.get(), user.id, patch).await?;
    state.accounts().apply(id).await.map_err(|e| ApiError::internal(&e))?;
    agent_response(&state, id).await
}

/// Set an agent's status: the agent itself, or a supervisor freeing a stuck agent.
#[utoipa::path(put, path = "/api/v1/agents/{id}/status", tag = "agents", params(("id" = UserId, Path)), request_body = SetStatus,
    security(("bearer" = [])),
    responses((status = 200, body = AgentInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<SetStatus>,
) -> Result<Json<AgentInfo>, ApiError> {
    caller.require_self_or_oversight(id)?;
    find_agent(&state, id).await?;
    // An agent's own request waits for the end of a call; a supervisor's
    // applies at once, to free an agent stuck in a state.
    let uncovered = state.hub.left_uncovered(id, &req.status).await;
    let cmd = if caller.id() == id {
        state.status_change_allowed(id)?;
        Command::SetStatus { agent: id, status: req.status }
    } else {
        Command::ForceStatus { agent: id, status: req.status }
    };
    state.hub.command(cmd).await?;
    tracing::info!(agent = %id, by = %caller.id(), "status set over REST");
    let Json(mut info) = agent_response(&state, id).await?;
    info.left_uncovered = uncovered;
    Ok(Json(info))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent, list_agents))
        .routes(routes!(get_agent, update_agent))
        .routes(routes!(set_status))
}
