//! Extractors that turn every rejection into an [`ApiError`], and the
//! authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jiff::Timestamp;

use super::error::ApiError;
use crate::auth::{AuthError, Claims};
use crate::domain::{Role, UserId};
use crate::server::AppState;

/// A required text field, trimmed: 1 to `max` characters, or 422 naming the field.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::unprocessable("invalid_field", format!("{field}: 1-{max} characters")));
    }
    Ok(value.to_owned())
}

/// An optional text field: absent or blank is `None`, otherwise as [`text`].
pub fn optional_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    value.filter(|v| !v.trim().is_empty()).map(|v| text(field, &v, max)).transpose()
}

/// `axum::Json` with errors in the API's shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(ApiJson(axum::Json::<T>::from_request(req, state).await?.0))
    }
}

/// `axum::extract::Path` with errors in the API's shape.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    axum::extract::Path<T>: FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(ApiPath(axum::extract::Path::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// `axum::extract::Query` with errors in the API's shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(ApiQuery(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// The caller, proven by `Authorization: Bearer <token>`.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Claims);

impl Caller {
    pub fn id(&self) -> UserId {
        self.0.user
    }
    pub fn role(&self) -> Role {
        self.0.role
    }
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!("this needs the role {}", names.join(" or "))))
        }
    }
    /// Refuses with 403 unless the caller is `user` or oversees others.
    pub fn require_self_or_oversight(&self, user: UserId) -> Result<(), ApiError> {
        if self.0.user == user || self.0.role.oversees() {
            Ok(())
        } else {
            Err(ApiError::forbidden("you may act only on your own work"))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_headers(&parts.headers, state)
    }
}

impl Caller {
    /// The user named by the request's bearer token.
    pub fn from_headers(headers: &axum::http::HeaderMap, state: &AppState) -> Result<Caller, ApiError> {
        let header = headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token> from POST /api/v1/login"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))?;
        match state.auth.verify_token(token.trim(), Timestamp::now()) {
            Ok(claims) => Ok(Caller(claims)),
            Err(AuthError::Expired) => Err(ApiError::unauthorized("token expired; log in again")),
            Err(_) => Err(ApiError::unauthorized("invalid token")),
        }
    }
}
