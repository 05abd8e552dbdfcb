//! Departments (运营小组, 部门): teams of users with a lead, to which
//! complaint cases are sent. Supervisors and admins keep them; everyone
//! signed in may read them, to know where a case can go.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, text};
use crate::api::state::AppState;
use crate::domain::{DepartmentId, UserId};
use crate::store::{Department, DepartmentWrite, MembershipRefusal, StoreError};

const MAX_NAME_CHARS: usize = 200;
const MAX_MEMBERS: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    pub name: String,
    /// A user who takes work (agent or dispatcher): a case the department
    /// leaves unanswered is put before them. Always a member.
    pub lead: UserId,
    /// Its users; each belongs to at most one department.
    #[serde(default)]
    pub members: Vec<UserId>,
}

/// Changes; a field left out stays. `members` replaces the whole list
/// (former members not listed leave the department).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchDepartment {
    pub name: Option<String>,
    pub lead: Option<UserId>,
    pub members: Option<Vec<UserId>>,
}

impl From<MembershipRefusal> for ApiError {
    fn from(e: MembershipRefusal) -> Self {
        match e {
            MembershipRefusal::UnknownUser(_) => ApiError::unprocessable("unknown_user", format!("members: {e}")),
            MembershipRefusal::InOtherDepartment(_) => ApiError::conflict("in_other_department", e.to_string()),
        }
    }
}

fn refused(e: StoreError) -> ApiError {
    match e {
        StoreError::Membership(refusal) => refusal.into(),
        StoreError::Conflict(_) => ApiError::conflict("department_name_taken", "a department has this name"),
        other => other.into(),
    }
}

/// The lead must be a living user who takes work, so the escalation task
/// can be put before them.
async fn check_lead(state: &AppState, lead: UserId) -> Result<UserId, ApiError> {
    let user = state.store.user(lead).await?.filter(|u| u.role.takes_work());
    user.map(|u| u.id).ok_or_else(|| ApiError::unprocessable("invalid_field", "lead: no such agent or dispatcher"))
}

/// The members with the lead among them, each once, in the order given.
fn with_lead(mut members: Vec<UserId>, lead: UserId) -> Result<Vec<UserId>, ApiError> {
    if !members.contains(&lead) {
        members.push(lead);
    }
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| seen.insert(*m));
    if members.len() > MAX_MEMBERS {
        return Err(ApiError::unprocessable("invalid_field", format!("members: at most {MAX_MEMBERS}")));
    }
    Ok(members)
}

/// Create a department with its lead and members.
#[utoipa::path(post, path = "/api/v1/departments", tag = "cases", request_body = CreateDepartment,
    security(("bearer" = [])),
    responses((status = 201, body = Department), (status = 409, body = ErrorBody,
        description = "`department_name_taken`, or a member `in_other_department`"),
        (status = 422, body = ErrorBody, description = "`invalid_field`, `unknown_user`")))]
pub async fn create_department(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateDepartment>,
) -> Result<(StatusCode, Json<Department>), ApiError> {
    let lead = check_lead(&state, req.lead).await?;
    let write = DepartmentWrite {
        id: DepartmentId::new(),
        name: text("name", &req.name, MAX_NAME_CHARS)?,
        lead,
        members: with_lead(req.members, lead)?,
        at: Timestamp::now(),
    };
    state.store.write_department(&write, true).await.map_err(refused)?;
    tracing::info!(department = %write.id, name = %write.name, %lead, "department created");
    let stored = state.store.department(write.id).await?.ok_or_else(|| ApiError::not_found("department"))?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Every department, by name, with its members.
#[utoipa::path(get, path = "/api/v1/departments", tag = "cases", security(("bearer" = [])),
    responses((status = 200, body = Vec<Department>)))]
pub async fn list_departments(State(state): State<AppState>) -> Result<Json<Vec<Department>>, ApiError> {
    Ok(Json(state.store.departments().await?))
}

#[utoipa::path(get, path = "/api/v1/departments/{id}", tag = "cases", params(("id" = DepartmentId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Department), (status = 404, body = ErrorBody)))]
pub async fn get_department(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DepartmentId>,
) -> Result<Json<Department>, ApiError> {
    Ok(Json(state.store.department(id).await?.ok_or_else(|| ApiError::not_found("department"))?))
}

/// Rename a department, change its lead or its members.
#[utoipa::path(patch, path = "/api/v1/departments/{id}", tag = "cases", params(("id" = DepartmentId, Path)),
    request_body = PatchDepartment, security(("bearer" = [])),
    responses((status = 200, body = Department), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_department(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DepartmentId>,
    ApiJson(req): ApiJson<PatchDepartment>,
) -> Result<Json<Department>, ApiError> {
    let now = state.store.department(id).await?.ok_or_else(|| ApiError::not_found("department"))?;
    let lead = match req.lead {
        Some(lead) => check_lead(&state, lead).await?,
        None => now.lead_id,
    };
    let write = DepartmentWrite {
        id,
        name: match req.name {
            Some(name) => text("name", &name, MAX_NAME_CHARS)?,
            None => now.name,
        },
        lead,
        members: with_lead(req.members.unwrap_or(now.members), lead)?,
        at: Timestamp::now(),
    };
    if !state.store.write_department(&write, false).await.map_err(refused)? {
        return Err(ApiError::not_found("department"));
    }
    tracing::info!(department = %id, "department changed");
    Ok(Json(state.store.department(id).await?.ok_or_else(|| ApiError::not_found("department"))?))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_department, list_departments))
        .routes(routes!(get_department, patch_department))
}
