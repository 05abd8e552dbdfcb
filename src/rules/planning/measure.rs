//! What the floor measures for planning, folded from its events: each
//! kind's recent handling times, and per interval of the day the hotline's
//! arrivals, answers, hang-ups and waits.

use std::collections::{HashMap, HashSet, VecDeque};

use jiff::Timestamp;

use super::estimate::HandlingTimes;
use super::staffing::Measured;
use crate::domain::{TaskId, TaskKind, TaskStatus};
use crate::rules::figures::FloorEvent;

/// Handling times kept per kind: enough for a stable residual, few enough
/// to follow a change in the kind of calls within the hour.
pub const HANDLING_SAMPLES: usize = 500;

#[derive(Clone, Copy, Debug)]
struct Followed {
    kind: TaskKind,
    entered_at: Timestamp,
    answered_at: Option<Timestamp>,
}

/// The fold. Intervals are counted from `day_start`; a new day starts them
/// again and keeps the handling times.
#[derive(Clone, Debug)]
pub struct FloorMeasure {
    day_start: Timestamp,
    interval_secs: i64,
    tasks: HashMap<TaskId, Followed>,
    /// The hotline calls counted today, so one entering again is not.
    arrived: HashSet<TaskId>,
    handling: HashMap<TaskKind, VecDeque<f64>>,
    /// Offers not answered yet, and the time agents took to accept.
    offered_at: HashMap<TaskId, Timestamp>,
    answer_secs: (f64, u32),
    intervals: Vec<Measured>,
}

impl FloorMeasure {
    pub fn new(day_start: Timestamp, interval_secs: i64) -> FloorMeasure {
        FloorMeasure {
            day_start,
            interval_secs: interval_secs.max(60),
            tasks: HashMap::new(),
            arrived: HashSet::new(),
            handling: HashMap::new(),
            offered_at: HashMap::new(),
            answer_secs: (0.0, 0),
            intervals: Vec::new(),
        }
    }

    /// A new day: the intervals start again.
    pub fn new_day(&mut self, day_start: Timestamp) {
        if day_start != self.day_start {
            self.day_start = day_start;
            self.intervals.clear();
            self.arrived.clear();
        }
    }

    pub fn day_start(&self) -> Timestamp {
        self.day_start
    }

    /// The interval `at` falls in, if it is on this day.
    pub fn interval_of(&self, at: Timestamp) -> Option<usize> {
        let secs = at.duration_since(self.day_start).as_secs();
        (0..86_400).contains(&secs).then(|| (secs / self.interval_secs) as usize)
    }

    fn slot(&mut self, at: Timestamp) -> Option<&mut Measured> {
        let i = self.interval_of(at)?;
        if self.intervals.len() <= i {
            self.intervals.resize(i + 1, Measured::default());
        }
        self.intervals.get_mut(i)
    }

    pub fn observe(&mut self, event: &FloorEvent) {
        match event {
            FloorEvent::Entered { task, kind, at, .. } => {
                self.tasks.insert(*task, Followed { kind: *kind, entered_at: *at, answered_at: None });
                if *kind == TaskKind::InboundCall && self.arrived.insert(*task) {
                    self.slot(*at).into_iter().for_each(|m| m.arrivals += 1);
                }
            }
            FloorEvent::Offered { task, at, .. } => {
                self.offered_at.insert(*task, *at);
            }
            FloorEvent::Requeued { task, .. } => {
                self.offered_at.remove(task);
            }
            FloorEvent::Answered { task, at, .. } => {
                if let Some(offered) = self.offered_at.remove(task) {
                    self.answer_secs.0 += secs(offered, *at);
                    self.answer_secs.1 += 1;
                }
                let Some(t) = self.tasks.get_mut(task) else { return };
                t.answered_at = Some(*at);
                let (kind, waited) = (t.kind, secs(t.entered_at, *at));
                if kind == TaskKind::InboundCall
                    && let Some(m) = self.slot(*at)
                {
                    m.answered += 1;
                    m.waited_secs += waited;
                }
            }
            FloorEvent::Left { task, status, at } => {
                self.offered_at.remove(task);
                let Some(t) = self.tasks.remove(task) else { return };
                if let Some(answered) = t.answered_at {
                    let held = secs(answered, *at);
                    let samples = self.handling.entry(t.kind).or_default();
                    if samples.len() == HANDLING_SAMPLES {
                        samples.pop_front();
                    }
                    samples.push_back(held);
                    if t.kind == TaskKind::InboundCall
                        && let Some(m) = self.slot(answered)
                    {
                        m.handling_secs += held;
                    }
                } else if t.kind == TaskKind::InboundCall && *status == TaskStatus::Abandoned {
                    let waited = secs(t.entered_at, *at);
                    if let Some(m) = self.slot(*at) {
                        m.abandoned += 1;
                        m.waited_secs += waited;
                    }
                }
            }
            FloorEvent::Agent { .. } | FloorEvent::Talking { .. } => {}
        }
    }

    /// Each kind's handling times, for the estimate.
    pub fn handling(&self) -> HashMap<TaskKind, HandlingTimes> {
        self.handling.iter().map(|(k, v)| (*k, HandlingTimes::new(v.iter().copied().collect()))).collect()
    }

    /// The mean of a kind's recent handling times.
    pub fn mean_handling(&self, kind: TaskKind) -> Option<f64> {
        let v = self.handling.get(&kind).filter(|v| !v.is_empty())?;
        Some(v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The mean time agents take from an offer to accepting it.
    pub fn answer_secs(&self) -> f64 {
        let (sum, n) = self.answer_secs;
        if n == 0 { 0.0 } else { sum / f64::from(n) }
    }

    /// Today's intervals so far (the last one may still be running).
    pub fn intervals(&self) -> &[Measured] {
        &self.intervals
    }
}

fn secs(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn calls_are_counted_in_the_interval_they_arrived_and_waits_where_they_ended() {
        let mut m = FloorMeasure::new(at(0), 1800);
        let (a, b, agent) = (TaskId::new(), TaskId::new(), UserId(uuid::Uuid::nil()));
        let entered = |task, s| FloorEvent::Entered {
            task,
            kind: TaskKind::InboundCall,
            queue: "hotline".into(),
            deadline: None,
            at: at(s),
        };
        m.observe(&entered(a, 100));
        m.observe(&entered(b, 1790));
        m.observe(&FloorEvent::Answered { task: a, agent, at: at(130) });
        m.observe(&FloorEvent::Left { task: a, status: TaskStatus::Completed, at: at(330) });
        m.observe(&FloorEvent::Left { task: b, status: TaskStatus::Abandoned, at: at(1850) });
        // Entered again after a retry: not a new arrival.
        m.observe(&entered(a, 400));
        assert_eq!(
            m.intervals(),
            [
                Measured { arrivals: 2, answered: 1, handling_secs: 200.0, abandoned: 0, waited_secs: 30.0 },
                Measured { arrivals: 0, answered: 0, handling_secs: 0.0, abandoned: 1, waited_secs: 60.0 },
            ]
        );
        assert_eq!(m.mean_handling(TaskKind::InboundCall), Some(200.0));
        m.new_day(at(86_400));
        assert!(m.intervals().is_empty());
        assert_eq!(m.mean_handling(TaskKind::InboundCall), Some(200.0));
    }
}
