//! The edges of an agent's shift: the wind-down (no new offers) and the
//! end (held work back to the queue with the handover note; offline).

use super::*;

impl Dispatcher {
    pub(super) fn wind_down(&mut self, id: UserId) -> Result<(), DispatchError> {
        let a = self.agent_slot(id)?;
        if !self.agents[a as usize].winding_down {
            self.unindex_agent(a);
            self.agents[a as usize].winding_down = true;
            self.index_agent(a);
        }
        Ok(())
    }

    pub(super) fn end_shift(
        &mut self,
        now: i64,
        id: UserId,
        note: Option<String>,
        out: &mut Vec<Effect>,
    ) -> Result<(), DispatchError> {
        self.wind_down(id)?;
        let a = self.agent_slot(id)?;
        let mut on_a_call = false;
        for slot in self.agents[a as usize].tasks.clone() {
            let task = self.task(slot);
            let task_id = task.card.id;
            match task.state {
                TaskState::Offered { .. } => {
                    out.push(Effect::OfferRescinded { agent: id, task: task_id, reason: WithdrawReason::ShiftEnded });
                    self.return_to_queue(now, a, slot, ReturnReason::ShiftEnded, None, false, out);
                }
                // The caller is on the line with this agent: the call is
                // finished first, then the agent goes offline.
                TaskState::Assigned { .. } if task.card.kind == TaskKind::InboundCall => on_a_call = true,
                TaskState::Assigned { .. } => {
                    out.push(Effect::TaskRevoked { agent: id, task: task_id, reason: WithdrawReason::ShiftEnded });
                    self.return_to_queue(now, a, slot, ReturnReason::ShiftEnded, note.clone(), false, out);
                }
                TaskState::Waiting => {} // an agent's tasks are offered or held
            }
        }
        if on_a_call {
            self.agents[a as usize].pending_status = Some(AgentStatus::Offline);
        } else {
            self.change_status(now, a, AgentStatus::Offline, out);
        }
        self.dirty_agents.push(a);
        Ok(())
    }
}
