//! The REST API under `/api/v1`, `/health` and the OpenAPI document.
//! Handlers convert wire types to domain types, call the store or the hub,
//! and map every failure to [`ApiError`].

pub mod access;
pub mod agents;
pub mod cars;
pub mod cases;
pub mod config;
pub mod cti;
pub mod customers;
pub mod departments;
pub mod drivers;
pub mod error;
pub mod events;
pub mod extract;
pub mod floor;
pub mod inns;
pub mod merchant_lists;
pub mod missed;
pub mod ops;
pub mod orders;
pub mod own;
pub mod placed;
pub mod recurring;
pub mod registrations;
pub mod reports;
pub mod session;
pub mod shift_swaps;
pub mod shifts;
pub mod simulations;
pub mod state;
pub mod tasks;
#[cfg(test)]
mod tests;
pub mod trips;
pub mod users;
pub mod violations;
pub mod warranties;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::state::AppState;
pub use error::ApiError;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Real-time dispatch server for telephone customer-service centres"),
    modifiers(&BearerAuth)
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
pub async fn openapi_json(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json(with_centre_kinds(openapi().clone(), &state.rules.get()))
}

/// The document with the centre's own task kinds (`[kinds]`) among the
/// values of `TaskKind`, which the built document lists only the built-in
/// ones of.
fn with_centre_kinds(
    mut doc: utoipa::openapi::OpenApi,
    rules: &crate::rules::dispatch::Rules,
) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let schema = doc.components.as_mut().and_then(|c| c.schemas.get_mut("TaskKind"));
    if let Some(RefOr::T(Schema::Object(kind))) = schema {
        let values = kind.enum_values.get_or_insert_with(Vec::new);
        values.extend(rules.custom_kinds().map(|(k, _)| serde_json::Value::from(k.as_str())));
    }
    doc
}

async fn no_route() -> ApiError {
    ApiError::not_found("route")
}

/// Every route of the API, each declared with its OpenAPI entry beside its
/// handler (each area's `routes()`), so that nothing is served that the
/// document does not describe.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::routes())
        .merge(users::routes())
        .merge(tasks::routes())
        .merge(agents::routes())
        .merge(shifts::routes())
        .merge(shift_swaps::routes())
        .merge(recurring::routes())
        .merge(floor::routes())
        .merge(ops::routes())
        .merge(reports::routes())
        .merge(merchant_lists::routes())
        .merge(cti::routes())
        .merge(placed::routes())
        .merge(missed::routes())
        .merge(registrations::routes())
        .merge(cases::routes())
        .merge(departments::routes())
        .merge(drivers::routes())
        .merge(cars::routes())
        .merge(trips::routes())
        .merge(inns::routes())
        .merge(violations::routes())
        .merge(simulations::routes())
        .merge(config::routes())
        .merge(warranties::routes())
        .merge(customers::routes())
        .merge(events::routes())
        .merge(orders::routes())
        .routes(routes!(openapi_json))
}

/// The REST router.
pub fn router() -> Router<AppState> {
    routes().split_for_parts().0.fallback(no_route).layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The OpenAPI document of exactly the routes `router` serves, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = routes().split_for_parts().1;
        Described.modify(&mut doc);
        doc
    })
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
