//! The REST API under `/api/v1`, `/health` and the OpenAPI document.
//! Handlers convert wire types to domain types, call the store or the hub,
//! and map every failure to [`ApiError`].

pub mod access;
pub mod agents;
pub mod cars;
pub mod cases;
pub mod cti;
pub mod drivers;
pub mod error;
pub mod extract;
pub mod floor;
pub mod inns;
pub mod missed;
pub mod ops;
pub mod own;
pub mod registrations;
pub mod reports;
pub mod session;
pub mod shifts;
pub mod state;
pub mod tasks;
#[cfg(test)]
mod tests;
pub mod trips;
pub mod users;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::state::AppState;
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Real-time dispatch server for telephone customer-service centres"),
    paths(
        session::login, session::logout, session::ws_ticket, session::me, session::change_password,
        users::create_user, users::list_users, users::get_user, users::patch_user, users::reset_password,
        users::delete_user,
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::cancel_task,
        agents::create_agent, agents::list_agents, agents::get_agent, agents::update_agent,
        agents::set_status, shifts::put_schedule, shifts::get_schedule, shifts::handover,
        shifts::get_handover, shifts::delete_handover,
        floor::list_queues, floor::get_customer, floor::put_customer, ops::health, ops::figures, reports::report,
        cti::post_event, cti::list_calls, cti::get_call,
        missed::report, missed::backlog, registrations::register, registrations::event_ended,
        cases::create_case, cases::list_cases, cases::get_case, cases::record_step,
        drivers::create_driver, drivers::list_drivers, drivers::get_driver, drivers::patch_driver,
        cars::create_car_order, cars::list_car_orders, cars::get_car_order, cars::pool_proposals,
        trips::plan_trip, trips::accept_pool, trips::reject_pool, trips::get_trip, trips::trip_suggestions,
        trips::order_suggestions, trips::record_call, trips::dispatch_trip, trips::register_insurance,
        trips::complete_order, trips::cancel_order, trips::dispatch_board,
        inns::create_inn, inns::list_inns, inns::report_inn_order, inns::list_inn_orders, inns::get_inn_order,
        inns::patch_inn_order, openapi_json,
    ),
    modifiers(&BearerAuth, &Described)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// OpenAPI requires a description on every response; where a route names
/// none, the status's own phrase ("Created", "Conflict") says it, so that
/// no route repeats the obvious and none is left without.
struct Described;

impl Modify for Described {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                for (code, response) in op.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response
                        && r.description.is_empty()
                    {
                        let phrase = code
                            .parse::<u16>()
                            .ok()
                            .and_then(|c| axum::http::StatusCode::from_u16(c).ok())
                            .and_then(|c| c.canonical_reason());
                        r.description = phrase.unwrap_or("Response").to_owned();
                    }
                }
            }
        }
    }
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI document of this API", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn no_route() -> ApiError {
    ApiError::not_found("route")
}

pub fn router() -> Router<AppState> {
    let v1 = Router::new()
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route("/ws-ticket", post(session::ws_ticket))
        .route("/me", get(session::me))
        .route("/me/password", put(session::change_password))
        .route("/tasks", post(tasks::create_task).get(tasks::list_tasks))
        .route("/tasks/{id}", get(tasks::get_task))
        .route("/tasks/{id}/cancel", post(tasks::cancel_task))
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/{id}", get(users::get_user).patch(users::patch_user).delete(users::delete_user))
        .route("/users/{id}/password", put(users::reset_password))
        .route("/agents", post(agents::create_agent).get(agents::list_agents))
        .route("/agents/{id}", get(agents::get_agent).patch(agents::update_agent))
        .route("/agents/{id}/status", put(agents::set_status))
        .route("/agents/{id}/schedule", put(shifts::put_schedule).get(shifts::get_schedule))
        .route(
            "/agents/{id}/handover",
            post(shifts::handover).get(shifts::get_handover).delete(shifts::delete_handover),
        )
        .route("/queues", get(floor::list_queues))
        .route("/figures", get(ops::figures))
        .route("/reports/{period}", get(reports::report))
        .route("/customers/{phone}", get(floor::get_customer).put(floor::put_customer))
        .route("/cti/events", post(cti::post_event))
        .route("/calls", get(cti::list_calls))
        .route("/missed-calls", post(missed::report).get(missed::backlog))
        .route("/registrations", post(registrations::register))
        .route("/events/{id}/ended", post(registrations::event_ended))
        .route("/calls/{task_id}", get(cti::get_call))
        .route("/cases", post(cases::create_case).get(cases::list_cases))
        .route("/cases/{id}", get(cases::get_case))
        .route("/cases/{id}/steps", post(cases::record_step))
        .route("/drivers", post(drivers::create_driver).get(drivers::list_drivers))
        .route("/drivers/{id}", get(drivers::get_driver).patch(drivers::patch_driver))
        .route("/car-orders", post(cars::create_car_order).get(cars::list_car_orders))
        .route("/car-orders/{id}", get(cars::get_car_order))
        .route("/pool-proposals", get(cars::pool_proposals))
        .route("/pool-proposals/{id}/accept", post(trips::accept_pool))
        .route("/pool-proposals/{id}/reject", post(trips::reject_pool))
        .route("/car-orders/{id}/suggested-drivers", get(trips::order_suggestions))
        .route("/car-orders/{id}/insurance", post(trips::register_insurance))
        .route("/car-orders/{id}/complete", post(trips::complete_order))
        .route("/car-orders/{id}/cancel", post(trips::cancel_order))
        .route("/trips", post(trips::plan_trip))
        .route("/trips/{id}", get(trips::get_trip))
        .route("/trips/{id}/suggested-drivers", get(trips::trip_suggestions))
        .route("/trips/{id}/calls", post(trips::record_call))
        .route("/trips/{id}/dispatch", post(trips::dispatch_trip))
        .route("/dispatch-board", get(trips::dispatch_board))
        .route("/inns", post(inns::create_inn).get(inns::list_inns))
        .route("/inn-orders", post(inns::report_inn_order).get(inns::list_inn_orders))
        .route("/inn-orders/{id}", get(inns::get_inn_order).patch(inns::patch_inn_order))
        .route("/openapi.json", get(openapi_json));
    Router::new()
        .nest("/api/v1", v1)
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Runs a request inside a span naming it, so that whatever it logs (and
/// the dispatcher's command span beneath) says which request it was for.
pub async fn in_request_span(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path());
    next.run(req).instrument(span).await
}

/// Headers on every response: no content sniffing, no referrer sent
/// elsewhere, no caching of API answers (they carry customers' data).
pub async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if api && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// While Redis does not answer and the changes waiting for it fill the
/// buffer (`redis.max_pending`), requests that would change anything are
/// refused with 503 and `Retry-After` rather than queued without bound;
/// reads and logins go on.
pub async fn refuse_changes_while_buffer_full(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, Method, header};
    use axum::response::IntoResponse;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let login = matches!(req.uri().path(), "/api/v1/login" | "/api/v1/ws-ticket");
    if changes && !login && state.live.as_ref().is_some_and(|h| !h.accepting()) {
        let mut resp = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "live_store_unavailable",
            "the live store (Redis) does not answer and the changes waiting for it fill the buffer; retry shortly",
        )
        .into_response();
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return resp;
    }
    next.run(req).await
}
