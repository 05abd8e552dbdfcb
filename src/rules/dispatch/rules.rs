//! The routing rules the dispatcher applies: per task kind its priority,
//! queue, channel, default deadline and attempts, plus the offer and status
//! timings and the retry rule. Built from configuration by the shell; pure
//! data and pure functions here.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::routing::{Levels, RoutingStep, Stickiness};
use crate::domain::{Channel, TaskKind};
use crate::rules::calendar::{Calendar, CalendarSettings};

/// Index of a queue in [`Rules::queues`]. At most 64 queues exist, so an
/// agent's skills fit one `u64` bit set and eligibility is one AND.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueIdx(pub u8);

pub const MAX_QUEUES: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct KindRule {
    /// Higher is more urgent (0-255).
    pub priority: u8,
    pub queue: QueueIdx,
    pub channel: Channel,
    /// How long after creation the task is due, when the creator gives no deadline.
    pub deadline_after: Option<SignedDuration>,
    /// Calls made before an unanswered task closes as `unreachable` (at least 1).
    pub attempts: u32,
    /// Who may take a waiting task first, and for how long, before anyone
    /// serving the queue may (`routing.rs`). Empty: anyone from the start.
    pub steps: Vec<RoutingStep>,
}

#[derive(Clone, Debug)]
pub struct Rules {
    /// The built-in kinds' rules, indexed by `TaskKind::index()`.
    pub kinds: Vec<KindRule>,
    /// The centre's own kinds' rules, by their place in the register of
    /// names (`None`: a kind this configuration does not have).
    pub custom: Vec<Option<CustomRule>>,
    /// Queue names; an agent serves a queue when its skills include the name.
    pub queues: Vec<String>,
    pub offer_timeout: SignedDuration,
    /// Consecutive timed-out offers that put an agent on `break(missed_offers)`.
    pub max_missed_offers: u32,
    pub wrap_up: SignedDuration,
    pub reconnect_grace: SignedDuration,
    /// How long a task is kept away from an agent who declined it or let its
    /// offer time out, so the next agent gets it first.
    pub pass_over_cooldown: SignedDuration,
    /// Wait between an unanswered attempt and the next one.
    pub retry_gap: SignedDuration,
    /// The centre's calendar: deadlines and retries fall in working hours.
    pub calendar: Arc<Calendar>,
    /// `[routing]`: the customer's own agent.
    pub stickiness: Stickiness,
}

/// What follows an attempt that did not reach the customer (no answer, busy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextAttempt {
    /// Call again from this time; until then the task waits in the schedule.
    At(Timestamp),
    /// Every attempt the kind allows has been made.
    AttemptsUsed,
}

/// A kind of the centre's own (`[kinds]`): its rule, and what people see.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomRule {
    pub rule: KindRule,
    /// What screens and reports call it (for example 疑難訂單的追蹤).
    pub label: String,
}

/// The rule of a kind this configuration does not have: a centre's own
/// kind removed while tasks of it remain. They are still worked, after
/// everything else, in the first queue.
static UNCONFIGURED: KindRule = KindRule {
    priority: 0,
    queue: QueueIdx(0),
    channel: Channel::Voice,
    deadline_after: None,
    attempts: 1,
    steps: Vec::new(),
};

/// What the rules say about a new task: computed before it is stored, so
/// the stored row and the dispatcher agree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskPlan {
    pub priority: u8,
    pub queue: QueueIdx,
    pub channel: Channel,
    pub deadline: Option<Timestamp>,
}

impl Rules {
    pub fn kind(&self, kind: TaskKind) -> &KindRule {
        match kind {
            TaskKind::Custom(c) => {
                self.custom.get(c.number()).and_then(Option::as_ref).map_or(&UNCONFIGURED, |c| &c.rule)
            }
            built_in => &self.kinds[built_in.index()],
        }
    }

    /// Whether this configuration has the kind: new tasks of any other are refused.
    pub fn knows(&self, kind: TaskKind) -> bool {
        match kind {
            TaskKind::Custom(c) => self.custom.get(c.number()).is_some_and(Option::is_some),
            _ => true,
        }
    }

    /// The centre's own kinds this configuration has, with their labels.
    pub fn custom_kinds(&self) -> impl Iterator<Item = (TaskKind, &str)> + '_ {
        self.custom.iter().enumerate().filter_map(|(i, c)| {
            let c = c.as_ref()?;
            Some((TaskKind::custom(i)?, c.label.as_str()))
        })
    }

    pub fn queue_index(&self, name: &str) -> Option<QueueIdx> {
        self.queues.iter().position(|q| q == name).map(|i| QueueIdx(i as u8))
    }

    pub fn queue_name(&self, q: QueueIdx) -> &str {
        &self.queues[q.0 as usize]
    }

    /// The set of queues an agent with these skills serves; skills that name
    /// no queue are kept on the agent's record but do not route work.
    pub fn queue_set<'a>(&self, skills: impl IntoIterator<Item = &'a str>) -> u64 {
        skills.into_iter().filter_map(|s| self.queue_index(s)).fold(0, |set, q| set | (1u64 << q.0))
    }

    /// An agent's levels from its `skill = level` pairs; skills that name
    /// no queue are left out, like in [`queue_set`](Self::queue_set).
    pub fn levels<'a>(&self, levels: impl IntoIterator<Item = (&'a str, u8)>) -> Levels {
        Levels::from_pairs(levels.into_iter().filter_map(|(s, level)| Some((self.queue_index(s)?, level))))
    }

    /// Priority, queue, channel and deadline of a task created at `now`. An
    /// explicit priority or deadline from the creator wins over the kind's.
    ///
    /// ```
    /// use switchboard::rules::dispatch::Rules;
    /// use switchboard::domain::TaskKind;
    /// let rules = Rules::manual_defaults();
    /// let now: jiff::Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
    /// // A new customer is called back within 15 minutes of registering.
    /// let plan = rules.plan(TaskKind::NewSignupCallback, now, None, None);
    /// assert_eq!(plan.deadline, Some("2026-03-02T02:15:00Z".parse().unwrap()));
    /// assert_eq!(rules.queue_name(plan.queue), "callbacks");
    /// ```
    pub fn plan(&self, kind: TaskKind, now: Timestamp, priority: Option<u8>, deadline: Option<Timestamp>) -> TaskPlan {
        let rule = self.kind(kind);
        TaskPlan {
            priority: priority.unwrap_or(rule.priority),
            queue: rule.queue,
            channel: rule.channel,
            deadline: deadline.or_else(|| rule.deadline_after.map(|d| self.calendar.deadline_within(now, d))),
        }
    }

    /// After attempt number `attempt` of a `kind` task went unanswered at
    /// `now`: when to call again, if at all.
    ///
    /// The next call comes `retry_gap` later, moved to the next opening when
    /// that falls outside working hours, for as long as the kind's attempts
    /// last, even when that is past the deadline or its day: the manual
    /// asks for at least two calls to anyone not reached (未接通至少拨打2次以上
    /// (含2次)), and data left at the close is finished on the next working
    /// day (上班后一个工作日内完成). The deadline stays as it was, so a retry
    /// made the next morning counts as late in the reports.
    pub fn next_attempt(&self, kind: TaskKind, attempt: u32, now: Timestamp) -> NextAttempt {
        if attempt >= self.kind(kind).attempts {
            return NextAttempt::AttemptsUsed;
        }
        NextAttempt::At(self.calendar.open_at_or_after(now.saturating_add(self.retry_gap).unwrap_or(Timestamp::MAX)))
    }

    /// The defaults of the operating manual (see `config/switchboard.toml`
    /// for the reasoning behind each number). Used by tests and as the base
    /// that configuration overrides.
    pub fn manual_defaults() -> Rules {
        use TaskKind::*;
        let queues: Vec<String> =
            ["hotline", "callbacks", "marketing", "travel", "complaints"].iter().map(|s| s.to_string()).collect();
        let q = |name: &str| QueueIdx(queues.iter().position(|x| x == name).unwrap() as u8);
        let mins = |m: i64| Some(SignedDuration::from_mins(m));
        let kinds = TaskKind::ALL
            .iter()
            .map(|kind| {
                let (priority, queue, channel, deadline_after) = match kind {
                    InboundCall => (100, q("hotline"), Channel::Voice, None),
                    NewSignupCallback => (90, q("callbacks"), Channel::Voice, mins(15)),
                    MissedCallCallback => (90, q("callbacks"), Channel::Voice, None),
                    ReturningSignupCallback => (70, q("callbacks"), Channel::Voice, mins(60)),
                    EventCallback => (70, q("callbacks"), Channel::Voice, None),
                    MarketingAttendedNoOrder => (55, q("marketing"), Channel::Voice, None),
                    MarketingAttendedOrdered => (53, q("marketing"), Channel::Voice, None),
                    MarketingNoShow => (51, q("marketing"), Channel::Voice, None),
                    EventRecommendation => (50, q("marketing"), Channel::Voice, None),
                    CommunityOutreach => (10, q("marketing"), Channel::Voice, None),
                    InnReminder => (70, q("travel"), Channel::Voice, None),
                    CarDispatch => (70, q("travel"), Channel::Voice, None),
                    InsuranceRegistration => (50, q("travel"), Channel::BackOffice, None),
                    ComplaintFollowUp => (70, q("complaints"), Channel::Voice, mins(24 * 60)),
                    WarrantyCallback => (50, q("callbacks"), Channel::Voice, None),
                    AfterSalesReview => (50, q("callbacks"), Channel::BackOffice, None),
                    Custom(_) => unreachable!("ALL holds the built-in kinds"),
                };
                let attempts = if kind.calls_out() && *kind != AfterSalesReview { 2 } else { 1 };
                KindRule { priority, queue, channel, deadline_after, attempts, steps: Vec::new() }
            })
            .collect();
        Rules {
            kinds,
            custom: Vec::new(),
            queues,
            offer_timeout: SignedDuration::from_secs(15),
            max_missed_offers: 2,
            wrap_up: SignedDuration::from_secs(30),
            reconnect_grace: SignedDuration::from_secs(60),
            pass_over_cooldown: SignedDuration::from_secs(60),
            retry_gap: SignedDuration::from_mins(10),
            calendar: Arc::new(Calendar::new(&CalendarSettings::default()).expect("the default calendar is valid")),
            stickiness: Stickiness::default(),
        }
    }
}
