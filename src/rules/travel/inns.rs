//! Inn reminders as rules. The manual: an inn that leaves a booking
//! unprocessed is phoned at once, and phoned again until it acts. A booking
//! still `unprocessed` `remind_after_minutes` after the inn's back office
//! made it becomes an `inn_reminder` task; while it stays unprocessed, a new
//! reminder follows `repeat_minutes` after the last was made. The booking is
//! escalated to the supervisors once the reminders made pass
//! `escalate_after_reminders`, or when the last reminder is still open (not
//! yet called, or waiting for its retry) at the next due time, which then
//! gets no second task; escalated reminders go ahead of the queue.
//! Pure: time is an argument.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// From `[inns]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnRules {
    /// A booking unprocessed this long after it was made is phoned about.
    pub remind_after_minutes: u32,
    /// Minutes between reminders while the booking stays unprocessed.
    pub repeat_minutes: u32,
    /// Reminders made before the booking goes to the supervisors.
    pub escalate_after_reminders: u32,
}

impl Default for InnRules {
    fn default() -> Self {
        InnRules { remind_after_minutes: 10, repeat_minutes: 10, escalate_after_reminders: 2 }
    }
}

/// What to do about a booking whose reminder is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReminderStep {
    /// Put reminder number `number` before the agents; `escalated` raises it
    /// ahead of the queue and marks the booking for the supervisors.
    Remind { number: u32, escalated: bool, next_at: Timestamp },
    /// The last reminder still waits for an agent: no second task, but the
    /// supervisors are told.
    Escalate { next_at: Timestamp },
}

/// Priority of an escalated reminder: ahead of every configured kind.
pub const ESCALATED_PRIORITY: u8 = 95;

impl InnRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=24 * 60).contains(&self.remind_after_minutes) {
            problems.push("inns.remind_after_minutes: must be 1-1440".into());
        }
        if !(1..=24 * 60).contains(&self.repeat_minutes) {
            problems.push("inns.repeat_minutes: must be 1-1440".into());
        }
        if !(1..=20).contains(&self.escalate_after_reminders) {
            problems.push("inns.escalate_after_reminders: must be 1-20".into());
        }
        problems
    }

    /// When a booking made at `created_at` is first due for a reminder.
    pub fn first_due(&self, created_at: Timestamp) -> Timestamp {
        created_at.saturating_add(mins(self.remind_after_minutes)).unwrap_or(created_at)
    }

    /// The step for a booking due now, after `made` reminders, the last of
    /// which is still open (`last_open`) or not.
    pub fn step(&self, made: u32, last_open: bool, now: Timestamp) -> ReminderStep {
        let next_at = now.saturating_add(mins(self.repeat_minutes)).unwrap_or(now);
        if last_open {
            return ReminderStep::Escalate { next_at };
        }
        let number = made + 1;
        ReminderStep::Remind { number, escalated: number > self.escalate_after_reminders, next_at }
    }
}

fn mins(m: u32) -> SignedDuration {
    SignedDuration::from_mins(i64::from(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> Timestamp {
        "2026-05-12T02:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute)
    }

    #[test]
    fn a_booking_is_phoned_after_ten_minutes_then_every_ten_and_escalates_at_the_third() {
        let rules = InnRules::default();
        assert_eq!(rules.first_due(at(0)), at(10));
        assert_eq!(rules.step(0, false, at(10)), ReminderStep::Remind { number: 1, escalated: false, next_at: at(20) });
        assert_eq!(rules.step(1, false, at(21)), ReminderStep::Remind { number: 2, escalated: false, next_at: at(31) });
        assert_eq!(rules.step(2, false, at(31)), ReminderStep::Remind { number: 3, escalated: true, next_at: at(41) });
    }

    #[test]
    fn a_reminder_nobody_took_escalates_instead_of_piling_up() {
        let rules = InnRules::default();
        assert_eq!(rules.step(1, true, at(20)), ReminderStep::Escalate { next_at: at(30) });
    }

    #[test]
    fn bad_settings_are_named() {
        let rules = InnRules { remind_after_minutes: 0, repeat_minutes: 10, escalate_after_reminders: 0 };
        assert_eq!(
            rules.problems(),
            ["inns.remind_after_minutes: must be 1-1440", "inns.escalate_after_reminders: must be 1-20"]
        );
    }
}
