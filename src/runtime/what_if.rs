//! What-if comparisons: recorded days read from the store, replayed under
//! a configuration and a staffing, beside the days as recorded. Shared by
//! `switchboard replay` and `POST /api/v1/simulations`.
//!
//! Reads each day's task events, status log and agents from the store
//! (`store/floor.rs`), turns them into a replay's input
//! (`replay::recorded`), runs it `runs` times with seeds from `seed` and
//! keeps, per day and for the period, the recorded figures and the mean of
//! the simulated ones.

use jiff::civil::{Date, Time};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::replay::outcome::KindDay;
use crate::replay::recorded::{self, RecordedAgent, Records};
use crate::replay::{Answers, Day, Kpis, Settings, SimAgent, run};
use crate::rules::calendar::{Calendar, parse_time_of_day};
use crate::store::Store;

/// The longest period one comparison covers.
pub const MAX_DAYS: i32 = 366;

/// The configuration a comparison replays under, as the replay needs it
/// (built from a `Config` by the command line and the API).
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    pub rules: crate::rules::dispatch::Rules,
    pub figures: crate::rules::figures::FigureRules,
    /// `[shifts.named]`, for a staffing's shifts by name.
    pub named_shifts: std::collections::BTreeMap<String, String>,
    pub wind_down: SignedDuration,
    pub back_office_capacity: u8,
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct WhatIf {
    pub from: Date,
    pub to: Date,
    pub seed: u64,
    pub runs: u32,
    pub staffing: Option<Staffing>,
}

impl WhatIf {
    /// A period the comparison can cover, or what is wrong with it.
    pub fn check_period(from: Date, to: Date) -> Result<(), String> {
        if to < from {
            return Err("to: must be on or after from".into());
        }
        if from.until(to).map_err(|e| e.to_string())?.get_days() > MAX_DAYS {
            return Err(format!("to: at most {MAX_DAYS} days after from"));
        }
        Ok(())
    }
}

/// A staffing file.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Staffing {
    pub agents: Vec<StaffedAgents>,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffedAgents {
    pub name: String,
    pub skills: Vec<String>,
    /// `HH:MM-HH:MM` or a name from `[shifts.named]`.
    pub shift: String,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// One day's comparison.
#[derive(Debug, Serialize, Deserialize)]
pub struct DayComparison {
    pub date: Date,
    pub recorded: Kpis,
    /// The mean of the runs.
    pub simulated: Kpis,
    /// The first run's work per kind and agents, for the detail.
    pub simulated_kinds: std::collections::BTreeMap<crate::domain::TaskKind, KindDay>,
    pub simulated_agents: Vec<crate::replay::outcome::AgentDay>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Comparison {
    pub from: Date,
    pub to: Date,
    pub seed: u64,
    pub runs: u32,
    pub days: Vec<DayComparison>,
    pub recorded: Option<Kpis>,
    pub simulated: Option<Kpis>,
}

/// Replays every day of `what` under `config`, beside the day recorded.
pub async fn compare(config: &ReplayConfig, store: &Store, what: &WhatIf) -> Result<Comparison, String> {
    WhatIf::check_period(what.from, what.to)?;
    let args = what;
    let staffing = what.staffing.as_ref();
    let rules = config.rules.clone();
    let calendar = rules.calendar.clone();
    let agents: Vec<RecordedAgent> = store
        .users()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|u| RecordedAgent { id: u.id, name: u.username, skills: u.skills })
        .collect();
    let mut days = Vec::new();
    let mut date = args.from;
    while date <= args.to {
        let start = calendar.start_of_day(calendar.at(date, Time::midnight()));
        let end = start + SignedDuration::from_hours(24);
        let records = Records {
            day_start: start,
            events: store.floor_events_between(start, Some(end)).await.map_err(|e| e.to_string())?,
            statuses: store.agent_statuses_between(start, end).await.map_err(|e| e.to_string())?,
            agents: agents.clone(),
        };
        let recorded = recorded::recorded_result(&records, &config.figures, rules.wrap_up).kpis();
        let mut day = recorded::day_from_records(&records);
        if let Some(staffing) = staffing {
            day.agents = staff(&day, staffing, &calendar, config, date)?;
        }
        let settings = |run: u32| Settings {
            seed: args.seed + u64::from(run),
            wind_down: config.wind_down,
            back_office_capacity: config.back_office_capacity,
            ..Settings::default()
        };
        let results: Vec<_> = (0..args.runs).map(|n| run(&day, &rules, &config.figures, &settings(n))).collect();
        let kpis: Vec<Kpis> = results.iter().map(|r| r.kpis()).collect();
        let first = results.into_iter().next().expect("at least one run");
        days.push(DayComparison {
            date,
            recorded,
            simulated: Kpis::pool(&kpis).expect("at least one run").per_run(args.runs),
            simulated_kinds: first.kinds,
            simulated_agents: first.agents,
        });
        date = date.tomorrow().map_err(|e| e.to_string())?;
    }
    let recorded: Vec<Kpis> = days.iter().map(|d| d.recorded).collect();
    let simulated: Vec<Kpis> = days.iter().map(|d| d.simulated).collect();
    Ok(Comparison {
        from: args.from,
        to: args.to,
        seed: args.seed,
        runs: args.runs,
        recorded: Kpis::pool(&recorded),
        simulated: Kpis::pool(&simulated),
        days,
    })
}

/// The agents of a staffing file on `date`, answering offers as the
/// recorded floor did on average.
fn staff(
    day: &Day,
    staffing: &Staffing,
    calendar: &Calendar,
    config: &ReplayConfig,
    date: Date,
) -> Result<Vec<SimAgent>, String> {
    let recorded = &day.agents;
    let n = recorded.len().max(1) as f64;
    let answers = if recorded.is_empty() {
        Answers::default()
    } else {
        Answers {
            accept_share: recorded.iter().map(|a| a.answers.accept_share).sum::<f64>() / n,
            decline_share: recorded.iter().map(|a| a.answers.decline_share).sum::<f64>() / n,
            reaction_secs: recorded.iter().map(|a| a.answers.reaction_secs).sum::<f64>() / n,
        }
    };
    let mut agents = Vec::new();
    for group in &staffing.agents {
        let hours = config.named_shifts.get(&group.shift).unwrap_or(&group.shift);
        let (from, to) = shift_times(hours).ok_or_else(|| {
            format!("--staffing: shift `{}` of `{}` is not HH:MM-HH:MM or a named shift", group.shift, group.name)
        })?;
        let (from, to): (Timestamp, Timestamp) = (calendar.at(date, from), calendar.at(date, to));
        for i in 0..group.count {
            agents.push(SimAgent {
                id: UserId(uuid::Uuid::from_u128(0x57AF_0000_0000 + agents.len() as u128)),
                name: format!("{}{}", group.name, i + 1),
                skills: group.skills.clone(),
                shifts: vec![(from, to)],
                scheduled: true,
                answers,
            });
        }
    }
    Ok(agents)
}

fn shift_times(hours: &str) -> Option<(Time, Time)> {
    let (from, to) = hours.split_once('-')?;
    let (from, to) = (parse_time_of_day(from.trim())?, parse_time_of_day(to.trim())?);
    (from < to).then_some((from, to))
}

/// One row per day and one for the period: each figure recorded and simulated.
pub fn csv(comparison: &Comparison) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let figures = [
        "calls",
        "abandon_rate",
        "service_level",
        "first_response_ms",
        "average_response_ms",
        "callbacks_done",
        "callbacks_within_deadline",
        "overdue_at_end",
        "mean_occupancy",
    ];
    let mut header = vec!["date".to_owned()];
    for f in figures {
        header.push(format!("recorded_{f}"));
        header.push(format!("simulated_{f}"));
    }
    w.write_record(&header).map_err(|e| e.to_string())?;
    let cells = |k: &Kpis| -> Vec<String> {
        let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
        let i = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        vec![
            k.calls.to_string(),
            f(k.abandon_rate),
            f(k.service_level),
            i(k.first_response_ms),
            i(k.average_response_ms),
            k.callbacks_done.to_string(),
            k.callbacks_within_deadline.to_string(),
            k.overdue_at_end.to_string(),
            f(k.mean_occupancy),
        ]
    };
    let rows = comparison.days.iter().map(|d| (d.date.to_string(), Some(d.recorded), Some(d.simulated)));
    let total = std::iter::once(("period".to_owned(), comparison.recorded, comparison.simulated));
    for (label, recorded, simulated) in rows.chain(total) {
        let (Some(recorded), Some(simulated)) = (recorded, simulated) else { continue };
        let mut row = vec![label];
        for (r, s) in cells(&recorded).into_iter().zip(cells(&simulated)) {
            row.push(r);
            row.push(s);
        }
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}
