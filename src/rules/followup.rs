//! The missed-call follow-up (呼损跟进), as rules: when a missed call is
//! released for a callback, and what a checkpoint releases.
//!
//! Pure: the calendar, the checkpoint times and the instant are arguments.
//! The shell (`runtime/jobs/followup.rs`) reads the backlog, calls `release`,
//! and writes the result in one transaction.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Time;

use crate::domain::Phone;
use crate::rules::calendar::{Calendar, parse_time_of_day};

/// The times of day the backlog is released, sorted, on working days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoints(Vec<Time>);

impl Checkpoints {
    /// Parses `HH:MM` (or `HH:MM:SS`) times; every bad one is named under
    /// `missed_calls.checkpoints[i]`.
    pub fn parse(times: &[String]) -> Result<Checkpoints, Vec<String>> {
        let mut problems = Vec::new();
        let mut parsed = Vec::new();
        for (i, t) in times.iter().enumerate() {
            match parse_time_of_day(t) {
                Some(time) => parsed.push(time),
                None => problems.push(format!("missed_calls.checkpoints[{i}]: {t:?} is not a time of day (HH:MM)")),
            }
        }
        if times.is_empty() {
            problems.push("missed_calls.checkpoints: at least one checkpoint is needed".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        parsed.sort();
        parsed.dedup();
        Ok(Checkpoints(parsed))
    }

    pub fn times(&self) -> &[Time] {
        &self.0
    }

    /// The checkpoint that releases a call missed at `at`: the first one at
    /// or after it on a working day (a miss at 09:59 goes at 10:00; at
    /// 10:00:01, at 13:00; after the last, the next working day's first).
    pub fn release_at(&self, calendar: &Calendar, at: Timestamp) -> Timestamp {
        calendar.next_time_on_working_day(at, &self.0).unwrap_or(Timestamp::MAX)
    }

    /// The latest checkpoint at or before `now`, if any in the last ten
    /// years: what a node that was down has to catch up on.
    pub fn latest_at_or_before(&self, calendar: &Calendar, now: Timestamp) -> Option<Timestamp> {
        calendar.previous_time_on_working_day(now, &self.0)
    }
}

/// One missed call waiting in the backlog.
#[derive(Clone, Debug, PartialEq)]
pub struct Miss {
    /// The store's id of the missed call.
    pub id: i64,
    pub caller: Phone,
    pub called: String,
    /// When the call was missed.
    pub at: Timestamp,
    /// When the centre learnt of it: `at` for a miss the connector saw, later
    /// for one a PBX reported afterwards.
    pub reported: Timestamp,
}

impl Miss {
    /// The checkpoint that releases it: the first at or after the miss that
    /// had not passed when it was reported. A miss reported after its own
    /// checkpoint waits for the next one, and its day is that checkpoint's.
    pub fn release_at(&self, calendar: &Calendar, checkpoints: &Checkpoints) -> Timestamp {
        checkpoints.release_at(calendar, self.at.max(self.reported))
    }
}

/// What one checkpoint does with the backlog.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Release {
    /// One callback per caller, with every call they missed, oldest first.
    pub callbacks: Vec<Callback>,
    /// Misses taken off the backlog because the caller got through later.
    pub got_through: Vec<i64>,
}

/// A `missed_call_callback` to create.
#[derive(Clone, Debug, PartialEq)]
pub struct Callback {
    pub caller: Phone,
    pub misses: Vec<Miss>,
    /// The end of the working day of the earliest miss's checkpoint: "all
    /// solved the same day". A miss reported after its checkpoint passed
    /// counts from the checkpoint that releases it, so its deadline is one
    /// it can meet; only a checkpoint fired late (no node was running)
    /// releases callbacks already overdue.
    pub deadline: Timestamp,
}

/// Releases, at the checkpoint `checkpoint`, every miss whose own
/// checkpoint is at or before it. `answered` maps a caller to their latest
/// answered hotline call: a caller answered after a miss is taken off the
/// backlog instead of being called back. Misses not yet due stay.
pub fn release(
    calendar: &Calendar,
    checkpoints: &Checkpoints,
    backlog: &[Miss],
    answered: &HashMap<Phone, Timestamp>,
    checkpoint: Timestamp,
) -> Release {
    let mut due: BTreeMap<&str, Vec<&Miss>> = BTreeMap::new();
    for miss in backlog {
        if miss.release_at(calendar, checkpoints) <= checkpoint {
            due.entry(miss.caller.as_str()).or_default().push(miss);
        }
    }
    let mut out = Release::default();
    for misses in due.into_values() {
        let mut misses: Vec<Miss> = misses.into_iter().cloned().collect();
        misses.sort_by_key(|m| (m.at, m.id));
        let caller = misses[0].caller.clone();
        let (got_through, still): (Vec<Miss>, Vec<Miss>) =
            misses.into_iter().partition(|m| answered.get(&caller).is_some_and(|a| *a > m.at));
        out.got_through.extend(got_through.iter().map(|m| m.id));
        if still.is_empty() {
            continue;
        }
        let first_release = still.iter().map(|m| m.release_at(calendar, checkpoints)).min().unwrap_or(checkpoint);
        out.callbacks.push(Callback { caller, deadline: calendar.end_of_day(first_release), misses: still });
    }
    // Oldest caller first, so the queue's order follows the misses.
    out.callbacks.sort_by_key(|c| (c.misses[0].at, c.misses[0].id));
    out.got_through.sort_unstable();
    out
}

/// The screen-pop's line for a callback: every missed call, in local time.
pub fn describe(calendar: &Calendar, callback: &Callback) -> String {
    let times: Vec<String> = callback
        .misses
        .iter()
        .map(|m| m.at.to_zoned(calendar.time_zone().clone()).strftime("%m-%d %H:%M").to_string())
        .collect();
    let n = callback.misses.len();
    let plural = if n == 1 { "" } else { "s" };
    format!("missed call{plural} to {}: {n} ({})", callback.misses[0].called, times.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::{local, show};

    fn calendar(holidays: &[&str]) -> Calendar {
        let settings =
            CalendarSettings { holidays: holidays.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        Calendar::new(&settings).unwrap()
    }

    fn manual() -> Checkpoints {
        Checkpoints::parse(&["17:00", "10:00", "13:00", "15:00"].map(String::from)).unwrap()
    }

    fn miss(cal: &Calendar, id: i64, caller: &str, at: &str) -> Miss {
        let at = local(cal, at);
        Miss { id, caller: Phone::parse(caller).unwrap(), called: "4000".into(), at, reported: at }
    }

    #[test]
    fn each_miss_waits_for_its_checkpoint() {
        let cal = calendar(&[]);
        let cps = manual();
        let cases = [
            ("2026-12-08T09:59", "2026-12-08 10:00 Tue"),
            ("2026-12-08T10:00:01", "2026-12-08 13:00 Tue"),
            ("2026-12-08T14:59", "2026-12-08 15:00 Tue"),
            ("2026-12-08T17:00:01", "2026-12-09 10:00 Wed"),
            ("2026-12-08T23:30", "2026-12-09 10:00 Wed"),
            ("2026-12-05T11:00", "2026-12-07 10:00 Mon"),
        ];
        for (at, expected) in cases {
            assert_eq!(show(&cal, cps.release_at(&cal, local(&cal, at))), expected, "{at}");
        }
        // A Friday-evening miss before a Monday holiday waits for Tuesday.
        let cal = calendar(&["2026-12-07"]);
        assert_eq!(show(&cal, cps.release_at(&cal, local(&cal, "2026-12-04T17:30"))), "2026-12-08 10:00 Tue");
    }

    #[test]
    fn one_callback_per_caller_with_every_miss() {
        let cal = calendar(&[]);
        let cps = manual();
        let backlog = [
            miss(&cal, 1, "13900000001", "2026-12-08T09:10"),
            miss(&cal, 2, "13900000002", "2026-12-08T09:20"),
            miss(&cal, 3, "13900000001", "2026-12-08T09:30"),
            miss(&cal, 4, "13900000001", "2026-12-08T09:50"),
            // Not due at 10:00: stays for 13:00.
            miss(&cal, 5, "13900000001", "2026-12-08T10:05"),
        ];
        let out = release(&cal, &cps, &backlog, &HashMap::new(), local(&cal, "2026-12-08T10:00"));
        assert_eq!(out.got_through, Vec::<i64>::new());
        assert_eq!(out.callbacks.len(), 2);
        let first = &out.callbacks[0];
        assert_eq!(first.caller.as_str(), "13900000001");
        assert_eq!(first.misses.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(show(&cal, first.deadline), "2026-12-08 22:30 Tue");
        assert_eq!(describe(&cal, first), "missed calls to 4000: 3 (12-08 09:10, 12-08 09:30, 12-08 09:50)");
        assert_eq!(out.callbacks[1].misses.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
        assert_eq!(describe(&cal, &out.callbacks[1]), "missed call to 4000: 1 (12-08 09:20)");
    }

    #[test]
    fn a_caller_who_got_through_is_taken_off() {
        let cal = calendar(&[]);
        let cps = manual();
        let backlog = [
            miss(&cal, 1, "13900000001", "2026-12-08T09:10"),
            miss(&cal, 2, "13900000002", "2026-12-08T09:20"),
            miss(&cal, 3, "13900000002", "2026-12-08T09:50"),
        ];
        let answered = HashMap::from([
            (Phone::parse("13900000001").unwrap(), local(&cal, "2026-12-08T09:40")),
            // Got through between two misses: the later miss still needs a call.
            (Phone::parse("13900000002").unwrap(), local(&cal, "2026-12-08T09:30")),
        ]);
        let out = release(&cal, &cps, &backlog, &answered, local(&cal, "2026-12-08T10:00"));
        assert_eq!(out.got_through, [1, 2]);
        assert_eq!(out.callbacks.len(), 1);
        assert_eq!(out.callbacks[0].misses.iter().map(|m| m.id).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_late_checkpoint_releases_everything_due_with_the_first_days_deadline() {
        // The server was down over the weekend: Monday's start-up catch-up
        // releases Friday's miss, already overdue (Friday 22:30).
        let cal = calendar(&[]);
        let cps = manual();
        let backlog = [miss(&cal, 1, "13900000001", "2026-12-04T09:10")];
        let out = release(&cal, &cps, &backlog, &HashMap::new(), local(&cal, "2026-12-07T08:00"));
        assert_eq!(show(&cal, out.callbacks[0].deadline), "2026-12-04 22:30 Fri");
        assert_eq!(
            cps.latest_at_or_before(&cal, local(&cal, "2026-12-07T08:00")).map(|t| show(&cal, t)),
            Some("2026-12-04 17:00 Fri".into())
        );
    }

    #[test]
    fn a_miss_reported_after_its_checkpoint_gets_a_deadline_it_can_meet() {
        let cal = calendar(&[]);
        let cps = manual();
        // Missed at 16:58, reported by the PBX at 17:05, after the day's
        // last checkpoint fired: released at Wednesday's 10:00, due that
        // evening, not Tuesday's 22:30, which would already be past.
        let late =
            Miss { reported: local(&cal, "2026-12-08T17:05"), ..miss(&cal, 1, "13900000001", "2026-12-08T16:58") };
        assert_eq!(show(&cal, late.release_at(&cal, &cps)), "2026-12-09 10:00 Wed");
        let at_17 = release(&cal, &cps, std::slice::from_ref(&late), &HashMap::new(), local(&cal, "2026-12-08T17:00"));
        assert!(at_17.callbacks.is_empty(), "not known at 17:00");
        let out = release(&cal, &cps, &[late], &HashMap::new(), local(&cal, "2026-12-09T10:00"));
        assert_eq!(show(&cal, out.callbacks[0].deadline), "2026-12-09 22:30 Wed");
        // Reported before its checkpoint: nothing changes.
        let prompt =
            Miss { reported: local(&cal, "2026-12-08T16:59"), ..miss(&cal, 2, "13900000002", "2026-12-08T16:58") };
        assert_eq!(show(&cal, prompt.release_at(&cal, &cps)), "2026-12-08 17:00 Tue");
        // With an earlier miss of the same caller that was on time, the
        // callback keeps the earlier (and earliest) day.
        let early = miss(&cal, 3, "13900000001", "2026-12-08T09:30");
        let late =
            Miss { reported: local(&cal, "2026-12-08T17:05"), ..miss(&cal, 4, "13900000001", "2026-12-08T16:58") };
        let out = release(&cal, &cps, &[early, late], &HashMap::new(), local(&cal, "2026-12-09T10:00"));
        assert_eq!(out.callbacks[0].misses.len(), 2);
        assert_eq!(show(&cal, out.callbacks[0].deadline), "2026-12-08 22:30 Tue");
    }

    #[test]
    fn bad_checkpoints_are_named() {
        let err = Checkpoints::parse(&["10:00", "noon", "25:00"].map(String::from)).unwrap_err();
        assert_eq!(err.len(), 2, "{err:?}");
        assert!(err[0].starts_with("missed_calls.checkpoints[1]: \"noon\""), "{err:?}");
        assert!(Checkpoints::parse(&[]).is_err());
    }
}
