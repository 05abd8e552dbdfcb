//! Reading the fold at a moment: the figures a wallboard shows.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use super::scoring::{Judged, response_time_score};
use super::{CallEnd, Figures, HOUR, Mean};
use crate::domain::{AgentStatus, TaskKind, UserId};

/// One queue's tasks of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct KindFigures {
    pub queue: String,
    pub kind: TaskKind,
    /// Waiting now: offered to or held by nobody.
    pub waiting: u32,
    /// Offered to an agent who has not answered yet.
    pub offered: u32,
    /// Held by an agent.
    pub held: u32,
    pub longest_wait_secs: i64,
    /// Since when the longest-waiting task waits (a wallboard counts on from it).
    #[schema(value_type = Option<String>)]
    pub waiting_since: Option<Timestamp>,
    /// The earliest deadline among the live tasks of this kind.
    #[schema(value_type = Option<String>)]
    pub oldest_deadline: Option<Timestamp>,
    /// Seconds until that deadline; negative once it has passed.
    pub secs_to_breach: Option<i64>,
    pub entered_today: u32,
    pub answered_today: u32,
    pub abandoned_today: u32,
}

/// One agent.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentFigures {
    pub agent: UserId,
    #[serde(flatten)]
    pub status: AgentStatus,
    #[schema(value_type = String)]
    pub since: Timestamp,
    pub secs_in_status: i64,
    /// Attempts finished today.
    pub handled_today: u32,
    pub average_handling_secs: Option<i64>,
    /// On a call Switchboard placed, connected since then.
    #[schema(value_type = Option<String>)]
    pub talking_since: Option<Timestamp>,
    /// That call has lasted longer than `[calls] limit_secs`.
    pub call_past_limit: bool,
}

/// Inbound calls over a window.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CallWindow {
    pub answered: u32,
    pub abandoned: u32,
    pub answered_within_threshold: u32,
    /// Unanswered share; `null` before any call counted.
    pub abandon_rate: Option<f64>,
    pub service_level: Option<f64>,
}

/// A response time with its score.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Response {
    pub average_ms: i64,
    pub score: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CallbackFigures {
    /// Live tasks with a deadline still ahead.
    pub due: u32,
    /// Live tasks past their deadline.
    pub overdue: u32,
    pub done_today: u32,
    pub done_within_deadline_today: u32,
}

/// The whole centre.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CentreFigures {
    pub today: CallWindow,
    pub last_15_min: CallWindow,
    pub last_60_min: CallWindow,
    /// Today's abandon rate against its target (red when over).
    pub abandon_rate: Option<Judged>,
    /// Today's service level against its target (red when under).
    pub service_level: Option<Judged>,
    pub first_response: Option<Response>,
    pub average_response: Option<Response>,
    pub callbacks: CallbackFigures,
    /// Calls going on now that have lasted longer than `[calls] limit_secs`.
    pub calls_past_limit: u32,
}

/// Everything, at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct FloorFigures {
    #[schema(value_type = String)]
    pub at: Timestamp,
    #[schema(value_type = String)]
    pub day_start: Timestamp,
    pub kinds: Vec<KindFigures>,
    pub agents: Vec<AgentFigures>,
    pub centre: CentreFigures,
}

fn window<'a>(calls: impl Iterator<Item = &'a CallEnd>) -> CallWindow {
    let (mut answered, mut abandoned, mut within) = (0, 0, 0);
    for c in calls {
        if c.answered {
            answered += 1;
            within += u32::from(c.within_threshold);
        } else {
            abandoned += 1;
        }
    }
    let total = f64::from(answered + abandoned);
    let share = |n: u32| (total > 0.0).then(|| f64::from(n) / total);
    CallWindow {
        answered,
        abandoned,
        answered_within_threshold: within,
        abandon_rate: share(abandoned),
        service_level: share(within),
    }
}

fn response(mean: &Mean) -> Option<Response> {
    mean.average_ms().map(|average_ms| Response { average_ms, score: response_time_score(average_ms) })
}

impl Figures {
    /// The figures at `now`, in the day that starts at `day_start`.
    pub fn snapshot(&mut self, now: Timestamp, day_start: Timestamp) -> FloorFigures {
        self.roll(day_start);
        let mut kinds: std::collections::BTreeMap<(String, TaskKind), KindFigures> = self
            .kinds
            .iter()
            .map(|((queue, kind), day)| {
                let figures = KindFigures {
                    queue: queue.clone(),
                    kind: *kind,
                    waiting: 0,
                    offered: 0,
                    held: 0,
                    longest_wait_secs: 0,
                    waiting_since: None,
                    oldest_deadline: None,
                    secs_to_breach: None,
                    entered_today: day.entered,
                    answered_today: day.answered,
                    abandoned_today: day.abandoned,
                };
                ((queue.clone(), *kind), figures)
            })
            .collect();
        let (mut due, mut overdue) = (0, 0);
        for t in self.live.values() {
            let k = kinds.get_mut(&(t.queue.clone(), t.kind)).expect("every live task entered and was counted");
            match (t.waiting_since, t.offered) {
                (_, true) => k.offered += 1,
                (Some(since), false) => {
                    k.waiting += 1;
                    if k.waiting_since.is_none_or(|s| since < s) {
                        k.waiting_since = Some(since);
                        k.longest_wait_secs = now.duration_since(since).as_secs().max(0);
                    }
                }
                (None, false) => k.held += 1,
            }
            if let Some(deadline) = t.deadline {
                if deadline > now {
                    due += 1
                } else {
                    overdue += 1
                }
                if k.oldest_deadline.is_none_or(|d| deadline < d) {
                    k.oldest_deadline = Some(deadline);
                    k.secs_to_breach = Some(deadline.duration_since(now).as_secs());
                }
            }
        }
        let agents: Vec<AgentFigures> = self
            .agents
            .iter()
            .map(|(id, a)| AgentFigures {
                agent: *id,
                status: a.status.clone(),
                since: a.since,
                secs_in_status: now.duration_since(a.since).as_secs().max(0),
                handled_today: a.handling.count,
                average_handling_secs: a.handling.average_ms().map(|ms| ms / 1000),
                talking_since: a.talking_since,
                call_past_limit: a.talking_since.is_some_and(|t| now.duration_since(t) >= self.call_limit),
            })
            .collect();
        let calls_past_limit = agents.iter().filter(|a| a.call_past_limit).count() as u32;
        let since = |d: SignedDuration| now.checked_sub(d).unwrap_or(now);
        self.calls_today.retain(|c| c.at >= day_start);
        let last = |d| window(self.calls_today.iter().filter(|c| c.at > since(d) && c.at <= now));
        let today = window(self.calls_today.iter());
        let centre = CentreFigures {
            last_15_min: last(SignedDuration::from_mins(15)),
            last_60_min: last(HOUR),
            abandon_rate: today.abandon_rate.map(|r| Judged::at_most(r, self.rules.abandon_target)),
            service_level: today.service_level.map(|r| Judged::at_least(r, self.rules.service_level_target)),
            today,
            first_response: response(&self.first_response),
            average_response: response(&self.response),
            callbacks: CallbackFigures {
                due,
                overdue,
                done_today: self.callbacks_done,
                done_within_deadline_today: self.callbacks_in_time,
            },
            calls_past_limit,
        };
        FloorFigures { at: now, day_start, kinds: kinds.into_values().collect(), agents, centre }
    }
}
