//! The floor as the estimate sees it, read from the dispatcher: the live
//! server and a replay build it the same way, from what each has measured.

use std::collections::HashMap;

use jiff::Timestamp;

use super::estimate::{FloorAgent, HandlingTimes, WaitingTask};
use crate::domain::{AgentStatus, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Dispatcher;

/// A handling time assumed for a kind nothing has been measured for yet.
pub const UNMEASURED_HANDLING_SECS: f64 = 180.0;

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

/// The agents who may take work and when each comes free, and the tasks
/// waiting (an offered task counts: it is about to take its agent).
pub fn floor_view(d: &Dispatcher, now: Timestamp, m: &Measurements) -> (Vec<FloorAgent>, Vec<WaitingTask>) {
    let rules = d.rules();
    let wrap = rules.wrap_up.as_secs_f64();
    let handling = |kind: TaskKind| m.handling.get(&kind).filter(|h| !h.is_empty());
    let mut agents = Vec::new();
    // Per set of queues served, the busy agents' talk time still to run.
    let mut busy: HashMap<u64, Vec<(usize, f64)>> = HashMap::new();
    for view in d.agents_view() {
        let queues = d.agent_profile(view.id).map_or(0, |p| p.queues);
        let leaves_in = m.leaves_at.get(&view.id).map_or(f64::INFINITY, |end| secs_between(now, *end));
        let since = secs_between(view.status_since, now);
        let free_in = match &view.status {
            AgentStatus::Available => 0.0,
            AgentStatus::WrapUp => (wrap - since).max(0.0),
            AgentStatus::Busy => {
                let kind = d.agent_cards(view.id).first().map(|c| c.kind);
                let left = kind.and_then(handling).map_or(UNMEASURED_HANDLING_SECS, |h| h.remaining(since));
                busy.entry(queues).or_default().push((agents.len(), left));
                left + wrap
            }
            AgentStatus::Break(_) => (m.break_secs - since).max(60.0),
            AgentStatus::Offline => continue,
        };
        // Winding down: offered nothing new before the shift ends.
        if view.winding_down {
            continue;
        }
        agents.push(FloorAgent { queues, free_in_secs: free_in, leaves_in_secs: leaves_in });
    }
    for (_, mut held) in busy {
        spread(&mut held);
        for (i, left) in held {
            agents[i].free_in_secs = left + wrap;
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
    (agents, waiting)
}

/// Each busy agent's expected time left is the mean of what it may be, but
/// the first of n agents to finish comes much sooner than any one's mean,
/// and the last later: with n calls running, the i-th to end is expected
/// after `H(n) − H(n − i)` mean times (H the harmonic numbers) when the
/// times left are memoryless, which call lengths nearly are (their spread
/// is about their mean). Sorted by the time each has left, the i-th
/// agent's time is scaled by that factor; the factors average 1, so the
/// time the floor has in hand stays the same, only spread as it ends.
fn spread(held: &mut [(usize, f64)]) {
    held.sort_by(|a, b| a.1.total_cmp(&b.1));
    let n = held.len();
    let harmonic = |k: usize| (1..=k).map(|j| 1.0 / j as f64).sum::<f64>();
    let h_n = harmonic(n);
    let mut h_rest = h_n;
    for (i, (_, left)) in held.iter_mut().enumerate() {
        // H(n) − H(n − i − 1): drop the term 1/(n − i) from the tail.
        h_rest -= 1.0 / (n - i) as f64;
        *left *= h_n - h_rest;
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
    use super::spread;

    #[test]
    fn busy_agents_end_one_after_another_not_all_at_their_mean() {
        let mut held: Vec<(usize, f64)> = (0..4).map(|i| (i, 120.0)).collect();
        spread(&mut held);
        let ends: Vec<f64> = held.iter().map(|h| (h.1 * 10.0).round() / 10.0).collect();
        // 120 s each: the first of four ends after 30 s, the last after 250 s.
        assert_eq!(ends, [30.0, 70.0, 130.0, 250.0]);
        let total: f64 = held.iter().map(|h| h.1).sum();
        assert!((total - 480.0).abs() < 1e-9);
        let mut one = vec![(0, 90.0)];
        spread(&mut one);
        assert_eq!(one, [(0, 90.0)]);
    }
}
