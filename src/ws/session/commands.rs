//! What a console's messages do: each is checked, turned into a
//! dispatcher command (or a call to place, a summary to store) and
//! answered with an `ack` or an `error` with its code.

use jiff::Timestamp;

use super::*;
use crate::domain::Outcome;
use crate::rules::dialling::DialMode;
use crate::sip::placer::DialError;

pub(super) async fn handle(text: &str, env: &SessionEnv, agent: UserId) -> ServerMsg {
    let Incoming { reference, msg } = match serde_json::from_str::<Incoming>(text) {
        Ok(m) => m,
        // Valid JSON that is not a message (an unknown type, a missing
        // field, a bad value) still gets its `ref` back.
        Err(e) => return ServerMsg::error("bad_message", e.to_string(), reference_of(text)),
    };
    let cmd = match msg {
        ClientMsg::Ping => return ServerMsg::Pong,
        ClientMsg::Auth { .. } => {
            return ServerMsg::error("already_authenticated", "this socket is authenticated", reference);
        }
        ClientMsg::Accept { task_id } => return accept(env, agent, task_id, reference).await,
        ClientMsg::Dial { task_id } => {
            let Some(placer) = &env.placer else {
                let e = DialError::NotConfigured;
                return ServerMsg::error(e.code(), e.to_string(), reference);
            };
            return match placer.dial(agent, task_id).await {
                Ok(_) => ServerMsg::Ack { reference, deferred: false, uncovered: Vec::new() },
                Err(e) => ServerMsg::error(e.code(), e.to_string(), reference),
            };
        }
        ClientMsg::Decline { task_id } => Command::Decline { agent, task: task_id },
        ClientMsg::Complete { summary: Some(s), .. } if s.chars().count() > MAX_SUMMARY_CHARS => {
            return ServerMsg::error(
                "summary_too_long",
                format!("a summary is at most {MAX_SUMMARY_CHARS} characters"),
                reference,
            );
        }
        ClientMsg::Complete { task_id, outcome, summary } => {
            // A placed call's outcome is SIP's, not what was typed.
            let outcome = match &env.placer {
                Some(p) if p.in_call(task_id) => {
                    let message = "the call is still going on; it ends when either side hangs up";
                    return ServerMsg::error("call_in_progress", message, reference);
                }
                Some(p) if p.take_reached(task_id) => Outcome::Reached,
                _ => outcome,
            };
            Command::Complete { agent, task: task_id, outcome, summary }
        }
        ClientMsg::Summary { task_id, summary } => {
            return write_summary(env, agent, task_id, &summary, reference).await;
        }
        ClientMsg::SetStatus { status } => {
            let limited = env.status_limits.lock().expect("status limits lock").take(&agent, now_ms());
            if limited.is_err() {
                let message =
                    "too many status changes; wait a moment before the next (websocket.status_changes_per_minute)";
                return ServerMsg::error("rate_limited", message, reference);
            }
            let uncovered = env.hub.left_uncovered(agent, &status).await;
            return match env.hub.command(Command::SetStatus { agent, status }).await {
                Ok(reply) => ServerMsg::Ack { reference, deferred: reply == Reply::Deferred, uncovered },
                Err(e) => refusal(e, reference),
            };
        }
        ClientMsg::Release { task_id, note } => Command::Release { agent, task: task_id, note },
    };
    match env.hub.command(cmd).await {
        Ok(reply) => ServerMsg::Ack { reference, deferred: reply == Reply::Deferred, uncovered: Vec::new() },
        Err(e) => refusal(e, reference),
    }
}

/// Accepts an offer; a kind dialled `progressive` has its call placed at
/// once, and a refusal of that call comes as an `error` after the `ack`.
async fn accept(env: &SessionEnv, agent: UserId, task: TaskId, reference: Option<String>) -> ServerMsg {
    if let Err(e) = env.hub.command(Command::Accept { agent, task }).await {
        return refusal(e, reference);
    }
    let kind = match &env.placer {
        Some(_) => {
            let held = move |d: &crate::rules::dispatch::Dispatcher, _| {
                d.agent_snapshot(agent).and_then(|s| s.held.iter().find(|c| c.id == task).map(|c| c.kind))
            };
            env.hub.query(held).await.ok().flatten()
        }
        None => None,
    };
    if let (Some(placer), Some(kind)) = (&env.placer, kind)
        && placer.mode(kind) == DialMode::Progressive
    {
        let placer = placer.clone();
        let hub = env.hub.clone();
        tokio::spawn(async move {
            if let Err(e) = placer.dial(agent, task).await {
                let msg = format!("the call was not placed: {e}");
                hub.push_to(agent, Push::DialRefused { code: e.code(), message: msg }).await;
            }
        });
    }
    ServerMsg::Ack { reference, deferred: false, uncovered: Vec::new() }
}

/// The error a command the hub refused is answered with.
fn refusal(e: HubError, reference: Option<String>) -> ServerMsg {
    match e {
        HubError::Stopped => ServerMsg::error("shutting_down", "the server is shutting down", reference),
        HubError::Dispatch(e) => ServerMsg::error(e.code(), e.to_string(), reference),
    }
}

/// The `ref` of a message that did not parse as a whole, if it has one.
fn reference_of(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("ref")?.as_str().map(str::to_owned)
}

/// A summary written after the call: straight to the store, since the
/// task has left the dispatcher.
async fn write_summary(
    env: &SessionEnv,
    agent: UserId,
    task: TaskId,
    summary: &str,
    reference: Option<String>,
) -> ServerMsg {
    let summary = summary.trim();
    if summary.is_empty() {
        return ServerMsg::error("bad_message", "summary: empty", reference);
    }
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        let message = format!("a summary is at most {MAX_SUMMARY_CHARS} characters");
        return ServerMsg::error("summary_too_long", message, reference);
    }
    match env.store.set_attempt_summary(task, agent, summary, Timestamp::now()).await {
        Ok(true) => ServerMsg::Ack { reference, deferred: false, uncovered: Vec::new() },
        Ok(false) => ServerMsg::error("no_finished_attempt", "you have no finished attempt at this task", reference),
        Err(e) => {
            tracing::error!(error = %e, %task, "writing a call summary failed");
            ServerMsg::error("internal", "internal error; see the server log", reference)
        }
    }
}
