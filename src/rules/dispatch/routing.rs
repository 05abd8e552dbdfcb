//! Proficiency and routing steps: who may take a task while it waits.
//!
//! An agent's skills are the queues it serves, each at a level from 1
//! (learning) to 5 (expert); a plain skill is level 1. A task kind may name
//! steps, each wanting some skills at a minimum level for a time; when the
//! last step's time is up, anyone serving the queue may take the task. The
//! steps are counted from the task's enqueue time, so a task that goes back
//! to its queue (declined, timed out, handed back) or is recovered after a
//! restart is at the step its age says, and keeps its place: the order of
//! waiting tasks is still priority, deadline, enqueue time.
//!
//! The dispatcher does not test each agent against each step while it
//! decides. Every distinct set of wanted levels is a class (class 0 wants
//! nothing: anyone in the queue), an agent knows the classes it meets (a
//! bit set, recomputed when its profile changes) and the dispatcher keeps
//! its waiting tasks and free agents per class, so a decision reads only
//! the sets it may match. At most [`MAX_CLASSES`] classes exist.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::Reservation;
use super::rules::{MAX_QUEUES, QueueIdx, Rules};
use crate::domain::{TaskKind, UserId};

/// The highest level of a skill; 1 is the lowest, and what a skill without
/// a level means.
pub const MAX_LEVEL: u8 = 5;

/// Distinct step requirements the dispatcher can index (class 0, anyone,
/// included), so that an agent's classes fit one `u64`.
pub const MAX_CLASSES: usize = 64;

/// One routing step of a kind: the skills it wants, each at a minimum
/// level, and how long it lasts before the next (wider) one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingStep {
    pub wants: Vec<(QueueIdx, u8)>,
    pub wait: SignedDuration,
}

/// An agent's level in each queue it serves; 0 where it serves none. Zero
/// for a served queue reads as level 1 (a plain skill).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels([u8; MAX_QUEUES]);

impl Default for Levels {
    fn default() -> Self {
        Levels([0; MAX_QUEUES])
    }
}

impl Levels {
    /// Levels from `(queue, level)` pairs; levels are clamped to 1-5.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (QueueIdx, u8)>) -> Levels {
        let mut levels = Levels::default();
        for (q, level) in pairs {
            levels.0[q.0 as usize] = level.clamp(1, MAX_LEVEL);
        }
        levels
    }

    /// The agent's level in `q` given the queues it serves: 0 when it does
    /// not serve `q`, 1 for a plain skill.
    pub fn of(&self, queues: u64, q: QueueIdx) -> u8 {
        if queues & (1u64 << q.0) == 0 { 0 } else { self.0[q.0 as usize].max(1) }
    }
}

/// A step as the dispatcher uses it: its class, and when it ends counted
/// from the task's enqueue time (`i64::MAX` never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepAt {
    pub class: u8,
    pub ends_after_ms: i64,
}

/// The routing steps of every kind, compiled into classes.
#[derive(Clone, Debug)]
pub struct Routing {
    /// The wanted levels of each class; class 0 wants nothing.
    classes: Vec<Vec<(QueueIdx, u8)>>,
    built_in: Vec<Arc<[StepAt]>>,
    custom: Vec<Arc<[StepAt]>>,
    /// Per queue, the classes its kinds' steps use (class 0 always).
    used: Vec<u64>,
}

impl Routing {
    /// Compiles the rules' steps. Classes beyond [`MAX_CLASSES`] are
    /// refused by the configuration's checks; here they fold into class 0.
    pub fn new(rules: &Rules) -> Routing {
        let mut routing = Routing {
            classes: vec![Vec::new()],
            built_in: Vec::new(),
            custom: Vec::new(),
            used: vec![1; rules.queues.len()],
        };
        let kinds: Vec<TaskKind> = TaskKind::ALL.iter().copied().chain(rules.custom_kinds().map(|(k, _)| k)).collect();
        for kind in kinds {
            let rule = rules.kind(kind);
            let mut ends = 0i64;
            let steps: Arc<[StepAt]> = rule
                .steps
                .iter()
                .map(|step| {
                    ends = ends.saturating_add(step.wait.as_millis() as i64);
                    let class = routing.class_of(&step.wants);
                    routing.used[rule.queue.0 as usize] |= 1u64 << class;
                    StepAt { class, ends_after_ms: ends }
                })
                .collect();
            match kind {
                TaskKind::Custom(c) => put(&mut routing.custom, c.number(), steps),
                built_in => put(&mut routing.built_in, built_in.index(), steps),
            }
        }
        routing
    }

    fn class_of(&mut self, wants: &[(QueueIdx, u8)]) -> u8 {
        let mut wants = wants.to_vec();
        wants.sort_unstable();
        if let Some(i) = self.classes.iter().position(|c| *c == wants) {
            return i as u8;
        }
        if self.classes.len() >= MAX_CLASSES {
            return 0;
        }
        self.classes.push(wants);
        (self.classes.len() - 1) as u8
    }

    /// The steps of a kind (empty: anyone in the queue from the start).
    pub fn steps(&self, kind: TaskKind) -> Arc<[StepAt]> {
        let list = match kind {
            TaskKind::Custom(c) => self.custom.get(c.number()),
            built_in => self.built_in.get(built_in.index()),
        };
        list.cloned().unwrap_or_else(|| Arc::from([]))
    }

    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The levels class `class` wants.
    pub fn wants(&self, class: u8) -> &[(QueueIdx, u8)] {
        &self.classes[class as usize]
    }

    /// The classes the kinds of queue `q` use.
    pub fn used_in(&self, q: usize) -> u64 {
        self.used[q]
    }

    /// The classes an agent serving `queues` at `levels` meets.
    pub fn classes_met(&self, queues: u64, levels: &Levels) -> u64 {
        self.classes.iter().enumerate().fold(0, |set, (i, wants)| {
            let meets = wants.iter().all(|&(q, min)| levels.of(queues, q) >= min);
            if meets { set | (1u64 << i) } else { set }
        })
    }
}

/// `[routing]`: the customer's own agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stickiness {
    /// A task created over REST that calls the customer prefers the agent
    /// who last spoke to them within this many minutes (0: off; at most a
    /// week).
    pub stick_to_last_agent_minutes: u32,
    /// How long a task waits for its preferred agent before anyone
    /// serving the queue may take it (1 s to a day).
    pub wait_for_preferred_secs: u32,
}

impl Default for Stickiness {
    fn default() -> Self {
        Stickiness { stick_to_last_agent_minutes: 0, wait_for_preferred_secs: 120 }
    }
}

impl Stickiness {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.stick_to_last_agent_minutes > 7 * 24 * 60 {
            problems.push("routing.stick_to_last_agent_minutes: must be 0-10080 (a week)".to_owned());
        }
        if !(1..=86_400).contains(&self.wait_for_preferred_secs) {
            problems.push("routing.wait_for_preferred_secs: must be 1-86400".to_owned());
        }
        problems
    }

    /// Since when a conversation makes its agent the customer's own for a
    /// new task of `kind` created at `now`: `None` when stickiness is off
    /// or the kind does not call the customer.
    pub fn looks_back_to(&self, kind: TaskKind, now: Timestamp) -> Option<Timestamp> {
        let minutes = i64::from(self.stick_to_last_agent_minutes);
        (minutes > 0 && kind.calls_out()).then(|| now - SignedDuration::from_mins(minutes))
    }

    /// The task kept for `agent` for the configured wait from `now`.
    pub fn prefer(&self, agent: UserId, now: Timestamp) -> Reservation {
        Reservation { agent, until: now + SignedDuration::from_secs(i64::from(self.wait_for_preferred_secs)) }
    }
}

/// The step a task of `steps` is at, `age_ms` after it was enqueued
/// (`steps.len()` once past the last), and when the next step starts.
pub fn step_at(steps: &[StepAt], age_ms: i64) -> (u8, Option<i64>) {
    let step = steps.iter().position(|s| age_ms < s.ends_after_ms).unwrap_or(steps.len());
    (step as u8, steps.get(step).map(|s| s.ends_after_ms))
}

/// The class of a task at `step` of `steps`.
pub fn class_at(steps: &[StepAt], step: u8) -> u8 {
    steps.get(step as usize).map_or(0, |s| s.class)
}

/// Sets `list[index]`, growing the list with empty entries as needed.
fn put(list: &mut Vec<Arc<[StepAt]>>, index: usize, steps: Arc<[StepAt]>) {
    if list.len() <= index {
        list.resize(index + 1, Arc::from([]));
    }
    list[index] = steps;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn steps_are_counted_from_the_enqueue_time_and_widen_to_anyone() {
        let mut rules = Rules::manual_defaults();
        let hotline = rules.queue_index("hotline").unwrap();
        rules.kinds[TaskKind::InboundCall.index()].steps = vec![
            RoutingStep { wants: vec![(hotline, 4)], wait: secs(20) },
            RoutingStep { wants: vec![(hotline, 2)], wait: secs(40) },
        ];
        let routing = Routing::new(&rules);
        let steps = routing.steps(TaskKind::InboundCall);
        assert_eq!(step_at(&steps, 0), (0, Some(20_000)));
        assert_eq!(step_at(&steps, 19_999), (0, Some(20_000)));
        assert_eq!(step_at(&steps, 20_000), (1, Some(60_000)));
        assert_eq!(step_at(&steps, 60_000), (2, None));
        assert_eq!(class_at(&steps, 2), 0, "past the last step: anyone in the queue");
        assert!(routing.steps(TaskKind::CarDispatch).is_empty());

        let serves = rules.queue_set(["hotline"]);
        let expert = Levels::from_pairs([(hotline, 5)]);
        let learner = Levels::default();
        let (four, two) = (class_at(&steps, 0), class_at(&steps, 1));
        assert_eq!(routing.classes_met(serves, &expert), 1 | (1 << four) | (1 << two));
        assert_eq!(routing.classes_met(serves, &learner), 1, "a plain skill is level 1");
        assert_eq!(routing.classes_met(0, &expert), 1, "a level in a queue not served counts for nothing");
        assert_eq!(routing.used_in(hotline.0 as usize), 1 | (1 << four) | (1 << two));
    }

    #[test]
    fn equal_wants_share_a_class() {
        let mut rules = Rules::manual_defaults();
        let callbacks = rules.queue_index("callbacks").unwrap();
        for kind in [TaskKind::NewSignupCallback, TaskKind::MissedCallCallback] {
            rules.kinds[kind.index()].steps = vec![RoutingStep { wants: vec![(callbacks, 3)], wait: secs(30) }];
        }
        let routing = Routing::new(&rules);
        assert_eq!(routing.class_count(), 2);
        assert_eq!(routing.steps(TaskKind::NewSignupCallback), routing.steps(TaskKind::MissedCallCallback));
    }
}
