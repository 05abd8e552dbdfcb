//! Routing steps in the dispatcher: a waiting task widening to its next
//! step on time, and the part of an offer's explanation that names the
//! step and the levels (see `routing.rs` for the rules).

use super::*;

impl Dispatcher {
    /// A task's step is over: it moves to the next one, keeping its key (its
    /// place in the queue), and is matched again. An offered or held task
    /// moves too, so that it returns at the step its age says.
    pub(super) fn widen(&mut self, now: i64, id: TaskId) {
        let Some(&slot) = self.task_index.get(&id) else { return };
        let task = self.task(slot);
        let (step, next) = step_at(&task.steps, now - task.key.2);
        let (current, waiting, enqueued) = (task.step, task.state == TaskState::Waiting, task.key.2);
        if step == current {
            return;
        }
        if waiting {
            self.dequeue(slot);
        }
        self.task_mut(slot).step = step;
        if waiting {
            self.enqueue(slot);
        }
        if let Some(next) = next {
            self.arm(enqueued.saturating_add(next), Timer::StepWiden { task: id });
        }
    }

    /// Whether a task is still at a step whose time is over (the widening
    /// timer did not run): for the invariant check.
    pub(super) fn step_overdue(&self, task: &Task, now: i64) -> bool {
        step_at(&task.steps, now - task.key.2).0 > task.step
    }

    /// Lists, after the agents already passed over, the free agents ahead
    /// of the chosen one whom the task's step passed over for their levels.
    pub(super) fn list_below_level(&self, slot: u32, chosen: u32, passed_over: &mut Vec<PassedOver>) {
        let task = self.task(slot);
        let class = task.class();
        let Some(chosen_key) = self.agents[chosen as usize].routable_key else { return };
        if class == 0 {
            return;
        }
        for &key in &self.queues[task.queue as usize].routable[0] {
            if key >= chosen_key || passed_over.len() >= MAX_PASSED_OVER_LISTED {
                break;
            }
            let agent = &self.agents[key.2 as usize];
            if agent.classes & (1u64 << class) == 0 {
                passed_over.push(PassedOver { agent: agent.profile.id, reason: PassReason::BelowStepLevel });
            }
        }
    }

    /// The step a task is offered at, what it wants, and the chosen
    /// agent's levels; `None` for a kind without steps.
    pub(super) fn step_why(&self, slot: u32, a: u32) -> Option<StepWhy> {
        let task = self.task(slot);
        if task.steps.is_empty() {
            return None;
        }
        let class = task.class();
        let queue = &self.queues[task.queue as usize];
        let profile = &self.agents[a as usize].profile;
        let named = |q: QueueIdx, level: u8| SkillLevel { skill: self.rules.queue_name(q).to_owned(), level };
        let wants = self.routing.wants(class);
        Some(StepWhy {
            step: task.step + 1,
            of: task.steps.len() as u8,
            wants: wants.iter().map(|&(q, level)| named(q, level)).collect(),
            agent_levels: wants.iter().map(|&(q, _)| named(q, profile.levels.of(profile.queues, q))).collect(),
            below_level: (queue.routable[0].len() - queue.routable[class as usize].len()) as u32,
        })
    }
}
