//! Logging in and out, the WebSocket ticket, who am I, and my password.
//!
//! A login is refused before any password check when its client address
//! or its username has failed too often lately (429 with `Retry-After`,
//! `crate::auth::limiter`), the same way whether the user exists or not;
//! the check itself runs in the bounded password pool (503 `busy` when it
//! is full), and an unknown name is checked against a decoy hash, so a
//! wrong name takes as long as a wrong password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller, ClientIp};
use crate::api::state::AppState;
use crate::auth::accounts;
use crate::auth::passwords::{self, MAX_PASSWORD_BYTES};
use crate::auth::{AuthError, PoolError};
use crate::metrics::Limited;
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    /// At least 8 characters and at most 1,024 bytes; not the username, not
    /// containing it, and not one of the most common passwords (else 422
    /// `weak_password` or `password_too_long`).
    pub new_password: String,
}

impl From<PoolError> for ApiError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Busy => ApiError::busy(),
            PoolError::Failed => ApiError::internal(&e),
        }
    }
}

/// Checks `password` against `user` (or a decoy when there is none) in
/// the password pool, within the failure limits of `client`. `Ok(None)`:
/// wrong, and counted.
async fn check_password(
    state: &AppState,
    client: std::net::IpAddr,
    username: &str,
    user: Option<&User>,
    password: String,
) -> Result<bool, ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::unprocessable(
            "password_too_long",
            format!("password: at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let now = Timestamp::now().as_millisecond();
    if let Err(wait) = state.login_limits.lock().expect("login limits lock").check(client, username, now) {
        state.metrics.rate_limited(Limited::Login);
        return Err(ApiError::rate_limited("too many failed logins; wait before trying again", wait));
    }
    let hash = user.map_or_else(|| state.decoy_hash.clone(), |u| u.password_hash.clone());
    let checked = passwords::pool().verify(password, hash).await;
    if checked == Err(PoolError::Busy) {
        state.metrics.rate_limited(Limited::PasswordPool);
    }
    let ok = checked? && user.is_some();
    let mut limits = state.login_limits.lock().expect("login limits lock");
    if ok {
        limits.succeed(username);
    } else {
        limits.fail(client, username, Timestamp::now().as_millisecond());
    }
    Ok(ok)
}

/// Trade a username and password for a short-lived bearer token.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody,
        description = "`account_disabled`"), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`rate_limited`, with Retry-After"),
        (status = 503, body = ErrorBody, description = "`busy`, with Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if req.username.len() > 64 {
        return Err(ApiError::unauthorized("invalid username or password"));
    }
    let user = state.store.user_by_name(&req.username).await?;
    if !check_password(&state, client, &req.username, user.as_ref(), req.password).await? {
        tracing::info!(user = %req.username, %client, "login refused: wrong username or password");
        return Err(ApiError::unauthorized("invalid username or password"));
    }
    let user = user.expect("a right password belongs to a user");
    if user.disabled_at.is_some() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled", "this account is disabled"));
    }
    state.auth.set_standing(user.id, Some(accounts::standing(&user)));
    let (token, claims) = state.auth.issue_token(user.id, user.role, Timestamp::now());
    tracing::info!(user = %user.username, %client, "logged in");
    Ok(Json(LoginResponse { token, expires_at: claims.expires_at, user }))
}

/// End this token (and the sockets opened with it) on every node.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let claims = caller.0;
    let now = Timestamp::now();
    state.store.revoke_token(&claims.token.to_string(), claims.user, claims.expires_at, now).await?;
    state.auth.revoke(claims.token, claims.expires_at, now);
    tracing::info!(user = %claims.user, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time ticket for opening a WebSocket (`GET /ws`, `GET /ws/wallboard`).
#[utoipa::path(post, path = "/api/v1/ws-ticket", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`too_many_tickets`: use the ones already issued")))]
pub async fn ws_ticket(State(state): State<AppState>, caller: Caller) -> Result<Json<TicketResponse>, ApiError> {
    match state.auth.issue_ticket(caller.0, Timestamp::now()) {
        Ok((ticket, expires_at)) => Ok(Json(TicketResponse { ticket, expires_at })),
        Err(AuthError::TooManyTickets) => {
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_tickets", AuthError::TooManyTickets.to_string())
                .with_retry_after(state.config.auth.ws_ticket_ttl_secs))
        }
        Err(e) => Err(ApiError::internal(&e)),
    }
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<User>, ApiError> {
    let user =
        state.store.user(caller.id()).await?.ok_or_else(|| ApiError::session_ended("the account was deleted"))?;
    Ok(Json(user))
}

/// Change one's own password. Every token of the account ends, this one
/// included; the answer carries a new one.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "session", request_body = ChangePassword,
    security(("bearer" = [])),
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`wrong_password`"), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<ChangePassword>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user =
        state.store.user(caller.id()).await?.ok_or_else(|| ApiError::session_ended("the account was deleted"))?;
    if !check_password(&state, client, &user.username, Some(&user), req.current_password).await? {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "current_password is not right"));
    }
    accounts::set_password(&state.store, user.id, req.new_password).await?;
    state.accounts().apply(user.id).await.map_err(|e| ApiError::internal(&e))?;
    let user = state.store.user(user.id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    let (token, claims) = state.auth.issue_token(user.id, user.role, Timestamp::now());
    tracing::info!(user = %user.username, "password changed");
    Ok(Json(LoginResponse { token, expires_at: claims.expires_at, user }))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(ws_ticket))
        .routes(routes!(me))
        .routes(routes!(change_password))
}
