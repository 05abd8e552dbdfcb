//! Planning: the agents an interval needs, and how long a waiting task
//! will wait.
//!
//! Pure like the rest of `rules/`: the staffing formulas take the traffic
//! measured on the floor, the estimates take a view of the floor and the
//! time, and nothing reads a clock or a store.

pub mod erlang;
pub mod estimate;
pub mod floor;
pub mod measure;
pub mod staffing;

/// A queue's waiting work and the wait of a newcomer.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct QueueWait {
    pub waiting: u32,
    /// Seconds a task arriving now would wait; `None` when nobody able to
    /// take it is at work.
    pub estimated_wait_secs: Option<u32>,
}

/// The day's staffing, interval by interval.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StaffingBoard {
    pub interval_minutes: u32,
    /// The interval now running (its number in the day).
    pub current: usize,
    /// Agents at work now (on line, not on a break).
    pub at_work: u32,
    pub intervals: Vec<staffing::IntervalPlan>,
}

/// What the wallboard shows of planning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanningBoard {
    pub queues: std::collections::BTreeMap<String, QueueWait>,
    pub staffing: StaffingBoard,
}

/// `[planning]`: the staffing interval and how long a break is expected
/// to last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanningRules {
    /// Minutes per staffing interval: 15 or 30.
    pub interval_minutes: u32,
    /// An agent on a break is expected back after this many minutes
    /// (1-240), for the estimated waits.
    pub break_minutes: u32,
}

impl Default for PlanningRules {
    fn default() -> Self {
        PlanningRules { interval_minutes: 30, break_minutes: 15 }
    }
}

impl PlanningRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !matches!(self.interval_minutes, 15 | 30) {
            problems.push(format!("planning.interval_minutes: must be 15 or 30, not {}", self.interval_minutes));
        }
        if !(1..=240).contains(&self.break_minutes) {
            problems.push(format!("planning.break_minutes: must be 1-240, not {}", self.break_minutes));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::PlanningRules;

    #[test]
    fn an_interval_other_than_a_quarter_or_half_hour_is_refused_by_name() {
        assert!(PlanningRules::default().problems().is_empty());
        let odd = PlanningRules { interval_minutes: 20, break_minutes: 0 };
        let problems = odd.problems();
        assert!(problems[0].starts_with("planning.interval_minutes"), "{problems:?}");
        assert!(problems[1].starts_with("planning.break_minutes"), "{problems:?}");
    }
}
