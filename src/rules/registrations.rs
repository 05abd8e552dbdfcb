//! Registration callbacks (DOMAIN.md items 2, 4 and 5), as rules: which
//! callbacks a registration creates, when each is due and when it may
//! start. Pure: the calendar and the registration's time are arguments.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Phone, TaskKind};
use crate::rules::calendar::Calendar;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomerKind {
    New,
    Returning,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The day's main event (主场).
    Main,
    /// A special or large event (专场, 装大, 卖场).
    Special,
}

/// The rule's numbers, from `[registrations]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationRules {
    /// A new customer is called back within this many minutes (in hours).
    pub new_customer_minutes: u32,
    /// A returning customer for today's main event, within this many minutes.
    pub returning_customer_minutes: u32,
    /// Special-event registrations are called this many days before the event.
    pub special_event_days_before: u32,
}

impl Default for RegistrationRules {
    fn default() -> Self {
        RegistrationRules { new_customer_minutes: 15, returning_customer_minutes: 60, special_event_days_before: 7 }
    }
}

impl RegistrationRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=1440).contains(&self.new_customer_minutes) {
            problems.push("registrations.new_customer_minutes: must be 1-1440".into());
        }
        if !(1..=1440).contains(&self.returning_customer_minutes) {
            problems.push("registrations.returning_customer_minutes: must be 1-1440".into());
        }
        if !(1..=90).contains(&self.special_event_days_before) {
            problems.push("registrations.special_event_days_before: must be 1-90".into());
        }
        problems
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    pub customer: CustomerKind,
    pub event_kind: EventKind,
    pub event_date: Date,
    pub registered_at: Timestamp,
}

/// One callback to create.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackPlan {
    pub kind: TaskKind,
    pub deadline: Timestamp,
    /// Offered to no one before this.
    pub not_before: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("the event on {event} is over (registered {registered})")]
    EventInPast { event: Date, registered: Date },
}

/// The callbacks a registration calls for, in the order to create them.
///
/// - A new customer: within `new_customer_minutes`; registered outside
///   working hours, by the end of the first working day after.
/// - A returning customer for today's main event: within
///   `returning_customer_minutes`, or the first working day after.
/// - A special event: on the last working day at least
///   `special_event_days_before` days before it (not offered before that
///   day opens, due when it closes); registered later than that, as soon
///   as possible.
/// - A returning customer for a later main event: no callback.
pub fn plan(
    calendar: &Calendar,
    rules: &RegistrationRules,
    r: &Registration,
) -> Result<Vec<CallbackPlan>, RegistrationError> {
    let at = r.registered_at;
    let today = calendar.date_of(at);
    if r.event_date < today {
        return Err(RegistrationError::EventInPast { event: r.event_date, registered: today });
    }
    let within = |minutes: u32| calendar.deadline_within(at, SignedDuration::from_mins(i64::from(minutes)));
    let mut plans = Vec::new();
    match (r.customer, r.event_kind) {
        (CustomerKind::New, _) => plans.push(CallbackPlan {
            kind: TaskKind::NewSignupCallback,
            deadline: within(rules.new_customer_minutes),
            not_before: None,
        }),
        (CustomerKind::Returning, EventKind::Main) if r.event_date == today => plans.push(CallbackPlan {
            kind: TaskKind::ReturningSignupCallback,
            deadline: within(rules.returning_customer_minutes),
            not_before: None,
        }),
        (CustomerKind::Returning, _) => {}
    }
    if r.event_kind == EventKind::Special {
        let week = jiff::Span::new().days(i64::from(rules.special_event_days_before));
        let target = r.event_date.checked_sub(week).unwrap_or(r.event_date);
        let day = calendar.working_day_at_or_before(target).unwrap_or(target);
        let plan = if calendar.opening(day) > at {
            CallbackPlan {
                kind: TaskKind::EventCallback,
                deadline: calendar.closing(day),
                not_before: Some(calendar.opening(day)),
            }
        } else {
            // Registered within the week: call as soon as possible.
            let deadline = if calendar.is_open(at) {
                calendar.end_of_day(at)
            } else {
                calendar.end_of_first_working_day_after(at)
            };
            CallbackPlan { kind: TaskKind::EventCallback, deadline, not_before: None }
        };
        plans.push(plan);
    }
    Ok(plans)
}

/// The marketing callbacks when an event ends (DOMAIN.md items 6-8): who
/// attended without ordering first (their success rate is higher), then
/// who attended and ordered, then who registered but did not come. Each
/// number once; an order counts as attendance.
pub fn marketing_callbacks(registered: &[Phone], attended: &[Phone], ordered: &[Phone]) -> Vec<(Phone, TaskKind)> {
    use std::collections::BTreeSet;
    let ordered: BTreeSet<&Phone> = ordered.iter().collect();
    let came: BTreeSet<&Phone> = attended.iter().chain(ordered.iter().copied()).collect();
    let registered: BTreeSet<&Phone> = registered.iter().collect();
    let no_order =
        came.iter().filter(|p| !ordered.contains(*p)).map(|p| ((*p).clone(), TaskKind::MarketingAttendedNoOrder));
    let with_order = ordered.iter().map(|p| ((*p).clone(), TaskKind::MarketingAttendedOrdered));
    let no_show = registered.iter().filter(|p| !came.contains(*p)).map(|p| ((*p).clone(), TaskKind::MarketingNoShow));
    no_order.chain(with_order).chain(no_show).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::{local, show};
    use jiff::civil::date;

    fn cal() -> Calendar {
        let settings = CalendarSettings { holidays: vec!["2026-12-07".into()], ..Default::default() };
        Calendar::new(&settings).unwrap()
    }

    fn run(
        customer: CustomerKind,
        event_kind: EventKind,
        event: Date,
        at: &str,
    ) -> Vec<(TaskKind, String, Option<String>)> {
        let cal = cal();
        let r = Registration { customer, event_kind, event_date: event, registered_at: local(&cal, at) };
        plan(&cal, &RegistrationRules::default(), &r)
            .unwrap()
            .into_iter()
            .map(|p| (p.kind, show(&cal, p.deadline), p.not_before.map(|t| show(&cal, t))))
            .collect()
    }

    use CustomerKind::*;
    use EventKind::*;
    use TaskKind::*;

    #[test]
    fn a_new_customer_is_called_within_15_minutes_in_hours() {
        assert_eq!(
            run(New, Main, date(2026, 12, 20), "2026-12-08T10:00"),
            [(NewSignupCallback, "2026-12-08 10:15 Tue".into(), None)]
        );
    }

    #[test]
    fn near_the_close_the_minutes_left_count_from_the_next_opening() {
        // 22:20 + 15 minutes is after the 22:30 close: the 5 minutes left
        // count from Wednesday's 09:00, not 22:35 when nobody is at work.
        assert_eq!(
            run(New, Main, date(2026, 12, 20), "2026-12-08T22:20"),
            [(NewSignupCallback, "2026-12-09 09:05 Wed".into(), None)]
        );
        // A returning customer at 22:00 for tonight's main event: 09:30.
        assert_eq!(
            run(Returning, Main, date(2026, 12, 8), "2026-12-08T22:00"),
            [(ReturningSignupCallback, "2026-12-09 09:30 Wed".into(), None)]
        );
    }

    #[test]
    fn outside_hours_the_first_working_day_after() {
        // Saturday 11:00: due Monday... but Monday 7th is a holiday here: Tuesday.
        assert_eq!(
            run(New, Main, date(2026, 12, 20), "2026-12-05T11:00"),
            [(NewSignupCallback, "2026-12-08 22:30 Tue".into(), None)]
        );
        // Wednesday 23:00: Thursday evening.
        assert_eq!(
            run(New, Main, date(2026, 12, 20), "2026-12-09T23:00"),
            [(NewSignupCallback, "2026-12-10 22:30 Thu".into(), None)]
        );
    }

    #[test]
    fn a_returning_customer_for_todays_main_event_within_the_hour() {
        assert_eq!(
            run(Returning, Main, date(2026, 12, 8), "2026-12-08T10:00"),
            [(ReturningSignupCallback, "2026-12-08 11:00 Tue".into(), None)]
        );
        // For a later main event: no callback.
        assert_eq!(run(Returning, Main, date(2026, 12, 9), "2026-12-08T10:00"), []);
    }

    #[test]
    fn a_special_event_is_called_a_week_before() {
        // Event Tuesday 22nd: a week before is Tuesday 15th.
        assert_eq!(
            run(Returning, Special, date(2026, 12, 22), "2026-12-01T10:00"),
            [(EventCallback, "2026-12-15 22:30 Tue".into(), Some("2026-12-15 09:00 Tue".into()))]
        );
        // Event Monday 14th: a week before is Monday 7th, a holiday: Friday 4th.
        assert_eq!(
            run(Returning, Special, date(2026, 12, 14), "2026-12-01T10:00"),
            [(EventCallback, "2026-12-04 22:30 Fri".into(), Some("2026-12-04 09:00 Fri".into()))]
        );
        // A new customer gets both callbacks.
        assert_eq!(
            run(New, Special, date(2026, 12, 22), "2026-12-01T10:00"),
            [
                (NewSignupCallback, "2026-12-01 10:15 Tue".into(), None),
                (EventCallback, "2026-12-15 22:30 Tue".into(), Some("2026-12-15 09:00 Tue".into()))
            ]
        );
        // Registered within the week: as soon as possible, today.
        assert_eq!(
            run(Returning, Special, date(2026, 12, 11), "2026-12-08T10:00"),
            [(EventCallback, "2026-12-08 22:30 Tue".into(), None)]
        );
    }

    #[test]
    fn when_an_event_ends_attended_without_order_come_first() {
        let p = |s: &str| Phone::parse(s).unwrap();
        let registered = [p("13900000001"), p("13900000002"), p("13900000003"), p("13900000004")];
        let attended = [p("13900000001"), p("13900000002"), p("13900000005")];
        let ordered = [p("13900000002"), p("13900000006")];
        let got: Vec<(String, TaskKind)> = marketing_callbacks(&registered, &attended, &ordered)
            .into_iter()
            .map(|(phone, kind)| (phone.as_str().to_owned(), kind))
            .collect();
        let want = [
            ("13900000001", MarketingAttendedNoOrder),
            ("13900000005", MarketingAttendedNoOrder),
            ("13900000002", MarketingAttendedOrdered),
            ("13900000006", MarketingAttendedOrdered),
            ("13900000003", MarketingNoShow),
            ("13900000004", MarketingNoShow),
        ];
        assert_eq!(got, want.map(|(p, k)| (p.to_owned(), k)));
    }

    #[test]
    fn a_past_event_is_refused() {
        let cal = cal();
        let r = Registration {
            customer: New,
            event_kind: Main,
            event_date: date(2026, 12, 7),
            registered_at: local(&cal, "2026-12-08T10:00"),
        };
        assert!(matches!(plan(&cal, &RegistrationRules::default(), &r), Err(RegistrationError::EventInPast { .. })));
        assert_eq!(RegistrationRules { new_customer_minutes: 0, ..Default::default() }.problems().len(), 1);
    }
}
