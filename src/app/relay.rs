//! A node that does not lead serves as a relay: it takes REST calls and
//! agents' WebSockets like any node and passes them to the leading node,
//! whose address is in its lease. So agents and PBX-side tools may connect
//! to any node; one node decides. When the leader dies, the relay's
//! proxied sockets close, the consoles reconnect (to this node or another),
//! and the node that wins the lease next serves them itself.
//!
//! Only HTTP and WebSocket bytes pass through here: the relay keeps no
//! state of its own, so losing a relay loses nothing but its connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpCloseFrame;

use crate::api::ApiError;
use crate::listen::ClientAddr;
use crate::live::Live;

/// How long a relayed request waits to reach the leader.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Relay {
    live: Live,
    /// With TLS on the nodes' listeners: how to reach the leader's.
    tls: Option<TlsConnector>,
    /// The sockets' browser origins besides the relay's own (`server.allowed_origins`).
    origins: Arc<[String]>,
}

/// The leading node's listener, over TLS when the nodes serve it.
trait Upstream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Upstream for T {}

/// The relay's routes: `/health` answered here, the sockets (`/ws`,
/// `/ws/wallboard`) and everything else passed to the leader. The leader
/// hears the client's address in `X-Forwarded-For`, which it believes of
/// the nodes listed in its `server.trusted_proxies`.
pub fn router(live: Live, tls: Option<TlsConnector>, origins: Arc<[String]>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ws", get(websocket))
        .route("/ws/wallboard", get(websocket))
        .fallback(forward)
        .with_state(Relay { live, tls, origins })
}

/// A connection to the leader at `addr`.
async fn connect(relay: &Relay, addr: &str) -> Option<Box<dyn Upstream>> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await.ok()?.ok()?;
    let _ = stream.set_nodelay(true);
    let Some(tls) = &relay.tls else { return Some(Box::new(stream)) };
    // The leader's certificate is checked against this node's own (they
    // share the deployment's), so the name only fills the handshake.
    let ip = addr.parse::<SocketAddr>().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let handshake = tls.connect(ServerName::IpAddress(ip.into()), stream);
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, leader = addr, "TLS to the leading node failed");
            None
        }
        Err(_) => None,
    }
}

/// Adds the client's address to `X-Forwarded-For`.
fn forwarded_for(headers: &mut axum::http::HeaderMap, client: Option<ClientAddr>) {
    let Some(ClientAddr(ip)) = client else { return };
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(before) => format!("{before}, {ip}"),
        None => ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", v);
    }
}

async fn leader(relay: &Relay) -> Result<String, Response> {
    match relay.live.leader().await {
        Ok(Some(addr)) => Ok(addr),
        Ok(None) => Err(no_leader()),
        Err(e) => {
            tracing::warn!(error = %e, "finding the leading node failed");
            Err(no_leader())
        }
    }
}

fn no_leader() -> Response {
    let mut resp = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_leader",
        "no node leads at the moment (one is taking over); retry shortly",
    )
    .into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

async fn health(State(relay): State<Relay>) -> Response {
    let leader = relay.live.leader().await.ok().flatten();
    let status = if leader.is_some() { "ok" } else { "degraded" };
    axum::Json(serde_json::json!({"status": status, "role": "relay", "leader": leader})).into_response()
}

/// Passes one HTTP request to the leader over a connection of its own and
/// returns the leader's answer as it is.
async fn forward(State(relay): State<Relay>, mut req: Request) -> Response {
    let addr = match leader(&relay).await {
        Ok(addr) => addr,
        Err(resp) => return resp,
    };
    let Some(stream) = connect(&relay, &addr).await else { return no_leader() };
    let client = req.extensions().get::<ClientAddr>().copied();
    forwarded_for(req.headers_mut(), client);
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, leader = addr, "relaying to the leading node failed");
            return no_leader();
        }
    };
    tokio::spawn(conn);
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *req.uri_mut() = path.parse().expect("a path and query taken from a valid URI");
    match sender.send_request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => {
            tracing::warn!(error = %e, leader = addr, "relaying to the leading node failed");
            no_leader()
        }
    }
}

/// Joins an agent's WebSocket to one of its own to the leader's `/ws`.
/// The browser's origin is checked here, where the browser connected.
async fn websocket(
    State(relay): State<Relay>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    client: Option<axum::Extension<ClientAddr>>,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = crate::ws::check_origin(&headers, &relay.origins) {
        return refused.into_response();
    }
    let addr = match leader(&relay).await {
        Ok(addr) => addr,
        Err(resp) => return resp,
    };
    let path = uri.path().to_owned();
    let client = client.map(|c| c.0);
    ws.on_upgrade(move |socket| pipe(socket, relay, addr, path, client))
}

async fn pipe(client: WebSocket, relay: Relay, addr: String, path: String, client_addr: Option<ClientAddr>) {
    let upstream = async {
        let stream = connect(&relay, &addr).await?;
        let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}{path}"
        ))
        .ok()?;
        forwarded_for(request.headers_mut(), client_addr);
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::client_async(request, stream)).await.ok()?.ok()
    };
    let (mut client_tx, mut client_rx) = client.split();
    let upstream = match upstream.await {
        Some((upstream, _)) => upstream,
        _ => {
            // 1013: try again later.
            let close = CloseFrame { code: 1013, reason: "no leading node reachable".into() };
            let _ = client_tx.send(Message::Close(Some(close))).await;
            return;
        }
    };
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_leader = async {
        while let Some(Ok(msg)) = client_rx.next().await {
            let msg = match msg {
                Message::Text(t) => UpMessage::Text(t.as_str().into()),
                Message::Binary(b) => UpMessage::Binary(b),
                Message::Ping(p) => UpMessage::Ping(p),
                Message::Pong(p) => UpMessage::Pong(p),
                Message::Close(c) => {
                    let c = c.map(|c| UpCloseFrame { code: c.code.into(), reason: c.reason.as_str().into() });
                    let _ = up_tx.send(UpMessage::Close(c)).await;
                    break;
                }
            };
            if up_tx.send(msg).await.is_err() {
                break;
            }
        }
    };
    let to_agent = async {
        let mut close = CloseFrame { code: 1012, reason: "the leading node went away; reconnect".into() };
        while let Some(Ok(msg)) = up_rx.next().await {
            let msg = match msg {
                UpMessage::Text(t) => Message::Text(t.as_str().into()),
                UpMessage::Binary(b) => Message::Binary(b),
                UpMessage::Ping(p) => Message::Ping(p),
                UpMessage::Pong(p) => Message::Pong(p),
                UpMessage::Close(c) => {
                    if let Some(c) = c {
                        close = CloseFrame { code: c.code.into(), reason: c.reason.as_str().into() };
                    }
                    break;
                }
                UpMessage::Frame(_) => continue,
            };
            if client_tx.send(msg).await.is_err() {
                return;
            }
        }
        // 1012 (service restart) when the leader vanished without a word.
        let _ = client_tx.send(Message::Close(Some(close))).await;
    };
    tokio::select! {
        _ = to_leader => {}
        _ = to_agent => {}
    }
}
