//! The security matrix: every HTTP route and socket, and who may use it.
//! [`authorize`] enforces it for every request before a handler runs, so
//! this table is the one place a role is granted a route; a route missing
//! from it is refused (deny by default) and fails the test that walks the
//! OpenAPI document. `docs/security.md` holds the same table, checked
//! against [`render`] by a test.
//!
//! A grant of [`Grant::Own`] lets the role in, and the handler then limits
//! it to the caller's own work (their tasks, their cases, the customers of
//! work offered to or held by them), refusing the rest with 403
//! `not_your_work`. A refusal by the matrix is 403 `forbidden` (or 401
//! without credentials).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::error::ApiError;
use crate::api::state::AppState;
use crate::auth::{AuthError, Claims};
use crate::domain::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    No,
    Yes,
    /// Only the caller's own work; the handler checks which.
    Own,
}

use Grant::{No, Own, Yes};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with no credentials (login, health, the pages).
    Public,
    /// Users by role (agent, dispatcher, supervisor, admin), and machines
    /// by their configured tokens.
    Tokens { roles: [Grant; 4], pbx: bool, back_office: bool },
    /// A WebSocket: anyone may open it; its first frame must carry a ticket
    /// of a user of one of these roles.
    Ticket(&'static [Role]),
}

const fn users(agent: Grant, dispatcher: Grant, supervisor: Grant, admin: Grant) -> Access {
    Access::Tokens { roles: [agent, dispatcher, supervisor, admin], pbx: false, back_office: false }
}

impl Access {
    const fn and_pbx(self) -> Access {
        match self {
            Access::Tokens { roles, back_office, .. } => Access::Tokens { roles, pbx: true, back_office },
            other => other,
        }
    }
    const fn and_back_office(self) -> Access {
        match self {
            Access::Tokens { roles, pbx, .. } => Access::Tokens { roles, pbx, back_office: true },
            other => other,
        }
    }
    /// What `role` is granted here.
    pub fn grant(&self, role: Role) -> Grant {
        match self {
            Access::Public => Yes,
            Access::Tokens { roles, .. } => roles[role.index()],
            Access::Ticket(roles) => {
                if roles.contains(&role) {
                    Yes
                } else {
                    No
                }
            }
        }
    }
}

const EVERYONE: Access = users(Yes, Yes, Yes, Yes);
const OWN_WORK: Access = users(Own, Own, Yes, Yes);
const TRAVEL: Access = users(No, Yes, Yes, Yes);
const OVERSIGHT: Access = users(No, No, Yes, Yes);
const ADMIN: Access = users(No, No, No, Yes);

/// One route: method, path as routed (and in the OpenAPI document), who.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    /// What `Own` means here, or a word on the route.
    pub note: &'static str,
}

const fn route(method: &'static str, path: &'static str, access: Access, note: &'static str) -> Route {
    Route { method, path, access, note }
}

pub const MATRIX: &[Route] = &[
    route("POST", "/api/v1/login", Access::Public, "limited per client address and username"),
    route("POST", "/api/v1/logout", EVERYONE, "ends the token it is sent with"),
    route("POST", "/api/v1/ws-ticket", EVERYONE, "at most 8 unused tickets per user"),
    route("GET", "/api/v1/me", EVERYONE, ""),
    route("PUT", "/api/v1/me/password", EVERYONE, "the caller's own; needs the current password"),
    route(
        "POST",
        "/api/v1/tasks",
        users(Own, Own, Yes, Yes),
        "own: the kinds in `[access] agent_task_kinds`, at their priority",
    ),
    route("GET", "/api/v1/tasks", OWN_WORK, "own: tasks offered to, held, closed or created by the caller"),
    route("GET", "/api/v1/tasks/{id}", OWN_WORK, "own: as above"),
    route("POST", "/api/v1/tasks/{id}/cancel", TRAVEL, ""),
    route("POST", "/api/v1/users", ADMIN, ""),
    route("GET", "/api/v1/users", ADMIN, "every account, the disabled included"),
    route("GET", "/api/v1/users/{id}", ADMIN, ""),
    route("PATCH", "/api/v1/users/{id}", ADMIN, "role, skills, SIP URI, disabled: applies at once"),
    route("DELETE", "/api/v1/users/{id}", ADMIN, "ends the user's tokens and sockets"),
    route("PUT", "/api/v1/users/{id}/password", ADMIN, "a reset: ends the user's tokens and sockets"),
    route("POST", "/api/v1/agents", ADMIN, ""),
    route("GET", "/api/v1/agents", TRAVEL, ""),
    route("GET", "/api/v1/agents/{id}", users(Own, Yes, Yes, Yes), "own: the caller"),
    route("PATCH", "/api/v1/agents/{id}", OVERSIGHT, ""),
    route("PUT", "/api/v1/agents/{id}/status", OWN_WORK, "own: the caller"),
    route("PUT", "/api/v1/agents/{id}/schedule", OVERSIGHT, ""),
    route("GET", "/api/v1/agents/{id}/schedule", OWN_WORK, "own: the caller"),
    route("POST", "/api/v1/agents/{id}/handover", OWN_WORK, "own: the caller"),
    route("GET", "/api/v1/agents/{id}/handover", OWN_WORK, "own: the caller"),
    route("DELETE", "/api/v1/agents/{id}/handover", OWN_WORK, "own: the caller"),
    route("POST", "/api/v1/shift-swaps", users(Own, Own, No, No), "own: the caller swaps their own day"),
    route("GET", "/api/v1/recurring-work", OWN_WORK, "own: the caller's and their queues'"),
    route("PUT", "/api/v1/recurring-work/{id}/done", OWN_WORK, "own: as above"),
    route("GET", "/api/v1/shift-swaps", OWN_WORK, "own: swaps asked for by or with the caller"),
    route("POST", "/api/v1/shift-swaps/{id}/approve", OVERSIGHT, "writes the day into both schedules"),
    route("POST", "/api/v1/shift-swaps/{id}/reject", OVERSIGHT, ""),
    route(
        "POST",
        "/api/v1/shift-swaps/{id}/cancel",
        users(Own, Own, No, No),
        "own: the agent who asked, before a decision",
    ),
    route("GET", "/api/v1/queues", EVERYONE, ""),
    route("POST", "/api/v1/simulations", OVERSIGHT, "one run at a time; a month of days at most"),
    route("GET", "/api/v1/simulations", OVERSIGHT, ""),
    route("GET", "/api/v1/simulations/{id}", OVERSIGHT, ""),
    route("PUT", "/api/v1/config", ADMIN, "checked first; applied at one instant; recorded with who and what"),
    route("GET", "/api/v1/config/changes", OVERSIGHT, "who changed what, when; no secrets are in it"),
    route("GET", "/api/v1/queues/{name}/wait", EVERYONE.and_pbx(), "the PBX: a newcomer's wait, to announce"),
    route("GET", "/api/v1/kinds", EVERYONE, "the kinds of work and their rules, the centre's own included"),
    route("GET", "/api/v1/figures", OVERSIGHT, ""),
    route("GET", "/api/v1/reports/{period}", OVERSIGHT, ""),
    route("GET", "/api/v1/merchant-lists/{month}", OVERSIGHT, ""),
    route("PUT", "/api/v1/merchant-lists/{month}", OVERSIGHT, "confirms the month's red and black lists"),
    route("GET", "/api/v1/customers/{phone}", OWN_WORK, "own: the customer of a task offered to or held by the caller"),
    route("PUT", "/api/v1/customers/{phone}", OWN_WORK, "own: as above"),
    route("GET", "/api/v1/customers/{phone}/changes", OWN_WORK, "own: as above"),
    route("GET", "/api/v1/customers", OVERSIGHT, "by region and tag"),
    route("GET", "/api/v1/customer-fields", EVERYONE, "the centre's own fields' names and labels"),
    route("POST", "/api/v1/cti/events", users(No, No, No, No).and_pbx(), "the PBX's token (`[cti] tokens`)"),
    route("GET", "/api/v1/calls", TRAVEL, ""),
    route("GET", "/api/v1/calls/{task_id}", TRAVEL.and_pbx(), "the PBX: a queued caller's position and wait"),
    route("POST", "/api/v1/calls/outbound", users(Yes, No, No, No), "own: a task the agent holds"),
    route("GET", "/api/v1/calls/outbound", TRAVEL, ""),
    route("GET", "/api/v1/calls/outbound/{id}", TRAVEL, ""),
    route("POST", "/api/v1/missed-calls", OVERSIGHT.and_pbx(), ""),
    route("GET", "/api/v1/missed-calls", OVERSIGHT, ""),
    route("POST", "/api/v1/registrations", users(Yes, No, Yes, Yes).and_back_office(), ""),
    route("POST", "/api/v1/events/{id}/ended", OVERSIGHT.and_back_office(), ""),
    route("PUT", "/api/v1/events/{id}", OVERSIGHT.and_back_office(), "creates or replaces the description"),
    route("GET", "/api/v1/events", EVERYONE, "agents register customers for them (代报名)"),
    route("GET", "/api/v1/events/{id}", EVERYONE, "as above, with the attendance figures"),
    route(
        "PUT",
        "/api/v1/events/{id}/attendance/{phone}",
        users(Own, No, Yes, Yes),
        "own: the customer of a task offered to or held by the caller",
    ),
    route("POST", "/api/v1/events/{id}/recommendations", OVERSIGHT, "creates a task per matching customer"),
    route("POST", "/api/v1/orders", OVERSIGHT.and_back_office(), "the shop's past orders, JSON or CSV"),
    route("POST", "/api/v1/warranties", users(Yes, No, Yes, Yes).and_back_office(), "creates its callbacks"),
    route("GET", "/api/v1/warranties", OVERSIGHT.and_back_office(), ""),
    route("POST", "/api/v1/cases", users(Yes, Yes, Yes, Yes), ""),
    route("GET", "/api/v1/cases", OWN_WORK, "own: cases the caller owns or that were sent to their department"),
    route("GET", "/api/v1/cases/{id}", OWN_WORK, "own: as above"),
    route("POST", "/api/v1/cases/{id}/steps", OWN_WORK, "own: as above"),
    route("POST", "/api/v1/departments", OVERSIGHT, ""),
    route("GET", "/api/v1/departments", EVERYONE, "names, leads and members: where a case can be sent"),
    route("GET", "/api/v1/departments/{id}", EVERYONE, "as above"),
    route("PATCH", "/api/v1/departments/{id}", OVERSIGHT, "members replaced as a whole"),
    route("POST", "/api/v1/drivers", TRAVEL, ""),
    route("GET", "/api/v1/drivers", TRAVEL, ""),
    route("GET", "/api/v1/drivers/{id}", TRAVEL, ""),
    route("POST", "/api/v1/drivers/{id}/violations", TRAVEL, ""),
    route("GET", "/api/v1/drivers/{id}/violations", TRAVEL, ""),
    route("PATCH", "/api/v1/drivers/{id}", TRAVEL, ""),
    route("POST", "/api/v1/car-orders", EVERYONE, "an agent takes a booking on a call"),
    route("GET", "/api/v1/car-orders", TRAVEL, ""),
    route(
        "GET",
        "/api/v1/car-orders/{id}",
        users(Own, Yes, Yes, Yes),
        "own: an order the caller took or whose task they hold",
    ),
    route("GET", "/api/v1/pool-proposals", TRAVEL, ""),
    route("POST", "/api/v1/pool-proposals/{id}/accept", TRAVEL, ""),
    route("POST", "/api/v1/pool-proposals/{id}/reject", TRAVEL, ""),
    route("GET", "/api/v1/car-orders/{id}/suggested-drivers", TRAVEL, ""),
    route(
        "POST",
        "/api/v1/car-orders/{id}/insurance",
        users(Own, Yes, Yes, Yes),
        "own: the order's insurance task is offered to or held by the caller",
    ),
    route("POST", "/api/v1/car-orders/{id}/complete", TRAVEL, ""),
    route("POST", "/api/v1/car-orders/{id}/cancel", TRAVEL, ""),
    route("POST", "/api/v1/trips", TRAVEL, ""),
    route("GET", "/api/v1/trips/{id}", TRAVEL, ""),
    route("GET", "/api/v1/trips/{id}/suggested-drivers", TRAVEL, ""),
    route("POST", "/api/v1/trips/{id}/calls", TRAVEL, ""),
    route(
        "POST",
        "/api/v1/trips/{id}/driver-calls",
        users(No, Yes, Yes, No),
        "from the caller's own phone (`sip_uri`)",
    ),
    route("POST", "/api/v1/trips/{id}/dispatch", TRAVEL, ""),
    route("GET", "/api/v1/dispatch-board", TRAVEL, ""),
    route("POST", "/api/v1/inns", TRAVEL, ""),
    route("GET", "/api/v1/inns", TRAVEL, ""),
    route("POST", "/api/v1/inns/{id}/violations", TRAVEL, ""),
    route("GET", "/api/v1/inns/{id}/violations", TRAVEL, ""),
    route(
        "POST",
        "/api/v1/inn-orders",
        TRAVEL.and_back_office(),
        "the inn back office's token (`[access] back_office_tokens`)",
    ),
    route("GET", "/api/v1/inn-orders", TRAVEL.and_back_office(), ""),
    route(
        "GET",
        "/api/v1/inn-orders/{id}",
        users(Own, Yes, Yes, Yes).and_back_office(),
        "own: the booking's reminder is offered to or held by the caller",
    ),
    route("PATCH", "/api/v1/inn-orders/{id}", users(Own, Yes, Yes, Yes), "own: as above"),
    route(
        "POST",
        "/api/v1/inn-orders/{id}/calls",
        users(Own, Yes, Yes, No),
        "own: as above; from the caller's own phone",
    ),
    route("GET", "/api/v1/openapi.json", Access::Public, ""),
    route("GET", "/health", Access::Public, "readiness, for load balancers; says nothing of the centre's work"),
    route("GET", "/metrics", Access::Public, "queue names and counts; bind or firewall it (`docs/security.md`)"),
    route("GET", "/", Access::Public, "the pages hold no data; they use the API"),
    route("GET", "/wallboard", Access::Public, "as above"),
    route("GET", "/agent", Access::Public, "as above"),
    route("GET", "/simulations", Access::Public, "as above"),
    route("GET", "/dispatch", Access::Public, "as above"),
    route("GET", "/assets/{name}", Access::Public, "as above"),
    route("GET", "/ws", Access::Ticket(&[Role::Agent, Role::Dispatcher]), "the agent's console; origin checked"),
    route(
        "GET",
        "/ws/wallboard",
        Access::Ticket(&[Role::Supervisor, Role::Admin]),
        "origin checked; at most `websocket.max_wallboards_per_user` each",
    ),
];

/// The matrix entry for a request, HEAD counting as GET.
pub fn lookup(method: &Method, path: &str) -> Option<&'static Route> {
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    MATRIX.iter().find(|r| r.method == method && r.path == path)
}

/// Who is on the other end of a request that passed the matrix.
#[derive(Clone, Debug)]
pub enum Principal {
    User(Claims),
    /// A PBX, by its name in `[cti] tokens`.
    Pbx(String),
    /// A back-office system, by its name in `[access] back_office_tokens`.
    BackOffice(String),
}

impl Principal {
    /// The user behind the request, if a user (not a machine) sent it.
    pub fn user(&self) -> Option<crate::domain::UserId> {
        match self {
            Principal::User(claims) => Some(claims.user),
            Principal::Pbx(_) | Principal::BackOffice(_) => None,
        }
    }
}

/// Applies the matrix to every routed request; unrouted ones reach the
/// fallback (404) untouched.
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(path) = matched else { return next.run(req).await };
    let Some(route) = lookup(req.method(), path.as_str()) else {
        tracing::error!(method = %req.method(), path = path.as_str(), "a route has no entry in the security matrix; refused");
        return ApiError::not_found("route").into_response();
    };
    match principal(&state, req.headers(), &route.access) {
        Ok(Some(p)) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The principal a request's credentials prove, if `access` admits it.
fn principal(state: &AppState, headers: &HeaderMap, access: &Access) -> Result<Option<Principal>, ApiError> {
    let Access::Tokens { pbx, back_office, .. } = *access else { return Ok(None) };
    let token = bearer(headers)?;
    if token.starts_with("v2.") {
        let claims = user_claims(state, token)?;
        return match access.grant(claims.role) {
            No => Err(forbidden(access)),
            Yes | Own => Ok(Some(Principal::User(claims))),
        };
    }
    if let Some(name) = machine(&state.config.cti.tokens, token) {
        return if pbx { Ok(Some(Principal::Pbx(name))) } else { Err(forbidden(access)) };
    }
    if let Some(name) = machine(&state.config.access.back_office_tokens, token) {
        return if back_office { Ok(Some(Principal::BackOffice(name))) } else { Err(forbidden(access)) };
    }
    Err(ApiError::unauthorized("invalid token"))
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <token> from POST /api/v1/login"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// The claims of a user's bearer token.
pub(super) fn user_claims(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    match state.auth.verify_token(token, Timestamp::now()) {
        Ok(claims) => Ok(claims),
        Err(AuthError::Expired) => Err(ApiError::unauthorized("token expired; log in again")),
        Err(AuthError::Ended(why)) => Err(ApiError::session_ended(why.as_str())),
        Err(_) => Err(ApiError::unauthorized("invalid token")),
    }
}

/// The name of the machine whose configured token this is, compared in
/// constant time.
fn machine(tokens: &std::collections::BTreeMap<String, String>, token: &str) -> Option<String> {
    tokens
        .iter()
        .find(|(_, t)| {
            t.len() == token.len() && t.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
        })
        .map(|(name, _)| name.clone())
}

fn forbidden(access: &Access) -> ApiError {
    let names: Vec<&str> = Role::ALL.iter().filter(|r| access.grant(**r) != No).map(|r| r.as_str()).collect();
    let mut who = names.join(" or ");
    if let Access::Tokens { pbx: true, .. } = access {
        who = if who.is_empty() { "a PBX token".into() } else { format!("{who}, or a PBX token") };
    }
    if let Access::Tokens { back_office: true, .. } = access {
        who = if who.is_empty() { "a back-office token".into() } else { format!("{who}, or a back-office token") };
    }
    ApiError::forbidden(format!("this needs {who}"))
}

/// The matrix as the Markdown table in `docs/security.md`.
pub fn render() -> String {
    let cell = |g: Grant| match g {
        No => "–",
        Yes => "yes",
        Own => "own",
    };
    let mut out = String::from(
        "| method | path | anyone | agent | dispatcher | supervisor | admin | PBX token | back-office token | note |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in MATRIX {
        let (anyone, roles, pbx, back_office) = match r.access {
            Access::Public => ("yes", ["–"; 4], "–", "–"),
            Access::Ticket(_) => {
                let roles = std::array::from_fn(|i| if r.access.grant(Role::ALL[i]) == Yes { "ticket" } else { "–" });
                ("ticket", roles, "–", "–")
            }
            Access::Tokens { roles, pbx, back_office } => {
                let yes = |b: bool| if b { "yes" } else { "–" };
                ("–", roles.map(cell), yes(pbx), yes(back_office))
            }
        };
        let [a, d, s, ad] = roles;
        out.push_str(&format!(
            "| {} | `{}` | {anyone} | {a} | {d} | {s} | {ad} | {pbx} | {back_office} | {} |\n",
            r.method, r.path, r.note
        ));
    }
    out
}

#[cfg(test)]
mod tests;
