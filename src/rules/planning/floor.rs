//! The floor as the estimate sees it, read from the dispatcher: the live
//! server and a replay build it the same way, from what each has measured.

use std::collections::HashMap;

use jiff::Timestamp;

use super::estimate::{FloorAgent, HandlingTimes, WaitingTask};
use crate::domain::{AgentStatus, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Dispatcher;

/// A handling time assumed for a kind nothing has been measured for yet.
pub const UNMEASURED_HANDLING_SECS: f64 = 180.0;
/// The callers' mean patience assumed until one on this floor has given up.
pub const ASSUMED_PATIENCE_SECS: f64 = 120.0;

/// The floor as the estimate sees it.
#[derive(Clone, Debug, Default)]
pub struct FloorView {
    /// The agents who may take work, and when each comes free.
    pub agents: Vec<FloorAgent>,
    /// The tasks waiting (an offered task counts: it is about to take its agent).
    pub tasks: Vec<WaitingTask>,
    /// Agents on the line (`AgentStatus::is_on_line`), winding down or not.
    pub on_line: u32,
}

/// What the floor measured, beside the dispatcher's own state.
#[derive(Clone, Debug, Default)]
pub struct Measurements {
    /// Talk time (answer to completion, without wrap-up) per kind.
    pub handling: HashMap<TaskKind, HandlingTimes>,
    /// When each agent stops taking work: the end of their shift less the
    /// wind-down. Absent: no scheduled end.
    pub leaves_at: HashMap<UserId, Timestamp>,
    /// The callers' mean patience, in seconds.
    pub patience_secs: f64,
    /// How long a break is expected to last, in seconds: an agent on a
    /// break comes back when it is over, and at the earliest in a minute.
    pub break_secs: f64,
}

/// Seconds from `from` to `to` (negative when `to` is earlier).
fn secs_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

/// The floor at `now`, read from the dispatcher and what was measured.
pub fn floor_view(d: &Dispatcher, now: Timestamp, m: &Measurements) -> FloorView {
    let rules = d.rules();
    let wrap = rules.wrap_up.as_secs_f64();
    let handling = |kind: TaskKind| m.handling.get(&kind).filter(|h| !h.is_empty());
    let mut agents = Vec::new();
    // Per set of queues served, the busy agents' talk time still to run
    // and how variable their calls' lengths are.
    let mut busy: HashMap<u64, Vec<Held>> = HashMap::new();
    let mut on_line = 0;
    for view in d.agents_view() {
        on_line += u32::from(view.status.is_on_line());
        // Winding down: offered nothing new before the shift ends.
        if view.winding_down {
            continue;
        }
        let queues = d.agent_profile(view.id).map_or(0, |p| p.queues);
        let leaves_in = m.leaves_at.get(&view.id).map_or(f64::INFINITY, |end| secs_between(now, *end));
        let since = secs_between(view.status_since, now);
        let free_in = match &view.status {
            AgentStatus::Available => 0.0,
            AgentStatus::WrapUp => (wrap - since).max(0.0),
            AgentStatus::Busy => {
                let kind = d.agent_cards(view.id).first().map(|c| c.kind);
                let h = kind.and_then(handling);
                let left = h.map_or(UNMEASURED_HANDLING_SECS, |h| h.remaining(since));
                let variability = h.map_or(1.0, HandlingTimes::variability);
                busy.entry(queues).or_default().push(Held { agent: agents.len(), left, variability });
                left + wrap
            }
            AgentStatus::Break(_) => (m.break_secs - since).max(60.0),
            AgentStatus::Offline => continue,
        };
        agents.push(FloorAgent { queues, free_in_secs: free_in, leaves_in_secs: leaves_in });
    }
    for (_, mut held) in busy {
        spread(&mut held);
        for h in held {
            if let Some(agent) = agents.get_mut(h.agent) {
                agent.free_in_secs = h.left + wrap;
            }
        }
    }
    let mut waiting = Vec::new();
    for (card, live, enqueued_at) in d.live_cards() {
        if !matches!(live.status, TaskStatus::Waiting | TaskStatus::Offered) {
            continue;
        }
        let Some(queue) = rules.queue_index(&card.queue) else { continue };
        let mean = handling(card.kind).map_or(UNMEASURED_HANDLING_SECS, HandlingTimes::mean);
        waiting.push(WaitingTask {
            id: card.id,
            queue: queue.0,
            priority: card.priority,
            deadline: card.deadline,
            enqueued_at,
            handling_secs: mean + wrap,
            patience_secs: (card.kind == TaskKind::InboundCall).then_some(m.patience_secs),
        });
    }
    FloorView { agents, tasks: waiting, on_line }
}

/// A busy agent: its index among the floor's agents, the talk time it is
/// expected to have left, and its calls' variability (0 all alike, 1 as
/// spread as memoryless lengths).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Held {
    agent: usize,
    left: f64,
    variability: f64,
}

/// Each busy agent's expected time left is the mean of what it may be; the
/// first of n agents to finish comes much sooner than any one's mean. With
/// memoryless call lengths and a queue waiting, the floor keeps all n busy
/// and calls end one every mean/n: the i-th of the calls now running to
/// end is expected after i/n of a mean. With lengths all alike, each
/// agent's own time left is already right. Between the two, by how
/// variable the calls are (v, the squared coefficient of variation), the
/// i-th agent by time left is expected free after `left × (1 − v(1 − i/n))`.
fn spread(held: &mut [Held]) {
    held.sort_by(|a, b| a.left.total_cmp(&b.left));
    let n = held.len() as f64;
    for (i, h) in held.iter_mut().enumerate() {
        let share = (i as f64 + 1.0) / n;
        h.left *= 1.0 - h.variability * (1.0 - share);
    }
}

/// A call or task arriving in `queue` now, as the estimate would place it:
/// the hotline's call where the queue takes them, otherwise the queue's
/// least urgent kind (the wait of the work that waits longest).
pub fn newcomer(d: &Dispatcher, queue: u8, now: Timestamp, m: &Measurements) -> Option<WaitingTask> {
    let rules = d.rules();
    let kinds = TaskKind::ALL.iter().copied().filter(|k| rules.kind(*k).queue.0 == queue);
    let kind = kinds.min_by_key(|k| (*k != TaskKind::InboundCall, rules.kind(*k).priority))?;
    let plan = rules.plan(kind, now, None, None);
    let mean = m.handling.get(&kind).filter(|h| !h.is_empty()).map_or(UNMEASURED_HANDLING_SECS, HandlingTimes::mean);
    Some(WaitingTask {
        id: crate::domain::TaskId(uuid::Uuid::max()),
        queue,
        priority: plan.priority,
        deadline: plan.deadline,
        enqueued_at: now,
        handling_secs: mean + rules.wrap_up.as_secs_f64(),
        patience_secs: (kind == TaskKind::InboundCall).then_some(m.patience_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::{Held, spread};

    fn ends(left: &[f64], variability: f64) -> Vec<f64> {
        let mut held: Vec<Held> =
            left.iter().enumerate().map(|(agent, left)| Held { agent, left: *left, variability }).collect();
        spread(&mut held);
        held.iter().map(|h| (h.left * 10.0).round() / 10.0).collect()
    }

    #[test]
    fn busy_agents_end_one_after_another_as_their_calls_vary() {
        // Memoryless 120 s calls on four agents: one ends every 30 s.
        assert_eq!(ends(&[120.0; 4], 1.0), [30.0, 60.0, 90.0, 120.0]);
        // Calls all alike: each agent's own time left stands.
        assert_eq!(ends(&[40.0, 10.0, 90.0], 0.0), [10.0, 40.0, 90.0]);
        // In between, halfway.
        assert_eq!(ends(&[100.0, 100.0], 0.5), [75.0, 100.0]);
        assert_eq!(ends(&[90.0], 1.0), [90.0]);
    }
}
