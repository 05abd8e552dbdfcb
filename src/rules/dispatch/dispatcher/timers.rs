//! The dispatcher's own timers: offer expiry, pass-over cool-downs, wrap-up
//! and reconnect grace. A timer that no longer applies (its offer was
//! answered, its agent reconnected) is recognised by an epoch and ignored.

use super::*;

impl Dispatcher {
    pub(super) fn arm(&mut self, at: i64, timer: Timer) {
        self.timer_seq += 1;
        self.timers.insert((at, self.timer_seq), timer);
    }

    pub(super) fn arm_grace(&mut self, now: i64, a: u32) {
        let agent = &mut self.agents[a as usize];
        agent.conn_epoch += 1;
        let epoch = agent.conn_epoch;
        self.arm(now + self.rules.reconnect_grace.as_millis() as i64, Timer::ReconnectGrace { agent: a, epoch });
    }

    pub(super) fn fire(&mut self, now: i64, timer: Timer, out: &mut Vec<Effect>) {
        match timer {
            Timer::OfferExpiry { slot, epoch } => {
                let Some(Some(task)) = self.tasks.get(slot as usize) else {
                    return;
                };
                let TaskState::Offered { agent: a, .. } = task.state else {
                    return;
                };
                if task.offer_epoch != epoch {
                    return;
                }
                let id = task.card.id;
                out.push(Effect::OfferRescinded { agent: self.agent_id(a), task: id, reason: WithdrawReason::Timeout });
                self.return_to_queue(now, a, slot, ReturnReason::OfferTimeout, None, true, out);
                let agent = &mut self.agents[a as usize];
                agent.missed_in_a_row += 1;
                if agent.missed_in_a_row >= self.rules.max_missed_offers {
                    self.change_status(now, a, AgentStatus::Break(BreakReason::missed_offers()), out);
                }
            }
            Timer::PassOverExpiry { task } => {
                if let Some(&slot) = self.task_index.get(&task) {
                    let t = self.task_mut(slot);
                    t.passed_over.retain(|&(_, until)| until > now);
                    if t.state == TaskState::Waiting {
                        self.dirty_tasks.push(slot);
                    }
                }
            }
            Timer::WrapUpEnd { agent: a, epoch } => {
                let agent = &self.agents[a as usize];
                if agent.status_epoch == epoch && agent.status == AgentStatus::WrapUp {
                    let next = self.agents[a as usize].pending_status.take().unwrap_or(AgentStatus::Available);
                    self.change_status(now, a, next, out);
                }
            }
            Timer::ReconnectGrace { agent: a, epoch } => {
                let agent = &self.agents[a as usize];
                if agent.conn_epoch != epoch || agent.connected {
                    return;
                }
                for slot in agent.tasks.clone() {
                    let id = self.task(slot).card.id;
                    out.push(Effect::TaskRevoked {
                        agent: self.agent_id(a),
                        task: id,
                        reason: WithdrawReason::Disconnected,
                    });
                    self.return_to_queue(now, a, slot, ReturnReason::Disconnected, None, false, out);
                }
                self.agents[a as usize].pending_status = None;
                self.change_status(now, a, AgentStatus::Offline, out);
            }
            Timer::StepWiden { task } => self.widen(now, task),
        }
    }
}
