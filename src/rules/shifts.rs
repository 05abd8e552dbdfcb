//! Shifts (DOMAIN.md "Shifts and handover"), as rules: each agent's weekly
//! schedule, and what its edges mean. In the last minutes of a shift the
//! agent gets no new offers; at its end whatever the agent still holds
//! returns to the queue with the agent's handover note, and the agent goes
//! offline.
//!
//! Pure: the calendar, the schedules and the instants are arguments. The
//! shell (`runtime/jobs/shifts.rs`) reads the schedules and hands the events
//! this module computes to the dispatcher.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::rules::calendar::{Calendar, parse_time_of_day, parse_weekday};

/// Weekday keys as the API and the store write them, Monday first.
pub const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The named shifts and the wind-down, from `[shifts]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftSettings {
    /// Shift name to `HH:MM-HH:MM`, usable in schedules by name.
    pub named: BTreeMap<String, String>,
    /// No new offers this many minutes before a shift ends.
    pub wind_down_minutes: u32,
}

impl Default for ShiftSettings {
    fn default() -> Self {
        ShiftSettings {
            named: BTreeMap::from([
                ("early".to_owned(), "09:00-17:00".to_owned()),
                ("late".to_owned(), "14:30-22:30".to_owned()),
            ]),
            wind_down_minutes: 15,
        }
    }
}

impl ShiftSettings {
    /// The named shifts, or every problem under `shifts.*`.
    pub fn named_shifts(&self) -> Result<BTreeMap<String, Shift>, Vec<String>> {
        let mut problems = Vec::new();
        let mut named = BTreeMap::new();
        for (name, hours) in &self.named {
            let name_ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                problems.push(format!("shifts.named.{name}: a shift name is a-z, 0-9 and _"));
            }
            match Shift::parse(hours) {
                Some(shift) => {
                    named.insert(name.clone(), shift);
                }
                None => problems
                    .push(format!("shifts.named.{name}: {hours:?} is not HH:MM-HH:MM with the start before the end")),
            }
        }
        if self.wind_down_minutes > 120 {
            problems.push("shifts.wind_down_minutes: must be 0-120".into());
        }
        if problems.is_empty() { Ok(named) } else { Err(problems) }
    }

    pub fn wind_down(&self) -> SignedDuration {
        SignedDuration::from_mins(self.wind_down_minutes as i64)
    }
}

/// One shift's hours on a day: from `start` to `end`, same day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shift {
    pub start: Time,
    pub end: Time,
}

impl Shift {
    /// `HH:MM-HH:MM` (seconds allowed) with the start before the end.
    pub fn parse(s: &str) -> Option<Shift> {
        let (a, b) = s.split_once('-')?;
        let (start, end) = (parse_time_of_day(a)?, parse_time_of_day(b)?);
        (start < end).then_some(Shift { start, end })
    }
}

impl fmt::Display for Shift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |t: Time| {
            if t.second() == 0 {
                format!("{:02}:{:02}", t.hour(), t.minute())
            } else {
                format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
            }
        };
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// Why a schedule was refused; the API turns each into a 422.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{0}` is neither a weekday (mon .. sun) nor a date (YYYY-MM-DD)")]
    UnknownDay(String),
    #[error("{day}: `{entry}` is neither a shift name ({names}) nor HH:MM-HH:MM with the start before the end")]
    BadShift { day: String, entry: String, names: String },
    #[error("{day}: shifts {first} and {second} overlap")]
    Overlap { day: String, first: Shift, second: Shift },
}

/// An agent's week: per weekday, its shifts in order, none overlapping;
/// and dates that differ from their weekday (a shift swap, 调班: the date's
/// shifts, or none for a day off).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklySchedule {
    days: [Vec<Shift>; 7],
    dates: BTreeMap<Date, Vec<Shift>>,
}

/// Why a shift swap cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SwapError {
    #[error("both work the same hours on {0}: nothing to swap")]
    NothingToSwap(Date),
}

impl WeeklySchedule {
    /// Reads `{"mon": ["early"], "sat": ["09:00-13:00"]}`: per weekday a list
    /// of shift names or hours. Days left out are days off. A date key
    /// (`"2026-12-10": ["late"]`, or `[]` for a day off) replaces its
    /// weekday's shifts on that date.
    pub fn parse(
        spec: &BTreeMap<String, Vec<String>>,
        named: &BTreeMap<String, Shift>,
    ) -> Result<WeeklySchedule, ScheduleError> {
        let mut schedule = WeeklySchedule::default();
        for (day, entries) in spec {
            let (key, shifts) = match (parse_weekday(day), day.parse::<Date>()) {
                (Some(weekday), _) => {
                    let i = weekday.to_monday_zero_offset() as usize;
                    (DAY_KEYS[i].to_owned(), &mut schedule.days[i])
                }
                (None, Ok(date)) if day.len() == 10 => (day.clone(), schedule.dates.entry(date).or_default()),
                _ => return Err(ScheduleError::UnknownDay(day.clone())),
            };
            for entry in entries {
                let shift = named.get(entry.trim()).copied().or_else(|| Shift::parse(entry)).ok_or_else(|| {
                    ScheduleError::BadShift {
                        day: key.clone(),
                        entry: entry.clone(),
                        names: named.keys().cloned().collect::<Vec<_>>().join(", "),
                    }
                })?;
                shifts.push(shift);
            }
            shifts.sort();
            if let Some(pair) = shifts.windows(2).find(|w| w[1].start < w[0].end) {
                return Err(ScheduleError::Overlap { day: key, first: pair[0], second: pair[1] });
            }
        }
        Ok(schedule)
    }

    /// The shifts worked on `date`: its own if it has them, else its weekday's.
    pub fn shifts_on(&self, date: Date) -> &[Shift] {
        self.dates.get(&date).map_or_else(|| self.on(date.weekday()), Vec::as_slice)
    }

    /// Exchanges what `a` and `b` work on `date` (调班), each as a date of
    /// their own schedules; refused when they work the same hours.
    pub fn swap(a: &mut WeeklySchedule, b: &mut WeeklySchedule, date: Date) -> Result<(), SwapError> {
        let (on_a, on_b) = (a.shifts_on(date).to_vec(), b.shifts_on(date).to_vec());
        if on_a == on_b {
            return Err(SwapError::NothingToSwap(date));
        }
        a.dates.insert(date, on_b);
        b.dates.insert(date, on_a);
        Ok(())
    }

    /// Forgets the dates before `date`: they no longer matter.
    pub fn forget_before(&mut self, date: Date) {
        self.dates = self.dates.split_off(&date);
    }

    /// The schedule as the API and the store write it: hours, not names,
    /// so that a later change of a named shift does not move agents' weeks
    /// silently.
    pub fn to_spec(&self) -> BTreeMap<String, Vec<String>> {
        let hours = |shifts: &[Shift]| shifts.iter().map(Shift::to_string).collect::<Vec<_>>();
        let weekdays = DAY_KEYS.iter().zip(&self.days).filter(|(_, shifts)| !shifts.is_empty());
        let weekdays = weekdays.map(|(day, shifts)| (day.to_string(), hours(shifts)));
        weekdays.chain(self.dates.iter().map(|(date, shifts)| (date.to_string(), hours(shifts)))).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty) && self.dates.values().all(Vec::is_empty)
    }

    fn on(&self, weekday: Weekday) -> &[Shift] {
        &self.days[weekday.to_monday_zero_offset() as usize]
    }

    /// The shifts worked on the local days from `first` to `last`, as instants.
    fn instants<'a>(
        &'a self,
        cal: &'a Calendar,
        first: Date,
        last: Date,
    ) -> impl Iterator<Item = (Timestamp, Timestamp)> + 'a {
        let days = first.series(jiff::Span::new().days(1)).take_while(move |d| *d <= last);
        days.flat_map(move |d| self.shifts_on(d).iter().map(move |s| (cal.at(d, s.start), cal.at(d, s.end))))
    }

    /// The shift that `t` falls in, as its start and end instants.
    pub fn shift_at(&self, cal: &Calendar, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let day = cal.date_of(t);
        self.instants(cal, day, day).find(|(start, end)| *start <= t && t < *end)
    }

    /// The first shift end after `t` within the next week, if the agent
    /// works at all: when a handover note written now is applied.
    pub fn next_end_after(&self, cal: &Calendar, t: Timestamp) -> Option<Timestamp> {
        let day = cal.date_of(t);
        let last = day.checked_add(jiff::Span::new().days(8)).unwrap_or(day);
        self.instants(cal, day, last).map(|(_, end)| end).find(|end| *end > t)
    }

    /// Shift ends in `(after, until]`, oldest first.
    fn ends_between(&self, cal: &Calendar, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let (first, last) = (cal.date_of(after), cal.date_of(until));
        // A long gap (the server was down) is not caught up: a shift's end
        // only matters while its agent can still be holding work.
        let first = first.max(last.checked_sub(jiff::Span::new().days(1)).unwrap_or(last));
        self.instants(cal, first, last).map(|(_, end)| end).filter(|end| after < *end && *end <= until).collect()
    }
}

/// What the shell must tell the dispatcher about one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftEvent {
    /// The shift ends within the wind-down: offer the agent nothing new.
    WindDown(UserId),
    /// The shift ended: hand back what the agent holds, with its handover
    /// note, and set the agent offline.
    End(UserId),
}

/// The events due for the clock moving from `last` to `now`: an end
/// passed in between, or else a shift that `now` is in the wind-down of.
/// Wind-downs repeat on every call while they last (the dispatcher treats
/// a repeat as nothing new), so an agent who logs in during one still gets
/// no offers.
pub fn due_events<'a>(
    schedules: impl IntoIterator<Item = (UserId, &'a WeeklySchedule)>,
    cal: &Calendar,
    wind_down: SignedDuration,
    last: Timestamp,
    now: Timestamp,
) -> Vec<ShiftEvent> {
    let mut events = Vec::new();
    for (agent, schedule) in schedules {
        if !schedule.ends_between(cal, last, now).is_empty() {
            events.push(ShiftEvent::End(agent));
        } else if in_wind_down(schedule, cal, wind_down, now) {
            events.push(ShiftEvent::WindDown(agent));
        }
    }
    events
}

/// Whether `now` falls in the wind-down of one of the schedule's shifts
/// (the last `wind_down` before its end).
pub fn in_wind_down(schedule: &WeeklySchedule, cal: &Calendar, wind_down: SignedDuration, now: Timestamp) -> bool {
    schedule.shift_at(cal, now).is_some_and(|(_, end)| end.saturating_sub(wind_down).unwrap_or(end) <= now)
}

/// The next instant at which [`due_events`] may have something new: a
/// wind-down start or a shift end after `now`.
pub fn next_edge<'a>(
    schedules: impl IntoIterator<Item = &'a WeeklySchedule>,
    cal: &Calendar,
    wind_down: SignedDuration,
    now: Timestamp,
) -> Option<Timestamp> {
    let day = cal.date_of(now);
    let next = day.tomorrow().unwrap_or(day);
    schedules
        .into_iter()
        .flat_map(|s| s.instants(cal, day, next).collect::<Vec<_>>())
        .flat_map(|(_, end)| [end.saturating_sub(wind_down).unwrap_or(end), end])
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::{local, show};
    use jiff::civil::date;

    fn named() -> BTreeMap<String, Shift> {
        ShiftSettings::default().named_shifts().unwrap()
    }

    fn spec(days: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        days.iter().map(|(d, s)| (d.to_string(), s.iter().map(|x| x.to_string()).collect())).collect()
    }

    fn week(days: &[(&str, &[&str])]) -> WeeklySchedule {
        WeeklySchedule::parse(&spec(days), &named()).unwrap()
    }

    fn cal() -> Calendar {
        Calendar::new(&CalendarSettings::default()).unwrap()
    }

    #[test]
    fn schedules_name_shifts_or_give_hours_and_never_overlap() {
        let w = week(&[("mon", &["early"]), ("Tuesday", &["late"]), ("sat", &["09:00-12:00", "13:00-15:00"])]);
        let expected =
            spec(&[("mon", &["09:00-17:00"]), ("tue", &["14:30-22:30"]), ("sat", &["09:00-12:00", "13:00-15:00"])]);
        assert_eq!(w.to_spec(), expected);
        assert_eq!(WeeklySchedule::parse(&w.to_spec(), &named()).unwrap(), w, "the stored form reads back");

        let err = WeeklySchedule::parse(&spec(&[("wed", &["early", "late"])]), &named()).unwrap_err();
        assert_eq!(err.to_string(), "wed: shifts 09:00-17:00 and 14:30-22:30 overlap");
        let err = WeeklySchedule::parse(&spec(&[("wed", &["13:00-15:00", "09:00-13:30"])]), &named()).unwrap_err();
        assert!(matches!(err, ScheduleError::Overlap { .. }), "{err}");
        // Back to back is not an overlap.
        assert!(WeeklySchedule::parse(&spec(&[("wed", &["09:00-13:00", "13:00-17:00"])]), &named()).is_ok());
        let err = WeeklySchedule::parse(&spec(&[("funday", &["early"])]), &named()).unwrap_err();
        assert_eq!(err, ScheduleError::UnknownDay("funday".into()));
        for bad in ["night", "17:00-09:00", "9-5", ""] {
            let err = WeeklySchedule::parse(&spec(&[("mon", &[bad])]), &named()).unwrap_err();
            assert!(matches!(err, ScheduleError::BadShift { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn the_shift_a_time_falls_in_and_the_next_end() {
        let cal = cal();
        let w = week(&[("mon", &["early"]), ("tue", &["late"])]);
        let at = |s| w.shift_at(&cal, local(&cal, s)).map(|(a, b)| (show(&cal, a), show(&cal, b)));
        let early = Some(("2026-12-07 09:00 Mon".to_owned(), "2026-12-07 17:00 Mon".to_owned()));
        assert_eq!(at("2026-12-07T09:00"), early);
        assert_eq!(at("2026-12-07T16:59:59"), early);
        assert_eq!(at("2026-12-07T17:00"), None);
        assert_eq!(at("2026-12-08T14:00"), None);
        let next = |s| w.next_end_after(&cal, local(&cal, s)).map(|t| show(&cal, t));
        assert_eq!(next("2026-12-07T12:00").as_deref(), Some("2026-12-07 17:00 Mon"));
        assert_eq!(next("2026-12-07T17:00").as_deref(), Some("2026-12-08 22:30 Tue"));
        assert_eq!(next("2026-12-09T08:00").as_deref(), Some("2026-12-14 17:00 Mon"));
        assert_eq!(WeeklySchedule::default().next_end_after(&cal, local(&cal, "2026-12-07T12:00")), None);
    }

    #[test]
    fn wind_down_then_end_at_the_shift_edge() {
        let cal = cal();
        let (li, wang) = (UserId::new(), UserId::new());
        let (early, late) = (week(&[("mon", &["early"])]), week(&[("mon", &["late"])]));
        let both = [(li, &early), (wang, &late)];
        let ten = SignedDuration::from_mins(10);
        let events = |last: &str, now: &str| due_events(both, &cal, ten, local(&cal, last), local(&cal, now));
        assert_eq!(events("2026-12-07T16:49", "2026-12-07T16:49:59"), []);
        assert_eq!(events("2026-12-07T16:49:59", "2026-12-07T16:50"), [ShiftEvent::WindDown(li)]);
        assert_eq!(events("2026-12-07T16:58", "2026-12-07T16:59"), [ShiftEvent::WindDown(li)], "it repeats");
        assert_eq!(events("2026-12-07T16:59:59", "2026-12-07T17:00"), [ShiftEvent::End(li)]);
        assert_eq!(events("2026-12-07T17:00", "2026-12-07T17:00:01"), [], "once");
        assert_eq!(events("2026-12-07T22:29", "2026-12-07T22:31"), [ShiftEvent::End(wang)]);
        // Wake-ups: the next wind-down or end.
        let next = |now: &str| next_edge([&early, &late], &cal, ten, local(&cal, now)).map(|t| show(&cal, t));
        assert_eq!(next("2026-12-07T12:00").as_deref(), Some("2026-12-07 16:50 Mon"));
        assert_eq!(next("2026-12-07T16:50").as_deref(), Some("2026-12-07 17:00 Mon"));
        assert_eq!(next("2026-12-07T17:00").as_deref(), Some("2026-12-07 22:20 Mon"));
        assert_eq!(next("2026-12-07T23:00"), None, "nothing before tomorrow ends");
    }

    #[test]
    fn shift_edges_follow_daylight_saving() {
        let settings = CalendarSettings { time_zone: "Europe/Berlin".into(), ..Default::default() };
        let cal = Calendar::new(&settings).unwrap();
        // Sunday 2026-03-29: clocks go forward at 02:00. A 01:00-05:00 shift is three hours long.
        let w = week(&[("sun", &["01:00-05:00"])]);
        let (start, end) = w.shift_at(&cal, local(&cal, "2026-03-29T04:00")).unwrap();
        assert_eq!(end.duration_since(start), SignedDuration::from_hours(3));
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = ShiftSettings::default();
        s.named.insert("Night!".into(), "22:00-06:00".into());
        s.wind_down_minutes = 500;
        let problems = s.named_shifts().unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("shifts.named.Night!: \"22:00-06:00\"")), "{problems:?}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        /// However the clock moves (ticks of any length), each shift end in
        /// the span fires exactly one `End`, and no `WindDown` comes
        /// outside a shift's last minutes.
        #[test]
        fn each_shift_end_fires_once_whatever_the_ticks(
            ticks in proptest::collection::vec(1i64..(3 * 3600), 1..80),
            late_on in proptest::collection::vec(proptest::bool::ANY, 7),
        ) {
            let cal = cal();
            let days: Vec<(&str, &[&str])> = DAY_KEYS
                .iter()
                .zip(&late_on)
                .map(|(d, late)| (*d, if *late { &["late"][..] } else { &["early"][..] }))
                .collect();
            let w = week(&days);
            let agent = UserId::new();
            let ten = SignedDuration::from_mins(10);
            let start = local(&cal, "2026-12-07T00:00");
            let (mut now, mut ends) = (start, 0);
            for secs in ticks {
                let last = now;
                now += SignedDuration::from_secs(secs);
                for event in due_events([(agent, &w)], &cal, ten, last, now) {
                    match event {
                        ShiftEvent::End(_) => ends += 1,
                        ShiftEvent::WindDown(_) => {
                            let (_, end) = w.shift_at(&cal, now).expect("a wind-down inside a shift");
                            proptest::prop_assert!(end - ten <= now && now < end);
                        }
                    }
                }
            }
            // Every shift end between the start and the last tick, day by day.
            let mut all = 0;
            let mut day = cal.date_of(start);
            while day <= cal.date_of(now) {
                all += w.instants(&cal, day, day).filter(|(_, e)| start < *e && *e <= now).count();
                day = day.tomorrow().unwrap();
            }
            proptest::prop_assert_eq!(ends, all);
        }
    }

    #[test]
    fn a_swap_exchanges_one_dates_shifts_and_the_clock_follows_it() {
        let cal = cal();
        let weekdays = ["mon", "tue", "wed", "thu", "fri"];
        let mut li = week(&weekdays.map(|d| (d, &["early"][..])));
        let mut wang = week(&weekdays.map(|d| (d, &["late"][..])));
        let thursday = date(2026, 12, 10);
        WeeklySchedule::swap(&mut li, &mut wang, thursday).unwrap();
        assert_eq!(li.shifts_on(thursday), wang.shifts_on(date(2026, 12, 9)), "li works the late shift that day");
        assert_eq!(li.shifts_on(date(2026, 12, 11)), [named()["early"]], "the next day as every week");
        // Stored and read back with the date.
        let stored = li.to_spec();
        assert_eq!(stored["2026-12-10"], ["14:30-22:30"]);
        assert_eq!(WeeklySchedule::parse(&stored, &named()).unwrap(), li);
        // The shift clock: li's Thursday ends at 22:30, not 17:00.
        let (wd, at) = (SignedDuration::from_mins(15), |t: &str| local(&cal, t));
        let li_only = || [(UserId::new(), &li)];
        assert!(due_events(li_only(), &cal, wd, at("2026-12-10T16:59"), at("2026-12-10T17:01")).is_empty());
        assert_eq!(due_events(li_only(), &cal, wd, at("2026-12-10T22:29"), at("2026-12-10T22:31")).len(), 1);
        assert!(in_wind_down(&wang, &cal, wd, at("2026-12-10T16:50")), "wang works li's early shift");
        // Swapping again on the same day puts both back; the same hours cannot be swapped.
        let mut both_early = week(&[("thu", &["early"])]);
        let mut early = week(&[("thu", &["early"])]);
        assert_eq!(
            WeeklySchedule::swap(&mut both_early, &mut early, thursday),
            Err(SwapError::NothingToSwap(thursday))
        );
        // A day off taken by swapping with someone who has none that day.
        let mut off = WeeklySchedule::default();
        WeeklySchedule::swap(&mut li, &mut off, date(2026, 12, 11)).unwrap();
        assert!(li.shifts_on(date(2026, 12, 11)).is_empty() && li.to_spec()["2026-12-11"].is_empty());
        li.forget_before(date(2026, 12, 11));
        assert!(!li.to_spec().contains_key("2026-12-10"));
        let err = WeeklySchedule::parse(&spec(&[("2026-13-01", &["early"])]), &named()).unwrap_err();
        assert!(matches!(err, ScheduleError::UnknownDay(_)), "{err}");
    }
}
