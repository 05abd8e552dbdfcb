//! Realistic recorded days, made up from stated distributions, for
//! testing replays and backtesting estimates without a centre's data.
//!
//! - Hotline calls: a Poisson process whose rate follows the hour of day
//!   ([`HOURLY_SHARE`], two peaks, late morning and mid afternoon) and the
//!   weekday ([`WEEKDAY_FACTOR`]: Mondays busiest, Sundays quietest), the
//!   shape call centres commonly report (Gans, Koole and Mandelbaum,
//!   "Telephone call centers: tutorial, review and research prospects",
//!   2003).
//! - Handling: log-normal (Brown et al. 2005), hotline mean 180 s, s.d.
//!   90 s; calls out mean 120 s, s.d. 60 s.
//! - Patience: exponential, mean 120 s (Erlang A's assumption; the replay
//!   estimates the mean back from the censored record).
//! - Callbacks: new sign-ups, missed calls and marketing follow-ups spread
//!   over the opening hours; each call out reaches the customer with
//!   probability 0.7, otherwise rings out unanswered.
//! - Agents on the manual's shifts: early 09:00-17:00 and late 14:30-22:30,
//!   every agent serving the hotline and the callbacks; they accept 95 % of
//!   offers after 3 s, decline 3 %, let 2 % time out.
//!
//! A generated day is first run with every caller's true patience (the
//! truth), then written down as a centre would have recorded it: the
//! patience of those who gave up, only a lower bound for those answered,
//! no handling time for those who never reached an agent.

use jiff::SignedDuration;
use jiff::civil::{Date, Time};

use super::dice::Dice;
use super::engine::{self, Settings};
use super::outcome::DayResult;
use super::scenario::{Answers, Arrival, Day, Patience, SimAgent};
use crate::domain::{Outcome, TaskKind, UserId};
use crate::rules::calendar::Calendar;
use crate::rules::dispatch::Rules;
use crate::rules::figures::FigureRules;

/// Share of a day's hotline calls in each hour from 09:00 to 22:00.
pub const HOURLY_SHARE: [f64; 14] =
    [0.060, 0.100, 0.110, 0.080, 0.085, 0.105, 0.110, 0.095, 0.070, 0.060, 0.050, 0.040, 0.025, 0.010];
/// Monday to Sunday.
pub const WEEKDAY_FACTOR: [f64; 7] = [1.15, 1.0, 1.0, 1.0, 1.05, 0.8, 0.7];

/// How big a generated centre is. The default is a busy floor of the
/// manual's kind: 2,000 calls on a weekday, 11 agents early and 9 late, so
/// that about 15 % of callers give up (the manual's limit is 25 %) and
/// agents are about three quarters occupied.
#[derive(Clone, Debug)]
pub struct Size {
    /// Hotline calls on an ordinary weekday.
    pub calls_per_day: f64,
    pub callbacks_per_day: f64,
    pub early_agents: usize,
    pub late_agents: usize,
    pub handling_mean_secs: f64,
    pub patience_mean_secs: f64,
}

impl Default for Size {
    fn default() -> Self {
        Size {
            calls_per_day: 2000.0,
            callbacks_per_day: 400.0,
            early_agents: 11,
            late_agents: 9,
            handling_mean_secs: 180.0,
            patience_mean_secs: 120.0,
        }
    }
}

/// The callback kinds generated, with their share.
const CALLBACKS: [(TaskKind, f64); 3] =
    [(TaskKind::NewSignupCallback, 0.5), (TaskKind::MissedCallCallback, 0.3), (TaskKind::MarketingNoShow, 0.2)];

/// The day's truth: every caller's own patience, every task's handling.
pub fn truth(calendar: &Calendar, date: Date, size: &Size, seed: u64) -> Day {
    let mut dice = Dice::new(seed ^ ((date.year() as u64) << 16 | date.day_of_year() as u64));
    let start = calendar.start_of_day(calendar.at(date, Time::midnight()));
    let at = |hour: i8, minute: i8| calendar.at(date, Time::constant(hour, minute, 0, 0));
    let factor = WEEKDAY_FACTOR[date.weekday().to_monday_zero_offset() as usize];
    let mut arrivals = Vec::new();
    for (i, share) in HOURLY_SHARE.iter().enumerate() {
        let hour_start = at(9 + i as i8, 0);
        let n = dice.poisson(size.calls_per_day * factor * share);
        for _ in 0..n {
            let offset = dice.unit() * 3600.0;
            arrivals.push(Arrival {
                at: hour_start + SignedDuration::from_millis((offset * 1000.0) as i64),
                kind: TaskKind::InboundCall,
                patience: Some(Patience::GaveUpAfter(dice.exponential(size.patience_mean_secs))),
                handling_secs: Some(dice.log_normal(size.handling_mean_secs, size.handling_mean_secs / 2.0)),
                attempts: Vec::new(),
                deadline: None,
            });
        }
    }
    let open_secs = at(22, 0).duration_since(at(9, 0)).as_secs_f64();
    let callbacks = dice.poisson(size.callbacks_per_day * factor);
    for _ in 0..callbacks {
        let roll = dice.unit();
        let mut acc = 0.0;
        let kind = CALLBACKS.iter().find(|(_, share)| {
            acc += share;
            roll < acc
        });
        let attempts = (0..3).map(|_| if dice.unit() < 0.7 { Outcome::Reached } else { Outcome::NoAnswer }).collect();
        arrivals.push(Arrival {
            at: at(9, 0) + SignedDuration::from_millis((dice.unit() * open_secs * 1000.0) as i64),
            kind: kind.map_or(TaskKind::NewSignupCallback, |k| k.0),
            patience: None,
            handling_secs: Some(dice.log_normal(120.0, 60.0)),
            attempts,
            deadline: None,
        });
    }
    arrivals.sort_by_key(|a| a.at);
    let early = (0..size.early_agents).map(|i| (format!("early{i}"), ((9, 0), (17, 0))));
    let late = (0..size.late_agents).map(|i| (format!("late{i}"), ((14, 30), (22, 30))));
    let agents = early
        .chain(late)
        .enumerate()
        .map(|(i, (name, (from, to)))| SimAgent {
            id: UserId(uuid::Uuid::from_u128(0xA6E0_0000 + i as u128)),
            name,
            skills: vec!["hotline".into(), "callbacks".into(), "marketing".into()],
            shifts: vec![(at(from.0, from.1), at(to.0, to.1))],
            scheduled: true,
            answers: Answers { accept_share: 0.95, decline_share: 0.03, reaction_secs: 3.0 },
        })
        .collect();
    Day { start, arrivals, agents }
}

/// Runs the truth and writes it down as the centre would have: returns
/// the recorded day and what happened on it.
pub fn recorded(truth: &Day, rules: &Rules, figures: &FigureRules, seed: u64) -> (Day, DayResult) {
    let settings = Settings { seed, ..Settings::default() };
    let result = engine::run(truth, rules, figures, &settings);
    let mut day = truth.clone();
    for (i, a) in day.arrivals.iter_mut().enumerate() {
        let Some(Patience::GaveUpAfter(patience)) = a.patience else { continue };
        match result.answered_after.get(i).copied().flatten() {
            Some(wait) => a.patience = Some(Patience::AtLeast(wait)),
            None => {
                a.patience = Some(Patience::GaveUpAfter(patience));
                a.handling_secs = None;
            }
        }
    }
    (day, result)
}
