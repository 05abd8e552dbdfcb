//! What a replayed day gives: the wallboard's own figures at the day's
//! end, the callbacks per kind, each agent's occupancy, and (when asked)
//! every answered caller's estimated and actual wait.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{TaskKind, UserId};
use crate::rules::figures::FloorFigures;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentDay {
    pub agent: UserId,
    pub name: String,
    /// Tasks answered (accepted) over the day.
    pub handled: u32,
    /// Seconds available, busy or in wrap-up.
    pub on_line_secs: f64,
    /// Seconds on tasks, wrap-up included.
    pub busy_secs: f64,
    /// busy / on line.
    pub occupancy: Option<f64>,
    #[serde(skip)]
    pub(super) on_line_since: Option<jiff::Timestamp>,
}

/// One kind of work over the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KindDay {
    pub arrived: u32,
    pub completed: u32,
    /// Completed by their deadline (only tasks with one).
    pub within_deadline: u32,
    pub abandoned: u32,
    /// Closed otherwise: unreachable, cancelled, settled elsewhere.
    pub closed_otherwise: u32,
    /// Still live at the day's end (or waiting for a retry the next day).
    pub left_open: u32,
    /// Of those, past their deadline.
    pub overdue_at_end: u32,
}

/// One answered caller: the wait we estimated when they arrived,
/// Asterisk's estimate for them, and the wait they had.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WaitSample {
    pub actual_secs: f64,
    pub estimate_secs: f64,
    pub asterisk_secs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DayResult {
    pub figures: FloorFigures,
    pub agents: Vec<AgentDay>,
    pub kinds: BTreeMap<TaskKind, KindDay>,
    pub waits: Vec<WaitSample>,
    /// Per arrival (in the day's order), the wait of a caller who was answered.
    #[serde(skip)]
    pub answered_after: Vec<Option<f64>>,
    /// With `keep_events`: the floor events and status changes, as stored.
    #[serde(skip)]
    pub events: Vec<crate::rules::figures::FloorEvent>,
    #[serde(skip)]
    pub statuses: Vec<(UserId, crate::domain::AgentStatus, jiff::Timestamp)>,
}

/// The figures a day is judged by, for comparing the day as recorded
/// with the day as replayed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub calls: u32,
    pub abandon_rate: Option<f64>,
    pub service_level: Option<f64>,
    pub first_response_ms: Option<i64>,
    pub first_response_score: Option<u8>,
    pub average_response_ms: Option<i64>,
    pub average_response_score: Option<u8>,
    pub callbacks_done: u32,
    pub callbacks_within_deadline: u32,
    pub overdue_at_end: u32,
    pub mean_occupancy: Option<f64>,
}

impl DayResult {
    pub fn kpis(&self) -> Kpis {
        let c = &self.figures.centre;
        let occupancies: Vec<f64> = self.agents.iter().filter_map(|a| a.occupancy).collect();
        let callbacks = self.kinds.iter().filter(|(k, _)| **k != TaskKind::InboundCall).map(|(_, d)| d);
        let (mut done, mut within, mut overdue) = (0, 0, 0);
        for d in callbacks {
            done += d.completed;
            within += d.within_deadline;
            overdue += d.overdue_at_end;
        }
        Kpis {
            calls: c.today.answered + c.today.abandoned,
            abandon_rate: c.today.abandon_rate,
            service_level: c.today.service_level,
            first_response_ms: c.first_response.as_ref().map(|r| r.average_ms),
            first_response_score: c.first_response.as_ref().map(|r| r.score),
            average_response_ms: c.average_response.as_ref().map(|r| r.average_ms),
            average_response_score: c.average_response.as_ref().map(|r| r.score),
            callbacks_done: done,
            callbacks_within_deadline: within,
            overdue_at_end: overdue,
            mean_occupancy: (!occupancies.is_empty())
                .then(|| occupancies.iter().sum::<f64>() / occupancies.len() as f64),
        }
    }
}

impl Kpis {
    /// Several days (or runs of one day) as one: rates and response
    /// times weighted by calls, counts added, occupancy averaged. Runs of
    /// the same day have the same calls, so for them this is the mean.
    pub fn pool(all: &[Kpis]) -> Option<Kpis> {
        if all.is_empty() {
            return None;
        }
        let calls: u32 = all.iter().map(|k| k.calls).sum();
        let weighted = |f: &dyn Fn(&Kpis) -> Option<f64>| {
            let (sum, weight) = all
                .iter()
                .filter_map(|k| f(k).map(|v| (v * f64::from(k.calls.max(1)), f64::from(k.calls.max(1)))))
                .fold((0.0, 0.0), |(s, w), (v, kw)| (s + v, w + kw));
            (weight > 0.0).then(|| sum / weight)
        };
        let first_response_ms = weighted(&|k| k.first_response_ms.map(|v| v as f64)).map(|v| v.round() as i64);
        let average_response_ms = weighted(&|k| k.average_response_ms.map(|v| v as f64)).map(|v| v.round() as i64);
        let sum = |f: &dyn Fn(&Kpis) -> u32| all.iter().map(f).sum::<u32>();
        let occupancies: Vec<f64> = all.iter().filter_map(|k| k.mean_occupancy).collect();
        Some(Kpis {
            calls,
            abandon_rate: weighted(&|k| k.abandon_rate),
            service_level: weighted(&|k| k.service_level),
            first_response_ms,
            first_response_score: first_response_ms.map(crate::rules::figures::scoring::response_time_score),
            average_response_ms,
            average_response_score: average_response_ms.map(crate::rules::figures::scoring::response_time_score),
            callbacks_done: sum(&|k| k.callbacks_done),
            callbacks_within_deadline: sum(&|k| k.callbacks_within_deadline),
            overdue_at_end: sum(&|k| k.overdue_at_end),
            mean_occupancy: (!occupancies.is_empty())
                .then(|| occupancies.iter().sum::<f64>() / occupancies.len() as f64),
        })
    }

    /// Divides the counts by `runs`: the mean of several runs of one day.
    pub fn per_run(mut self, runs: u32) -> Kpis {
        let runs = runs.max(1);
        for n in
            [&mut self.calls, &mut self.callbacks_done, &mut self.callbacks_within_deadline, &mut self.overdue_at_end]
        {
            *n = (f64::from(*n) / f64::from(runs)).round() as u32;
        }
        self
    }
}

/// The median and 90th percentile of absolute errors, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ErrorFigures {
    pub calls: usize,
    pub median_abs_error_secs: f64,
    pub p90_abs_error_secs: f64,
}

/// How far each method's estimates were from the actual waits.
pub fn estimate_errors(waits: &[WaitSample]) -> (ErrorFigures, ErrorFigures) {
    let figures = |error: &dyn Fn(&WaitSample) -> f64| {
        let mut e: Vec<f64> = waits.iter().map(error).collect();
        e.sort_by(f64::total_cmp);
        let at = |q: f64| e.get(((e.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        ErrorFigures { calls: e.len(), median_abs_error_secs: at(0.5), p90_abs_error_secs: at(0.9) }
    };
    (
        figures(&|w| (w.estimate_secs.min(1e6) - w.actual_secs).abs()),
        figures(&|w| (w.asterisk_secs - w.actual_secs).abs()),
    )
}
