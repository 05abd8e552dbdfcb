//! `GET /ws`: the agent's console connection. The transport adapter lives
//! here; the session logic, generic over any stream, is in [`session`].

pub mod protocol;
pub mod session;

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::response::Response;
use futures_util::future::ready;
use futures_util::{SinkExt, StreamExt};

use crate::server::AppState;
use session::{Frame, Out, SessionEnv};

/// Upgrades to a WebSocket and runs an agent session on it.
pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let limit = state.config.websocket.max_message_bytes;
    // The transport admits up to twice the limit so that the session can
    // refuse an oversized message with a clear close code (1009) instead of
    // the connection just breaking.
    // Reads go through a 4 KiB buffer instead of tungstenite's default
    // 128 KiB, which it zeroes on every read: console messages are small,
    // and a floor of consoles would otherwise pay 128 KiB each in memory and
    // a 128 KiB memset per message in time. Longer messages still arrive,
    // over several reads.
    ws.max_message_size(limit * 2).max_frame_size(limit * 2).read_buffer_size(4096).on_upgrade(move |socket| {
        let (sink, stream) = socket.split();
        let incoming = stream.filter_map(|m| {
            ready(match m {
                Ok(Message::Text(t)) => Some(Frame::Text(t.to_string())),
                Ok(Message::Binary(_)) => Some(Frame::Binary),
                Ok(Message::Close(_)) | Err(_) => Some(Frame::Close),
                Ok(Message::Ping(_) | Message::Pong(_)) => None,
            })
        });
        let outgoing = sink.with(|o: Out| {
            ready(Ok::<_, axum::Error>(match o {
                Out::Text(t) => Message::Text(t.into()),
                Out::Close(code, reason) => Message::Close(Some(CloseFrame { code, reason: reason.into() })),
            }))
        });
        let env = SessionEnv {
            hub: state.hub.clone(),
            store: state.store.clone(),
            auth: state.auth.clone(),
            auth_timeout: Duration::from_secs(state.config.auth.ws_auth_timeout_secs),
            max_message_bytes: limit,
            shutdown: state.shutdown.clone(),
            conn: state.next_conn_id(),
            board: state.board.subscribe(),
        };
        state.sessions.track_future(session::run(incoming, Box::pin(outgoing), env))
    })
}
