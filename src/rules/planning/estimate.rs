//! A waiting task's position and estimated wait, from the floor as it is.
//!
//! The method plays the floor forward in the dispatcher's own order: the
//! waiting tasks sorted as the dispatcher sorts them (priority, then
//! deadline, then enqueue time), each given to the agent able to take it
//! who comes free first. An agent on a task comes free after the time the
//! task's kind still needs given how long it has run (the mean residual of
//! the handling times measured on the floor, not the plain mean: a call
//! already 10 minutes long will rarely end in the next 30 s), plus
//! wrap-up; an agent in wrap-up or on a break when it ends; an agent whose
//! shift ends before coming free takes nothing. A caller ahead may hang up
//! first: with the callers' measured mean patience each ahead occupies its
//! agent only for the share of callers who stay (exponential patience is
//! memoryless, so the share is exp(-wait / patience)).
//!
//! Position is the number of tasks that agents able to take this task
//! will take before it. Asterisk's estimate is kept beside it
//! ([`AsteriskHoldtime`]) so the two are measured on the same calls.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use jiff::Timestamp;

use crate::domain::TaskId;

/// Handling times (talk and wrap-up) measured for one kind of task, in
/// seconds, kept sorted with their suffix sums so the mean time left
/// after any elapsed time is a binary search.
#[derive(Clone, Debug, Default)]
pub struct HandlingTimes {
    sorted: Vec<f64>,
    /// `suffix[i]` = the sum of `sorted[i..]`.
    suffix: Vec<f64>,
}

impl HandlingTimes {
    pub fn new(mut samples: Vec<f64>) -> HandlingTimes {
        samples.retain(|s| s.is_finite() && *s >= 0.0);
        samples.sort_by(f64::total_cmp);
        let mut suffix = vec![0.0; samples.len() + 1];
        for i in (0..samples.len()).rev() {
            suffix[i] = suffix[i + 1] + samples[i];
        }
        HandlingTimes { sorted: samples, suffix }
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn mean(&self) -> f64 {
        if self.sorted.is_empty() { 0.0 } else { self.suffix[0] / self.sorted.len() as f64 }
    }

    /// The squared coefficient of variation (variance over the squared
    /// mean), at most 1: how far the lengths are from all alike (0) towards
    /// memoryless (1).
    pub fn variability(&self) -> f64 {
        let n = self.sorted.len() as f64;
        let mean = self.mean();
        if n < 2.0 || mean <= 0.0 {
            return 1.0;
        }
        let var = self.sorted.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (var / (mean * mean)).min(1.0)
    }

    /// The mean time still to go of a task that has run `elapsed`
    /// seconds: E[H - e | H > e] over the samples. Past the longest
    /// sample, a tenth of the mean (it is about to end, but not at once).
    pub fn remaining(&self, elapsed: f64) -> f64 {
        let first_longer = self.sorted.partition_point(|s| *s <= elapsed);
        let longer = self.sorted.len() - first_longer;
        if longer == 0 {
            return self.mean() * 0.1;
        }
        self.suffix[first_longer] / longer as f64 - elapsed
    }
}

/// One agent as the estimate sees them: the queues they serve, when they
/// can take their next task (seconds from now, 0 if free), and when their
/// shift ends (seconds from now). Agents away with no known return are
/// left out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloorAgent {
    pub queues: u64,
    pub free_in_secs: f64,
    pub leaves_in_secs: f64,
}

/// One waiting task: its queue (a bit of [`FloorAgent::queues`]), its place
/// in the dispatcher's order, what it will take once answered, and, for a
/// caller who may hang up, the callers' mean patience.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaitingTask {
    pub id: TaskId,
    pub queue: u8,
    pub priority: u8,
    pub deadline: Option<Timestamp>,
    pub enqueued_at: Timestamp,
    pub handling_secs: f64,
    pub patience_secs: Option<f64>,
}

/// A task's position and estimated wait (seconds from now).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub task: TaskId,
    pub position: u32,
    pub wait_secs: f64,
}

/// A task's position and estimated wait, in whole seconds, for the wire.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WaitEstimate {
    /// Tasks the agents able to take this one will take before it.
    pub position: u32,
    /// Seconds from now; `None` when nobody able to take it is at work.
    pub estimated_wait_secs: Option<u32>,
}

/// Whole seconds, to the nearest (rounding up would make every figure a
/// caller hears half a second long on average); none for "nobody will".
pub fn whole_secs(secs: f64) -> Option<u32> {
    secs.is_finite().then(|| secs.max(0.0).round().min(f64::from(u32::MAX)) as u32)
}

/// Seconds as an ordered heap key (the estimate never makes a NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Secs(f64);
impl Eq for Secs {}
impl PartialOrd for Secs {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Secs {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Estimates every waiting task; `answer_secs` is the mean time agents
/// take from an offer to accepting it, measured on the floor. Agents with
/// the same queues share one heap, so a task looks at one heap per
/// distinct set of queues that includes its own, not at every agent.
///
/// A caller's estimate is the wait of a caller who is still there when an
/// agent comes free, which is the only wait anyone experiences: those who
/// give up earlier never learn theirs. Their own wait is a sum of about
/// `position + 1` departures, so it is spread like an Erlang variable with
/// that many stages around the floor's expected time `w`; weighing it by
/// the chance exp(-W / patience) that the caller stays that long gives
/// `w / (1 + w / (patience · (position + 1)))`. Without the correction the
/// estimate of a long queue is too long for every caller who gets through.
pub fn estimate(agents: &[FloorAgent], tasks: &[WaitingTask], answer_secs: f64) -> Vec<Estimate> {
    let mut order: Vec<&WaitingTask> = tasks.iter().collect();
    order.sort_by_key(|t| (Reverse(t.priority), t.deadline.is_none(), t.deadline, t.enqueued_at, t.id));
    let mut pools: BTreeMap<u64, BinaryHeap<Reverse<(Secs, Secs)>>> = BTreeMap::new();
    for a in agents {
        if a.free_in_secs < a.leaves_in_secs {
            pools.entry(a.queues).or_default().push(Reverse((Secs(a.free_in_secs.max(0.0)), Secs(a.leaves_in_secs))));
        }
    }
    // Tasks taken so far by the agents of each set of queues.
    let mut taken: BTreeMap<u64, u32> = BTreeMap::new();
    let mut out = Vec::with_capacity(order.len());
    for task in order {
        let bit = 1u64 << task.queue;
        let position = taken.iter().filter(|(mask, _)| *mask & bit != 0).map(|(_, n)| n).sum();
        // The soonest free agent among the sets that serve the queue,
        // dropping those whose shift is over by then.
        let mut best: Option<(u64, f64)> = None;
        for (mask, heap) in pools.iter_mut().filter(|(mask, _)| *mask & bit != 0) {
            while let Some(Reverse((free, leaves))) = heap.peek() {
                if free.0 < leaves.0 {
                    break;
                }
                heap.pop();
            }
            if let Some(Reverse((free, _))) = heap.peek()
                && best.is_none_or(|(_, b)| free.0 < b)
            {
                best = Some((*mask, free.0));
            }
        }
        let Some((mask, start)) = best else {
            out.push(Estimate { task: task.id, position, wait_secs: f64::INFINITY });
            continue;
        };
        let heap = pools.get_mut(&mask).expect("chosen from the pools");
        let Reverse((_, leaves)) = heap.pop().expect("peeked above");
        let stays = task.patience_secs.map_or(1.0, |p| (-start / p.max(1.0)).exp());
        heap.push(Reverse((Secs(start + task.handling_secs * stays), leaves)));
        *taken.entry(mask).or_default() += 1;
        let stays_for = |p: f64| start / (1.0 + start / (p.max(1.0) * f64::from(position + 1)));
        let wait_secs = task.patience_secs.map_or(start, stays_for) + answer_secs;
        out.push(Estimate { task: task.id, position, wait_secs });
    }
    out
}

/// Asterisk's estimate (`apps/app_queue.c`): one hold time per queue, the
/// exponential average of the answered callers' waits updated as
/// `(3·old + new) / 4` at each answer (`recalc_holdtime`), announced as
/// the hold time less what the caller has already waited (`say_position`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AsteriskHoldtime {
    pub holdtime_secs: f64,
}

impl AsteriskHoldtime {
    pub fn answered(&mut self, waited_secs: f64) {
        self.holdtime_secs = (3.0 * self.holdtime_secs + waited_secs) / 4.0;
    }

    pub fn estimate(&self, waited_secs: f64) -> f64 {
        (self.holdtime_secs - waited_secs).abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: u128, queue: u8, priority: u8, handling: f64) -> WaitingTask {
        WaitingTask {
            id: TaskId(uuid::Uuid::from_u128(n)),
            queue,
            priority,
            deadline: None,
            enqueued_at: Timestamp::from_second(1_000 + n as i64).unwrap(),
            handling_secs: handling,
            patience_secs: None,
        }
    }

    fn agent(queues: u64, free_in: f64) -> FloorAgent {
        FloorAgent { queues, free_in_secs: free_in, leaves_in_secs: f64::INFINITY }
    }

    fn waits(agents: &[FloorAgent], tasks: &[WaitingTask]) -> Vec<(u32, f64)> {
        let by_id: BTreeMap<TaskId, Estimate> = estimate(agents, tasks, 0.0).into_iter().map(|e| (e.task, e)).collect();
        tasks.iter().map(|t| (by_id[&t.id].position, by_id[&t.id].wait_secs)).collect()
    }

    #[test]
    fn the_queue_ahead_is_served_by_the_agents_as_they_come_free() {
        // Two agents, one free now, one in 30 s; four calls of 100 s.
        let agents = [agent(1, 0.0), agent(1, 30.0)];
        let tasks = [task(1, 0, 50, 100.0), task(2, 0, 50, 100.0), task(3, 0, 50, 100.0), task(4, 0, 50, 100.0)];
        assert_eq!(waits(&agents, &tasks), [(0, 0.0), (1, 30.0), (2, 100.0), (3, 130.0)]);
    }

    #[test]
    fn priority_goes_first_and_other_queues_count_only_through_shared_agents() {
        // Agent A serves queues 0 and 1, agent B only queue 1.
        let agents = [agent(0b01 | 0b10, 10.0), agent(0b10, 50.0)];
        let urgent = task(3, 0, 90, 60.0);
        let tasks = [task(1, 1, 50, 100.0), task(2, 1, 50, 100.0), urgent];
        // The urgent task takes A at 10 s although it came last; the queue-1
        // calls get B at 50 s and A again at 70 s.
        assert_eq!(waits(&agents, &tasks), [(1, 50.0), (2, 70.0), (0, 10.0)]);
        // A queue no one serves waits without end.
        assert_eq!(waits(&agents, &[task(9, 5, 50, 10.0)]), [(0, f64::INFINITY)]);
    }

    #[test]
    fn an_agent_whose_shift_ends_first_takes_nothing_more() {
        let leaving = FloorAgent { queues: 1, free_in_secs: 0.0, leaves_in_secs: 60.0 };
        let tasks = [task(1, 0, 50, 100.0), task(2, 0, 50, 100.0)];
        assert_eq!(waits(&[leaving, agent(1, 120.0)], &tasks), [(0, 0.0), (1, 120.0)]);
    }

    #[test]
    fn callers_ahead_who_may_hang_up_count_for_the_share_who_stay() {
        let agents = [agent(1, 100.0)];
        let mut first = task(1, 0, 50, 200.0);
        first.patience_secs = Some(100.0);
        // exp(-100/100) of the first caller stays: 200 s × 0.3679.
        let second = waits(&agents, &[first, task(2, 0, 50, 200.0)])[1].1;
        assert!((second - (100.0 + 200.0 * (-1f64).exp())).abs() < 1e-9, "{second}");
    }

    #[test]
    fn a_caller_hears_the_wait_of_those_who_stay_and_the_time_to_answer() {
        let agents = [agent(1, 120.0)];
        let mut caller = task(1, 0, 50, 200.0);
        caller.patience_secs = Some(120.0);
        // 120 s to a free agent, first in line: 120 / (1 + 120/120) = 60, plus 4 s to accept.
        let e = estimate(&agents, &[caller], 4.0);
        assert!((e[0].wait_secs - 64.0).abs() < 1e-9, "{e:?}");
        // A callback does not hang up: its wait is the floor's.
        assert_eq!(estimate(&agents, &[task(2, 0, 50, 200.0)], 4.0)[0].wait_secs, 124.0);
    }

    #[test]
    fn the_time_a_task_still_needs_grows_less_certain_as_it_runs_long() {
        let h = HandlingTimes::new(vec![60.0, 120.0, 180.0, 600.0]);
        assert_eq!(h.mean(), 240.0);
        assert_eq!(h.remaining(0.0), 240.0);
        // Past 150 s only the 180 s and 600 s calls are left: mean 390.
        assert_eq!(h.remaining(150.0), 240.0);
        assert_eq!(h.remaining(590.0), 10.0);
        assert_eq!(h.remaining(700.0), 24.0);
        assert_eq!(HandlingTimes::new(vec![]).remaining(10.0), 0.0);
    }

    #[test]
    fn asterisk_averages_the_waits_three_to_one_and_subtracts_the_wait_so_far() {
        let mut a = AsteriskHoldtime::default();
        for waited in [40.0, 40.0, 80.0] {
            a.answered(waited);
        }
        // 0 → 10 → 17.5 → 33.125
        assert_eq!(a.holdtime_secs, 33.125);
        assert_eq!(a.estimate(0.0), 33.125);
        assert_eq!(a.estimate(40.0), 6.875);
    }
}
