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

    /// The satisfaction call's answer, for the steps that record one.
    pub fn satisfaction(self) -> Option<bool> {
        match self {
            CaseStep::Satisfied => Some(true),
            CaseStep::NotSatisfied => Some(false),
            _ => None,
        }
    }
}

impl CaseDeadline {
    /// The department's reply is chased by its lead once it is missed (an
    /// unanswered case escalates); the others are put before the case's
    /// owner `remind_before` ahead.
    pub fn escalates_to_lead(self) -> bool {
        self == CaseDeadline::DepartmentReply
    }

    /// When this deadline's reminder is due.
    pub fn remind_at(self, by: Timestamp, remind_before: SignedDuration) -> Timestamp {
        if self.escalates_to_lead() { by } else { by.saturating_sub(remind_before).unwrap_or(by) }
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
    /// A department a case is sent to answers in writing by the end of this
    /// many working days after; missed, the case goes to the department's lead.
    #[serde(default = "CaseRules::default_department_reply_working_days")]
    pub department_reply_working_days: u32,
    /// A merchant with this many complaints in a month or more is
    /// nominated for the black list (黑榜).
    #[serde(default = "CaseRules::default_black_list_min_complaints")]
    pub black_list_min_complaints: u32,
    /// A merchant with at most this many, all resolved, none major, every
    /// reply in time, is nominated for the red list (红榜).
    #[serde(default = "CaseRules::default_red_list_max_complaints")]
    pub red_list_max_complaints: u32,
}

impl Default for CaseRules {
    fn default() -> Self {
        CaseRules {
            answer_within_hours: 24,
            merchant_reply_working_days: 1,
            remind_before_minutes: 120,
            department_reply_working_days: CaseRules::default_department_reply_working_days(),
            black_list_min_complaints: CaseRules::default_black_list_min_complaints(),
            red_list_max_complaints: CaseRules::default_red_list_max_complaints(),
        }
    }
}

impl CaseRules {
    fn default_department_reply_working_days() -> u32 {
        1
    }
    fn default_black_list_min_complaints() -> u32 {
        3
    }
    fn default_red_list_max_complaints() -> u32 {
        1
    }

    /// Where the monthly red and black lists draw their lines.
    pub fn lists(&self) -> crate::rules::reports::lists::ListRules {
        crate::rules::reports::lists::ListRules {
            black_min_complaints: self.black_list_min_complaints,
            red_max_complaints: self.red_list_max_complaints,
        }
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=720).contains(&self.answer_within_hours) {
            problems.push("cases.answer_within_hours: must be 1-720".into());
        }
        if !(1..=30).contains(&self.merchant_reply_working_days) {
            problems.push("cases.merchant_reply_working_days: must be 1-30".into());
        }
        if !(1..=30).contains(&self.department_reply_working_days) {
            problems.push("cases.department_reply_working_days: must be 1-30".into());
        }
        if !(1..=1000).contains(&self.black_list_min_complaints) {
            problems.push("cases.black_list_min_complaints: must be 1-1000".into());
        }
        if self.red_list_max_complaints >= self.black_list_min_complaints {
            problems.push("cases.red_list_max_complaints: must be under black_list_min_complaints".into());
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
        let merchant_reply_by = channel
            .needs_merchant_reply()
            .then(|| working_days_after(cal, received_at, self.merchant_reply_working_days));
        Deadlines { answer_by, merchant_reply_by }
    }

    /// When a department a case was sent to at `sent_at` owes its written reply.
    pub fn department_reply_by(&self, cal: &Calendar, sent_at: Timestamp) -> Timestamp {
        working_days_after(cal, sent_at, self.department_reply_working_days)
    }
}

/// The end of the `days`-th working day after `t`.
fn working_days_after(cal: &Calendar, t: Timestamp, days: u32) -> Timestamp {
    (0..days).fold(t, |t, _| cal.end_of_first_working_day_after(t))
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
    /// The party complained about was answered (答复被投诉方).
    pub party_answered_at: Option<Timestamp>,
    /// Set while the case is with a department: when its reply is due.
    pub department_reply_by: Option<Timestamp>,
    pub department_replied_at: Option<Timestamp>,
    /// The satisfaction call's answer since the case was last resolved.
    pub satisfied: Option<bool>,
    /// A major complaint (重大投诉).
    pub major: bool,
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
            (CaseStep::PartyAnswered, s) if self.party_answered_at.is_none() => Ok(s),
            (CaseStep::PartyAnswered, _) => Err(refused()),
            (CaseStep::Sent, Resolved) => Err(refused()),
            (CaseStep::Sent, s) => Ok(s),
            (CaseStep::DepartmentReplied, Resolved) => Err(refused()),
            (CaseStep::DepartmentReplied, s)
                if self.department_reply_by.is_some() && self.department_replied_at.is_none() =>
            {
                Ok(s)
            }
            (CaseStep::DepartmentReplied, _) => Err(refused()),
            (CaseStep::Resolved, Open | Answered) => Ok(Resolved),
            (CaseStep::Resolved, Resolved) => Err(refused()),
            // One answer per resolution; "not satisfied" puts it back to work.
            (CaseStep::Satisfied, Resolved) if self.satisfied.is_none() => Ok(Resolved),
            (CaseStep::NotSatisfied, Resolved) if self.satisfied.is_none() => Ok(self.back_to_work()),
            (CaseStep::Satisfied | CaseStep::NotSatisfied, _) => Err(refused()),
            (CaseStep::MarkedMajor, s) if !self.major => Ok(s),
            (CaseStep::MarkedMajor, _) => Err(refused()),
            (CaseStep::Reopened, Resolved) => Ok(self.back_to_work()),
            (CaseStep::Reopened, _) => Err(refused()),
            (CaseStep::Note | CaseStep::Reassigned, s) => Ok(s),
        }
    }

    /// A resolved case reopened: back to work, and the customer has had an
    /// answer if it was given.
    fn back_to_work(&self) -> CaseStatus {
        if self.answered_at.is_some() { CaseStatus::Answered } else { CaseStatus::Open }
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
        if let (Some(by), None) = (self.department_reply_by, self.department_replied_at) {
            pending.push((CaseDeadline::DepartmentReply, by));
        }
        pending.sort_by_key(|(_, t)| *t);
        pending
    }

    /// Past a deadline it has not met (kept and worked, never dropped).
    pub fn overdue(&self, now: Timestamp) -> bool {
        self.pending().iter().any(|(_, by)| *by < now)
    }

    /// Pending deadlines whose reminder is due (`remind_before` ahead for
    /// the owner; a department's missed reply for its lead).
    pub fn reminders_due(&self, remind_before: SignedDuration, now: Timestamp) -> Vec<(CaseDeadline, Timestamp)> {
        self.pending().into_iter().filter(|(d, by)| d.remind_at(*by, remind_before) <= now).collect()
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
        CaseClock {
            status: CaseStatus::Open,
            deadlines,
            answered_at: None,
            merchant_replied_at: None,
            party_answered_at: None,
            department_reply_by: None,
            department_replied_at: None,
            satisfied: None,
            major: false,
        }
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
        let rules = CaseRules {
            answer_within_hours: 0,
            merchant_reply_working_days: 0,
            remind_before_minutes: 5000,
            department_reply_working_days: 31,
            black_list_min_complaints: 1,
            red_list_max_complaints: 1,
        };
        assert_eq!(rules.problems().len(), 5);
        assert!(CaseRules::default().problems().is_empty());
    }

    #[test]
    fn a_department_owes_a_written_reply_and_its_lead_hears_when_it_is_missed() {
        let cal = cal();
        let mut c = clock(&cal, CaseChannel::Phone, "2026-12-10T10:00");
        assert!(c.after(CaseStep::DepartmentReplied).is_err(), "not sent to anyone yet");
        assert_eq!(c.after(CaseStep::Sent), Ok(CaseStatus::Open));
        // Sent on a Friday evening before a Monday holiday: due Tuesday's close.
        let sent = local(&cal, "2026-12-11T21:00");
        let by = CaseRules::default().department_reply_by(&cal, sent);
        assert_eq!(show(&cal, by), "2026-12-15 22:30 Tue");
        c.department_reply_by = Some(by);
        c.answered_at = Some(local(&cal, "2026-12-10T11:00"));
        c.status = CaseStatus::Answered;
        let two_hours = SignedDuration::from_hours(2);
        let due = |c: &CaseClock, at: &str| c.reminders_due(two_hours, local(&cal, at));
        assert_eq!(due(&c, "2026-12-15T22:29"), [], "the lead hears only once it is missed, not ahead");
        assert_eq!(due(&c, "2026-12-15T22:30"), [(CaseDeadline::DepartmentReply, by)]);
        assert!(c.overdue(local(&cal, "2026-12-15T22:31")));
        assert_eq!(c.after(CaseStep::DepartmentReplied), Ok(CaseStatus::Answered));
        c.department_replied_at = Some(local(&cal, "2026-12-15T23:00"));
        assert!(c.after(CaseStep::DepartmentReplied).is_err(), "replied once");
        assert!(c.pending().is_empty() && !c.overdue(local(&cal, "2026-12-16T00:00")));
    }

    #[test]
    fn both_sides_are_answered_once_each() {
        let cal = cal();
        let mut c = clock(&cal, CaseChannel::Phone, "2026-12-08T10:00");
        assert_eq!(c.after(CaseStep::PartyAnswered), Ok(CaseStatus::Open), "the party first, the customer still owed");
        c.party_answered_at = Some(local(&cal, "2026-12-08T10:30"));
        assert!(c.after(CaseStep::PartyAnswered).is_err());
        assert_eq!(c.after(CaseStep::MarkedMajor), Ok(CaseStatus::Open));
        c.major = true;
        assert!(c.after(CaseStep::MarkedMajor).is_err(), "major once");
        assert_eq!(c.after(CaseStep::Answered), Ok(CaseStatus::Answered));
    }

    #[test]
    fn the_satisfaction_answer_closes_or_reopens_the_case() {
        let cal = cal();
        let mut c = clock(&cal, CaseChannel::Phone, "2026-12-08T10:00");
        assert!(c.after(CaseStep::Satisfied).is_err(), "asked only once resolved");
        c.status = CaseStatus::Resolved;
        c.answered_at = Some(local(&cal, "2026-12-08T11:00"));
        assert_eq!(c.after(CaseStep::Satisfied), Ok(CaseStatus::Resolved));
        assert_eq!(c.after(CaseStep::NotSatisfied), Ok(CaseStatus::Answered), "back to work, answered before");
        c.answered_at = None;
        assert_eq!(c.after(CaseStep::NotSatisfied), Ok(CaseStatus::Open));
        c.satisfied = Some(true);
        assert!(c.after(CaseStep::Satisfied).is_err(), "one answer per resolution");
        assert!(c.after(CaseStep::NotSatisfied).is_err());
        assert_eq!(CaseStep::NotSatisfied.satisfaction(), Some(false));
        assert_eq!(CaseStep::Resolved.satisfaction(), None);
    }
}
