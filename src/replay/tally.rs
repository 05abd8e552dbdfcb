//! The day's figures from its floor events and status changes: the same
//! tally for the day as recorded (read from the store) and the day as
//! replayed (the engine's effects), so the two are judged alike. The
//! centre's figures are the wallboard's own ([`Figures`]); beside them,
//! each kind's work and each agent's occupancy.

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::outcome::{AgentDay, DayResult, KindDay};
use crate::domain::{AgentStatus, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::figures::{FigureRules, Figures, FloorEvent};

pub struct Tally {
    figures: Figures,
    day_start: Timestamp,
    wrap_up: SignedDuration,
    agents: HashMap<UserId, usize>,
    agent_days: Vec<AgentDay>,
    kinds: BTreeMap<TaskKind, KindDay>,
    tasks: HashMap<TaskId, LiveTask>,
}

/// A live task: kind, deadline, and who holds it since when.
type LiveTask = (TaskKind, Option<Timestamp>, Option<(UserId, Timestamp)>);

impl Tally {
    pub fn new(rules: &FigureRules, day_start: Timestamp, wrap_up: SignedDuration) -> Tally {
        Tally {
            figures: Figures::new(rules.clone(), day_start),
            day_start,
            wrap_up,
            agents: HashMap::new(),
            agent_days: Vec::new(),
            kinds: BTreeMap::new(),
            tasks: HashMap::new(),
        }
    }

    pub fn agent(&mut self, id: UserId, name: &str) {
        if !self.agents.contains_key(&id) {
            self.agents.insert(id, self.agent_days.len());
            self.agent_days.push(AgentDay { agent: id, name: name.to_owned(), ..AgentDay::default() });
        }
    }

    /// A task event; returns the seconds a hold lasted when one ended
    /// (for the measured handling times).
    pub fn event(&mut self, event: &FloorEvent) -> Option<(TaskKind, f64)> {
        self.figures.observe(event, self.day_start);
        match event {
            FloorEvent::Entered { task, kind, deadline, .. } => {
                if self.tasks.insert(*task, (*kind, *deadline, None)).is_none() {
                    self.kinds.entry(*kind).or_default().arrived += 1;
                }
                None
            }
            FloorEvent::Answered { task, agent, at } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.2 = Some((*agent, *at));
                }
                if let Some(&i) = self.agents.get(agent) {
                    self.agent_days[i].handled += 1;
                }
                None
            }
            FloorEvent::Left { task, status, at } => {
                let (kind, deadline, held) = *self.tasks.get(task)?;
                let k = self.kinds.entry(kind).or_default();
                match status {
                    TaskStatus::Completed => {
                        k.completed += 1;
                        k.within_deadline += u32::from(deadline.is_some_and(|d| *at <= d));
                    }
                    TaskStatus::Abandoned => k.abandoned += 1,
                    TaskStatus::Scheduled => {}
                    _ => k.closed_otherwise += 1,
                }
                if status.is_terminal() {
                    self.tasks.remove(task);
                } else if let Some(t) = self.tasks.get_mut(task) {
                    t.2 = None;
                }
                let (agent, since) = held?;
                let secs = at.duration_since(since).as_secs_f64();
                if let Some(&i) = self.agents.get(&agent) {
                    self.agent_days[i].busy_secs += secs + self.wrap_up.as_secs_f64();
                }
                Some((kind, secs))
            }
            FloorEvent::Requeued { task, .. } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.2 = None;
                }
                None
            }
            FloorEvent::Offered { .. } | FloorEvent::Agent { .. } | FloorEvent::Talking { .. } => None,
        }
    }

    pub fn status(&mut self, agent: UserId, status: &AgentStatus, at: Timestamp) {
        let event = FloorEvent::Agent { agent, status: status.clone(), at };
        self.figures.observe(&event, self.day_start);
        let Some(&i) = self.agents.get(&agent) else { return };
        let day = &mut self.agent_days[i];
        if let Some(since) = day.on_line_since.take() {
            day.on_line_secs += at.duration_since(since).as_secs_f64();
        }
        if status.is_on_line() {
            day.on_line_since = Some(at);
        }
    }

    /// The day's result at `end`; what is still live then is counted open.
    pub fn finish(mut self, end: Timestamp) -> DayResult {
        for day in &mut self.agent_days {
            if let Some(since) = day.on_line_since.take() {
                day.on_line_secs += end.duration_since(since).as_secs_f64();
            }
            day.occupancy = (day.on_line_secs > 0.0).then(|| (day.busy_secs / day.on_line_secs).min(1.0));
        }
        for (kind, deadline, _) in self.tasks.values() {
            let k = self.kinds.entry(*kind).or_default();
            k.left_open += 1;
            k.overdue_at_end += u32::from(deadline.is_some_and(|d| d < end));
        }
        DayResult {
            figures: self.figures.snapshot(end, self.day_start),
            agents: self.agent_days,
            kinds: self.kinds,
            waits: Vec::new(),
            answered_after: Vec::new(),
            events: Vec::new(),
            statuses: Vec::new(),
        }
    }
}
