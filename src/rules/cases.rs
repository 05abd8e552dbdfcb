//! Complaint cases (客诉, DOMAIN.md "Complaints"), as rules: a case's
//! deadlines, the steps it may take, and when a deadline calls for a
//! reminder task or flags the case overdue.
//!
//! Pure: the calendar, the case and the instant are arguments. The REST
//! handlers (`api/cases.rs`) and the shell that creates reminders
//! (`runtime/jobs/cases.rs`) store what these functions decide.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

pub use crate::domain::{CaseChannel, CaseDeadline, CaseStatus, CaseStep};
use crate::rules::calendar::Calendar;

impl CaseStep {
    /// A resolved complaint is followed by a call to the customer to
    /// confirm they are satisfied (DOMAIN.md, "Complaints").
    pub fn calls_for_satisfaction_check(self) -> bool {
        self == CaseStep::Resolved
    }
}

impl CaseChannel {
    /// Public complaints the merchant must answer within a working day.
    pub fn needs_merchant_reply(self) -> bool {
        matches!(self, CaseChannel::Forum | CaseChannel::Weibo)
    }
}

/// The rule's numbers, from `[cases]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseRules {
    /// The customer is answered within this many hours of the complaint.
    pub answer_within_hours: u32,
    /// Forum and Weibo: the merchant replies by the end of this many working days after.
    pub merchant_reply_working_days: u32,
    /// A deadline this close (or past) puts a task before the case's owner.
    pub remind_before_minutes: u32,
}

impl Default for CaseRules {
    fn default() -> Self {
        CaseRules { answer_within_hours: 24, merchant_reply_working_days: 1, remind_before_minutes: 120 }
    }
}

impl CaseRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=720).contains(&self.answer_within_hours) {
            problems.push("cases.answer_within_hours: must be 1-720".into());
        }
        if !(1..=30).contains(&self.merchant_reply_working_days) {
            problems.push("cases.merchant_reply_working_days: must be 1-30".into());
        }
        if self.remind_before_minutes > 24 * 60 {
            problems.push("cases.remind_before_minutes: must be 0-1440".into());
        }
        problems
    }

    /// A case's deadlines from the time the complaint was received.
    pub fn deadlines(&self, cal: &Calendar, channel: CaseChannel, received_at: Timestamp) -> Deadlines {
        let answer_by = received_at
            .checked_add(SignedDuration::from_hours(self.answer_within_hours as i64))
            .unwrap_or(Timestamp::MAX);
        let merchant_reply_by = channel.needs_merchant_reply().then(|| {
            (0..self.merchant_reply_working_days).fold(received_at, |t, _| cal.end_of_first_working_day_after(t))
        });
        Deadlines { answer_by, merchant_reply_by }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    pub answer_by: Timestamp,
    pub merchant_reply_by: Option<Timestamp>,
}

/// What the deadline rules need to know of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseClock {
    pub status: CaseStatus,
    pub deadlines: Deadlines,
    pub answered_at: Option<Timestamp>,
    pub merchant_replied_at: Option<Timestamp>,
}

/// Why a step was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("a {status} case cannot be marked {step}")]
    NotNow { status: &'static str, step: &'static str },
}

impl CaseClock {
    /// The status after `step`, or why the step does not apply now.
    pub fn after(&self, step: CaseStep) -> Result<CaseStatus, CaseError> {
        use CaseStatus::*;
        let refused = || CaseError::NotNow { status: self.status.as_str(), step: step.as_str() };
        match (step, self.status) {
            (CaseStep::Answered, Open) => Ok(Answered),
            (CaseStep::Answered, _) => Err(refused()),
            (CaseStep::MerchantReplied, Resolved) => Err(refused()),
            (CaseStep::MerchantReplied, s) if self.merchant_replied_at.is_none() => Ok(s),
            (CaseStep::MerchantReplied, _) => Err(refused()),
            (CaseStep::Resolved, Open | Answered) => Ok(Resolved),
            (CaseStep::Resolved, Resolved) => Err(refused()),
            // Back to work; the customer has had an answer if it was given.
            (CaseStep::Reopened, Resolved) if self.answered_at.is_some() => Ok(Answered),
            (CaseStep::Reopened, Resolved) => Ok(Open),
            (CaseStep::Reopened, _) => Err(refused()),
            (CaseStep::Note | CaseStep::Reassigned, s) => Ok(s),
        }
    }

    /// Deadlines not yet met, earliest first. A resolved case has none.
    pub fn pending(&self) -> Vec<(CaseDeadline, Timestamp)> {
        if self.status == CaseStatus::Resolved {
            return Vec::new();
        }
        let mut pending = Vec::new();
        if self.answered_at.is_none() {
            pending.push((CaseDeadline::Answer, self.deadlines.answer_by));
        }
        if let (Some(by), None) = (self.deadlines.merchant_reply_by, self.merchant_replied_at) {
            pending.push((CaseDeadline::MerchantReply, by));
        }
        pending.sort_by_key(|(_, t)| *t);
        pending
    }

    /// Past a deadline it has not met (kept and worked, never dropped).
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.pending().iter().any(|(_, by)| *by < now)
    }

    /// Pending deadlines close enough (`remind_before`, or past) to put a
    /// task before the owner.
    pub fn reminders_due(&self, remind_before: SignedDuration, now: Timestamp) -> Vec<(CaseDeadline, Timestamp)> {
        self.pending().into_iter().filter(|(_, by)| by.saturating_sub(remind_before).unwrap_or(*by) <= now).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::{local, show};

    fn cal() -> Calendar {
        Calendar::new(&CalendarSettings { holidays: vec!["2026-12-14".into()], ..Default::default() }).unwrap()
    }

    fn clock(cal: &Calendar, channel: CaseChannel, received: &str) -> CaseClock {
        let deadlines = CaseRules::default().deadlines(cal, channel, local(cal, received));
        CaseClock { status: CaseStatus::Open, deadlines, answered_at: None, merchant_replied_at: None }
    }

    #[test]
    fn deadlines_by_channel() {
        let cal = cal();
        let phone = clock(&cal, CaseChannel::Phone, "2026-12-08T10:00");
        assert_eq!(show(&cal, phone.deadlines.answer_by), "2026-12-09 10:00 Wed");
        assert_eq!(phone.deadlines.merchant_reply_by, None);
        let forum = clock(&cal, CaseChannel::Forum, "2026-12-08T10:00");
        assert_eq!(show(&cal, forum.deadlines.merchant_reply_by.unwrap()), "2026-12-09 22:30 Wed");
        // A Weibo post on Friday night, before a Monday holiday: Tuesday evening.
        let weibo = clock(&cal, CaseChannel::Weibo, "2026-12-11T23:00");
        assert_eq!(show(&cal, weibo.deadlines.merchant_reply_by.unwrap()), "2026-12-15 22:30 Tue");
        assert_eq!(show(&cal, weibo.deadlines.answer_by), "2026-12-12 23:00 Sat", "24 hours, not working hours");
        let rules = CaseRules { merchant_reply_working_days: 2, ..Default::default() };
        let two = rules.deadlines(&cal, CaseChannel::Forum, local(&cal, "2026-12-08T10:00"));
        assert_eq!(show(&cal, two.merchant_reply_by.unwrap()), "2026-12-10 22:30 Thu");
    }

    #[test]
    fn steps_follow_the_case() {
        let cal = cal();
        let mut c = clock(&cal, CaseChannel::Forum, "2026-12-08T10:00");
        assert_eq!(c.after(CaseStep::Answered), Ok(CaseStatus::Answered));
        assert_eq!(c.after(CaseStep::MerchantReplied), Ok(CaseStatus::Open));
        assert!(c.after(CaseStep::Reopened).is_err());
        c.status = CaseStatus::Answered;
        c.answered_at = Some(local(&cal, "2026-12-08T11:00"));
        assert!(c.after(CaseStep::Answered).is_err(), "answered once");
        assert_eq!(c.after(CaseStep::Resolved), Ok(CaseStatus::Resolved));
        c.status = CaseStatus::Resolved;
        let err = c.after(CaseStep::MerchantReplied).unwrap_err();
        assert_eq!(err.to_string(), "a resolved case cannot be marked merchant_replied");
        assert_eq!(c.after(CaseStep::Reopened), Ok(CaseStatus::Answered));
        assert_eq!(c.after(CaseStep::Note), Ok(CaseStatus::Resolved));
    }

    #[test]
    fn reminders_and_overdue() {
        let cal = cal();
        let mut c = clock(&cal, CaseChannel::Forum, "2026-12-08T10:00");
        let two_hours = SignedDuration::from_hours(2);
        let due = |c: &CaseClock, at: &str| c.reminders_due(two_hours, local(&cal, at));
        assert_eq!(due(&c, "2026-12-09T07:59"), []);
        assert_eq!(due(&c, "2026-12-09T08:00").len(), 1, "two hours before the answer is due");
        assert_eq!(due(&c, "2026-12-09T20:30").len(), 2, "then the merchant's reply too");
        assert!(!c.overdue(local(&cal, "2026-12-09T10:00")));
        assert!(c.overdue(local(&cal, "2026-12-09T10:00:01")));
        c.answered_at = Some(local(&cal, "2026-12-08T12:00"));
        c.status = CaseStatus::Answered;
        assert!(!c.overdue(local(&cal, "2026-12-09T12:00")), "answered in time");
        assert!(c.overdue(local(&cal, "2026-12-09T23:00")), "the merchant did not reply");
        assert_eq!(c.pending().iter().map(|(d, _)| *d).collect::<Vec<_>>(), [CaseDeadline::MerchantReply]);
        c.status = CaseStatus::Resolved;
        assert!(!c.overdue(local(&cal, "2026-12-20T00:00")) && c.pending().is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        let rules = CaseRules { answer_within_hours: 0, merchant_reply_working_days: 0, remind_before_minutes: 5000 };
        assert_eq!(rules.problems().len(), 3);
        assert!(CaseRules::default().problems().is_empty());
    }
}
