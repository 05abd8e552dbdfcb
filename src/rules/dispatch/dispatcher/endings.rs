//! How a live task leaves the dispatcher or its agent: closed (cancelled,
//! abandoned, completed, unreachable), moved to the schedule for its next
//! attempt, or handed back to the queue.

use super::*;

impl Dispatcher {
    /// Closes a live task from outside its agent's hands: cancelled by
    /// staff, abandoned by the caller, or settled because the work it stood
    /// for was done elsewhere (`outcome` and `summary` then say how).
    pub(super) fn close_task(
        &mut self,
        now: i64,
        id: TaskId,
        status: TaskStatus,
        ending: Option<(Outcome, String)>,
        out: &mut Vec<Effect>,
    ) -> Result<(), DispatchError> {
        let reason = if ending.is_some() { WithdrawReason::Settled } else { WithdrawReason::Cancelled };
        let slot = self.task_slot(id)?;
        let task = self.task(slot);
        let agent = match task.state {
            TaskState::Waiting => {
                self.dequeue(slot);
                None
            }
            TaskState::Offered { agent, .. } => {
                out.push(Effect::OfferRescinded { agent: self.agent_id(agent), task: id, reason });
                self.detach(agent, slot);
                Some(agent)
            }
            TaskState::Assigned { agent } => {
                out.push(Effect::TaskRevoked { agent: self.agent_id(agent), task: id, reason });
                self.detach(agent, slot);
                self.after_held_task_ends(now, agent, slot, out);
                Some(agent)
            }
        };
        out.push(Effect::Record(Record::TaskClosed {
            task: id,
            status,
            agent: agent.map(|a| self.agent_id(a)),
            outcome: ending.as_ref().map(|(o, _)| *o),
            summary: ending.map(|(_, s)| s),
            at: ts(now),
        }));
        self.remove_task(slot);
        Ok(())
    }

    /// The agent's and the task's slots, if the agent holds the task.
    fn held_by(&self, id: UserId, task: TaskId) -> Result<(u32, u32), DispatchError> {
        let a = self.agent_slot(id)?;
        let slot = self.task_slot(task)?;
        if self.task(slot).state != (TaskState::Assigned { agent: a }) {
            return Err(DispatchError::NotHeldByYou);
        }
        Ok((a, slot))
    }

    pub(super) fn complete(
        &mut self,
        now: i64,
        id: UserId,
        task: TaskId,
        outcome: Outcome,
        summary: Option<String>,
        out: &mut Vec<Effect>,
    ) -> Result<(), DispatchError> {
        let (a, slot) = self.held_by(id, task)?;
        self.detach(a, slot);
        let card = &self.task(slot).card;
        let next = if outcome.is_failed_call() && card.kind.calls_out() {
            Some(self.rules.next_attempt(card.kind, card.attempt, ts(now)))
        } else {
            None
        };
        let at = ts(now);
        let record = match next {
            Some(NextAttempt::At(not_before)) => {
                Record::TaskRetry { task, agent: id, outcome, summary, not_before, at }
            }
            // Attempts used up: unreachable.
            given_up => {
                let status = if given_up.is_some() { TaskStatus::Unreachable } else { TaskStatus::Completed };
                Record::TaskClosed { task, status, agent: Some(id), outcome: Some(outcome), summary, at }
            }
        };
        out.push(Effect::Record(record));
        self.after_held_task_ends(now, a, slot, out);
        self.remove_task(slot);
        Ok(())
    }

    pub(super) fn release(
        &mut self,
        now: i64,
        id: UserId,
        task: TaskId,
        note: Option<String>,
        out: &mut Vec<Effect>,
    ) -> Result<(), DispatchError> {
        let (a, slot) = self.held_by(id, task)?;
        self.return_to_queue(now, a, slot, ReturnReason::Released, note, true, out);
        self.after_held_task_ends(now, a, slot, out);
        Ok(())
    }

    pub(super) fn phone_unanswered(
        &mut self,
        now: i64,
        id: UserId,
        task: TaskId,
        out: &mut Vec<Effect>,
    ) -> Result<(), DispatchError> {
        let (a, slot) = self.held_by(id, task)?;
        out.push(Effect::TaskRevoked { agent: id, task, reason: WithdrawReason::Timeout });
        self.return_to_queue(now, a, slot, ReturnReason::PhoneUnanswered, None, true, out);
        // No call took place: no wrap-up.
        let agent = &mut self.agents[a as usize];
        agent.missed_in_a_row += 1;
        let next = if agent.missed_in_a_row >= self.rules.max_missed_offers {
            AgentStatus::Break(BreakReason::missed_offers())
        } else {
            agent.pending_status.take().unwrap_or(AgentStatus::Available)
        };
        if self.agents[a as usize].status == AgentStatus::Busy || matches!(next, AgentStatus::Break(_)) {
            self.change_status(now, a, next, out);
        }
        self.dirty_agents.push(a);
        Ok(())
    }
}
