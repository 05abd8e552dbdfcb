//! New rules applied to a running dispatcher at one instant: what an
//! operator's configuration reload does to the floor. Nobody is logged out
//! and no offer is dropped: agents, offers, held work and timers stay; the
//! queue indexes are rebuilt under the new routing classes; each live task
//! is at the step its age says under its kind's new steps. Priorities and
//! deadlines stay as they were unless the change asks to re-evaluate, when
//! live tasks take their kind's new priority and keep their enqueue time,
//! so tasks of one priority keep their order. New timings (offer timeout,
//! wrap-up, cool-downs) count from the next offer or status they time.

use super::*;

/// Why new rules cannot be applied while the dispatcher runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesRefused {
    /// Agents' skills and the waiting work are filed by queue.
    #[error("queues: the list of queues changes only with a restart")]
    QueuesChanged,
}

/// What applying new rules changed on the floor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesApplied {
    /// Live tasks given their kind's new priority (with re-evaluation), for
    /// the shell to store.
    pub replanned: Vec<(TaskId, u8)>,
}

impl Dispatcher {
    /// Replaces the rules at `now`; with `reevaluate`, live tasks take
    /// their kind's new priority. On a refusal nothing has changed.
    pub fn apply_rules(
        &mut self,
        now: Timestamp,
        rules: Rules,
        reevaluate: bool,
        out: &mut Vec<Effect>,
    ) -> Result<RulesApplied, RulesRefused> {
        if rules.queues != self.rules.queues {
            return Err(RulesRefused::QueuesChanged);
        }
        let now = ms(now);
        self.routing = Routing::new(&rules);
        self.rules = rules;
        self.queues = (0..self.rules.queues.len()).map(|q| QueueState::new(&self.routing, q)).collect();
        for a in 0..self.agents.len() as u32 {
            let agent = &mut self.agents[a as usize];
            agent.classes = self.routing.classes_met(agent.profile.queues, &agent.profile.levels);
            agent.routable_key = None;
            self.index_agent(a);
            self.dirty_agents.push(a);
        }
        let mut applied = RulesApplied::default();
        for slot in 0..self.tasks.len() as u32 {
            let Some(task) = &self.tasks[slot as usize] else { continue };
            let kind = task.card.kind;
            let steps = self.routing.steps(kind);
            let priority = self.rules.kind(kind).priority;
            let task = self.task_mut(slot);
            let (step, next) = step_at(&steps, now - task.key.2);
            task.steps = steps;
            task.step = step;
            if reevaluate && priority != task.card.priority {
                task.key.0 = 255 - priority;
                task.card = Arc::new(TaskCard { priority, ..(*task.card).clone() });
                applied.replanned.push((task.card.id, priority));
            }
            let (id, enqueued, waiting) = (task.card.id, task.key.2, task.state == TaskState::Waiting);
            if let Some(next) = next {
                self.arm(enqueued.saturating_add(next), Timer::StepWiden { task: id });
            }
            if waiting {
                self.enqueue(slot);
            }
        }
        self.rebalance(now, out);
        Ok(applied)
    }
}
