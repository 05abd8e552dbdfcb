//! One wallboard's WebSocket session (`GET /ws/wallboard`): the board
//! whole on arrival, then every merge patch the floor feed publishes.
//!
//! Written, like the agent's session, over a plain stream and sink. A
//! wallboard that cannot keep up is disconnected (close 4001) instead of
//! being waited for: each send has [`WallboardEnv::send_timeout`], and one
//! that falls [`crate::runtime::figures::PATCH_BACKLOG`] patches behind is told by the
//! broadcast channel. Either way the others, who share nothing with it but
//! the already serialised patch, never notice. The page reconnects and
//! starts again from the whole board.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::protocol::{ClientMsg, Incoming, ServerMsg};
use super::session::{Admission, Flood, Frame, Out, Verdict, Writer, authenticate, close, drain, rate_limited};
use crate::auth::{Auth, SocketKind};
use crate::domain::Role;
use crate::runtime::figures::FloorFeed;

pub struct WallboardEnv {
    pub auth: Arc<Auth>,
    pub auth_timeout: Duration,
    pub max_message_bytes: usize,
    /// How long one frame may take to leave before the client counts as stuck.
    pub send_timeout: Duration,
    pub shutdown: CancellationToken,
    pub feed: FloorFeed,
    /// How fast the screen may send (it sends only pings).
    pub messages: crate::limits::Rate,
    /// Wallboards one user may have open at once.
    pub max_per_user: usize,
    /// Counts messages refused for their rate.
    pub metrics: Arc<crate::metrics::Metrics>,
}

const OVERSIGHT: Admission =
    Admission { admits: Role::oversees, refusal: "role_not_allowed", purpose: "show the wallboard" };

/// Runs a wallboard session to its end.
pub async fn run<I, O>(mut incoming: I, outgoing: O, env: WallboardEnv)
where
    I: Stream<Item = Frame> + Unpin,
    O: Sink<Out> + Unpin,
{
    let mut out = Writer::new(outgoing, env.send_timeout);
    let limits = (env.auth_timeout, env.max_message_bytes);
    let Some(claims) = authenticate(&mut incoming, &mut out, &env.auth, limits, &OVERSIGHT).await else {
        return;
    };
    tracing::Span::current().record("user", tracing::field::display(claims.user));
    let Some(guard) = env.auth.open_socket(claims, SocketKind::Wallboard, env.max_per_user) else {
        let message = format!("at most {} wallboards per user are open at once", env.max_per_user);
        out.send(&ServerMsg::error("too_many_sockets", message, None)).await;
        return out.close(close::POLICY, "too many wallboards").await;
    };
    let mut flood = Flood::new(env.messages);
    let mut sink = out.into_sink();
    let (latest, mut patches) = env.feed.subscribe();
    let mut sent = latest.seq;
    tracing::info!(user = %claims.user, "wallboard connected");
    if !send(&mut sink, latest.full(), env.send_timeout).await {
        return;
    }
    loop {
        tokio::select! {
            _ = env.shutdown.cancelled() => {
                say_goodbye(&mut sink, close::GOING_AWAY, "server shutting down", env.send_timeout).await;
                break;
            }
            why = guard.ended() => {
                let text = serde_json::to_string(&ServerMsg::error("session_ended", format!("session ended: {}", why.as_str()), None))
                    .expect("protocol messages serialise");
                let _ = send(&mut sink, text, env.send_timeout).await;
                say_goodbye(&mut sink, close::SESSION_ENDED, "session ended", env.send_timeout).await;
                break;
            }
            patch = patches.recv() => match patch {
                Ok(p) if p.seq <= sent => {}
                Ok(p) => {
                    sent = p.seq;
                    if !send(&mut sink, p.text.to_string(), env.send_timeout).await {
                        tracing::warn!(user = %claims.user, "a wallboard was too slow to take a patch; disconnected");
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(user = %claims.user, missed, "a wallboard fell behind the figures; disconnected");
                    let reason = "too slow: fell behind the figures; reconnect";
                    say_goodbye(&mut sink, close::TOO_SLOW, reason, env.send_timeout).await;
                    break;
                }
                Err(RecvError::Closed) => {
                    say_goodbye(&mut sink, close::GOING_AWAY, "server shutting down", env.send_timeout).await;
                    break;
                }
            },
            frame = incoming.next() => {
                let verdict = match frame {
                    Some(Frame::Text(_) | Frame::Binary) => flood.check(),
                    _ => Verdict::Take,
                };
                let reply = match frame {
                    None | Some(Frame::Close) => break,
                    Some(Frame::TooBig) => {
                        say_goodbye(&mut sink, close::TOO_BIG, "message too big", env.send_timeout).await;
                        break;
                    }
                    Some(_) if matches!(verdict, Verdict::Close) => {
                        let text = serde_json::to_string(&rate_limited()).expect("protocol messages serialise");
                        let _ = send(&mut sink, text, env.send_timeout).await;
                        say_goodbye(&mut sink, close::POLICY, "rate limit", env.send_timeout).await;
                        break;
                    }
                    Some(_) if matches!(verdict, Verdict::Refuse) => {
                        env.metrics.rate_limited(crate::metrics::Limited::SocketMessage);
                        rate_limited()
                    }
                    Some(Frame::Text(t)) if t.len() <= env.max_message_bytes => match serde_json::from_str::<Incoming>(&t) {
                        Ok(Incoming { msg: ClientMsg::Ping, .. }) => ServerMsg::Pong,
                        _ => ServerMsg::error("bad_message", "a wallboard sends only {\"type\":\"ping\"}", None),
                    },
                    Some(_) => ServerMsg::error("bad_message", "a wallboard sends only {\"type\":\"ping\"}", None),
                };
                let text = serde_json::to_string(&reply).expect("protocol messages serialise");
                if !send(&mut sink, text, env.send_timeout).await {
                    break;
                }
            }
        }
    }
    drain(&mut incoming).await;
    tracing::info!(user = %claims.user, "wallboard disconnected");
}

/// Closes with `code`, unless the client does not even take that in time.
async fn say_goodbye<O: Sink<Out> + Unpin>(sink: &mut O, code: u16, reason: &str, timeout: Duration) {
    let _ = tokio::time::timeout(timeout, sink.send(Out::Close(code, reason.into()))).await;
}

/// Sends one frame; false when the client is gone or did not take it in time.
async fn send<O: Sink<Out> + Unpin>(sink: &mut O, text: String, timeout: Duration) -> bool {
    matches!(tokio::time::timeout(timeout, sink.send(Out::Text(text))).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests;
