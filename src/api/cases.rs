//! Complaint cases (客诉): opened from any channel, owned by a named agent,
//! every step on the record. The deadline rules are in `crate::rules::cases`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, optional_text, text};
use crate::api::state::AppState;
use crate::domain::{CaseChannel, CaseId, CaseStatus, CaseStep, DepartmentId, Phone, TaskKind, UserId};
use crate::rules::cases::{CaseDeadline, CaseError};
use crate::rules::dispatch::TaskDraft;
use crate::runtime::intake;
use crate::store::{CaseFilter, CaseRecord, CaseStepWrite, Department, NewCase, SatisfactionAnswer};

const MAX_TEXT_CHARS: usize = 4000;
const MAX_NAME_CHARS: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    pub channel: CaseChannel,
    /// Required, unless taken from the case this one `follows`.
    #[schema(value_type = Option<String>, example = "13800138000")]
    pub customer_phone: Option<Phone>,
    pub customer_name: Option<String>,
    /// Required, unless taken from the case this one `follows`.
    pub merchant: Option<String>,
    /// What kind of complaint (late delivery, quality, service, ...);
    /// required, unless taken from the case this one `follows`.
    pub category: Option<String>,
    pub brand: Option<String>,
    /// A major complaint, reported to management weekly until resolved.
    #[serde(default)]
    pub major: bool,
    /// When and where it happened, as the customer tells it.
    #[schema(value_type = Option<String>)]
    pub occurred_at: Option<Timestamp>,
    pub place: Option<String>,
    /// What happened.
    pub description: String,
    /// The agent responsible: required when a supervisor or admin opens the
    /// case (422 `invalid_field`), the agent opening it by default, and a
    /// user who takes work (422 `unknown_owner` otherwise).
    pub owner: Option<UserId>,
    /// When the complaint came in (default now); the deadlines count from it.
    #[schema(value_type = Option<String>)]
    pub received_at: Option<Timestamp>,
    /// Send it at once to the department responsible (上报所属的运营小组):
    /// its users are told and may work it; 422 `unknown_department`.
    pub department: Option<DepartmentId>,
    /// Open it as a follow-up of an existing case (在原有的个案基础上建立跟进个案),
    /// linked both ways; the customer, merchant, category and brand default
    /// to that case's. 422 `unknown_case` if there is no such case.
    pub follows: Option<CaseId>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordStep {
    pub step: CaseStep,
    /// What was said or done; for `not_satisfied`, why (required), for
    /// `department_replied`, the department's written answer.
    pub note: Option<String>,
    /// The new owner, for `reassigned`.
    pub owner: Option<UserId>,
    /// The department responsible, for `sent` (422 `unknown_department`).
    pub department: Option<DepartmentId>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCases {
    pub status: Option<CaseStatus>,
    pub owner: Option<UserId>,
    /// The cases sent to this department.
    pub department: Option<DepartmentId>,
    /// Only cases past a deadline they have not met.
    pub overdue: Option<bool>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A case with what its clock says now.
#[derive(Serialize, ToSchema)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: CaseRecord,
    /// Past a deadline it has not met: kept, worked and counted, never dropped.
    pub overdue: bool,
    /// Deadlines not yet met, earliest first.
    pub pending: Vec<PendingDeadline>,
}

#[derive(Serialize, ToSchema)]
pub struct PendingDeadline {
    pub deadline: CaseDeadline,
    #[schema(value_type = String)]
    pub by: Timestamp,
}

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        ApiError::conflict("step_not_allowed", e.to_string())
    }
}

fn view(case: CaseRecord, now: Timestamp) -> CaseView {
    let clock = case.clock();
    let pending = clock.pending().into_iter().map(|(deadline, by)| PendingDeadline { deadline, by }).collect();
    CaseView { overdue: clock.overdue(now), pending, case }
}

/// A department named in a request must exist; the bad input writes nothing.
async fn find_department(state: &AppState, id: DepartmentId) -> Result<Department, ApiError> {
    let found = state.store.department(id).await?;
    found.ok_or_else(|| ApiError::unprocessable("unknown_department", format!("department: no department {id}")))
}

/// A case may be worked by its owner, the users of the department it was
/// sent to, supervisors and admins; anyone else is refused.
async fn require_workable(state: &AppState, caller: &Caller, case: &CaseRecord) -> Result<(), ApiError> {
    if caller.role().oversees() || caller.id() == case.owner_id {
        return Ok(());
    }
    if let Some(department) = case.department_id
        && state.store.user(caller.id()).await?.is_some_and(|u| u.department_id == Some(department))
    {
        return Ok(());
    }
    Err(ApiError::not_your_work("you may act only on your own cases and your department's"))
}

/// Tells the department's users who are connected that a case was sent to
/// them (the case itself is on their list whether or not they are).
async fn notify_department(state: &AppState, department: &Department, case: &CaseRecord) {
    let notice = crate::runtime::hub::CaseNotice {
        case: case.id,
        department: department.id,
        department_name: department.name.clone(),
        about: format!("complaint about {} ({})", case.merchant, case.category),
        reply_by: case.department_reply_by.unwrap_or(case.answer_by),
    };
    state.hub.notify(department.members.clone(), notice).await;
}

/// The owner must be someone who takes work; naming anyone else is bad input.
async fn check_owner(state: &AppState, id: UserId) -> Result<UserId, ApiError> {
    let agent = state.store.user(id).await?.filter(|u| u.role.takes_work());
    agent.map(|u| u.id).ok_or_else(|| ApiError::unprocessable("unknown_owner", "owner: no such agent"))
}

/// Open a complaint case. Its deadlines follow `[cases]`: the customer is
/// answered within 24 hours; forum and Weibo complaints need the
/// merchant's reply within a working day.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = CreateCase, security(("bearer" = [])),
    responses((status = 201, body = CaseView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateCase>,
) -> Result<(StatusCode, Json<CaseView>), ApiError> {
    let now = Timestamp::now();
    let received_at = req.received_at.unwrap_or(now);
    if received_at > now + jiff::SignedDuration::from_mins(5) {
        return Err(ApiError::unprocessable("invalid_field", "received_at: must not be in the future"));
    }
    let owner = match (req.owner, caller.role().takes_work()) {
        (Some(owner), _) => check_owner(&state, owner).await?,
        (None, true) => caller.id(),
        (None, false) => return Err(ApiError::unprocessable("invalid_field", "owner: required")),
    };
    let parent = match req.follows {
        Some(id) => Some(
            state
                .store
                .case(id)
                .await?
                .ok_or_else(|| ApiError::unprocessable("unknown_case", format!("follows: no case {id}")))?,
        ),
        None => None,
    };
    let department = match req.department {
        Some(id) => Some(find_department(&state, id).await?),
        None => None,
    };
    let required = |field: &str| ApiError::unprocessable("invalid_field", format!("{field}: required"));
    let inherited = |field: &str, given: Option<String>, from: Option<&String>| match given {
        Some(v) => text(field, &v, MAX_NAME_CHARS),
        None => from.cloned().ok_or_else(|| required(field)),
    };
    let customer_phone = req
        .customer_phone
        .or_else(|| parent.as_ref().map(|p| p.customer_phone.clone()))
        .ok_or_else(|| required("customer_phone"))?;
    let case = NewCase {
        id: CaseId::new(),
        channel: req.channel,
        customer_phone,
        customer_name: optional_text("customer_name", req.customer_name, MAX_NAME_CHARS)?
            .or_else(|| parent.as_ref().and_then(|p| p.customer_name.clone())),
        merchant: inherited("merchant", req.merchant, parent.as_ref().map(|p| &p.merchant))?,
        category: inherited("category", req.category, parent.as_ref().map(|p| &p.category))?,
        brand: optional_text("brand", req.brand, MAX_NAME_CHARS)?
            .or_else(|| parent.as_ref().and_then(|p| p.brand.clone())),
        major: req.major,
        occurred_at: req.occurred_at,
        place: optional_text("place", req.place, MAX_NAME_CHARS)?,
        description: text("description", &req.description, MAX_TEXT_CHARS)?,
        owner,
        received_at,
        deadlines: state.config.cases.deadlines(&state.rules.get().calendar, req.channel, received_at),
        created_by: Some(caller.id()),
        department: department
            .as_ref()
            .map(|d| (d.id, state.config.cases.department_reply_by(&state.rules.get().calendar, received_at))),
        follows: parent.as_ref().map(|p| p.id),
    };
    state.store.insert_case(&case).await?;
    tracing::info!(case = %case.id, channel = %case.channel, %owner, "complaint case opened");
    let stored = state.store.case(case.id).await?.ok_or_else(|| ApiError::not_found("case"))?;
    if let Some(department) = &department {
        notify_department(&state, department, &stored).await;
    }
    Ok((StatusCode::CREATED, Json(view(stored, now))))
}

/// Complaint cases, newest first (agents see the cases they own and the
/// ones sent to their department).
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListCases), security(("bearer" = [])),
    responses((status = 200, body = Vec<CaseView>), (status = 401, body = ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListCases>,
) -> Result<Json<Vec<CaseView>>, ApiError> {
    let workable_by = if caller.role().oversees() {
        None
    } else {
        let me = state.store.user(caller.id()).await?;
        Some((caller.id(), me.and_then(|u| u.department_id)))
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // Overdue depends on the clock, so it is filtered here, among every
    // case the store returns (all unresolved ones for `overdue=true`).
    let filter = CaseFilter {
        status: q.status,
        owner: q.owner,
        department: q.department,
        workable_by,
        unresolved: q.overdue == Some(true),
        limit: if q.overdue.is_some() { 100_000 } else { limit },
    };
    let now = Timestamp::now();
    let cases = state.store.cases(&filter).await?.into_iter().map(|c| view(c, now));
    Ok(Json(cases.filter(|v| q.overdue.is_none_or(|o| v.overdue == o)).take(limit as usize).collect()))
}

/// One case with its history (its owner, its department's users,
/// supervisors and admins).
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = CaseId, Path)), security(("bearer" = [])),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CaseId>,
) -> Result<Json<CaseView>, ApiError> {
    let case = state.store.case(id).await?.ok_or_else(|| ApiError::not_found("case"))?;
    require_workable(&state, &caller, &case).await?;
    Ok(Json(view(case, Timestamp::now())))
}

/// Record a step (its owner, its department's users, supervisors and
/// admins): the customer was answered, the party complained about was
/// answered, the merchant replied, sent to a department (whose connected
/// users are told at once), the department replied, resolved (which
/// creates the callback that confirms the customer is satisfied), that
/// callback's answer (`satisfied`, or `not_satisfied` with why, which
/// reopens the case with its history), reopened, a note, a new owner.
#[utoipa::path(post, path = "/api/v1/cases/{id}/steps", tag = "cases", params(("id" = CaseId, Path)),
    request_body = RecordStep, security(("bearer" = [])),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`step_not_allowed` now, or `case_changed` meanwhile"),
        (status = 422, body = ErrorBody)))]
pub async fn record_step(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<CaseId>,
    ApiJson(req): ApiJson<RecordStep>,
) -> Result<Json<CaseView>, ApiError> {
    let case = state.store.case(id).await?.ok_or_else(|| ApiError::not_found("case"))?;
    require_workable(&state, &caller, &case).await?;
    let note = optional_text("note", req.note, MAX_TEXT_CHARS)?;
    if req.step == CaseStep::NotSatisfied && note.is_none() {
        return Err(ApiError::unprocessable("invalid_field", "note: say why the customer is not satisfied"));
    }
    let department = match (req.step, req.department) {
        (CaseStep::Sent, Some(id)) => Some(find_department(&state, id).await?),
        (CaseStep::Sent, None) => return Err(ApiError::unprocessable("invalid_field", "department: required")),
        (_, Some(_)) => return Err(ApiError::unprocessable("invalid_field", "department: only with `sent`")),
        (_, None) => None,
    };
    let new_owner = match (req.step, req.owner) {
        (CaseStep::Reassigned, Some(owner)) => Some(check_owner(&state, owner).await?),
        (CaseStep::Reassigned, None) => return Err(ApiError::unprocessable("invalid_field", "owner: required")),
        (_, Some(_)) => return Err(ApiError::unprocessable("invalid_field", "owner: only with `reassigned`")),
        (_, None) => None,
    };
    let status = case.clock().after(req.step)?;
    let now = Timestamp::now();
    let follow_up = req.step.calls_for_satisfaction_check().then(|| {
        let plan = state.rules.get().plan(TaskKind::ComplaintFollowUp, now, None, None);
        let reason = format!(
            "complaint about {} resolved (case {id}): call to confirm the customer is satisfied, then record `satisfied` or `not_satisfied` on the case",
            case.merchant
        );
        let phone = case.customer_phone.clone();
        TaskDraft::new(&state.rules.get(), TaskKind::ComplaintFollowUp, plan, phone, Some(reason), now, None)
    });
    let write = CaseStepWrite {
        case: id,
        seen: case.updated_at,
        step: req.step,
        status,
        by: caller.id(),
        note,
        new_owner,
        department: department
            .as_ref()
            .map(|d| (d.id, state.config.cases.department_reply_by(&state.rules.get().calendar, now))),
        follow_up: follow_up.clone(),
        satisfaction: req.step.satisfaction().map(|satisfied| SatisfactionAnswer {
            satisfied,
            owner: case.owner_id,
            department: case.department_id,
        }),
        at: now,
    };
    // The satisfaction callback is stored with the step.
    let drafts: Vec<TaskDraft> = follow_up.into_iter().collect();
    if !intake::store_then_dispatch(&state.hub, &state.rules.get(), &drafts, state.store.record_case_step(write))
        .await?
    {
        return Err(ApiError::conflict("case_changed", "the case changed meanwhile; read it again"));
    }
    tracing::info!(case = %id, step = %req.step, by = %caller.id(), "case step recorded");
    let stored = state.store.case(id).await?.ok_or_else(|| ApiError::not_found("case"))?;
    if let Some(department) = &department {
        notify_department(&state, department, &stored).await;
    }
    Ok(Json(view(stored, now)))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_case, list_cases)).routes(routes!(get_case)).routes(routes!(record_step))
}
