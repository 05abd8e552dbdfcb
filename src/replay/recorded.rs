//! A day as the store recorded it, turned into what a replay is fed.
//!
//! From the day's task events (the same floor events the wallboard folds)
//! and the agents' status log: each task's arrival, kind and deadline; a
//! caller's patience (exact for those who gave up, at least their wait for
//! those answered); each task's handling, from its answer to its end; the
//! outcome of each call out (ended for a retry: not reached); each agent's
//! time on line as their shifts, and how they answered offers (share
//! accepted, share passed, time to answer). Work that entered before the
//! day (carried over) is not fed again.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::outcome::DayResult;
use super::scenario::{Answers, Arrival, Day, Patience, SimAgent};
use super::tally::Tally;
use crate::domain::{AgentStatus, Outcome, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::figures::{FigureRules, FloorEvent};

/// An agent as the store knows them.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedAgent {
    pub id: UserId,
    pub name: String,
    pub skills: Vec<String>,
}

/// One day's records.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub day_start: Timestamp,
    /// The day's task events, in order.
    pub events: Vec<FloorEvent>,
    /// The day's status changes, in order.
    pub statuses: Vec<(UserId, AgentStatus, Timestamp)>,
    pub agents: Vec<RecordedAgent>,
}

#[derive(Default)]
struct Task {
    arrival: usize,
    entered_at: Option<Timestamp>,
    answered_at: Option<Timestamp>,
    answered_once: bool,
}

#[derive(Default)]
struct Offers {
    offered: u32,
    accepted: u32,
    reaction_secs: f64,
}

/// The day to replay from `records`.
pub fn day_from_records(records: &Records) -> Day {
    let end = records.day_start + SignedDuration::from_hours(24);
    let mut arrivals: Vec<Arrival> = Vec::new();
    let mut tasks: HashMap<TaskId, Task> = HashMap::new();
    let mut offers: HashMap<UserId, Offers> = HashMap::new();
    let mut offered_to: HashMap<TaskId, (UserId, Timestamp)> = HashMap::new();
    for event in &records.events {
        match event {
            FloorEvent::Entered { task, kind, deadline, at, .. } => {
                let t = tasks.entry(*task).or_insert_with(|| {
                    arrivals.push(Arrival {
                        at: *at,
                        kind: *kind,
                        patience: None,
                        handling_secs: None,
                        attempts: Vec::new(),
                        deadline: *deadline,
                    });
                    Task { arrival: arrivals.len() - 1, ..Task::default() }
                });
                t.entered_at = Some(*at);
            }
            FloorEvent::Offered { task, agent, at } => {
                offers.entry(*agent).or_default().offered += 1;
                offered_to.insert(*task, (*agent, *at));
            }
            FloorEvent::Requeued { task, .. } => {
                offered_to.remove(task);
            }
            FloorEvent::Answered { task, agent, at } => {
                if let Some((to, offered_at)) = offered_to.remove(task)
                    && to == *agent
                {
                    let o = offers.entry(*agent).or_default();
                    o.accepted += 1;
                    o.reaction_secs += at.duration_since(offered_at).as_secs_f64();
                }
                let Some(t) = tasks.get_mut(task) else { continue };
                let a = &mut arrivals[t.arrival];
                if !t.answered_once && a.kind == TaskKind::InboundCall {
                    let waited = t.entered_at.map_or(0.0, |e| at.duration_since(e).as_secs_f64());
                    a.patience = Some(Patience::AtLeast(waited));
                }
                t.answered_at = Some(*at);
                t.answered_once = true;
            }
            FloorEvent::Left { task, status, at } => {
                offered_to.remove(task);
                let Some(t) = tasks.get_mut(task) else { continue };
                let a = &mut arrivals[t.arrival];
                if let Some(answered) = t.answered_at.take() {
                    let secs = at.duration_since(answered).as_secs_f64();
                    let reached = *status == TaskStatus::Completed;
                    if a.kind != TaskKind::InboundCall {
                        a.attempts.push(if reached { Outcome::Reached } else { Outcome::NoAnswer });
                    }
                    if reached || a.kind == TaskKind::InboundCall {
                        a.handling_secs = Some(secs);
                    }
                } else if *status == TaskStatus::Abandoned && a.kind == TaskKind::InboundCall {
                    let waited = t.entered_at.map_or(0.0, |e| at.duration_since(e).as_secs_f64());
                    a.patience = Some(Patience::GaveUpAfter(waited));
                }
            }
            FloorEvent::Agent { .. } | FloorEvent::Talking { .. } => {}
        }
    }
    // A call still waiting at the day's end waited at least until then.
    for t in tasks.values() {
        let a = &mut arrivals[t.arrival];
        if a.kind == TaskKind::InboundCall && a.patience.is_none() {
            let waited = t.entered_at.map_or(0.0, |e| end.duration_since(e).as_secs_f64());
            a.patience = Some(Patience::AtLeast(waited));
        }
    }
    let agents = records
        .agents
        .iter()
        .filter_map(|agent| {
            let shifts = on_line(records, agent.id, end);
            (!shifts.is_empty()).then(|| {
                let o = offers.remove(&agent.id).unwrap_or_default();
                let answers = if o.offered == 0 {
                    Answers::default()
                } else {
                    Answers {
                        accept_share: f64::from(o.accepted) / f64::from(o.offered),
                        decline_share: 1.0 - f64::from(o.accepted) / f64::from(o.offered),
                        reaction_secs: if o.accepted > 0 { o.reaction_secs / f64::from(o.accepted) } else { 3.0 },
                    }
                };
                SimAgent {
                    id: agent.id,
                    name: agent.name.clone(),
                    skills: agent.skills.clone(),
                    shifts,
                    scheduled: false,
                    answers,
                }
            })
        })
        .collect();
    Day { start: records.day_start, arrivals, agents }
}

/// The day's figures as recorded, by the same tally as a replay's.
pub fn recorded_result(records: &Records, figures: &FigureRules, wrap_up: SignedDuration) -> DayResult {
    let mut tally = Tally::new(figures, records.day_start, wrap_up);
    for agent in &records.agents {
        tally.agent(agent.id, &agent.name);
    }
    // Status changes and task events, merged in time order.
    let mut statuses = records.statuses.iter().peekable();
    for event in &records.events {
        while let Some((agent, status, at)) = statuses.next_if(|(_, _, at)| *at <= event.at()) {
            tally.status(*agent, status, *at);
        }
        tally.event(event);
    }
    for (agent, status, at) in statuses {
        tally.status(*agent, status, *at);
    }
    tally.finish(records.day_start + SignedDuration::from_hours(24))
}

/// The stretches an agent was on line (available, busy or in wrap-up).
fn on_line(records: &Records, agent: UserId, end: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let mut shifts = Vec::new();
    let mut since: Option<Timestamp> = None;
    for (_, status, at) in records.statuses.iter().filter(|(a, _, _)| *a == agent) {
        match (status.is_on_line(), since) {
            (true, None) => since = Some(*at),
            (false, Some(from)) => {
                shifts.push((from, *at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        shifts.push((from, end));
    }
    shifts
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::config::Config;
    use crate::replay::generate::{self, Size};
    use crate::replay::{Settings, run};

    /// The engine's own floor events, read back as records, give the same
    /// arrivals, patience and handling the day was generated with.
    #[test]
    fn a_days_events_read_back_give_its_arrivals_patience_and_handling() {
        let config = Config::default();
        let (rules, figures) = (config.rules().unwrap(), config.figures.clone());
        let size =
            Size { calls_per_day: 300.0, callbacks_per_day: 60.0, early_agents: 3, late_agents: 3, ..Size::default() };
        let truth = generate::truth(&rules.calendar, date(2026, 3, 3), &size, 4);
        let (recorded, _) = generate::recorded(&truth, &rules, &figures, 9);
        let settings = Settings { seed: 9, keep_events: true, ..Settings::default() };
        let result = run(&truth, &rules, &figures, &settings);
        let records = Records {
            day_start: truth.start,
            events: result.events.clone(),
            statuses: result.statuses.clone(),
            agents: truth
                .agents
                .iter()
                .map(|a| RecordedAgent { id: a.id, name: a.name.clone(), skills: a.skills.clone() })
                .collect(),
        };
        // Tallied from its records, the day gives the figures the run gave.
        let tallied = recorded_result(&records, &figures, rules.wrap_up);
        let (ran, read_back) = (result.kpis(), tallied.kpis());
        assert_eq!(
            (ran.calls, ran.abandon_rate, ran.service_level),
            (read_back.calls, read_back.abandon_rate, read_back.service_level)
        );
        assert_eq!(ran.callbacks_within_deadline, read_back.callbacks_within_deadline);
        let read = day_from_records(&records);
        assert_eq!(read.arrivals.len(), recorded.arrivals.len());
        for (a, b) in read.arrivals.iter().zip(&recorded.arrivals) {
            assert_eq!((a.at, a.kind), (b.at, b.kind));
            match (a.patience, b.patience) {
                (Some(Patience::GaveUpAfter(x)), Some(Patience::GaveUpAfter(y)))
                | (Some(Patience::AtLeast(x)), Some(Patience::AtLeast(y))) => {
                    assert!((x - y).abs() < 0.01, "{a:?} {b:?}")
                }
                (None, None) => {}
                other => panic!("{other:?}"),
            }
            if a.kind == TaskKind::InboundCall
                && let (Some(x), Some(y)) = (a.handling_secs, b.handling_secs)
            {
                assert!((x - y).abs() < 0.01, "{a:?} {b:?}");
            }
        }
        assert_eq!(read.agents.len(), truth.agents.len());
        for (a, b) in read.agents.iter().zip(&truth.agents) {
            assert_eq!(a.shifts.len(), 1, "{a:?}");
            assert_eq!(a.shifts[0].0, b.shifts[0].0);
            assert!(a.answers.accept_share > 0.85 && a.answers.accept_share < 1.0, "{a:?}");
            assert!((a.answers.reaction_secs - 3.0).abs() < 1.0, "{a:?}");
        }
    }
}
