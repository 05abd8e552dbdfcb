//! Recurring work (seed 004 未成交分析、審核訂單; seed 001 日结周报): work
//! that comes every day or week rather than from an event, such as "lost-sale
//! analysis, 30 per person a day, 20 on event days, handed to the lead at
//! the end of the day" or "orders reviewed by 16:00 every day". Each rule
//! (`[[recurring]]`) is released on its days at its time, for each agent
//! serving its kind's queue or once for the queue, with a count to reach by
//! its due time.
//!
//! Pure: the calendar and instants are arguments. The shell
//! (`runtime/jobs/recurring.rs`) claims each day's release once and stores
//! the work with its tasks.

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use serde::{Deserialize, Serialize};

use crate::domain::{Phone, TaskKind};
use crate::rules::calendar::{Calendar, parse_time_of_day, parse_weekday};

/// Who a day's work is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// One task for each agent serving the kind's queue, kept for them.
    Agent,
    /// One task for the queue: whoever takes it.
    Queue,
}

/// One `[[recurring]]` table as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringSettings {
    /// The rule's name: a-z, 0-9 and _, unique.
    pub name: String,
    /// What people see (未成交分析).
    pub label: String,
    /// The kind of the tasks it makes (usually one of the centre's own).
    pub kind: String,
    /// The number the work's tasks carry: every task has one, and work with
    /// no customer carries the centre's own (its hotline, say).
    pub phone: String,
    /// `working` (the calendar's working days), `every` (every day), or
    /// weekdays (`["mon"]`: weekly).
    pub days: Days,
    /// With weekdays: only those that are working days.
    #[serde(default)]
    pub working_days_only: bool,
    /// Released at this local time (`HH:MM`).
    pub release: String,
    /// Due at this local time the same day, after the release.
    pub due: String,
    pub per: Per,
    /// How many to do (30 analyses; 1 for a single piece of work).
    pub count: u32,
    /// The count on a day with an event (专场) the centre takes sign-ups for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_on_event_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Days {
    /// `working` or `every`.
    Named(String),
    Weekdays(Vec<String>),
}

/// A rule, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Recurring {
    pub name: String,
    pub label: String,
    pub kind: TaskKind,
    pub phone: Phone,
    which: Which,
    working_days_only: bool,
    pub release: Time,
    pub due: Time,
    pub per: Per,
    pub count: u32,
    pub count_on_event_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
enum Which {
    Working,
    Every,
    Weekdays(Vec<Weekday>),
}

/// How far ahead a rule must fire at least once.
const LOOK_AHEAD_DAYS: i64 = 400;

impl Recurring {
    /// The rule, or every problem with it named by its key.
    pub fn parse(s: &RecurringSettings, cal: &Calendar, today: Date) -> Result<Recurring, Vec<String>> {
        let key = format!("recurring.{}", s.name);
        let mut problems = Vec::new();
        let valid = !s.name.is_empty()
            && s.name.len() <= 40
            && s.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            problems.push(format!("{key}.name: 1-40 of a-z, 0-9 and _"));
        }
        if s.label.trim().is_empty() || s.label.chars().count() > 100 {
            problems.push(format!("{key}.label: 1-100 characters"));
        }
        let kind = s.kind.parse::<TaskKind>();
        if kind.is_err() {
            problems.push(format!("{key}.kind: `{}` is not a task kind (built in or in [kinds])", s.kind));
        }
        let phone = Phone::parse(&s.phone);
        if phone.is_err() {
            problems.push(format!("{key}.phone: `{}` is not a phone number", s.phone));
        }
        let which = match &s.days {
            Days::Named(n) if n == "working" => Some(Which::Working),
            Days::Named(n) if n == "every" => Some(Which::Every),
            Days::Named(n) => {
                problems.push(format!("{key}.days: `{n}` is neither `working`, `every` nor a list of weekdays"));
                None
            }
            Days::Weekdays(list) => {
                let days: Vec<Option<Weekday>> = list.iter().map(|d| parse_weekday(d)).collect();
                if let Some(bad) = list.iter().zip(&days).find(|(_, d)| d.is_none()) {
                    problems.push(format!("{key}.days: `{}` is not a weekday", bad.0));
                }
                Some(Which::Weekdays(days.into_iter().flatten().collect()))
            }
        };
        let (release, due) = (parse_time_of_day(&s.release), parse_time_of_day(&s.due));
        match (release, due) {
            (None, _) => problems.push(format!("{key}.release: expected HH:MM")),
            (_, None) => problems.push(format!("{key}.due: expected HH:MM")),
            (Some(r), Some(d)) if d <= r => problems.push(format!("{key}.due: must be after the release")),
            _ => {}
        }
        if !(1..=1000).contains(&s.count) || s.count_on_event_days.is_some_and(|c| !(1..=1000).contains(&c)) {
            problems.push(format!("{key}.count: 1-1000"));
        }
        let (Ok(kind), Ok(phone), Some(which), Some(release), Some(due), true) =
            (kind, phone, which, release, due, problems.is_empty())
        else {
            return Err(problems);
        };
        let rule = Recurring {
            name: s.name.clone(),
            label: s.label.trim().to_owned(),
            kind,
            phone,
            which,
            working_days_only: s.working_days_only,
            release,
            due,
            per: s.per,
            count: s.count,
            count_on_event_days: s.count_on_event_days,
        };
        if rule.next_release(cal, cal.at(today, Time::midnight())).is_none() {
            return Err(vec![format!(
                "{key}.days: never falls on a day it may run in the next {LOOK_AHEAD_DAYS} days"
            )]);
        }
        Ok(rule)
    }

    /// Whether the rule runs on `date`.
    pub fn runs_on(&self, cal: &Calendar, date: Date) -> bool {
        match &self.which {
            Which::Working => cal.is_working_day(date),
            Which::Every => true,
            Which::Weekdays(days) => {
                days.contains(&date.weekday()) && (!self.working_days_only || cal.is_working_day(date))
            }
        }
    }

    /// The days whose release falls in `(after, until]`, oldest first (a
    /// gap while no node ran is caught up for at most a day: yesterday's
    /// work released late is still worth doing, last week's is not).
    pub fn released_between(&self, cal: &Calendar, after: Timestamp, until: Timestamp) -> Vec<Date> {
        let last = cal.date_of(until);
        let first = cal.date_of(after).max(last.yesterday().unwrap_or(last));
        first
            .series(jiff::Span::new().days(1))
            .take_while(|d| *d <= last)
            .filter(|d| self.runs_on(cal, *d))
            .filter(|d| {
                let at = cal.at(*d, self.release);
                after < at && at <= until
            })
            .collect()
    }

    /// The first release after `now`, within the look-ahead.
    pub fn next_release(&self, cal: &Calendar, now: Timestamp) -> Option<Timestamp> {
        let today = cal.date_of(now);
        today
            .series(jiff::Span::new().days(1))
            .take(LOOK_AHEAD_DAYS as usize)
            .filter(|d| self.runs_on(cal, *d))
            .map(|d| cal.at(d, self.release))
            .find(|at| *at > now)
    }

    /// When `date`'s work is due.
    pub fn due_at(&self, cal: &Calendar, date: Date) -> Timestamp {
        cal.at(date, self.due)
    }

    /// How many to do on a day, with or without an event.
    pub fn count_on(&self, event_day: bool) -> u32 {
        if event_day { self.count_on_event_days.unwrap_or(self.count) } else { self.count }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::{local, show};

    fn cal() -> Calendar {
        Calendar::new(&CalendarSettings { holidays: vec!["2026-12-14".into()], ..Default::default() }).unwrap()
    }

    fn settings(days: Days) -> RecurringSettings {
        RecurringSettings {
            name: "lost_sale_analysis".into(),
            label: "未成交分析".into(),
            kind: "community_outreach".into(),
            phone: "4008001234".into(),
            days,
            working_days_only: false,
            release: "09:00".into(),
            due: "22:00".into(),
            per: Per::Agent,
            count: 30,
            count_on_event_days: Some(20),
        }
    }

    #[test]
    fn released_on_its_days_at_its_time_and_due_the_same_day() {
        let cal = cal();
        let today = date(2026, 12, 7);
        let daily = Recurring::parse(&settings(Days::Named("working".into())), &cal, today).unwrap();
        let at = |t: &str| local(&cal, t);
        // Friday's release, then Monday's is a holiday: Tuesday's is next.
        assert_eq!(daily.released_between(&cal, at("2026-12-11T08:59"), at("2026-12-11T09:00")), [date(2026, 12, 11)]);
        assert_eq!(daily.released_between(&cal, at("2026-12-11T09:00"), at("2026-12-11T23:00")), []);
        assert_eq!(show(&cal, daily.next_release(&cal, at("2026-12-11T09:00")).unwrap()), "2026-12-15 09:00 Tue");
        assert_eq!(show(&cal, daily.due_at(&cal, date(2026, 12, 15))), "2026-12-15 22:00 Tue");
        // A node down overnight catches up yesterday's release, not older ones.
        let late = daily.released_between(&cal, at("2026-12-08T08:00"), at("2026-12-10T10:00"));
        assert_eq!(late, [date(2026, 12, 9), date(2026, 12, 10)]);
        assert_eq!((daily.count_on(false), daily.count_on(true)), (30, 20));

        let weekly = settings(Days::Weekdays(vec!["mon".into()]));
        let weekly = Recurring::parse(&RecurringSettings { working_days_only: true, ..weekly }, &cal, today).unwrap();
        assert!(!weekly.runs_on(&cal, date(2026, 12, 14)), "Monday the 14th is a holiday");
        assert!(weekly.runs_on(&cal, date(2026, 12, 21)));
        let every = Recurring::parse(&settings(Days::Named("every".into())), &cal, today).unwrap();
        assert!(every.runs_on(&cal, date(2026, 12, 13)), "a Sunday");
    }

    #[test]
    fn a_rule_that_never_fires_or_is_malformed_is_named() {
        let cal = cal();
        let today = date(2026, 12, 7);
        let weekend_working =
            RecurringSettings { working_days_only: true, ..settings(Days::Weekdays(vec!["sat".into(), "sun".into()])) };
        let err = Recurring::parse(&weekend_working, &cal, today).unwrap_err();
        assert_eq!(err, ["recurring.lost_sale_analysis.days: never falls on a day it may run in the next 400 days"]);
        let empty = settings(Days::Weekdays(vec![]));
        assert!(Recurring::parse(&empty, &cal, today).unwrap_err()[0].contains("never falls"));
        let bad = RecurringSettings {
            name: "Bad Name".into(),
            kind: "no_such_kind".into(),
            days: Days::Named("weekly".into()),
            release: "25:00".into(),
            phone: "the hotline".into(),
            count: 0,
            ..settings(Days::Named("working".into()))
        };
        let err = Recurring::parse(&bad, &cal, today).unwrap_err();
        assert_eq!(err.len(), 6, "{err:?}");
        let backwards =
            RecurringSettings { release: "16:00".into(), due: "09:00".into(), ..settings(Days::Named("every".into())) };
        assert_eq!(
            Recurring::parse(&backwards, &cal, today).unwrap_err(),
            ["recurring.lost_sale_analysis.due: must be after the release"]
        );
    }
}
