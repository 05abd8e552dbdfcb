//! What a replay is fed: one day's arrivals, as recorded (or generated),
//! and the agents who worked it, with how they behaved.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{Outcome, TaskKind, UserId};

/// How long a caller was prepared to wait. Known only for those who gave
/// up; for those answered, the record says only that it was at least
/// their wait.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "secs")]
pub enum Patience {
    GaveUpAfter(f64),
    AtLeast(f64),
}

/// One piece of work entering the centre.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    pub at: Timestamp,
    pub kind: TaskKind,
    /// For a hotline call; tasks the centre calls out do not hang up.
    pub patience: Option<Patience>,
    /// Seconds on the task once answered, when the record has it (a call
    /// that was abandoned has none: the replay draws one from the day's).
    pub handling_secs: Option<f64>,
    /// How each call out ended, in order, as recorded; past the last
    /// recorded the last repeats. Empty: reached at the first attempt.
    pub attempts: Vec<Outcome>,
    /// A deadline given with the work (a registration's), else the kind's.
    pub deadline: Option<Timestamp>,
}

/// How an agent answered offers and how long they took to, from the day's records.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answers {
    pub accept_share: f64,
    pub decline_share: f64,
    /// Seconds from an offer to the answer.
    pub reaction_secs: f64,
}

impl Default for Answers {
    fn default() -> Self {
        Answers { accept_share: 1.0, decline_share: 0.0, reaction_secs: 3.0 }
    }
}

/// One agent of the day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimAgent {
    pub id: UserId,
    pub name: String,
    pub skills: Vec<String>,
    /// When they worked: log-in and log-out, in order.
    pub shifts: Vec<(Timestamp, Timestamp)>,
    /// The shifts are a schedule, so offers stop `shifts.wind_down_minutes`
    /// before each ends; recorded stretches on line already show when the
    /// agent stopped taking work.
    #[serde(default)]
    pub scheduled: bool,
    pub answers: Answers,
}

/// One day to replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// The centre's local midnight that starts the day.
    pub start: Timestamp,
    pub arrivals: Vec<Arrival>,
    pub agents: Vec<SimAgent>,
}

impl Day {
    /// Seconds of handling recorded per kind, for the calls whose own record has none.
    pub fn handling_samples(&self, kind: TaskKind) -> Vec<f64> {
        self.arrivals.iter().filter(|a| a.kind == kind).filter_map(|a| a.handling_secs).collect()
    }

    /// The callers' mean patience, by the maximum-likelihood estimate for
    /// exponential patience with censored observations: every caller's
    /// wait (given up or answered) over the number who gave up.
    pub fn mean_patience_secs(&self) -> Option<f64> {
        let (mut waited, mut gave_up) = (0.0, 0u32);
        for p in self.arrivals.iter().filter_map(|a| a.patience) {
            match p {
                Patience::GaveUpAfter(s) => {
                    waited += s;
                    gave_up += 1;
                }
                Patience::AtLeast(s) => waited += s,
            }
        }
        (gave_up > 0).then(|| waited / f64::from(gave_up))
    }
}
