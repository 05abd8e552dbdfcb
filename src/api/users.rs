//! User administration (admins): create, list, change (role, skills, SIP
//! URI, disabled), reset a password, delete. Each change takes effect at
//! once on the user's tokens and open sockets, and on the dispatcher, here
//! and on every node (`crate::auth::account_watch`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::CreateUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::api::state::AppState;
use crate::auth::accounts::{self, AccountError};
use crate::domain::{Role, UserId};
use crate::store::{User, UserPatch};

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { .. } => ApiError::unprocessable("invalid_field", e.to_string()),
            AccountError::WeakPassword(_) => ApiError::unprocessable("weak_password", e.to_string()),
            AccountError::Taken("work_number") => {
                ApiError::conflict("work_number_taken", "another account has this work number")
            }
            AccountError::Taken(_) => ApiError::conflict("username_taken", "username is taken"),
            AccountError::NotFound => ApiError::not_found("user"),
            AccountError::Store(s) => s.into(),
            AccountError::Hashing(p) => p.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    /// A new role ends the user's tokens and sockets.
    pub role: Option<Role>,
    pub display_name: Option<String>,
    /// The work number (工号), 1-10 digits or letters; `null` removes it.
    #[serde(default, deserialize_with = "super::agents::double_option")]
    #[schema(value_type = Option<String>)]
    pub work_number: Option<Option<String>>,
    /// `null` removes the SIP URI.
    #[serde(default, deserialize_with = "super::agents::double_option")]
    #[schema(value_type = Option<String>)]
    pub sip_uri: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    /// Levels (1-5) by skill, replacing the agent's; a skill left out is level 1.
    pub levels: Option<BTreeMap<String, u8>>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
    /// `true` ends the user's tokens and sockets and refuses logins.
    pub disabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// At least 8 characters and at most 1,024 bytes; not the username, not
    /// containing it, and not one of the most common passwords (else 422
    /// `weak_password` or `password_too_long`).
    pub password: String,
}

/// Applies a change to the running server at once (the watcher would
/// within a second): tokens, sockets, routing.
async fn take_effect(state: &AppState, user: UserId) -> Result<(), ApiError> {
    state.accounts().apply(user).await.map_err(|e| ApiError::internal(&e))
}

/// Create a user of any role (admin only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser, security(("bearer" = [])),
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let role = req.role.ok_or_else(|| ApiError::unprocessable("invalid_field", "role: required"))?;
    Ok((StatusCode::CREATED, Json(super::agents::create(&state, req, role).await?)))
}

/// Every account, the disabled included.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<User>), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, _caller: Caller) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.store.users().await?))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)), security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    state.store.user(id).await?.map(Json).ok_or_else(|| ApiError::not_found("user"))
}

/// Refuses a change that would leave no active admin to manage users.
async fn keep_an_admin(state: &AppState, id: UserId, stays_admin: bool) -> Result<(), ApiError> {
    if stays_admin {
        return Ok(());
    }
    let users = state.store.users().await?;
    let active_admins = users.iter().filter(|u| u.role == Role::Admin && u.disabled_at.is_none());
    if active_admins.clone().count() == 1 && active_admins.clone().any(|u| u.id == id) {
        return Err(ApiError::conflict("last_admin", "this is the last active admin; make another one first"));
    }
    Ok(())
}

/// Change a user: role, display name, SIP URI, skills, capacities, or
/// disable it. Applies at once.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)), request_body = PatchUser,
    security(("bearer" = [])),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`last_admin`"), (status = 422, body = ErrorBody)))]
pub async fn patch_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<PatchUser>,
) -> Result<Json<User>, ApiError> {
    let stays_admin = req.role.is_none_or(|r| r == Role::Admin) && req.disabled != Some(true);
    let current = state.store.user(id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    if current.role == Role::Admin {
        keep_an_admin(&state, id, stays_admin).await?;
    }
    let patch = UserPatch {
        role: req.role,
        display_name: req.display_name,
        work_number: super::agents::work_number_patch(req.work_number)?,
        sip_uri: req.sip_uri,
        skills: req.skills,
        levels: req.levels,
        voice_capacity: req.voice_capacity,
        back_office_capacity: req.back_office_capacity,
        disabled: req.disabled,
    };
    let user = accounts::update(&state.store, &state.rules.get(), id, patch).await?;
    take_effect(&state, id).await?;
    tracing::info!(user = %user.username, by = %caller.id(), "user changed");
    Ok(Json(user))
}

/// Set a new password for a user; the user's tokens and sockets end.
#[utoipa::path(put, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = UserId, Path)),
    request_body = ResetPassword, security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(req): ApiJson<ResetPassword>,
) -> Result<StatusCode, ApiError> {
    let user = accounts::set_password(&state.store, id, req.password).await?;
    take_effect(&state, id).await?;
    tracing::info!(user = %user.username, by = %caller.id(), "password reset");
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a user: logins, tokens and sockets end at once; the records of
/// the work they did stay, under their name.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`last_admin`")))]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let user = state.store.user(id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    if user.role == Role::Admin {
        keep_an_admin(&state, id, false).await?;
    }
    accounts::delete(&state.store, id).await?;
    take_effect(&state, id).await?;
    tracing::info!(user = %user.username, by = %caller.id(), "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, patch_user, delete_user))
        .routes(routes!(reset_password))
}
