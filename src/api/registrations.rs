//! `POST /api/v1/registrations`: a customer registered for an event; the
//! callbacks the rules call for (`rules/registrations.rs`) are created with
//! the registration, all or nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::tasks::live_view;
use crate::api::state::AppState;
use crate::domain::{Phone, TaskId, TaskKind};
use crate::rules::dispatch::TaskDraft;
use crate::rules::registrations::{self, CustomerKind, EventKind, Registration, RegistrationError};
use crate::runtime::intake;
use crate::store::{NewRegistration, TaskRecord};

const MAX_SKEW: SignedDuration = SignedDuration::from_secs(60);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationBody {
    #[schema(value_type = String, example = "13800138000")]
    pub customer_phone: Phone,
    pub customer_kind: CustomerKind,
    pub event_id: String,
    /// The event's local date, `YYYY-MM-DD`.
    #[schema(value_type = String, example = "2026-12-20")]
    pub event_date: Date,
    pub event_kind: EventKind,
    /// RFC 3339; default now. A registration reported late gets the
    /// deadlines its time calls for.
    #[schema(value_type = Option<String>)]
    pub registered_at: Option<Timestamp>,
    /// Where the registration came from (web form, WeChat, phone ...).
    pub source: Option<String>,
    /// Stored in the CRM when given.
    pub customer_name: Option<String>,
}

fn describe(body: &RegistrationBody, kind: TaskKind) -> String {
    let who = match body.customer_kind {
        CustomerKind::New => "new customer",
        CustomerKind::Returning => "returning customer",
    };
    let event = match body.event_kind {
        EventKind::Main => "main event",
        EventKind::Special => "special event",
    };
    let ask = match kind {
        TaskKind::EventCallback => ": confirm attendance and how many will come; send the SMS reminder",
        _ => "",
    };
    format!("{who} registered for the {event} {} on {}{ask}", body.event_id, body.event_date)
}

/// Record a registration and create its callbacks (new customer within 15
/// minutes, returning customer for today's main event within the hour,
/// special events a week before; outside working hours, the first working
/// day after).
#[utoipa::path(post, path = "/api/v1/registrations", tag = "tasks", request_body = RegistrationBody,
    security(("bearer" = [])),
    responses((status = 201, body = Vec<TaskRecord>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody,
            description = "`unknown_customer`: a returning customer the CRM, the calls and the registrations do not know; `event_in_past`; an invalid field")))]
pub async fn register(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<RegistrationBody>,
) -> Result<(StatusCode, Json<Vec<TaskRecord>>), ApiError> {
    let by = who.user();
    if !(1..=100).contains(&body.event_id.chars().count()) {
        return Err(ApiError::unprocessable("invalid_field", "event_id: 1-100 characters"));
    }
    if body.source.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::unprocessable("invalid_field", "source: at most 100 characters"));
    }
    let now = Timestamp::now();
    let at = body.registered_at.unwrap_or(now);
    if at > now + MAX_SKEW {
        return Err(ApiError::unprocessable("registered_in_future", "registered_at cannot be in the future"));
    }
    // An event the centre has described: the registration must agree with it.
    if let Some(event) = state.store.event(&body.event_id).await?
        && (event.date != body.event_date || event.kind != body.event_kind)
    {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("event_date, event_kind: event {} is on {} ({:?})", event.id, event.date, event.kind),
        ));
    }
    let registration = Registration {
        customer: body.customer_kind,
        event_kind: body.event_kind,
        event_date: body.event_date,
        registered_at: at,
    };
    let plans =
        registrations::plan(&state.rules.get().calendar, &state.config.registrations, &registration).map_err(|e| {
            match e {
                RegistrationError::EventInPast { .. } => ApiError::unprocessable("event_in_past", e.to_string()),
            }
        })?;
    let phone = &body.customer_phone;
    match body.customer_kind {
        CustomerKind::Returning if !state.store.knows_customer(phone).await? => {
            return Err(ApiError::unprocessable(
                "unknown_customer",
                "a returning customer must be known: in the CRM, or with earlier calls or registrations",
            ));
        }
        _ => {}
    }
    super::customers::name_from_intake(&state, phone, body.customer_name.as_deref(), by).await?;
    let tasks: Vec<TaskDraft> = plans
        .iter()
        .map(|p| {
            let plan = state.rules.get().plan(p.kind, now, None, Some(p.deadline));
            let reason = Some(describe(&body, p.kind));
            let row = TaskDraft::new(&state.rules.get(), p.kind, plan, phone.clone(), reason, now, by);
            TaskDraft { not_before: p.not_before.filter(|t| *t > now), ..row }
        })
        .collect();
    let stored = NewRegistration {
        customer_phone: phone.clone(),
        customer_kind: match body.customer_kind {
            CustomerKind::New => "new",
            CustomerKind::Returning => "returning",
        },
        event_id: body.event_id.clone(),
        event_date: body.event_date,
        event_kind: match body.event_kind {
            EventKind::Main => "main",
            EventKind::Special => "special",
        },
        source: body.source.clone(),
        registered_at: at,
        registered_by: by,
    };
    // Stored with the registration: a crash leaves all or nothing.
    intake::store_then_dispatch(&state.hub, &state.rules.get(), &tasks, async {
        state.store.add_registration(&stored, &tasks).await.map(|()| true)
    })
    .await?;
    tracing::info!(event = %body.event_id, callbacks = tasks.len(), "registration recorded");
    let mut out = Vec::with_capacity(tasks.len());
    for t in &tasks {
        out.push(live_view(&state, t.id).await?);
    }
    Ok((StatusCode::CREATED, Json(out)))
}

/// The attendance of an event that has ended.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventEndedBody {
    /// Numbers that signed in (签到).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub attended: Vec<Phone>,
    /// Numbers that placed an order (an order counts as attendance).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ordered: Vec<Phone>,
    /// RFC 3339; default now.
    #[schema(value_type = Option<String>)]
    pub ended_at: Option<Timestamp>,
}

/// One marketing callback created when an event ended.
#[derive(Serialize, ToSchema)]
pub struct MarketingCallback {
    pub id: TaskId,
    pub kind: TaskKind,
    #[schema(value_type = String)]
    pub customer_phone: Phone,
}

#[derive(Serialize, ToSchema)]
pub struct EventEnded {
    pub event_id: String,
    /// In the order they were queued: attended without an order first.
    pub callbacks: Vec<MarketingCallback>,
}

/// The most numbers in one attendance list.
const MAX_ATTENDANCE: usize = 20_000;

/// An event has ended: create its marketing callbacks (attended without an
/// order first, then attended and ordered, then registered but absent).
/// Once per event (supervisors and admins).
#[utoipa::path(post, path = "/api/v1/events/{id}/ended", tag = "tasks", params(("id" = String, Path)),
    request_body = EventEndedBody, security(("bearer" = [])),
    responses((status = 201, body = EventEnded), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn event_ended(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(event_id): ApiPath<String>,
    ApiJson(body): ApiJson<EventEndedBody>,
) -> Result<(StatusCode, Json<EventEnded>), ApiError> {
    let by = who.user();
    if !(1..=100).contains(&event_id.chars().count()) {
        return Err(ApiError::unprocessable("invalid_field", "the event id is 1-100 characters"));
    }
    if body.attended.len() > MAX_ATTENDANCE || body.ordered.len() > MAX_ATTENDANCE {
        return Err(ApiError::unprocessable("too_many", format!("at most {MAX_ATTENDANCE} numbers in a list")));
    }
    let now = Timestamp::now();
    let at = body.ended_at.unwrap_or(now);
    if at > now + MAX_SKEW {
        return Err(ApiError::unprocessable("ended_in_future", "ended_at cannot be in the future"));
    }
    let registered = state.store.registered_for(&event_id).await?;
    if registered.is_empty() && body.attended.is_empty() && body.ordered.is_empty() {
        return Err(ApiError::not_found("event"));
    }
    let wanted = registrations::marketing_callbacks(&registered, &body.attended, &body.ordered);
    let tasks: Vec<TaskDraft> = wanted
        .into_iter()
        .map(|(phone, kind)| {
            let plan = state.rules.get().plan(kind, now, None, None);
            let why = match kind {
                TaskKind::MarketingAttendedNoOrder => "attended, no order",
                TaskKind::MarketingAttendedOrdered => "attended and ordered",
                _ => "registered, did not attend",
            };
            let reason = Some(format!("event {event_id} ended: {why}"));
            TaskDraft::new(&state.rules.get(), kind, plan, phone, reason, now, by)
        })
        .collect();
    let ended = intake::store_then_dispatch(
        &state.hub,
        &state.rules.get(),
        &tasks,
        state.store.end_event(&event_id, at, &body.attended, &body.ordered, &tasks),
    )
    .await?;
    if !ended {
        return Err(ApiError::conflict("event_already_ended", "this event has already ended; nothing was created"));
    }
    tracing::info!(event = %event_id, callbacks = tasks.len(), "event ended");
    let callbacks = tasks
        .into_iter()
        .map(|t| MarketingCallback { id: t.id, kind: t.kind, customer_phone: t.customer_phone })
        .collect();
    Ok((StatusCode::CREATED, Json(EventEnded { event_id, callbacks })))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register)).routes(routes!(event_ended))
}
