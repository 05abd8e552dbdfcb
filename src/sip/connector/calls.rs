//! The dispatcher's side of a queued call: its task stored and added, an
//! agent offered it (the 302), answered or let it go; and a call that ends
//! unanswered, closed as a missed call for the follow-up.

use jiff::Timestamp;

use super::{Connector, Redirected, now_ms};
use crate::domain::{MissReason, Phone, TaskId, UserId};
use crate::rules::dispatch::Command;
use crate::runtime::hub::CallEvent;
use crate::store::{CallOutcome, CallWrite, MissedCall};

impl Connector {
    pub(super) fn close_as_missed(
        &self,
        task: TaskId,
        caller: &Option<Phone>,
        called: String,
        queue: String,
        reason: MissReason,
    ) {
        self.spawn_command(Command::Abandon { task });
        let outcome = match reason {
            MissReason::Abandoned => CallOutcome::Abandoned,
            MissReason::QueueTimeout => CallOutcome::TimedOut,
            MissReason::UnansweredRedirect
            | MissReason::Reported
            | MissReason::ServerShutdown
            | MissReason::ServerRestart => CallOutcome::Unanswered,
        };
        let at = Timestamp::now();
        self.writer.call(CallWrite::Ended { task, outcome, at });
        if let Some(caller) = caller.clone() {
            let missed = MissedCall { caller, called, queue, reason, task: Some(task), at };
            self.writer.call(CallWrite::Missed(missed));
        }
    }

    pub(super) fn spawn_command(&self, cmd: Command) {
        let hub = self.hub.clone();
        tokio::spawn(async move {
            if let Err(e) = hub.command(cmd).await {
                tracing::debug!(error = %e, "connector command not applied");
            }
        });
    }

    pub(super) fn on_stored(&mut self, task: TaskId, ok: bool) {
        let now = now_ms();
        let Some(call) = self.calls.get_mut(&task) else { return };
        if !ok {
            // Nothing of the call is stored: take it back from the
            // dispatcher and tell the PBX, which can route the caller elsewhere.
            let call = self.calls.remove(&task).expect("present");
            self.sip_tasks.remove(&task);
            if !call.added {
                // The task may reach the dispatcher after this: abandon it then too.
                self.ended_before_added.insert(task);
            }
            self.spawn_command(Command::Abandon { task });
            return self.final_response(now, &call, 500, "Server Internal Error", None);
        }
        call.stored = true;
        if let Some((agent, contact)) = call.held_offer.take() {
            self.redirect(now, task, agent, contact);
        }
    }

    pub(super) fn on_added(&mut self, task: TaskId, ok: bool) {
        let now = now_ms();
        if self.ended_before_added.remove(&task) {
            // The call ended (hung up, or not stored) while its task was on its way to the dispatcher.
            return self.spawn_command(Command::Abandon { task });
        }
        let Some(call) = self.calls.get_mut(&task) else { return };
        if !ok {
            let call = self.calls.remove(&task).expect("present");
            return self.final_response(now, &call, 500, "Server Internal Error", None);
        }
        call.added = true;
    }

    pub(super) fn on_event(&mut self, event: CallEvent) {
        let now = now_ms();
        match event {
            CallEvent::Offered { task, agent, contact } => self.on_offered(now, task, agent, contact),
            CallEvent::Answered { task, agent } => {
                self.redirected.remove(&task);
                if self.sip_tasks.contains(&task) {
                    let agent = agent.to_string();
                    self.writer.call(CallWrite::Answered { task, agent, at: Timestamp::now() });
                }
            }
            CallEvent::Returned { task } => {
                // An offer held for the store's answer is void once the agent lets it go.
                if let Some(call) = self.calls.get_mut(&task) {
                    call.held_offer = None;
                }
                // Back in the queue after its 302: the caller is at the PBX,
                // not waiting here; the follow-up will call them back.
                if let Some(r) = self.redirected.remove(&task) {
                    self.close_as_missed(task, &r.caller, r.called, r.queue, MissReason::UnansweredRedirect);
                }
            }
            CallEvent::Closed { task } => {
                self.redirected.remove(&task);
                if self.sip_tasks.remove(&task) {
                    self.writer.call(CallWrite::Completed { task, at: Timestamp::now() });
                }
            }
        }
    }

    pub(super) fn on_offered(&mut self, now: i64, task: TaskId, agent: UserId, contact: Option<String>) {
        if let Some(r) = self.redirected.remove(&task) {
            // Offered again after its 302: the first agent did not take it.
            return self.close_as_missed(task, &r.caller, r.called, r.queue, MissReason::UnansweredRedirect);
        }
        if !self.calls.contains_key(&task) {
            return;
        }
        let Some(contact) = contact else {
            tracing::warn!(%agent, %task, "agent has no SIP URI; passing the call to the next agent");
            return self.spawn_command(Command::Decline { agent, task });
        };
        let call = self.calls.get_mut(&task).expect("present");
        if !call.stored {
            call.held_offer = Some((agent, contact));
            return;
        }
        self.redirect(now, task, agent, contact);
    }

    /// Answers 302 with the agent's address; the PBX takes the call from here.
    pub(super) fn redirect(&mut self, now: i64, task: TaskId, agent: UserId, contact: String) {
        let call = self.calls.remove(&task).expect("present");
        self.final_response(now, &call, 302, "Moved Temporarily", Some(("Contact", format!("<{contact}>"))));
        let agent_id = agent.to_string();
        tracing::debug!(%task, %agent, %contact, "call redirected to the agent");
        self.writer.call(CallWrite::Redirected { task, agent: agent_id, at: Timestamp::now() });
        self.redirected.insert(task, Redirected { caller: call.caller, called: call.called, queue: call.queue });
    }
}
