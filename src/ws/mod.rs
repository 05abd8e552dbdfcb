//! `GET /ws` (the agent's console) and `GET /ws/wallboard` (the live
//! figures). The transport adapter lives here; the session logic, generic
//! over any stream, is in [`session`] and [`wallboard`].

pub mod protocol;
pub mod session;
pub mod wallboard;

use std::time::Duration;

use axum::extract::State;
use std::pin::Pin;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::future::ready;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tracing::Instrument;

use crate::api::ApiError;
use crate::api::state::AppState;
use crate::limits::Rate;
use crate::metrics::SessionKind;
use session::{Frame, Out, SessionEnv};
use wallboard::WallboardEnv;

/// Refuses a browser page of another origin than this server's own (by
/// the request's `Host`) or one of `allowed` (`server.allowed_origins`):
/// cookies are not used, but a page elsewhere must still not open a
/// console with a ticket it obtained. A client that sends no `Origin` (a
/// native console, a test) is not a browser page and is admitted.
pub fn check_origin(headers: &axum::http::HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let own = origin.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && rest.eq_ignore_ascii_case(host)
    });
    if own || allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        tracing::warn!(origin, "a WebSocket from another origin was refused");
        Err(ApiError::forbidden("this origin may not open the server's sockets (server.allowed_origins)")
            .with_code("origin_not_allowed"))
    }
}

/// One socket's message rate (`websocket.messages_per_sec`, `message_burst`).
fn message_rate(state: &AppState) -> Rate {
    let ws = &state.config.websocket;
    Rate::new(ws.messages_per_sec as f64, ws.message_burst as f64)
}

/// Upgrades to a WebSocket and runs an agent session on it.
pub async fn upgrade(State(state): State<AppState>, headers: axum::http::HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Err(refused) = check_origin(&headers, &state.config.server.allowed_origins) {
        return refused.into_response();
    }
    let limit = state.config.websocket.max_message_bytes;
    transport(ws, limit).on_upgrade(move |socket| {
        let (incoming, outgoing) = frames(socket);
        let env = SessionEnv {
            hub: state.hub.clone(),
            store: state.store.clone(),
            auth: state.auth.clone(),
            auth_timeout: Duration::from_secs(state.config.auth.ws_auth_timeout_secs),
            max_message_bytes: limit,
            send_timeout: Duration::from_secs(state.config.websocket.send_timeout_secs),
            shutdown: state.shutdown.clone(),
            conn: state.next_conn_id(),
            board: state.board.subscribe(),
            messages: message_rate(&state),
            status_limits: state.status_limits.clone(),
            metrics: state.metrics.clone(),
            shifts: (state.rules.get().calendar.clone(), state.config.shifts.wind_down()),
            greetings: state.greeter.clone(),
            placer: state.placer.clone(),
        };
        let span = tracing::info_span!("console", conn = env.conn, agent = tracing::field::Empty);
        serve(&state, SessionKind::Agent, span, session::run(incoming, outgoing, env))
    })
}

/// `GET /ws/wallboard`: the live figures for supervisors.
pub async fn upgrade_wallboard(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = check_origin(&headers, &state.config.server.allowed_origins) {
        return refused.into_response();
    }
    let limit = state.config.websocket.max_message_bytes;
    let feed = match crate::api::ops::feed(&state) {
        Ok(feed) => feed,
        Err(e) => return e.into_response(),
    };
    transport(ws, limit).on_upgrade(move |socket| {
        let (incoming, outgoing) = frames(socket);
        let env = WallboardEnv {
            auth: state.auth.clone(),
            auth_timeout: Duration::from_secs(state.config.auth.ws_auth_timeout_secs),
            max_message_bytes: limit,
            send_timeout: Duration::from_secs(state.config.websocket.send_timeout_secs),
            shutdown: state.shutdown.clone(),
            feed,
            messages: message_rate(&state),
            max_per_user: state.config.websocket.max_wallboards_per_user,
            metrics: state.metrics.clone(),
        };
        let span = tracing::info_span!("wallboard", conn = state.next_conn_id(), user = tracing::field::Empty);
        serve(&state, SessionKind::Wallboard, span, wallboard::run(incoming, outgoing, env))
    })
}

/// Runs a session in its span, counted in `/metrics` while it lasts and
/// tracked so that shutdown waits for it.
fn serve<S>(state: &AppState, kind: SessionKind, span: tracing::Span, session: S) -> impl Future<Output = ()> + use<S>
where
    S: Future<Output = ()> + Send + 'static,
{
    let gauge = state.metrics.session(kind);
    state.sessions.track_future(
        async move {
            session.await;
            drop(gauge);
        }
        .instrument(span),
    )
}

/// The transport's limits for a socket whose messages may be `limit` bytes.
fn transport(ws: WebSocketUpgrade, limit: usize) -> WebSocketUpgrade {
    // The transport admits up to twice the limit so that the session can
    // refuse an oversized message with a clear close code (1009) instead of
    // the connection just breaking.
    // Reads go through a 4 KiB buffer instead of tungstenite's default
    // 128 KiB, which it zeroes on every read: console messages are small,
    // and a floor of consoles would otherwise pay 128 KiB each in memory and
    // a 128 KiB memset per message in time. Longer messages still arrive,
    // over several reads.
    ws.max_message_size(limit * 2).max_frame_size(limit * 2).read_buffer_size(4096)
}

type Incoming = Pin<Box<dyn Stream<Item = Frame> + Send>>;
type Outgoing = Pin<Box<dyn Sink<Out, Error = axum::Error> + Send>>;

/// Whether a read failed on a message over the transport's size limit.
fn is_too_big(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    e.into_inner().downcast::<Error>().is_ok_and(|e| matches!(*e, Error::Capacity(_)))
}

/// The socket as the sessions see it: frames without transport details.
fn frames(socket: WebSocket) -> (Incoming, Outgoing) {
    let (sink, stream) = socket.split();
    let incoming = stream.filter_map(|m| {
        ready(match m {
            Ok(Message::Text(t)) => Some(Frame::Text(t.to_string())),
            Ok(Message::Binary(_)) => Some(Frame::Binary),
            Err(e) => Some(if is_too_big(e) { Frame::TooBig } else { Frame::Close }),
            Ok(Message::Close(_)) => Some(Frame::Close),
            Ok(Message::Ping(_) | Message::Pong(_)) => None,
        })
    });
    let outgoing = sink.with(|o: Out| {
        ready(Ok::<_, axum::Error>(match o {
            Out::Text(t) => Message::Text(t.into()),
            Out::Close(code, reason) => Message::Close(Some(CloseFrame { code, reason: reason.into() })),
        }))
    });
    (Box::pin(incoming), Box::pin(outgoing))
}
