//! The centre's working-day calendar: its time zone, working days (weekdays,
//! minus holidays, plus swapped working weekend days) and working hours.
//!
//! Pure: every function takes the instant it reasons about, so the clock
//! rules built on it (checkpoints, "by the end of the first working day
//! after", shifts) can be tested for any day, week or holiday without
//! waiting. Local times that a daylight-saving change skips are moved
//! forward by the gap and repeated ones take their first occurrence (jiff's
//! "compatible" rule, the one RFC 5545 calendars use), so a rule never
//! fails to name an instant.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

/// How far ahead the calendar looks for a working day before it gives up:
/// ten years, more than any holiday list can close.
const HORIZON_DAYS: usize = 3660;

/// The calendar's settings as written in the configuration (strings, so
/// that every bad value can be named at start-up).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA time zone of the centre, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    /// Weekdays that are working days: `mon` .. `sun`.
    pub working_days: Vec<String>,
    /// Dates (YYYY-MM-DD) that are not working days although their weekday is.
    pub holidays: Vec<String>,
    /// Dates (YYYY-MM-DD) that are working days although their weekday is not.
    pub working_weekends: Vec<String>,
    /// Opening and closing time of a working day, `HH:MM-HH:MM`.
    pub working_hours: String,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        CalendarSettings {
            time_zone: "Asia/Shanghai".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
            holidays: vec![],
            working_weekends: vec![],
            working_hours: "09:00-22:30".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    /// Indexed by days from Monday.
    working_weekdays: [bool; 7],
    holidays: BTreeSet<Date>,
    working_weekends: BTreeSet<Date>,
    opens: Time,
    closes: Time,
}

/// Parses `HH:MM` (or `HH:MM:SS`) as a time of day.
pub fn parse_time_of_day(s: &str) -> Option<Time> {
    let s = s.trim();
    let shape_ok = matches!(s.len(), 5 | 8) && s.as_bytes()[2] == b':';
    if !shape_ok {
        return None;
    }
    s.parse().ok()
}

pub(crate) fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn day_index(weekday: Weekday) -> usize {
    weekday.to_monday_zero_offset() as usize
}

impl Calendar {
    /// Builds the calendar, or lists every problem with the key it is under
    /// (`calendar.<key>`).
    pub fn new(s: &CalendarSettings) -> Result<Calendar, Vec<String>> {
        let mut problems = Vec::new();
        let tz = TimeZone::get(&s.time_zone).unwrap_or_else(|_| {
            problems.push(format!("calendar.time_zone: {:?} is not a known IANA time zone", s.time_zone));
            TimeZone::UTC
        });
        let mut working_weekdays = [false; 7];
        for (i, day) in s.working_days.iter().enumerate() {
            match parse_weekday(day) {
                Some(d) => working_weekdays[day_index(d)] = true,
                None => problems.push(format!("calendar.working_days[{i}]: {day:?} is not a weekday (mon .. sun)")),
            }
        }
        if !working_weekdays.contains(&true) {
            problems.push("calendar.working_days: at least one weekday must be a working day".into());
        }
        let mut dates = |key: &str, list: &[String]| {
            let mut set = BTreeSet::new();
            for (i, d) in list.iter().enumerate() {
                match d.trim().parse::<Date>() {
                    Ok(date) if d.trim().len() == 10 => {
                        set.insert(date);
                    }
                    _ => problems.push(format!("calendar.{key}[{i}]: {d:?} is not a date (YYYY-MM-DD)")),
                }
            }
            set
        };
        let holidays = dates("holidays", &s.holidays);
        let working_weekends = dates("working_weekends", &s.working_weekends);
        for both in holidays.intersection(&working_weekends) {
            problems.push(format!("calendar.holidays: {both} is also listed in calendar.working_weekends"));
        }
        let hours =
            s.working_hours.split_once('-').and_then(|(a, b)| Some((parse_time_of_day(a)?, parse_time_of_day(b)?)));
        let (opens, closes) = match hours {
            Some((opens, closes)) if opens < closes => (opens, closes),
            _ => {
                problems.push(format!(
                    "calendar.working_hours: {:?} is not HH:MM-HH:MM with the opening before the closing",
                    s.working_hours
                ));
                (Time::midnight(), Time::MAX)
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Calendar { tz, working_weekdays, holidays, working_weekends, opens, closes })
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The local date of an instant.
    pub fn date_of(&self, t: Timestamp) -> Date {
        t.to_zoned(self.tz.clone()).date()
    }

    /// The instant of a local date and time; see the module comment for
    /// times that daylight saving skips or repeats.
    pub fn at(&self, date: Date, time: Time) -> Timestamp {
        let local = DateTime::from_parts(date, time);
        match self.tz.to_ambiguous_timestamp(local).compatible() {
            Ok(t) => t,
            // Only outside jiff's supported range (years -9999..9999).
            Err(_) => Timestamp::MAX,
        }
    }

    /// Local midnight of `t`'s day: where "today" starts for the figures.
    pub fn start_of_day(&self, t: Timestamp) -> Timestamp {
        self.at(self.date_of(t), Time::midnight())
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_weekends.contains(&date) || self.working_weekdays[day_index(date.weekday())]
    }

    /// When a working day's hours begin and end (for any date: the hours
    /// a working day on that date would have).
    pub fn opening(&self, date: Date) -> Timestamp {
        self.at(date, self.opens)
    }

    pub fn closing(&self, date: Date) -> Timestamp {
        self.at(date, self.closes)
    }

    /// Whether the centre is open at `t`: a working day, within its hours.
    pub fn is_open(&self, t: Timestamp) -> bool {
        let date = self.date_of(t);
        self.is_working_day(date) && self.opening(date) <= t && t < self.closing(date)
    }

    /// `t` if the centre is open then, otherwise its next opening.
    pub fn open_at_or_after(&self, t: Timestamp) -> Timestamp {
        if self.is_open(t) {
            return t;
        }
        self.working_days_from(self.date_of(t)).map(|d| self.opening(d)).find(|o| *o > t).unwrap_or(Timestamp::MAX)
    }

    /// The end of the working hours of `t`'s local day: "solved the same day".
    pub fn end_of_day(&self, t: Timestamp) -> Timestamp {
        self.closing(self.date_of(t))
    }

    /// "Within the first working day after": the closing time of the first
    /// working day whose hours begin after `t`. (A Saturday event is due
    /// Monday evening; an event at 08:00 on a Tuesday, Tuesday evening; at
    /// 23:00, Wednesday evening.)
    pub fn end_of_first_working_day_after(&self, t: Timestamp) -> Timestamp {
        self.working_days_from(self.date_of(t))
            .find(|d| self.opening(*d) > t)
            .map_or(Timestamp::MAX, |d| self.closing(d))
    }

    /// Whether `t` is inside a working day's hours, its closing instant
    /// included: a deadline at the close is one the day can still meet.
    fn within_hours(&self, t: Timestamp) -> bool {
        let date = self.date_of(t);
        self.is_working_day(date) && self.opening(date) <= t && t <= self.closing(date)
    }

    /// The deadline of "within `after`" for work that arrives at `at`, on
    /// the centre's hours (the day's edge):
    ///
    /// - arriving outside working hours or on a day off, it is due by the
    ///   end of the first working day after (周末或非工作时间段数据,
    ///   上班后一个工作日内完成);
    /// - arriving in hours, it is due `after` later when that is in hours;
    ///   when that falls after the close, the part past the close counts
    ///   from the next working day's opening (a 15-minute callback at 22:20
    ///   with the close at 22:30 is due at 09:05 on the next working day),
    ///   and never later than that day's close.
    ///
    /// A deadline nobody is at work to meet is no deadline: this is what
    /// keeps every one of them reachable.
    pub fn deadline_within(&self, at: Timestamp, after: jiff::SignedDuration) -> Timestamp {
        if !self.is_open(at) {
            return self.end_of_first_working_day_after(at);
        }
        let Ok(due) = at.checked_add(after) else { return Timestamp::MAX };
        if self.within_hours(due) {
            return due;
        }
        // The last close at or before `due`: `at` is open, so there is one
        // between the two.
        let last_close = self
            .date_of(due)
            .series(jiff::Span::new().days(-1))
            .take(HORIZON_DAYS)
            .filter(|d| self.is_working_day(*d))
            .map(|d| self.closing(d))
            .find(|c| *c <= due)
            .unwrap_or(due);
        let past_close = due.duration_since(last_close);
        let opening = self.open_at_or_after(due);
        if opening == Timestamp::MAX {
            return Timestamp::MAX;
        }
        let carried = opening.checked_add(past_close).unwrap_or(Timestamp::MAX);
        carried.min(self.end_of_day(opening))
    }

    /// The first of `times` (local times of day, sorted) on a working day
    /// at or after `t`. The missed-call checkpoints use this.
    pub fn next_time_on_working_day(&self, t: Timestamp, times: &[Time]) -> Option<Timestamp> {
        self.working_days_from(self.date_of(t))
            .flat_map(|d| times.iter().map(move |c| self.at(d, *c)))
            .find(|c| *c >= t)
    }

    /// The first working day at or after `date` whose hours have not yet
    /// ended at `now`: when work planned for `date` is made.
    pub fn working_day_closing_after(&self, date: Date, now: Timestamp) -> Option<Date> {
        self.working_days_from(date).find(|d| self.closing(*d) > now)
    }

    /// The last working day on or before `date`.
    pub fn working_day_at_or_before(&self, date: Date) -> Option<Date> {
        date.series(jiff::Span::new().days(-1)).take(HORIZON_DAYS).find(|d| self.is_working_day(*d))
    }

    /// The last of `times` on a working day at or before `t`.
    pub fn previous_time_on_working_day(&self, t: Timestamp, times: &[Time]) -> Option<Timestamp> {
        let back = jiff::Span::new().days(-1);
        self.date_of(t)
            .series(back)
            .take(HORIZON_DAYS)
            .filter(|d| self.is_working_day(*d))
            .flat_map(|d| times.iter().rev().map(move |c| self.at(d, *c)))
            .find(|c| *c <= t)
    }

    /// Working days from `first` on, for at most the horizon.
    fn working_days_from(&self, first: Date) -> impl Iterator<Item = Date> + '_ {
        first.series(jiff::Span::new().days(1)).take(HORIZON_DAYS).filter(|d| self.is_working_day(*d))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jiff::civil::date;

    fn shanghai() -> Calendar {
        let settings = CalendarSettings {
            // 2026-10-01..07: National Day holidays; Sunday 2026-09-27 and
            // Saturday 2026-10-10 are swapped working days.
            holidays: (1..=7).map(|d| format!("2026-10-{d:02}")).collect(),
            working_weekends: vec!["2026-09-27".into(), "2026-10-10".into()],
            ..Default::default()
        };
        Calendar::new(&settings).unwrap()
    }

    /// A local date-time (`2026-12-08T09:59`) on `cal`'s clock.
    pub(crate) fn local(cal: &Calendar, s: &str) -> Timestamp {
        let dt: DateTime = s.parse().unwrap();
        cal.at(dt.date(), dt.time())
    }

    pub(crate) fn show(cal: &Calendar, t: Timestamp) -> String {
        t.to_zoned(cal.time_zone().clone()).strftime("%Y-%m-%d %H:%M %a").to_string()
    }

    fn checkpoints() -> Vec<Time> {
        ["10:00", "13:00", "15:00", "17:00"].iter().map(|s| parse_time_of_day(s).unwrap()).collect()
    }

    #[test]
    fn defaults_are_the_manuals() {
        let cal = Calendar::new(&CalendarSettings::default()).unwrap();
        assert_eq!(cal.time_zone().iana_name(), Some("Asia/Shanghai"));
        assert!(cal.is_working_day(date(2026, 12, 4))); // Friday
        assert!(!cal.is_working_day(date(2026, 12, 5))); // Saturday
        assert!(cal.is_open(local(&cal, "2026-12-04T09:00")));
        assert!(cal.is_open(local(&cal, "2026-12-04T22:29:59")));
        assert!(!cal.is_open(local(&cal, "2026-12-04T22:30")));
        assert!(!cal.is_open(local(&cal, "2026-12-04T08:59:59")));
        assert!(!cal.is_open(local(&cal, "2026-12-05T12:00")));
    }

    #[test]
    fn holidays_and_swapped_weekends_decide_working_days() {
        let cal = shanghai();
        assert!(!cal.is_working_day(date(2026, 10, 1))); // Thursday, holiday
        assert!(cal.is_working_day(date(2026, 9, 27))); // Sunday, swapped
        assert!(cal.is_working_day(date(2026, 10, 10))); // Saturday, swapped
        assert!(!cal.is_working_day(date(2026, 10, 11))); // Sunday
    }

    #[test]
    fn open_at_or_after() {
        let cal = shanghai();
        let cases = [
            // Open: itself.
            ("2026-12-08T10:05", "2026-12-08 10:05 Tue"),
            // Before opening: that morning.
            ("2026-12-08T07:00", "2026-12-08 09:00 Tue"),
            // At closing and after: the next working day's opening.
            ("2026-12-08T22:30", "2026-12-09 09:00 Wed"),
            ("2026-12-11T23:00", "2026-12-14 09:00 Mon"),
            // Into the National Day holidays: the first working day after them.
            ("2026-09-30T22:40", "2026-10-08 09:00 Thu"),
        ];
        for (t, want) in cases {
            assert_eq!(show(&cal, cal.open_at_or_after(local(&cal, t))), want, "{t}");
        }
    }

    #[test]
    fn end_of_first_working_day_after() {
        let cal = shanghai();
        let cases = [
            // Saturday: Monday evening.
            ("2026-12-05T11:00", "2026-12-07 22:30 Mon"),
            // Before opening on a working day: that evening.
            ("2026-12-08T08:00", "2026-12-08 22:30 Tue"),
            // During hours: the next working day (its hours begin after).
            ("2026-12-08T12:00", "2026-12-09 22:30 Wed"),
            // After closing: the next day.
            ("2026-12-08T23:00", "2026-12-09 22:30 Wed"),
            // Friday night: Monday.
            ("2026-12-04T22:45", "2026-12-07 22:30 Mon"),
            // The eve of National Day: past the week of holidays, the
            // first working day is Thursday 8th.
            ("2026-09-30T23:00", "2026-10-08 22:30 Thu"),
            // A swapped Saturday counts.
            ("2026-10-09T23:00", "2026-10-10 22:30 Sat"),
            // Exactly at opening: that day's hours have not begun *after* it.
            ("2026-12-08T09:00", "2026-12-09 22:30 Wed"),
        ];
        for (at, due) in cases {
            assert_eq!(show(&cal, cal.end_of_first_working_day_after(local(&cal, at))), due, "{at}");
        }
    }

    #[test]
    fn next_checkpoint() {
        let cal = shanghai();
        let cps = checkpoints();
        let cases = [
            ("2026-12-08T09:59", "2026-12-08 10:00 Tue"),
            ("2026-12-08T10:00", "2026-12-08 10:00 Tue"),
            ("2026-12-08T10:00:01", "2026-12-08 13:00 Tue"),
            ("2026-12-08T16:59:59", "2026-12-08 17:00 Tue"),
            ("2026-12-08T17:30", "2026-12-09 10:00 Wed"),
            ("2026-12-04T17:30", "2026-12-07 10:00 Mon"),
            ("2026-12-05T12:00", "2026-12-07 10:00 Mon"),
            ("2026-09-30T17:30", "2026-10-08 10:00 Thu"),
        ];
        for (at, next) in cases {
            let got = cal.next_time_on_working_day(local(&cal, at), &cps).unwrap();
            assert_eq!(show(&cal, got), next, "{at}");
        }
    }

    #[test]
    fn a_friday_miss_before_a_monday_holiday_waits_for_tuesday() {
        let settings = CalendarSettings { holidays: vec!["2026-12-07".into()], ..Default::default() };
        let cal = Calendar::new(&settings).unwrap();
        let got = cal.next_time_on_working_day(local(&cal, "2026-12-04T17:30"), &checkpoints()).unwrap();
        assert_eq!(show(&cal, got), "2026-12-08 10:00 Tue");
    }

    #[test]
    fn daylight_saving_gaps_and_folds() {
        let settings = CalendarSettings {
            time_zone: "Europe/Berlin".into(),
            working_days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
            working_hours: "02:30-23:00".into(),
            ..Default::default()
        };
        let cal = Calendar::new(&settings).unwrap();
        // 2026-03-29 02:00 -> 03:00: 02:30 does not exist; it is moved to 03:30 CEST.
        let opening = cal.opening(date(2026, 3, 29));
        assert_eq!(opening.to_string(), "2026-03-29T01:30:00Z");
        // 2026-10-25 03:00 -> 02:00: 02:30 happens twice; the first (CEST) is taken.
        let opening = cal.opening(date(2026, 10, 25));
        assert_eq!(opening.to_string(), "2026-10-25T00:30:00Z");
        // A checkpoint in the gap still fires, once, that day.
        let two_thirty = parse_time_of_day("02:30").unwrap();
        let t = "2026-03-29T00:00:00Z".parse().unwrap();
        assert_eq!(cal.next_time_on_working_day(t, &[two_thirty]).unwrap().to_string(), "2026-03-29T01:30:00Z");
        // The day is 23 hours long; closing is still 23:00 local (21:00 UTC).
        assert_eq!(cal.closing(date(2026, 3, 29)).to_string(), "2026-03-29T21:00:00Z");
    }

    #[test]
    fn every_bad_setting_is_named() {
        let settings = CalendarSettings {
            time_zone: "Mars/Olympus".into(),
            working_days: vec!["funday".into()],
            holidays: vec!["2026-13-01".into(), "2026-10-01".into()],
            working_weekends: vec!["2026-10-01".into(), "yesterday".into()],
            working_hours: "22:30-09:00".into(),
        };
        let problems = Calendar::new(&settings).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "calendar.time_zone",
                "calendar.working_days[0]",
                "calendar.working_days",
                "calendar.holidays[0]",
                "calendar.working_weekends[1]",
                "calendar.holidays",
                "calendar.working_hours"
            ],
            "{problems:#?}"
        );
        assert!(parse_time_of_day("25:00").is_none());
        assert!(parse_time_of_day("9:00").is_none());
        assert!(parse_time_of_day("noon").is_none());
        assert_eq!(parse_time_of_day("17:00"), Some(jiff::civil::time(17, 0, 0, 0)));
    }

    #[test]
    fn a_deadline_past_the_close_is_carried_to_the_next_opening() {
        let cal = shanghai();
        let mins = jiff::SignedDuration::from_mins;
        let due = |at: &str, m: i64| show(&cal, cal.deadline_within(local(&cal, at), mins(m)));
        // In hours and meetable: untouched, the close itself included.
        assert_eq!(due("2026-12-08T10:00", 15), "2026-12-08 10:15 Tue");
        assert_eq!(due("2026-12-08T22:15", 15), "2026-12-08 22:30 Tue");
        // A new sign-up at 22:20: 10 minutes today, 5 from Wednesday's opening.
        assert_eq!(due("2026-12-08T22:20", 15), "2026-12-09 09:05 Wed");
        // A returning customer at 22:00: 30 minutes left over.
        assert_eq!(due("2026-12-08T22:00", 60), "2026-12-09 09:30 Wed");
        // Friday night: carried over the weekend to Monday.
        assert_eq!(due("2026-12-11T22:25", 15), "2026-12-14 09:10 Mon");
        // Before the National Day holidays: carried past them.
        assert_eq!(due("2026-09-30T22:20", 60), "2026-10-08 09:50 Thu");
        // A day's answer from the morning lands in the next day's hours.
        assert_eq!(due("2026-12-08T10:00", 24 * 60), "2026-12-09 10:00 Wed");
        // From Friday morning it would land on Saturday: carried to Monday,
        // and never past Monday's close.
        assert_eq!(due("2026-12-11T10:00", 24 * 60), "2026-12-14 20:30 Mon");
        assert_eq!(due("2026-12-11T09:00", 70 * 60), "2026-12-14 22:30 Mon");
        // Arriving out of hours: by the end of the first working day after.
        assert_eq!(due("2026-12-08T23:00", 15), "2026-12-09 22:30 Wed");
        assert_eq!(due("2026-12-12T10:00", 15), "2026-12-14 22:30 Mon");
        assert_eq!(due("2026-12-08T08:00", 15), "2026-12-08 22:30 Tue");
    }

    proptest::proptest! {
        /// Whatever the time of arrival and the length: the deadline is in
        /// working hours and after the arrival, and it is the plain sum
        /// whenever that is in hours.
        #[test]
        fn every_deadline_is_in_working_hours(at_min in 0i64..(21 * 24 * 60), after_min in 1i64..(3 * 24 * 60)) {
            let cal = shanghai();
            let at = local(&cal, "2026-09-21T00:00") + jiff::SignedDuration::from_mins(at_min);
            let after = jiff::SignedDuration::from_mins(after_min);
            let due = cal.deadline_within(at, after);
            proptest::prop_assert!(cal.within_hours(due), "{} + {after_min} min -> {}", show(&cal, at), show(&cal, due));
            proptest::prop_assert!(due > at);
            if cal.is_open(at) && cal.within_hours(at + after) {
                proptest::prop_assert_eq!(due, at + after);
            }
        }
    }
}
