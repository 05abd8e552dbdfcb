//! One agent's WebSocket session, written against a plain stream of
//! [`Frame`]s and a sink of [`Out`]s so that it runs the same over axum's
//! socket and over channels in unit tests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::protocol::{ClientMsg, Incoming, Outgoing, ServerMsg};
use crate::auth::{Auth, AuthError, Claims, SocketGuard, SocketKind};
use crate::domain::{Role, TaskId, UserId};
use crate::limits::{Bucket, KeyedBuckets, Rate};
use crate::rules::calendar::Calendar;
use crate::rules::dispatch::{Command, Reply};
use crate::rules::greetings::Greeter;
use crate::rules::shifts::{self, WeeklySchedule};
use crate::runtime::hub::{ConnId, Hub, HubError, Push};
use crate::runtime::travel_board::DispatchBoard;
use crate::sip::placer::Placer;
use crate::store::Store;

/// A frame from the client, already stripped of transport details.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Text(String),
    Binary,
    /// A message larger than the transport reads (twice the limit): it is
    /// closed with 1009 like any message over the limit.
    TooBig,
    Close,
}

/// A frame to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Text(String),
    Close(u16, String),
}

pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    /// Another connection of the same agent took over.
    pub const REPLACED: u16 = 4000;
    /// A wallboard that could not keep up with the figures.
    pub const TOO_SLOW: u16 = 4001;
    /// The token the socket was opened with stopped counting: logged out,
    /// the account disabled or deleted, its role or password changed.
    pub const SESSION_ENDED: u16 = 4003;
}

/// Consoles one user may have open at once (a newer one replaces the
/// older in the dispatcher; this only bounds the sockets).
pub const MAX_CONSOLES_PER_USER: usize = 8;

const MAX_SUMMARY_CHARS: usize = 4000;

pub struct SessionEnv {
    pub hub: Hub,
    pub store: Store,
    pub auth: Arc<Auth>,
    pub auth_timeout: Duration,
    pub max_message_bytes: usize,
    /// How long one message may take to leave before the console counts as gone.
    pub send_timeout: Duration,
    pub shutdown: CancellationToken,
    pub conn: ConnId,
    /// The dispatch board, followed by dispatchers' sessions only.
    pub board: BoardFeed,
    /// How fast the console may send.
    pub messages: Rate,
    /// Agents' own status changes, per agent, shared with REST.
    pub status_limits: Arc<std::sync::Mutex<KeyedBuckets<UserId>>>,
    /// Counts messages refused for their rate.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The centre's calendar and `shifts.wind_down_minutes`, to tell whether
    /// an agent logs in during their shift's wind-down.
    pub shifts: (Arc<Calendar>, SignedDuration),
    /// The opening lines of `[greetings]`, given with each offer.
    pub greetings: Arc<Greeter>,
    /// Calls Switchboard places (`[sip.outbound]`), when configured.
    pub placer: Option<Placer>,
}

/// Whether `agent` connects in the wind-down of a shift of theirs. A store
/// that cannot say leaves it to the shift clock, within seconds.
async fn winding_down(env: &SessionEnv, agent: UserId) -> bool {
    let spec = match env.store.schedule(agent).await {
        Ok(Some(spec)) => spec,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(%agent, error = %e, "reading the agent's schedule failed; the shift clock will see to it");
            return false;
        }
    };
    let (calendar, wind_down) = &env.shifts;
    // Stored as hours, validated when set.
    WeeklySchedule::parse(&spec, &Default::default())
        .is_ok_and(|s| shifts::in_wind_down(&s, calendar, *wind_down, Timestamp::now()))
}

/// A socket's messages against its rate. Past the rate a message is
/// refused; a client that sends as many again as its burst while refused
/// is not a console that slipped but a flood, and is closed.
pub(super) struct Flood {
    rate: Rate,
    bucket: Bucket,
    refused_in_a_row: u32,
}

pub(super) enum Verdict {
    Take,
    Refuse,
    Close,
}

impl Flood {
    pub(super) fn new(rate: Rate) -> Flood {
        Flood { rate, bucket: Bucket::full(rate, now_ms()), refused_in_a_row: 0 }
    }

    pub(super) fn check(&mut self) -> Verdict {
        if self.bucket.take(self.rate, now_ms()) {
            self.refused_in_a_row = 0;
            return Verdict::Take;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row as f64 > self.rate.burst { Verdict::Close } else { Verdict::Refuse }
    }
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// The error a refused message gets.
pub(super) fn rate_limited() -> ServerMsg {
    ServerMsg::error("rate_limited", "too many messages; slow down (websocket.messages_per_sec)", None)
}

/// The published dispatch board (`crate::runtime::travel_board`).
pub type BoardFeed = watch::Receiver<Option<Arc<DispatchBoard>>>;

/// Writes protocol messages, each given at most `timeout` to leave: a
/// console that stops reading (its network gone quiet, the tab frozen) is
/// disconnected instead of holding its session, and what is pushed to it,
/// without end. Its held work then waits out the reconnect grace.
pub(super) struct Writer<O> {
    sink: O,
    seq: u64,
    timeout: Duration,
}

impl<O: Sink<Out> + Unpin> Writer<O> {
    pub(super) fn new(sink: O, timeout: Duration) -> Self {
        Writer { sink, seq: 0, timeout }
    }

    /// The sink itself, for a session that writes pre-rendered frames.
    pub(super) fn into_sink(self) -> O {
        self.sink
    }

    pub(super) async fn send(&mut self, msg: &ServerMsg) -> bool {
        self.feed(msg).await && self.flush().await
    }

    /// Runs one sink operation within the timeout; false when the client
    /// is gone or too slow.
    async fn within<F: Future<Output = Result<(), O::Error>>>(timeout: Duration, op: F) -> bool {
        match tokio::time::timeout(timeout, op).await {
            Ok(result) => result.is_ok(),
            Err(_) => {
                tracing::warn!(secs = timeout.as_secs(), "a client took no message for too long; disconnected");
                false
            }
        }
    }

    /// Queues a message without flushing, so several that are ready at once
    /// leave in one write: an accept answers with the assignment, the new
    /// status and the acknowledgement, and each write is a system call on
    /// the server and a wake-up on the console.
    async fn feed(&mut self, msg: &ServerMsg) -> bool {
        self.seq += 1;
        let text = serde_json::to_string(&Outgoing { seq: self.seq, msg }).expect("protocol messages serialise");
        Self::within(self.timeout, self.sink.feed(Out::Text(text))).await
    }

    async fn flush(&mut self) -> bool {
        Self::within(self.timeout, self.sink.flush()).await
    }

    pub(super) async fn close(&mut self, code: u16, reason: &str) {
        let _ = tokio::time::timeout(self.timeout, self.sink.send(Out::Close(code, reason.to_owned()))).await;
    }
}

/// Runs a session to its end: authentication, snapshot, then messages both
/// ways until either side closes or the server shuts down.
pub async fn run<I, O>(mut incoming: I, outgoing: O, env: SessionEnv)
where
    I: Stream<Item = Frame> + Unpin,
    O: Sink<Out> + Unpin,
{
    let mut out = Writer::new(outgoing, env.send_timeout);
    let limits = (env.auth_timeout, env.max_message_bytes);
    let Some(claims) = authenticate(&mut incoming, &mut out, &env.auth, limits, &TAKES_WORK).await else {
        return;
    };
    let Some(guard) = env.auth.open_socket(claims, SocketKind::Console, MAX_CONSOLES_PER_USER) else {
        out.send(&ServerMsg::error("too_many_sockets", "too many consoles open for this user", None)).await;
        return out.close(close::POLICY, "too many consoles").await;
    };
    let agent = claims.user;
    tracing::Span::current().record("agent", tracing::field::display(agent));
    let user = match env.store.user(agent).await {
        Ok(Some(u)) => u,
        Ok(None) => return out.close(close::POLICY, "this user no longer exists").await,
        Err(e) => {
            tracing::error!(error = %e, "loading the user for a WebSocket failed");
            return out.close(close::INTERNAL, "internal error").await;
        }
    };
    let (tx, mut pushes) = mpsc::unbounded_channel();
    let snapshot = match env.hub.attach(agent, env.conn, tx, winding_down(&env, agent).await).await {
        Ok(s) => s,
        Err(HubError::Stopped) => {
            return out.close(close::GOING_AWAY, "server shutting down").await;
        }
        Err(HubError::Dispatch(e)) => {
            out.send(&ServerMsg::error("not_an_agent", e.to_string(), None)).await;
            return out.close(close::POLICY, "not routable").await;
        }
    };
    tracing::info!(agent = %user.username, conn = env.conn, "agent connected");
    let hello = ServerMsg::Hello {
        user: agent,
        name: user.display_name.clone(),
        work_number: user.work_number.clone(),
        role: user.role,
        snapshot,
        dialling: env.placer.as_ref().map(Placer::placed_kinds).unwrap_or_default(),
    };
    let mut board = (user.role == Role::Dispatcher).then(|| env.board.clone());
    let first_board = board.as_mut().and_then(|b| b.borrow_and_update().clone());
    let greeted = out.send(&hello).await
        && match first_board {
            Some(b) => out.send(&ServerMsg::Board { board: b }).await,
            None => true,
        };
    if greeted {
        serve(&mut incoming, &mut out, &mut pushes, &mut board, &env, (agent, &guard)).await;
        drain(&mut incoming).await;
    }
    env.hub.detach(agent, env.conn).await;
    tracing::info!(agent = %user.username, conn = env.conn, "agent disconnected");
}

async fn serve<I, O>(
    incoming: &mut I,
    out: &mut Writer<O>,
    pushes: &mut mpsc::UnboundedReceiver<Push>,
    board: &mut Option<BoardFeed>,
    env: &SessionEnv,
    (agent, guard): (UserId, &SocketGuard),
) where
    I: Stream<Item = Frame> + Unpin,
    O: Sink<Out> + Unpin,
{
    let mut flood = Flood::new(env.messages);
    loop {
        tokio::select! {
            _ = env.shutdown.cancelled() => return out.close(close::GOING_AWAY, "server shutting down").await,
            why = guard.ended() => return end_session(out, why.as_str()).await,
            push = pushes.recv() => {
                let Some(push) = push else { return };
                if !feed_push(out, push, env, agent).await
                    || !feed_pending(out, pushes, env, agent).await
                    || !out.flush().await
                {
                    return;
                }
            }
            changed = board_changed(board) => {
                let latest = match (changed, board.as_mut()) {
                    (true, Some(b)) => b.borrow_and_update().clone(),
                    _ => None,
                };
                if !changed {
                    *board = None; // the publisher stopped: the server is shutting down
                }
                if let Some(latest) = latest
                    && !out.send(&ServerMsg::Board { board: latest }).await
                {
                    return;
                }
            }
            frame = incoming.next() => {
                let reply = match frame {
                    None | Some(Frame::Close) => return,
                    Some(Frame::Binary) => ServerMsg::error("binary_not_supported", "send JSON text frames", None),
                    Some(Frame::TooBig) => return out.close(close::TOO_BIG, "message too big").await,
                    Some(Frame::Text(t)) if t.len() > env.max_message_bytes => {
                        return out.close(close::TOO_BIG, "message too big").await;
                    }
                    Some(Frame::Text(t)) => match flood.check() {
                        Verdict::Take => commands::handle(&t, env, agent).await,
                        Verdict::Refuse => {
                            env.metrics.rate_limited(crate::metrics::Limited::SocketMessage);
                            rate_limited()
                        }
                        Verdict::Close => {
                            tracing::warn!(%agent, "a console kept sending past its rate; closed");
                            let _ = out.send(&rate_limited()).await;
                            return out.close(close::POLICY, "rate limit").await;
                        }
                    },
                };
                // What the command caused goes out before its acknowledgement.
                if !feed_pending(out, pushes, env, agent).await || !out.feed(&reply).await || !out.flush().await {
                    return;
                }
            }
        }
    }
}

/// After the server closed the socket: reads what the client had already
/// sent, for a moment, until its answering close. Dropping a socket with
/// unread bytes resets the connection, and the client would never see the
/// close code that says why.
pub(super) async fn drain<I: Stream<Item = Frame> + Unpin>(incoming: &mut I) {
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(frame) = incoming.next().await {
            if frame == Frame::Close {
                break;
            }
        }
    })
    .await;
}

/// Tells the client why its token stopped counting, then closes (4003).
pub(super) async fn end_session<O: Sink<Out> + Unpin>(out: &mut Writer<O>, why: &str) {
    out.send(&ServerMsg::error("session_ended", format!("session ended: {why}"), None)).await;
    out.close(close::SESSION_ENDED, "session ended").await;
}

/// Resolves when a followed board changes (false when its publisher is
/// gone); never for a session that follows none.
async fn board_changed(board: &mut Option<BoardFeed>) -> bool {
    match board {
        Some(b) => b.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Queues one push. False when the connection is done (closed, or
/// replaced by a newer one, which this closes after what was queued).
async fn feed_push<O: Sink<Out> + Unpin>(out: &mut Writer<O>, push: Push, env: &SessionEnv, agent: UserId) -> bool {
    if push == Push::Replaced {
        let _ = out.flush().await;
        out.close(close::REPLACED, "replaced by a newer connection").await;
        return false;
    }
    out.feed(&render(push, env, agent).await).await
}

/// Queues every push already waiting; false as for [`feed_push`].
async fn feed_pending<O: Sink<Out> + Unpin>(
    out: &mut Writer<O>,
    pushes: &mut mpsc::UnboundedReceiver<Push>,
    env: &SessionEnv,
    agent: UserId,
) -> bool {
    while let Ok(push) = pushes.try_recv() {
        if !feed_push(out, push, env, agent).await {
            return false;
        }
    }
    true
}

/// Who a socket admits, and what it says to anyone else.
pub(super) struct Admission {
    pub admits: fn(Role) -> bool,
    /// The error code sent to a user of another role.
    pub refusal: &'static str,
    /// What the socket is for, in the refusal: "takes work", "shows the wallboard".
    pub purpose: &'static str,
}

pub(super) const TAKES_WORK: Admission =
    Admission { admits: Role::takes_work, refusal: "role_cannot_take_work", purpose: "take work" };

/// Reads the first frame and redeems its ticket. `None` when the socket is
/// to close (it has been told why).
pub(super) async fn authenticate<I, O>(
    incoming: &mut I,
    out: &mut Writer<O>,
    auth: &Auth,
    limits: (Duration, usize),
    admission: &Admission,
) -> Option<Claims>
where
    I: Stream<Item = Frame> + Unpin,
    O: Sink<Out> + Unpin,
{
    let (auth_timeout, max_message_bytes) = limits;
    let secs = auth_timeout.as_secs();
    let frame = match tokio::time::timeout(auth_timeout, incoming.next()).await {
        Err(_) => {
            out.send(&ServerMsg::error("auth_timeout", format!("no ticket within {secs} s"), None)).await;
            out.close(close::POLICY, "authentication timed out").await;
            return None;
        }
        Ok(None | Some(Frame::Close)) => return None,
        Ok(Some(f)) => f,
    };
    // Too big is too big before authentication as after it.
    if matches!(&frame, Frame::TooBig) || matches!(&frame, Frame::Text(t) if t.len() > max_message_bytes) {
        out.close(close::TOO_BIG, "message too big").await;
        return None;
    }
    let claims = match frame {
        Frame::Text(t) if t.len() <= max_message_bytes => match serde_json::from_str::<Incoming>(&t) {
            Ok(Incoming { msg: ClientMsg::Auth { ticket }, .. }) => auth.redeem_ticket(&ticket, Timestamp::now()),
            _ => Err(AuthError::Malformed),
        },
        _ => Err(AuthError::Malformed),
    };
    match claims {
        Ok(c) if (admission.admits)(c.role) => Some(c),
        Err(AuthError::Ended(why)) => {
            end_session(out, why.as_str()).await;
            None
        }
        Ok(c) => {
            let msg = format!("the role {} does not {} over this socket", c.role, admission.purpose);
            out.send(&ServerMsg::error(admission.refusal, msg, None)).await;
            out.close(close::POLICY, "role not admitted").await;
            None
        }
        Err(_) => {
            let msg = "the first message must be {\"type\":\"auth\",\"ticket\":...} with a ticket from POST /api/v1/ws-ticket";
            out.send(&ServerMsg::error("auth_required", msg, None)).await;
            out.close(close::POLICY, "authentication failed").await;
            None
        }
    }
}

/// Turns a push into a message; an offer gains the caller's CRM record
/// and the agent's opening line, with their work number as it is now.
async fn render(push: Push, env: &SessionEnv, agent: UserId) -> ServerMsg {
    match push {
        Push::Offer(offer) => {
            let (customer, work_number) =
                tokio::join!(env.store.customer_profile(&offer.task.customer_phone), env.store.work_number(agent));
            let customer = customer
                .inspect_err(
                    |e| tracing::warn!(error = %e, "customer lookup for a screen-pop failed; offering without it"),
                )
                .ok();
            let work_number = work_number.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the agent's work number failed; offering without a greeting");
                None
            });
            let greeting = env.greetings.line(offer.task.kind, work_number.as_ref());
            ServerMsg::Offer {
                task: offer.task,
                expires_at: offer.expires_at,
                why: offer.why,
                customer: customer.map(Box::new),
                greeting,
            }
        }
        Push::OfferRescinded { task, reason } => ServerMsg::OfferRescinded { task_id: task, reason },
        Push::TaskAssigned(task) => ServerMsg::TaskAssigned { task },
        Push::TaskRevoked { task, reason } => ServerMsg::TaskRevoked { task_id: task, reason },
        Push::Status { status, since } => ServerMsg::Status { status, since },
        Push::CaseSent(notice) => ServerMsg::CaseSent {
            case_id: notice.case,
            department: notice.department,
            department_name: notice.department_name.clone(),
            about: notice.about.clone(),
            reply_by: notice.reply_by,
        },
        Push::Call(call) => ServerMsg::Call { call },
        Push::DialRefused { code, message } => ServerMsg::error(code, message, None),
        Push::Replaced => unreachable!("handled by the session loop"),
    }
}

mod commands;
#[cfg(test)]
mod tests;
