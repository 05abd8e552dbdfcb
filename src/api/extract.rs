//! Extractors that turn every rejection into an [`ApiError`], and the
//! authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use super::access::Principal;
use super::error::ApiError;
use crate::auth::Claims;
use crate::domain::{Role, UserId};
use crate::listen::ClientAddr;

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

/// The user making the request, as the security matrix established
/// ([`super::access::authorize`]); a route that admits machines only (a
/// PBX, a back office) has no `Caller`.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub Claims);

impl Caller {
    pub fn id(&self) -> UserId {
        self.0.user
    }
    pub fn role(&self) -> Role {
        self.0.role
    }
    /// Refuses with 403 `not_your_work` unless the caller is `user` or oversees others.
    pub fn require_self_or_oversight(&self, user: UserId) -> Result<(), ApiError> {
        if self.0.user == user || self.0.role.oversees() {
            Ok(())
        } else {
            Err(ApiError::not_your_work("you may act only on your own work"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::User(claims)) => Ok(Caller(*claims)),
            Some(_) => Err(ApiError::forbidden("this needs a user's token")),
            None => Err(ApiError::unauthorized("send Authorization: Bearer <token> from POST /api/v1/login")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token>"))
    }
}

/// The client's address (`crate::listen::ClientAddr`); unspecified when a
/// request did not come through the server's listener (router tests).
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ClientAddr>().map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |c| c.0);
        Ok(ClientIp(ip))
    }
}
