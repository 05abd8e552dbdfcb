//! Calling out, as rules: what the customer's leg's final answer means
//! for the attempt (the retry rule and the callback figures run on it),
//! and whether a call may be placed at all (the centre's hours, a gap
//! between calls to one number, a do-not-call mark). Pure: the clock and
//! the number's last call are arguments.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::Outcome;
use crate::rules::calendar::Calendar;

/// How the calls of a task kind are placed (`[kinds.*] dialling`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    /// The agent dials on their own phone and reports the outcome.
    #[default]
    Manual,
    /// The agent presses Call (the `dial` message) after accepting.
    Preview,
    /// The call is placed as soon as the agent accepts.
    Progressive,
}

impl DialMode {
    /// Switchboard places this kind's calls.
    pub fn places_calls(self) -> bool {
        self != DialMode::Manual
    }
}

/// How long a call should last (`[calls]`, seed 003: under three minutes,
/// never over five). The console's timer warns at `target_secs`, the
/// wallboard shows live calls past `limit_secs`, and a placed call still
/// going at `max_secs` is ended by Switchboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallLength {
    pub target_secs: u64,
    pub limit_secs: u64,
    pub max_secs: u64,
}

impl Default for CallLength {
    fn default() -> Self {
        CallLength { target_secs: 180, limit_secs: 300, max_secs: 3600 }
    }
}

impl CallLength {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.target_secs == 0 || self.target_secs > self.limit_secs {
            out.push("calls.target_secs: from 1 to calls.limit_secs".to_owned());
        }
        if self.limit_secs > self.max_secs {
            out.push("calls.limit_secs: at most calls.max_secs".to_owned());
        }
        if !(60..=86_400).contains(&self.max_secs) {
            out.push("calls.max_secs: from 60 to 86400".to_owned());
        }
        out
    }

    /// Whether a call that has lasted `talk` is past the limit.
    pub fn is_past_limit(&self, talk: SignedDuration) -> bool {
        talk.as_secs() >= self.limit_secs as i64
    }
}

/// How an attempt on the customer ended, from SIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialOutcome {
    /// 2xx: the customer answered.
    Reached,
    /// 486, 600: busy here or everywhere.
    Busy,
    /// No answer within the ring time, 408, 480.
    NoAnswer,
    /// 404, 484, 604: the number does not exist or is incomplete.
    WrongNumber,
    /// Any other final answer, its code kept (503 from a trunk, 403 from a
    /// barred route ...).
    Failed { code: u16 },
}

impl DialOutcome {
    /// The meaning of the customer leg's final response.
    pub fn of_final(code: u16) -> DialOutcome {
        match code {
            200..=299 => DialOutcome::Reached,
            486 | 600 => DialOutcome::Busy,
            408 | 480 => DialOutcome::NoAnswer,
            404 | 484 | 604 => DialOutcome::WrongNumber,
            code => DialOutcome::Failed { code },
        }
    }

    /// The attempt's outcome as the dispatcher and the reports know it.
    pub fn outcome(self) -> Outcome {
        match self {
            DialOutcome::Reached => Outcome::Reached,
            DialOutcome::Busy => Outcome::Busy,
            DialOutcome::NoAnswer => Outcome::NoAnswer,
            DialOutcome::WrongNumber => Outcome::WrongNumber,
            DialOutcome::Failed { .. } => Outcome::Failed,
        }
    }

    /// The final code kept with a `failed` outcome.
    pub fn code(self) -> Option<u16> {
        match self {
            DialOutcome::Failed { code } => Some(code),
            _ => None,
        }
    }

    /// Worth another attempt by the retry rule: the customer may answer
    /// later. A wrong number will not; a failure of the route may.
    pub fn is_retried(self) -> bool {
        !matches!(self, DialOutcome::Reached | DialOutcome::WrongNumber)
    }
}

/// Why a call is not placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialRefusal {
    #[error("the centre is closed now: no calls out outside working hours")]
    OutsideHours,
    #[error("this number was called {ago_secs} s ago; the least gap is {gap_secs} s")]
    TooSoon { ago_secs: i64, gap_secs: i64 },
    #[error("the customer asked not to be called")]
    DoNotCall,
}

/// Whether a call to a number may be placed at `now`.
pub fn may_dial(
    calendar: &Calendar,
    now: Timestamp,
    last_call: Option<Timestamp>,
    least_gap: SignedDuration,
    do_not_call: bool,
) -> Result<(), DialRefusal> {
    if do_not_call {
        return Err(DialRefusal::DoNotCall);
    }
    if !calendar.is_open(now) {
        return Err(DialRefusal::OutsideHours);
    }
    if let Some(last) = last_call {
        let ago = now.duration_since(last);
        if ago < least_gap {
            return Err(DialRefusal::TooSoon { ago_secs: ago.as_secs(), gap_secs: least_gap.as_secs() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::local;

    #[test]
    fn each_final_answer_has_its_outcome() {
        let seen: Vec<(u16, DialOutcome)> =
            [200, 202, 486, 600, 408, 480, 404, 484, 604, 503, 403].map(|c| (c, DialOutcome::of_final(c))).into();
        use DialOutcome::*;
        assert_eq!(
            seen,
            [
                (200, Reached),
                (202, Reached),
                (486, Busy),
                (600, Busy),
                (408, NoAnswer),
                (480, NoAnswer),
                (404, WrongNumber),
                (484, WrongNumber),
                (604, WrongNumber),
                (503, Failed { code: 503 }),
                (403, Failed { code: 403 }),
            ]
        );
        assert!(Busy.is_retried() && NoAnswer.is_retried() && Failed { code: 503 }.is_retried());
        assert!(!Reached.is_retried() && !WrongNumber.is_retried());
    }

    #[test]
    fn calls_out_keep_the_hours_the_gap_and_the_customers_wish() {
        let cal = Calendar::new(&CalendarSettings::default()).unwrap();
        let open = local(&cal, "2026-12-08T10:00");
        let gap = SignedDuration::from_mins(10);
        assert_eq!(may_dial(&cal, open, None, gap, false), Ok(()));
        assert_eq!(may_dial(&cal, local(&cal, "2026-12-08T22:31"), None, gap, false), Err(DialRefusal::OutsideHours));
        assert_eq!(may_dial(&cal, local(&cal, "2026-12-06T10:00"), None, gap, false), Err(DialRefusal::OutsideHours));
        let recent = Some(local(&cal, "2026-12-08T09:55"));
        assert_eq!(
            may_dial(&cal, open, recent, gap, false),
            Err(DialRefusal::TooSoon { ago_secs: 300, gap_secs: 600 })
        );
        assert_eq!(may_dial(&cal, open, Some(local(&cal, "2026-12-08T09:50")), gap, false), Ok(()));
        assert_eq!(may_dial(&cal, open, None, gap, true), Err(DialRefusal::DoNotCall));
    }
}
