//! One day through the dispatcher on a virtual clock.
//!
//! The engine is the live server's shell with people and phones replaced
//! by the day's records: arrivals become `AddTask`, shifts become
//! `Connect`/`ShiftEnding`/`EndShift`, an offer is answered as that agent
//! answered the day's offers, a held task ends after its recorded handling
//! time, a caller hangs up when their patience runs out, and a retry comes
//! back when the dispatcher's rule says. The dispatcher, its rules and the
//! figures are the live ones, untouched; only the clock is virtual, which
//! is what lets a day run in well under a second.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::dice::Dice;
use super::outcome::{DayResult, WaitSample};
use super::scenario::{Arrival, Day, Patience};
use super::tally::Tally;
use crate::domain::{AgentStatus, Outcome, Phone, TaskId, TaskKind, UserId};
use crate::rules::dispatch::{AgentProfile, Command, Dispatcher, Effect, NewTask, Record, Rules, TaskCard, TaskPlan};
use crate::rules::figures::{FigureRules, FloorEvent};
use crate::rules::planning::estimate::{self, AsteriskHoldtime, FloorAgent, HandlingTimes, WaitingTask};
use crate::rules::planning::floor::{self, Measurements};

/// How a replay runs, beside the rules it replays under.
#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    /// `shifts.wind_down_minutes`: offered nothing new this long before a shift ends.
    pub wind_down: SignedDuration,
    /// `agents.default_back_office_capacity`.
    pub back_office_capacity: u8,
    /// Seconds an unanswered call out rings before the agent gives up.
    pub ring_secs: f64,
    /// Estimate each hotline call's wait when it arrives (ours and
    /// Asterisk's) and keep them beside the actual waits: the backtest.
    pub estimate_waits: bool,
    /// The callers' mean patience when the record has no caller who gave
    /// up to estimate it from.
    pub fallback_patience_secs: f64,
    /// Keep the day's floor events and status changes in the result, as
    /// the store would have them (for reading a replayed day back).
    pub keep_events: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 1,
            wind_down: SignedDuration::from_mins(10),
            back_office_capacity: 2,
            ring_secs: 30.0,
            estimate_waits: false,
            fallback_patience_secs: floor::ASSUMED_PATIENCE_SECS,
            keep_events: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive(usize),
    ShiftStart(usize),
    ShiftEnding(usize),
    ShiftEnd(usize),
    Answer { agent: usize, task: TaskId, accept: bool },
    Finish { agent: usize, task: TaskId },
    Abandon(TaskId),
    Retry(TaskId),
}

/// A task as the engine follows it.
struct Follow {
    arrival: usize,
    kind: TaskKind,
    card: Arc<TaskCard>,
    plan: TaskPlan,
    handling_secs: f64,
    /// Attempts made so far (calls out that ended).
    made: u32,
    entered_at: Timestamp,
    answered: bool,
}

struct Engine<'a> {
    day: &'a Day,
    settings: &'a Settings,
    d: Dispatcher,
    tally: Tally,
    dice: Dice,
    now: Timestamp,
    seq: u64,
    events: BinaryHeap<Reverse<(Timestamp, u64, Ev)>>,
    tasks: HashMap<TaskId, Follow>,
    agents: HashMap<UserId, usize>,
    /// Handling seconds per kind: the day's recorded, to draw from; and as
    /// measured so far in the run, for the estimates.
    recorded: HashMap<TaskKind, Vec<f64>>,
    measured: HashMap<TaskKind, Vec<f64>>,
    /// The kinds measured since the estimate last looked.
    remeasure: HashSet<TaskKind>,
    /// What the estimate reads besides the dispatcher; the callers' mean
    /// patience in it is estimated from the record.
    floor: Measurements,
    asterisk: HashMap<String, AsteriskHoldtime>,
    pending: HashMap<TaskId, (f64, f64)>,
    waits: Vec<WaitSample>,
    /// Per arrival, how long the caller waited for an agent, if answered.
    answered_after: Vec<Option<f64>>,
    /// When each live offer was made, and the mean time to accept one.
    offered_at: HashMap<TaskId, Timestamp>,
    answer_delay: Average,
    kept_events: Vec<FloorEvent>,
    kept_statuses: Vec<(UserId, AgentStatus, Timestamp)>,
    out: Vec<Effect>,
}

/// A running mean.
#[derive(Default)]
struct Average {
    sum: f64,
    n: u32,
}

impl Average {
    fn add(&mut self, x: f64) {
        (self.sum, self.n) = (self.sum + x, self.n + 1);
    }

    fn average(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / f64::from(self.n))
    }
}

/// Runs `day` under `rules` and returns what happened.
pub fn run(day: &Day, rules: &Rules, figure_rules: &FigureRules, settings: &Settings) -> DayResult {
    let mut e = Engine {
        day,
        settings,
        d: Dispatcher::new(rules.clone()),
        tally: Tally::new(figure_rules, day.start, rules.wrap_up),
        dice: Dice::new(settings.seed),
        now: day.start,
        seq: 0,
        events: BinaryHeap::new(),
        tasks: HashMap::new(),
        agents: HashMap::new(),
        recorded: HashMap::new(),
        measured: HashMap::new(),
        remeasure: HashSet::new(),
        floor: Measurements {
            patience_secs: day.mean_patience_secs().unwrap_or(settings.fallback_patience_secs),
            ..Measurements::default()
        },
        asterisk: HashMap::new(),
        pending: HashMap::new(),
        waits: Vec::new(),
        answered_after: vec![None; day.arrivals.len()],
        offered_at: HashMap::new(),
        answer_delay: Average::default(),
        kept_events: Vec::new(),
        kept_statuses: Vec::new(),
        out: Vec::new(),
    };
    e.start();
    while e.step() {}
    e.finish()
}

fn after(at: Timestamp, secs: f64) -> Timestamp {
    at + SignedDuration::from_millis((secs.max(0.0) * 1000.0).round() as i64)
}

fn secs_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

impl Engine<'_> {
    fn at(&mut self, when: Timestamp, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((when.max(self.now), self.seq, ev)));
    }

    fn start(&mut self) {
        for kind in TaskKind::ALL {
            let samples = self.day.handling_samples(*kind);
            if !samples.is_empty() {
                self.recorded.insert(*kind, samples);
            }
        }
        let rules = self.d.rules().clone();
        for (i, a) in self.day.agents.iter().enumerate() {
            self.agents.insert(a.id, i);
            let profile = AgentProfile {
                id: a.id,
                name: a.name.clone(),
                queues: rules.queue_set(a.skills.iter().map(String::as_str)),
                levels: Default::default(),
                voice_capacity: 1,
                back_office_capacity: self.settings.back_office_capacity,
                sip_uri: None,
            };
            self.command(Command::UpsertAgent(profile));
            self.tally.agent(a.id, &a.name);
            for (from, to) in &a.shifts {
                self.at(*from, Ev::ShiftStart(i));
                if a.scheduled {
                    self.at(*to - self.settings.wind_down, Ev::ShiftEnding(i));
                }
                self.at(*to, Ev::ShiftEnd(i));
            }
        }
        for (i, a) in self.day.arrivals.iter().enumerate() {
            self.at(a.at, Ev::Arrive(i));
        }
    }

    /// Runs the next event or timer; false when nothing is left before
    /// the day's end (what is still open then is counted open).
    fn step(&mut self) -> bool {
        let end = self.day.start + SignedDuration::from_hours(24);
        let next_event = self.events.peek().map(|Reverse((at, _, _))| *at).filter(|at| *at < end);
        let wakeup = self.d.next_wakeup().filter(|at| *at < end);
        match (next_event, wakeup) {
            (None, None) => false,
            (Some(ev), Some(w)) if w < ev => self.tick(w),
            (None, Some(w)) => self.tick(w),
            _ => {
                let Reverse((at, _, ev)) = self.events.pop().expect("peeked");
                self.now = self.now.max(at);
                self.event(ev);
                true
            }
        }
    }

    fn tick(&mut self, at: Timestamp) -> bool {
        self.now = self.now.max(at);
        let mut out = std::mem::take(&mut self.out);
        self.d.tick(self.now, &mut out);
        self.effects(&mut out);
        self.out = out;
        true
    }

    fn command(&mut self, cmd: Command) -> bool {
        let mut out = std::mem::take(&mut self.out);
        let ok = self.d.handle(self.now, cmd, &mut out).is_ok();
        self.effects(&mut out);
        self.out = out;
        ok
    }

    fn event(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive(i) => self.arrive(i),
            Ev::ShiftStart(a) => {
                let id = self.day.agents[a].id;
                self.command(Command::Connect { agent: id, winding_down: false });
                self.command(Command::SetStatus { agent: id, status: AgentStatus::Available });
            }
            Ev::ShiftEnding(a) => {
                self.command(Command::ShiftEnding { agent: self.day.agents[a].id });
            }
            Ev::ShiftEnd(a) => {
                self.command(Command::EndShift { agent: self.day.agents[a].id, note: None });
            }
            Ev::Answer { agent, task, accept } => {
                let id = self.day.agents[agent].id;
                let cmd =
                    if accept { Command::Accept { agent: id, task } } else { Command::Decline { agent: id, task } };
                self.command(cmd);
            }
            Ev::Finish { agent, task } => self.finish_task(agent, task),
            Ev::Abandon(task) => {
                if self.tasks.get(&task).is_some_and(|t| !t.answered) {
                    self.command(Command::Abandon { task });
                }
            }
            Ev::Retry(task) => {
                let Some(t) = self.tasks.get_mut(&task) else { return };
                t.entered_at = self.now;
                let new = NewTask { card: t.card.clone(), plan: t.plan, enqueued_at: self.now, held_by: None };
                self.enter(&new);
            }
        }
    }

    fn arrive(&mut self, i: usize) {
        let a: &Arrival = &self.day.arrivals[i];
        let id = TaskId(uuid::Uuid::from_u128(i as u128 + 1));
        let rules = self.d.rules();
        let plan = rules.plan(a.kind, self.now, None, a.deadline);
        let card = Arc::new(TaskCard {
            id,
            kind: a.kind,
            customer_phone: Phone::parse("13800138000").expect("a valid number"),
            reason: None,
            deadline: plan.deadline,
            priority: plan.priority,
            queue: rules.queue_name(plan.queue).to_owned(),
            created_at: self.now,
            attempt: 1,
            attempts_allowed: rules.kind(a.kind).attempts,
            first_tried_at: None,
            last_outcome: None,
            handover_note: None,
            reserved: None,
            avoid_agent: None,
        });
        let handling_secs = match a.handling_secs {
            Some(h) => h,
            None => {
                let drawn = self.recorded.get(&a.kind).and_then(|s| self.dice.pick(s)).copied();
                drawn.unwrap_or(180.0)
            }
        };
        let patience = a.patience.map(|p| match p {
            Patience::GaveUpAfter(s) => s,
            // Exponential patience is memoryless: past what was seen, the
            // rest is drawn with the day's mean.
            Patience::AtLeast(s) => s + self.dice.exponential(self.floor.patience_secs),
        });
        let kind = a.kind;
        let new = NewTask { card: card.clone(), plan, enqueued_at: self.now, held_by: None };
        self.tasks.insert(
            id,
            Follow { arrival: i, kind, card, plan, handling_secs, made: 0, entered_at: self.now, answered: false },
        );
        if let Some(p) = patience {
            self.at(after(self.now, p), Ev::Abandon(id));
        }
        self.enter(&new);
        if self.settings.estimate_waits && kind == TaskKind::InboundCall {
            self.estimate_new(id);
        }
    }

    /// A task enters its queue: the figures hear of it as the live
    /// server's intake tells them, then the dispatcher takes it.
    fn enter(&mut self, new: &NewTask) {
        let card = &new.card;
        let entered = FloorEvent::Entered {
            task: card.id,
            kind: card.kind,
            queue: card.queue.clone(),
            deadline: card.deadline,
            at: self.now,
        };
        self.tally.event(&entered);
        if self.settings.keep_events {
            self.kept_events.push(entered);
        }
        self.command(Command::AddTask(new.clone()));
    }

    /// Our estimate and Asterisk's for a call that just entered, kept
    /// until it is answered.
    fn estimate_new(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get(&id) else { return };
        let theirs = self.asterisk.get(&t.card.queue).map_or(0.0, |a| a.estimate(0.0));
        if t.answered {
            self.pending.insert(id, (0.0, theirs));
            return;
        }
        let (agents, waiting) = self.floor_view();
        let answer_secs = self.answer_delay.average().unwrap_or(0.0);
        let ours = estimate::estimate(&agents, &waiting, answer_secs)
            .into_iter()
            .find(|e| e.task == id)
            .map_or(0.0, |e| e.wait_secs);
        self.pending.insert(id, (ours, theirs));
    }

    /// The floor as the live server would see it: statuses and since
    /// when, the held tasks' kinds, the handling times measured so far,
    /// wrap-up, shift ends; nothing of the records' future.
    fn floor_view(&mut self) -> (Vec<FloorAgent>, Vec<WaitingTask>) {
        for kind in std::mem::take(&mut self.remeasure) {
            let samples = self.measured.get(&kind).cloned().unwrap_or_default();
            self.floor.handling.insert(kind, HandlingTimes::new(samples));
        }
        self.floor.leaves_at.clear();
        for (id, &i) in &self.agents {
            let agent = &self.day.agents[i];
            let wind_down = if agent.scheduled { self.settings.wind_down } else { SignedDuration::ZERO };
            if let Some(end) = agent.shifts.iter().map(|s| s.1).find(|end| *end > self.now) {
                self.floor.leaves_at.insert(*id, end - wind_down);
            }
        }
        let view = floor::floor_view(&self.d, self.now, &self.floor);
        (view.agents, view.tasks)
    }

    fn finish_task(&mut self, agent: usize, task: TaskId) {
        let Some(t) = self.tasks.get(&task) else { return };
        let attempts = &self.day.arrivals[t.arrival].attempts;
        let outcome = if t.kind == TaskKind::InboundCall {
            Outcome::Reached
        } else {
            attempts.get(t.made as usize).or(attempts.last()).copied().unwrap_or(Outcome::Reached)
        };
        let id = self.day.agents[agent].id;
        if self.command(Command::Complete { agent: id, task, outcome, summary: None }) {
            let t = self.tasks.get_mut(&task).expect("followed");
            t.made += 1;
            let card = Arc::make_mut(&mut t.card);
            card.attempt = t.made + 1;
            card.first_tried_at = card.first_tried_at.or(Some(self.now));
            card.last_outcome = Some(outcome);
        }
    }

    fn effects(&mut self, out: &mut Vec<Effect>) {
        for effect in out.drain(..) {
            match effect {
                Effect::Offer { agent, offer } => {
                    let Some(&i) = self.agents.get(&agent) else { continue };
                    let answers = self.day.agents[i].answers;
                    let roll = self.dice.unit();
                    let accept = roll < answers.accept_share;
                    if accept || roll < answers.accept_share + answers.decline_share {
                        let task = offer.task.id;
                        // People answer some offers faster than others: ±50 % around their own mean.
                        let reaction = answers.reaction_secs * (0.5 + self.dice.unit());
                        self.at(after(self.now, reaction), Ev::Answer { agent: i, task, accept });
                    }
                }
                Effect::TaskAssigned { agent, task } => {
                    let Some(&i) = self.agents.get(&agent) else { continue };
                    let Some(t) = self.tasks.get_mut(&task.id) else { continue };
                    let reached_now = t.kind == TaskKind::InboundCall || {
                        let attempts = &self.day.arrivals[t.arrival].attempts;
                        attempts.get(t.made as usize).or(attempts.last()).is_none_or(|o| *o == Outcome::Reached)
                    };
                    let secs = if reached_now { t.handling_secs } else { self.settings.ring_secs };
                    self.at(after(self.now, secs), Ev::Finish { agent: i, task: task.id });
                }
                Effect::Record(record) => self.record(&record),
                Effect::OfferRescinded { .. } | Effect::TaskRevoked { .. } | Effect::AgentStatusChanged { .. } => {}
            }
        }
    }

    fn record(&mut self, record: &Record) {
        if let Record::AgentStatus { agent, status, at } = record {
            self.tally.status(*agent, status, *at);
            if self.settings.keep_events {
                self.kept_statuses.push((*agent, status.clone(), *at));
            }
            return;
        }
        let event = FloorEvent::of(record);
        if let Some((kind, secs)) = self.tally.event(&event) {
            self.measured.entry(kind).or_default().push(secs);
            self.remeasure.insert(kind);
        }
        if self.settings.keep_events {
            self.kept_events.push(event);
        }
        match record {
            Record::TaskAssigned { task, at, .. } => {
                if let Some(offered) = self.offered_at.remove(task) {
                    self.answer_delay.add(secs_between(offered, *at));
                }
                let Some(t) = self.tasks.get_mut(task) else { return };
                if !t.answered && t.kind == TaskKind::InboundCall {
                    let waited = secs_between(t.entered_at, *at);
                    self.answered_after[t.arrival] = Some(waited);
                    self.asterisk.entry(t.card.queue.clone()).or_default().answered(waited);
                    if let Some((ours, theirs)) = self.pending.remove(task) {
                        self.waits.push(WaitSample { actual_secs: waited, estimate_secs: ours, asterisk_secs: theirs });
                    }
                }
                t.answered = true;
            }
            Record::TaskClosed { task, .. } => {
                self.pending.remove(task);
                self.offered_at.remove(task);
            }
            Record::TaskRetry { task, not_before, .. } => {
                self.at(*not_before, Ev::Retry(*task));
            }
            Record::TaskOffered { task, at, .. } => {
                self.offered_at.insert(*task, *at);
            }
            Record::TaskReturned { task, .. } => {
                self.offered_at.remove(task);
            }
            Record::AgentStatus { .. } => {}
        }
    }

    fn finish(self) -> DayResult {
        DayResult {
            waits: self.waits,
            answered_after: self.answered_after,
            events: self.kept_events,
            statuses: self.kept_statuses,
            ..self.tally.finish(self.now)
        }
    }
}
