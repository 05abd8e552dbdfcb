//! The daily, weekly and monthly reports managers read (DOMAIN.md: abandon
//! rate, callback completion within deadline, complaint volume, merchant
//! ranking, KPI scores). Pure: the store hands over the period's records,
//! this turns them into figures, so the same rules run on SQLite and
//! PostgreSQL and are tested without either.
//!
//! Call figures come from the same fold as the wallboard (`figures`), run
//! over the period's task events instead of one day's, so a day's report
//! and that evening's wallboard agree.

pub mod csv;
pub mod events;
pub mod lists;
pub mod recurring;
pub mod satisfaction;
pub mod warranty;

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;
use utoipa::ToSchema;

use self::events::{EventFigures, EventInputs};
use self::lists::{ListRules, Nominations};
use self::recurring::{RecurringFigures, RecurringRow};
use self::satisfaction::{Satisfaction, SatisfactionRow};
use self::warranty::{WarrantyFigures, WarrantyRow};
use crate::domain::{
    CaseChannel, CaseId, CaseStatus, DepartmentId, Outcome, ReportPeriod, TaskKind, TaskStatus, UserId, WorkNumber,
};
use crate::rules::calendar::Calendar;
use crate::rules::dialling::CallLength;
use crate::rules::figures::scoring::{Judged, reply_rate_score, response_time_score};
use crate::rules::figures::{CentreFigures, FigureRules, Figures, FloorEvent};

/// Why a report cannot be made for a date.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("the period starting {0} has not begun yet")]
    Future(Date),
    #[error("reports go back to {EARLIEST}; {0} is earlier")]
    TooEarly(Date),
}

/// The first day reports cover: nothing older is kept in a running centre.
pub const EARLIEST: Date = jiff::civil::date(2000, 1, 1);

/// The local days of the period containing `date`: the day, its week
/// (Monday to Sunday), or its month. `today` bounds it: a period that has
/// not begun is refused, one under way is reported so far.
pub fn period_dates(period: ReportPeriod, date: Date, today: Date) -> Result<(Date, Date), RangeError> {
    if date < EARLIEST {
        return Err(RangeError::TooEarly(date));
    }
    let (first, next) = match period {
        ReportPeriod::Daily => (date, date.tomorrow().expect("a date after 2000 has a tomorrow")),
        ReportPeriod::Weekly => {
            let monday = date - (date.weekday().to_monday_zero_offset() as i64).days();
            (monday, monday + 7.days())
        }
        ReportPeriod::Monthly => (date.first_of_month(), date.first_of_month() + 1.month()),
    };
    if first > today {
        return Err(RangeError::Future(first));
    }
    Ok((first, next))
}

/// The period's instants: from its first local midnight to the next
/// period's, or to `now` while it is under way.
pub fn period_bounds(calendar: &Calendar, first: Date, next: Date, now: Timestamp) -> (Timestamp, Timestamp) {
    let from = calendar.at(first, jiff::civil::Time::midnight());
    let to = calendar.at(next, jiff::civil::Time::midnight());
    (from, to.min(now))
}

/// Callbacks whose deadline fell in the period, by kind (store query).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackRow {
    pub kind: TaskKind,
    pub due: u32,
    pub done_in_time: u32,
    /// Still open past the deadline, or closed after it.
    pub late: u32,
    /// Calls made for them (attempts with an outcome).
    pub attempts: u32,
}

/// A complaint case received in the period.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseRow {
    pub channel: CaseChannel,
    pub merchant: String,
    pub category: String,
    pub brand: Option<String>,
    pub major: bool,
    pub resolved: bool,
    pub answer_by: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub merchant_reply_by: Option<Timestamp>,
    pub merchant_replied_at: Option<Timestamp>,
}

/// An attempt that ended in the period.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRow {
    pub agent: UserId,
    pub accepted_at: Timestamp,
    pub ended_at: Timestamp,
    pub outcome: Option<Outcome>,
    pub voice: bool,
}

/// A task past its deadline (store query; at most [`OVERDUE_LISTED`]).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OverdueTask {
    pub task_id: String,
    pub kind: TaskKind,
    pub customer_phone: String,
    #[schema(value_type = String)]
    pub deadline: Timestamp,
    pub status: TaskStatus,
    #[schema(value_type = Option<String>)]
    pub closed_at: Option<Timestamp>,
}

/// Overdue items listed in a report; the counts cover them all.
pub const OVERDUE_LISTED: usize = 200;

/// Everything the store reads for one report.
pub struct Inputs {
    pub events: Vec<FloorEvent>,
    pub callbacks: Vec<CallbackRow>,
    pub cases: Vec<CaseRow>,
    pub attempts: Vec<AttemptRow>,
    pub overdue_tasks: Vec<OverdueTask>,
    pub overdue_task_count: u32,
    pub missed: MissedCalls,
    pub names: BTreeMap<UserId, AgentName>,
    /// Satisfaction calls answered in the period.
    pub satisfaction: Vec<SatisfactionRow>,
    /// Major complaints received by the period's end and still open.
    pub open_major: Vec<OpenMajorCase>,
    pub departments: BTreeMap<DepartmentId, String>,
    /// Recurring work released in the period.
    pub recurring: Vec<RecurringRow>,
    /// Warranty callbacks due in the period.
    pub warranty: Vec<WarrantyRow>,
    /// Events (专场) held in the period.
    pub events_held: Vec<EventInputs>,
    /// Calls Switchboard placed that were answered and ended in the
    /// period: the agent and the talk time in milliseconds.
    pub talks: Vec<(UserId, i64)>,
    /// `[calls]`: the target and limit the talks are measured against.
    pub call_length: CallLength,
}

/// A major complaint still open, with how far it has got (每周重大的,
/// 未处理投诉的预警及处理进展).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OpenMajorCase {
    pub case_id: CaseId,
    pub merchant: String,
    pub category: String,
    #[schema(value_type = String)]
    pub received_at: Timestamp,
    pub status: CaseStatus,
    pub owner_id: UserId,
    /// Its last step.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// How a report names an agent: their name and work number (工号).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentName {
    pub name: String,
    pub work_number: Option<WorkNumber>,
}

/// Missed calls that came in during the period and what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct MissedCalls {
    pub received: u32,
    /// Turned into a callback at a checkpoint.
    pub called_back: u32,
    /// Taken off the backlog: the caller got through later.
    pub got_through: u32,
    /// Still waiting for their checkpoint.
    pub waiting: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Report {
    pub period: ReportPeriod,
    /// The period's first and next-after-last local day.
    #[schema(value_type = String)]
    pub first_day: Date,
    #[schema(value_type = String)]
    pub next_day: Date,
    #[schema(value_type = String)]
    pub from: Timestamp,
    /// The period's end, or the moment the report was made while it runs.
    #[schema(value_type = String)]
    pub to: Timestamp,
    pub time_zone: String,
    /// Inbound calls that ended in the period, response times and callbacks
    /// done, as the wallboard counts them.
    pub calls: CentreFigures,
    pub missed: MissedCalls,
    pub callbacks: Vec<CallbackFigures>,
    pub complaints: Complaints,
    pub merchants: Vec<MerchantRank>,
    pub overdue: Overdue,
    pub agents: Vec<AgentKpi>,
    /// The satisfaction calls' answers (服务满意率) against `[figures]
    /// satisfaction_target`, for the centre, each department and agent.
    pub satisfaction: Satisfaction,
    /// Major complaints still open, oldest first: the weekly warning.
    pub open_major: Vec<OpenMajorCase>,
    /// Monthly reports: the merchants nominated for the red and the black
    /// list (confirmed at `/api/v1/merchant-lists/{month}`).
    pub nominations: Option<Nominations>,
    /// Recurring work (`[[recurring]]`) per rule and agent: days, counts
    /// asked and done, days the count was reached.
    pub recurring: Vec<RecurringFigures>,
    /// Warranty customers called back (保修期内客户回访率), against 100 %.
    pub warranty: WarrantyFigures,
    /// Events held in the period: registered, expected (预到场人数) and
    /// actual attendance.
    pub events: Vec<EventFigures>,
    /// Daily reports: per interval, the hotline calls forecast against
    /// those that came and the agents needed against those scheduled and
    /// at work (`[planning]`); empty for weeks and months.
    pub staffing: Vec<crate::rules::planning::staffing::IntervalReview>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CallbackFigures {
    pub kind: TaskKind,
    pub due: u32,
    pub done_in_time: u32,
    pub late: u32,
    /// Done in time / due, against 100 %.
    pub completion: Option<Judged>,
    pub attempts: u32,
    pub attempts_per_callback: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Complaints {
    pub total: u32,
    pub major: u32,
    pub by_channel: Vec<Count>,
    pub by_category: Vec<Count>,
    pub by_brand: Vec<Count>,
    pub by_merchant: Vec<Count>,
}

/// One group and its size; groups largest first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub count: u32,
}

/// A merchant's standing: most complained about first (the red list's
/// end), ties by major complaints, then by how badly they replied.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MerchantRank {
    pub rank: u32,
    pub merchant: String,
    pub complaints: u32,
    pub major: u32,
    pub resolved: u32,
    /// Replies owed by the merchant (forum and Weibo cases) and made in time.
    pub replies_due: u32,
    pub replied_in_time: u32,
    /// The manual's reply-rate score (100 when nothing was owed).
    pub reply_score: u8,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Overdue {
    pub tasks: u32,
    /// The first [`OVERDUE_LISTED`], earliest deadline first.
    pub task_list: Vec<OverdueTask>,
    /// Cases whose customer answer came late or not at all.
    pub cases_answer_late: u32,
    /// Cases whose merchant reply came late or not at all.
    pub cases_merchant_late: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentKpi {
    pub agent: UserId,
    pub name: String,
    /// The agent's work number (工号), if one is set.
    #[schema(value_type = Option<String>)]
    pub work_number: Option<WorkNumber>,
    /// Attempts finished in the period.
    pub handled: u32,
    pub reached: u32,
    pub average_handling_secs: Option<i64>,
    /// Voice tasks over five minutes (the manual: never over 5).
    pub calls_over_5_min: u32,
    /// From the offer ringing to the agent taking it, with the manual's score.
    pub average_answer_ms: Option<i64>,
    pub answer_score: Option<u8>,
    /// Calls Switchboard placed for the agent that were answered, with the
    /// share of them longer than `[calls] target_secs` and `limit_secs`
    /// (talk time from SIP; `null` without any).
    pub calls_talked: u32,
    pub share_over_target: Option<f64>,
    pub share_over_limit: Option<f64>,
}

/// Builds the report. `rules` are the wallboard's.
pub fn build(
    period: ReportPeriod,
    (first_day, next_day): (Date, Date),
    (from, to): (Timestamp, Timestamp),
    calendar: &Calendar,
    rules: FigureRules,
    lists: ListRules,
    inputs: Inputs,
) -> Report {
    let satisfaction =
        satisfaction::satisfaction(&inputs.satisfaction, rules.satisfaction_target, &inputs.names, &inputs.departments);
    let mut figures = Figures::new(rules, from);
    let mut offered: BTreeMap<(crate::domain::TaskId, UserId), Timestamp> = BTreeMap::new();
    let mut answer_ms: BTreeMap<UserId, (i64, u32)> = BTreeMap::new();
    for event in &inputs.events {
        figures.observe(event, from);
        match event {
            FloorEvent::Offered { task, agent, at } => {
                offered.insert((*task, *agent), *at);
            }
            FloorEvent::Answered { task, agent, at } => {
                if let Some(rang) = offered.remove(&(*task, *agent)) {
                    let e = answer_ms.entry(*agent).or_default();
                    (e.0, e.1) = (e.0 + at.duration_since(rang).as_millis() as i64, e.1 + 1);
                }
            }
            _ => {}
        }
    }
    let calls = figures.snapshot(to, from).centre;
    let callbacks = inputs
        .callbacks
        .iter()
        .map(|c| CallbackFigures {
            kind: c.kind,
            due: c.due,
            done_in_time: c.done_in_time,
            late: c.late,
            completion: (c.due > 0).then(|| Judged::at_least(f64::from(c.done_in_time) / f64::from(c.due), 1.0)),
            attempts: c.attempts,
            attempts_per_callback: (c.due > 0).then(|| f64::from(c.attempts) / f64::from(c.due)),
        })
        .collect();
    let now = to;
    let late = |by: Timestamp, at: Option<Timestamp>| match at {
        Some(at) => at > by,
        None => by < now,
    };
    let overdue = Overdue {
        tasks: inputs.overdue_task_count,
        task_list: inputs.overdue_tasks,
        cases_answer_late: inputs.cases.iter().filter(|c| late(c.answer_by, c.answered_at)).count() as u32,
        cases_merchant_late: inputs
            .cases
            .iter()
            .filter(|c| c.merchant_reply_by.is_some_and(|by| late(by, c.merchant_replied_at)))
            .count() as u32,
    };
    let ranking = merchants(&inputs.cases, now);
    let nominations = (period == ReportPeriod::Monthly).then(|| lists::nominate(&ranking, lists));
    Report {
        period,
        first_day,
        next_day,
        from,
        to,
        time_zone: calendar.time_zone().iana_name().unwrap_or("UTC").to_owned(),
        calls,
        missed: inputs.missed,
        callbacks,
        complaints: complaints(&inputs.cases),
        merchants: ranking.clone(),
        overdue,
        agents: agents(&inputs.attempts, &answer_ms, &inputs.names, (&inputs.talks, &inputs.call_length)),
        satisfaction,
        open_major: inputs.open_major,
        nominations,
        recurring: recurring::recurring(&inputs.recurring, &inputs.names),
        warranty: warranty::warranty(&inputs.warranty),
        events: events::events(&inputs.events_held),
        staffing: Vec::new(),
    }
}

fn counted<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<Count> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for k in keys {
        *counts.entry(k).or_default() += 1;
    }
    let mut out: Vec<Count> = counts.into_iter().map(|(key, count)| Count { key: key.to_owned(), count }).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

fn complaints(cases: &[CaseRow]) -> Complaints {
    Complaints {
        total: cases.len() as u32,
        major: cases.iter().filter(|c| c.major).count() as u32,
        by_channel: counted(cases.iter().map(|c| c.channel.as_str())),
        by_category: counted(cases.iter().map(|c| c.category.as_str())),
        by_brand: counted(cases.iter().map(|c| c.brand.as_deref().unwrap_or(""))),
        by_merchant: counted(cases.iter().map(|c| c.merchant.as_str())),
    }
}

/// The merchants complained about in `cases`, ranked.
pub fn merchants(cases: &[CaseRow], now: Timestamp) -> Vec<MerchantRank> {
    let mut by: BTreeMap<&str, MerchantRank> = BTreeMap::new();
    for c in cases {
        let m = by.entry(&c.merchant).or_insert_with(|| MerchantRank {
            rank: 0,
            merchant: c.merchant.clone(),
            complaints: 0,
            major: 0,
            resolved: 0,
            replies_due: 0,
            replied_in_time: 0,
            reply_score: 100,
        });
        m.complaints += 1;
        m.major += u32::from(c.major);
        m.resolved += u32::from(c.resolved);
        if let Some(by) = c.merchant_reply_by {
            // Owed once the deadline has passed or the reply came.
            if by <= now || c.merchant_replied_at.is_some() {
                m.replies_due += 1;
                m.replied_in_time += u32::from(c.merchant_replied_at.is_some_and(|at| at <= by));
            }
        }
    }
    let mut ranked: Vec<MerchantRank> = by.into_values().collect();
    for m in &mut ranked {
        m.reply_score = reply_rate_score(m.replied_in_time, m.replies_due);
    }
    ranked.sort_by(|a, b| {
        (b.complaints, b.major, a.reply_score)
            .cmp(&(a.complaints, a.major, b.reply_score))
            .then_with(|| a.merchant.cmp(&b.merchant))
    });
    for (i, m) in ranked.iter_mut().enumerate() {
        m.rank = i as u32 + 1;
    }
    ranked
}

fn blank_kpi(agent: UserId, names: &BTreeMap<UserId, AgentName>) -> AgentKpi {
    let known = names.get(&agent);
    AgentKpi {
        agent,
        name: known.map_or_else(|| agent.to_string(), |n| n.name.clone()),
        work_number: known.and_then(|n| n.work_number.clone()),
        handled: 0,
        reached: 0,
        average_handling_secs: None,
        calls_over_5_min: 0,
        average_answer_ms: None,
        answer_score: None,
        calls_talked: 0,
        share_over_target: None,
        share_over_limit: None,
    }
}

fn agents(
    attempts: &[AttemptRow],
    answer_ms: &BTreeMap<UserId, (i64, u32)>,
    names: &BTreeMap<UserId, AgentName>,
    (talks, lengths): (&[(UserId, i64)], &CallLength),
) -> Vec<AgentKpi> {
    // Each agent's KPIs with the seconds spent on the attempts counted.
    let mut by: BTreeMap<UserId, (AgentKpi, i64)> = BTreeMap::new();
    for a in attempts {
        let (kpi, secs) = by.entry(a.agent).or_insert_with(|| (blank_kpi(a.agent, names), 0));
        let took = a.ended_at.duration_since(a.accepted_at);
        kpi.handled += 1;
        kpi.reached += u32::from(a.outcome == Some(Outcome::Reached));
        kpi.calls_over_5_min += u32::from(a.voice && took > SignedDuration::from_mins(5));
        *secs += took.as_secs();
    }
    for (agent, (total, n)) in answer_ms {
        let (kpi, _) = by.entry(*agent).or_insert_with(|| (blank_kpi(*agent, names), 0));
        let average = total / i64::from((*n).max(1));
        (kpi.average_answer_ms, kpi.answer_score) = (Some(average), Some(response_time_score(average)));
    }
    let mut over: BTreeMap<UserId, (u32, u32)> = BTreeMap::new();
    for (agent, talk_ms) in talks {
        let (kpi, _) = by.entry(*agent).or_insert_with(|| (blank_kpi(*agent, names), 0));
        kpi.calls_talked += 1;
        let o = over.entry(*agent).or_default();
        o.0 += u32::from(*talk_ms > lengths.target_secs as i64 * 1000);
        o.1 += u32::from(*talk_ms > lengths.limit_secs as i64 * 1000);
    }
    for (agent, (target, limit)) in over {
        if let Some((kpi, _)) = by.get_mut(&agent) {
            let n = f64::from(kpi.calls_talked);
            (kpi.share_over_target, kpi.share_over_limit) = (Some(f64::from(target) / n), Some(f64::from(limit) / n));
        }
    }
    let mut list: Vec<AgentKpi> = by
        .into_values()
        .map(|(mut kpi, secs)| {
            kpi.average_handling_secs = (kpi.handled > 0).then(|| secs / i64::from(kpi.handled));
            kpi
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.agent.cmp(&b.agent)));
    list
}

#[cfg(test)]
mod tests;
