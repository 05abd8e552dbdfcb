//! The pages Switchboard serves itself: the wallboard, the agent's and the
//! dispatcher's consoles, the supervisors' what-if runs. Plain HTML, CSS and JavaScript compiled into the
//! binary, so a centre without internet access needs nothing else: no build
//! step, no CDN.
//!
//! The pages talk to the server only through the public API (`/api/v1`)
//! and the sockets (`/ws`, `/ws/wallboard`); who may see what is enforced
//! there, not here.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::ApiError;

/// Same origin only: the pages load nothing from elsewhere, and nobody may
/// frame them.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

const ASSETS: &[(&str, &str, &str)] = &[
    ("common.js", "text/javascript; charset=utf-8", include_str!("assets/common.js")),
    ("wallboard.js", "text/javascript; charset=utf-8", include_str!("assets/wallboard.js")),
    ("agent.js", "text/javascript; charset=utf-8", include_str!("assets/agent.js")),
    ("dispatch.js", "text/javascript; charset=utf-8", include_str!("assets/dispatch.js")),
    ("simulations.js", "text/javascript; charset=utf-8", include_str!("assets/simulations.js")),
    ("switchboard.css", "text/css; charset=utf-8", include_str!("assets/switchboard.css")),
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { page(include_str!("assets/index.html")) }))
        .route("/wallboard", get(|| async { page(include_str!("assets/wallboard.html")) }))
        // One console for both roles; a dispatcher's also shows the board.
        .route("/agent", get(|| async { page(include_str!("assets/console.html")) }))
        .route("/dispatch", get(|| async { page(include_str!("assets/console.html")) }))
        .route("/simulations", get(|| async { page(include_str!("assets/simulations.html")) }))
        .route("/assets/{name}", get(asset))
}

fn page(html: &'static str) -> Response {
    served("text/html; charset=utf-8", html)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => served(content_type, body),
        None => ApiError::not_found("asset").into_response(),
    }
}

/// A file with headers that keep it fresh after an upgrade (`no-cache`
/// revalidates each time; the files are small) and safe to render.
fn served(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    resp
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn pages_and_their_assets_are_served_and_reference_nothing_elsewhere() {
        let app: Router = router();
        for path in ["/", "/wallboard", "/agent", "/dispatch", "/simulations"] {
            let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            let html = String::from_utf8(body.to_vec()).unwrap();
            assert!(!html.contains("http://") && !html.contains("https://"), "{path} loads from elsewhere");
            for src in html.split("src=\"").skip(1).chain(html.split("href=\"").skip(1)) {
                let target = &src[..src.find('"').unwrap()];
                if let Some(name) = target.strip_prefix("/assets/") {
                    assert!(ASSETS.iter().any(|(n, _, _)| *n == name), "{path} needs {target}, which is not served");
                }
            }
        }
        let resp = app.oneshot(Request::get("/assets/nope.js").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
