//! Events (专场): described by supervisors or the events system, their
//! attendance counted from the week-before calls (确认是否到场,统计预到场
//! 人数), and recommended to customers whose past orders match them
//! (专场推荐代报名, `rules/events.rs`). Orders are imported in `orders.rs`.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::Principal;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::api::state::AppState;
use crate::domain::{Phone, TaskId, TaskKind};
use crate::rules::dispatch::TaskDraft;
use crate::rules::events::{self, Attendance, AttendanceAnswer, TIERS, Target};
use crate::rules::registrations::EventKind;
use crate::runtime::intake;
use crate::store::{EventRecord, EventWrite};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// 1-200 characters.
    #[schema(example = "安信地板专场")]
    pub name: String,
    #[schema(value_type = String, example = "2026-12-20")]
    pub date: Date,
    pub kind: EventKind,
    pub place: Option<String>,
    /// What the event sells (地板): recommendations match it.
    pub category: Option<String>,
    /// Other order categories that make a customer a match (瓷砖, 卫浴).
    #[serde(default)]
    pub match_categories: Vec<String>,
    /// 档次: 1 (cheapest) to 5; left out, any tier matches.
    pub price_tier: Option<u8>,
}

/// An event with its attendance as known now.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: EventRecord,
    pub attendance: Attendance,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListEvents {
    /// The first day, `YYYY-MM-DD` (default today).
    #[param(value_type = Option<String>)]
    pub from: Option<Date>,
    /// The last day (default 90 days after the first).
    #[param(value_type = Option<String>)]
    pub to: Option<Date>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceBody {
    /// Will the customer come (确认是否到场)?
    pub coming: bool,
    /// How many people (default 1 when coming; 0 when not).
    pub people: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendBody {
    /// At most this many (default and ceiling `[events] max_recommendations`).
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Recommended {
    pub task_id: TaskId,
    #[schema(value_type = String)]
    pub customer_phone: Phone,
    /// The matching order's category and day.
    pub category: String,
    #[schema(value_type = String)]
    pub ordered_on: Date,
}

fn text(name: &str, v: Option<&str>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(s) if s.trim().is_empty() || s.chars().count() > max => {
            Err(ApiError::unprocessable("invalid_field", format!("{name}: 1-{max} characters")))
        }
        _ => Ok(()),
    }
}

fn event_id(id: &str) -> Result<(), ApiError> {
    if (1..=100).contains(&id.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::unprocessable("invalid_field", "the event id is 1-100 characters"))
    }
}

/// An event's attendance as the store has it now.
async fn attendance_of(state: &AppState, id: &str) -> Result<Attendance, ApiError> {
    let registered: BTreeSet<Phone> = state.store.registered_for(id).await?.into_iter().collect();
    let answers = state.store.attendance_answers(id).await?;
    let came = state.store.event_came(id).await?;
    Ok(events::attendance(&registered, &answers, came.as_ref()))
}

async fn view(state: &AppState, event: EventRecord) -> Result<EventView, ApiError> {
    let attendance = attendance_of(state, &event.id).await?;
    Ok(EventView { event, attendance })
}

/// Describe an event, or replace its description (supervisors, admins and
/// the events system).
#[utoipa::path(put, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path)),
    request_body = EventBody, security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 422, body = ErrorBody)))]
pub async fn put_event(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<Json<EventView>, ApiError> {
    event_id(&id)?;
    text("name", Some(&body.name), 200)?;
    text("place", body.place.as_deref(), 200)?;
    text("category", body.category.as_deref(), 50)?;
    if body.match_categories.len() > 20 {
        return Err(ApiError::unprocessable("invalid_field", "match_categories: at most 20"));
    }
    for c in &body.match_categories {
        text("match_categories", Some(c), 50)?;
    }
    if body.price_tier.is_some_and(|t| !TIERS.contains(&t)) {
        return Err(ApiError::unprocessable("invalid_field", "price_tier: 1-5"));
    }
    let mut matching: Vec<String> =
        body.category.iter().chain(&body.match_categories).map(|c| c.trim().to_lowercase()).collect();
    matching.sort();
    matching.dedup();
    let write = EventWrite {
        id: id.clone(),
        name: body.name.trim().to_owned(),
        date: body.date,
        kind: body.kind,
        place: body.place,
        category: body.category.map(|c| c.trim().to_lowercase()),
        match_categories: matching,
        price_tier: body.price_tier,
        at: Timestamp::now(),
        by: who.user(),
    };
    state.store.put_event(&write).await?;
    let stored =
        state.store.event(&id).await?.ok_or_else(|| ApiError::internal(&"the event just stored is not found"))?;
    Ok(Json(view(&state, stored).await?))
}

/// The events of a span of days with their attendance (everyone: agents
/// register customers for them).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(ListEvents), security(("bearer" = [])),
    responses((status = 200, body = Vec<EventView>), (status = 422, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListEvents>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let from = q.from.unwrap_or_else(|| state.rules.get().calendar.date_of(Timestamp::now()));
    let to = q.to.unwrap_or_else(|| from.checked_add(jiff::Span::new().days(90)).unwrap_or(from));
    if to < from || (to - from).get_days() > 366 {
        return Err(ApiError::unprocessable("invalid_field", "to: on or after from, at most 366 days later"));
    }
    let mut out = Vec::new();
    for e in state.store.events_between(from, to).await? {
        out.push(view(&state, e).await?);
    }
    Ok(Json(out))
}

/// One event with its attendance now: registered, answered, expected
/// people (预到场人数) and, once ended, who came.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = EventView), (status = 404, body = ErrorBody)))]
pub async fn get_event(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EventView>, ApiError> {
    let event = state.store.event(&id).await?.ok_or_else(|| ApiError::not_found("event"))?;
    Ok(Json(view(&state, event).await?))
}

/// Record whether a registered customer will come and how many (the
/// week-before call). Agents: the customer of work offered to or held by
/// them. Answering again replaces the answer.
#[utoipa::path(put, path = "/api/v1/events/{id}/attendance/{phone}", tag = "events",
    params(("id" = String, Path), ("phone" = String, Path)), request_body = AttendanceBody, security(("bearer" = [])),
    responses((status = 200, body = Attendance, description = "the event's attendance after the answer"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`not_registered`, or `invalid_field`")))]
pub async fn put_attendance(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, raw)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<AttendanceBody>,
) -> Result<Json<Attendance>, ApiError> {
    let phone = Phone::parse(&raw).map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
    if !caller.role().oversees() {
        super::own::require(super::own::holds_customer(&state, caller.id(), &phone).await?, "this customer")?;
    }
    let answer = AttendanceAnswer::new(body.coming, body.people)
        .map_err(|e| ApiError::unprocessable("invalid_field", e.to_string()))?;
    if !state.store.is_registered(&id, &phone).await? {
        return Err(ApiError::unprocessable("not_registered", "this customer has not registered for this event"));
    }
    state.store.put_attendance(&id, &phone, answer, Timestamp::now(), Some(caller.id())).await?;
    tracing::info!(event = %id, coming = answer.coming, people = answer.people, "attendance answered");
    Ok(Json(attendance_of(&state, &id).await?))
}

/// Recommend an event to the customers whose past orders match it (its
/// categories and tier, within `[events] recommendation_lookback_days`),
/// not registered for it nor recommended it before: one
/// `event_recommendation` task each, due by the close of the last working
/// day before the event. Asking again recommends only new matches.
#[utoipa::path(post, path = "/api/v1/events/{id}/recommendations", tag = "events", params(("id" = String, Path)),
    request_body = RecommendBody, security(("bearer" = [])),
    responses((status = 201, body = Vec<Recommended>), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`busy`: another request recommended meanwhile; ask again"),
        (status = 422, body = ErrorBody, description = "`no_category`: the event names no category; `event_too_soon`")))]
pub async fn recommend(
    State(state): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RecommendBody>,
) -> Result<(StatusCode, Json<Vec<Recommended>>), ApiError> {
    let event = state.store.event(&id).await?.ok_or_else(|| ApiError::not_found("event"))?;
    if event.match_categories.is_empty() {
        return Err(ApiError::unprocessable(
            "no_category",
            "describe the event's category first (PUT /api/v1/events/{id})",
        ));
    }
    let rules = &state.config.events;
    let limit = body.limit.unwrap_or(rules.max_recommendations).min(rules.max_recommendations);
    let now = Timestamp::now();
    let cal = &state.rules.get().calendar;
    let deadline = events::recommendation_deadline(cal, event.date, now)
        .ok_or_else(|| ApiError::unprocessable("event_too_soon", "no working day is left before the event"))?;
    let today = cal.date_of(now);
    let lookback = rules.recommendation_lookback_days;
    let orders = state.store.orders_in(&event.match_categories, events::orders_since(today, lookback)).await?;
    let mut excluded = state.store.recommended_for(&id).await?;
    excluded.extend(state.store.registered_for(&id).await?);
    let target = Target { categories: event.match_categories.iter().cloned().collect(), tier: event.price_tier };
    let picked = events::recommend(&target, &orders, &excluded, today, lookback, limit as usize);
    let kind = TaskKind::EventRecommendation;
    let tasks: Vec<TaskDraft> = picked
        .iter()
        .map(|r| {
            let plan = state.rules.get().plan(kind, now, None, Some(deadline));
            let reason = format!(
                "recommend {} ({}, {}): bought {} on {}; register them if interested (代报名)",
                event.name, event.id, event.date, r.category, r.ordered_on
            );
            TaskDraft::new(&state.rules.get(), kind, plan, r.phone.clone(), Some(reason), now, who.user())
        })
        .collect();
    let stored = state.store.add_recommendations(&id, &tasks, now);
    if !intake::store_then_dispatch(&state.hub, &state.rules.get(), &tasks, stored).await? {
        return Err(ApiError::conflict(
            "busy",
            "another request recommended this event meanwhile; nothing was created",
        ));
    }
    tracing::info!(event = %id, created = tasks.len(), "event recommended");
    let out = tasks
        .iter()
        .zip(&picked)
        .map(|(t, r)| Recommended {
            task_id: t.id,
            customer_phone: r.phone.clone(),
            category: r.category.clone(),
            ordered_on: r.ordered_on,
        })
        .collect();
    Ok((StatusCode::CREATED, Json(out)))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_event, get_event))
        .routes(routes!(list_events))
        .routes(routes!(put_attendance))
        .routes(routes!(recommend))
}
