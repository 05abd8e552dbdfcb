//! Logging in, the WebSocket ticket, and who am I.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::auth;
use crate::server::AppState;
use crate::store::User;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: Timestamp,
    pub user: User,
}

#[derive(Serialize, ToSchema)]
pub struct TicketResponse {
    /// Send `{"type": "auth", "ticket": "..."}` as the first WebSocket frame.
    pub ticket: String,
    pub expires_at: Timestamp,
}

/// Trade a username and password for a short-lived bearer token.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user = state.store.user_by_name(&req.username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| state.decoy_hash.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::unauthorized("invalid username or password"));
    };
    let (token, expires_at) = state.auth.issue_token(user.id, user.role, Timestamp::now());
    tracing::info!(user = %user.username, "logged in");
    Ok(Json(LoginResponse { token, expires_at, user }))
}

/// A one-time ticket for opening the agent WebSocket (`GET /ws`).
#[utoipa::path(post, path = "/api/v1/ws-ticket", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = 401, body = ErrorBody)))]
pub async fn ws_ticket(State(state): State<AppState>, caller: Caller) -> Json<TicketResponse> {
    let (ticket, expires_at) = state.auth.issue_ticket(caller.id(), caller.role(), Timestamp::now());
    Json(TicketResponse { ticket, expires_at })
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<User>, ApiError> {
    let user =
        state.store.user(caller.id()).await?.ok_or_else(|| ApiError::unauthorized("this user no longer exists"))?;
    Ok(Json(user))
}
