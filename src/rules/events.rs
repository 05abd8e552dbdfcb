//! Events as rules (seed 000 专场、营销性回访): the attendance the week-before
//! calls count (确认是否到场,统计预到场人数) and the customers an event is
//! recommended to from their order history (针对专场的品类及档次,从历史订单
//! 数据中筛选匹配用户). Pure: the orders, the answers and the day are
//! arguments.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Phone;
use crate::rules::calendar::Calendar;

/// The rule's numbers, from `[events]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRules {
    /// Orders older than this many days do not make a customer a match.
    pub recommendation_lookback_days: u32,
    /// The most recommendations one request creates.
    pub max_recommendations: u32,
}

impl Default for EventRules {
    fn default() -> Self {
        EventRules { recommendation_lookback_days: 730, max_recommendations: 2000 }
    }
}

impl EventRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=3660).contains(&self.recommendation_lookback_days) {
            problems.push("events.recommendation_lookback_days: must be 1-3660".into());
        }
        if !(1..=20_000).contains(&self.max_recommendations) {
            problems.push("events.max_recommendations: must be 1-20000".into());
        }
        problems
    }
}

/// The price tiers (档次): 1 the cheapest to 5 the dearest.
pub const TIERS: std::ops::RangeInclusive<u8> = 1..=5;

/// What an event is recommended by: the order categories that match it (its
/// own, and those bought before it, as tiles and bathrooms before flooring)
/// and its tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Lower-case category names.
    pub categories: BTreeSet<String>,
    /// `None`: any tier.
    pub tier: Option<u8>,
}

/// One past order (store query). Categories are compared lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastOrder {
    pub phone: Phone,
    pub category: String,
    pub tier: Option<u8>,
    pub ordered_on: Date,
}

/// A customer an event is recommended to, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub phone: Phone,
    /// The latest matching order's category and day.
    pub category: String,
    pub ordered_on: Date,
}

/// The first day whose orders count on `today`.
pub fn orders_since(today: Date, lookback_days: u32) -> Date {
    today.checked_sub(jiff::Span::new().days(i64::from(lookback_days))).unwrap_or(Date::MIN)
}

/// The customers to recommend an event to on `today`: those with an order
/// of a matching category (and tier, when the event names one) in the
/// last `lookback_days`, not in `excluded` (already registered, already
/// recommended), the latest orders first, at most `limit`.
pub fn recommend(
    target: &Target,
    orders: &[PastOrder],
    excluded: &BTreeSet<Phone>,
    today: Date,
    lookback_days: u32,
    limit: usize,
) -> Vec<Recommendation> {
    let since = orders_since(today, lookback_days);
    let mut latest: BTreeMap<&Phone, &PastOrder> = BTreeMap::new();
    for o in orders {
        let matches = target.categories.contains(&o.category.to_lowercase())
            && target.tier.is_none_or(|t| o.tier == Some(t))
            && (since..=today).contains(&o.ordered_on)
            && !excluded.contains(&o.phone);
        if matches {
            let best = latest.entry(&o.phone).or_insert(o);
            if o.ordered_on > best.ordered_on {
                *best = o;
            }
        }
    }
    let mut picked: Vec<&PastOrder> = latest.into_values().collect();
    picked.sort_by(|a, b| b.ordered_on.cmp(&a.ordered_on).then_with(|| a.phone.cmp(&b.phone)));
    picked
        .into_iter()
        .take(limit)
        .map(|o| Recommendation { phone: o.phone.clone(), category: o.category.clone(), ordered_on: o.ordered_on })
        .collect()
}

/// When recommendation calls for an event on `date` are due: the close of
/// the last working day before it. `None` when that has passed at `now`:
/// too late to recommend.
pub fn recommendation_deadline(calendar: &Calendar, date: Date, now: Timestamp) -> Option<Timestamp> {
    let eve = date.checked_sub(jiff::Span::new().days(1)).ok()?;
    let day = calendar.working_day_at_or_before(eve)?;
    Some(calendar.closing(day)).filter(|t| *t > now)
}

/// One customer's answer to "will you come, and how many?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttendanceAnswer {
    pub coming: bool,
    pub people: u32,
}

/// Why an answer is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("people: 1-{MAX_PEOPLE} when coming")]
    ComingWithoutPeople,
    #[error("people: 0 (or left out) when not coming")]
    PeopleNotComing,
}

/// The most people one registration brings.
pub const MAX_PEOPLE: u32 = 50;

impl AttendanceAnswer {
    pub fn new(coming: bool, people: Option<u32>) -> Result<Self, AnswerError> {
        match (coming, people) {
            (true, Some(n)) if (1..=MAX_PEOPLE).contains(&n) => Ok(AttendanceAnswer { coming, people: n }),
            (true, None) => Ok(AttendanceAnswer { coming, people: 1 }),
            (true, _) => Err(AnswerError::ComingWithoutPeople),
            (false, None | Some(0)) => Ok(AttendanceAnswer { coming, people: 0 }),
            (false, _) => Err(AnswerError::PeopleNotComing),
        }
    }
}

/// An event's attendance as known: expected from the calls, actual once it
/// has ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attendance {
    /// Customers registered.
    pub registered: u32,
    /// Of those, answered the attendance call.
    pub answered: u32,
    /// Said they will come.
    pub coming: u32,
    pub not_coming: u32,
    /// People expected (预到场人数): the sum of those coming.
    pub expected_people: u32,
    /// Once the event has ended: customers who signed in or ordered.
    pub attended: Option<u32>,
    /// Of those, who said they would come.
    pub attended_as_said: Option<u32>,
}

/// The attendance of one event from its registrations, answers and, once
/// it has ended, who came.
pub fn attendance(
    registered: &BTreeSet<Phone>,
    answers: &BTreeMap<Phone, AttendanceAnswer>,
    came: Option<&BTreeSet<Phone>>,
) -> Attendance {
    let mut a = Attendance { registered: registered.len() as u32, ..Attendance::default() };
    for (_, answer) in answers.iter().filter(|(p, _)| registered.contains(*p)) {
        a.answered += 1;
        if answer.coming {
            a.coming += 1;
            a.expected_people += answer.people;
        } else {
            a.not_coming += 1;
        }
    }
    if let Some(came) = came {
        a.attended = Some(came.len() as u32);
        a.attended_as_said = Some(came.iter().filter(|p| answers.get(*p).is_some_and(|x| x.coming)).count() as u32);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use crate::rules::calendar::tests::local;
    use jiff::civil::date;

    fn phone(n: u32) -> Phone {
        Phone::parse(&format!("1380013{n:04}")).unwrap()
    }

    fn order(n: u32, category: &str, tier: Option<u8>, on: Date) -> PastOrder {
        PastOrder { phone: phone(n), category: category.into(), tier, ordered_on: on }
    }

    #[test]
    fn customers_are_picked_by_category_tier_and_recency() {
        // A flooring event at tier 4: tile and bathroom buyers of that tier.
        let target = Target { categories: ["瓷砖".to_owned(), "卫浴".to_owned()].into(), tier: Some(4) };
        let today = date(2026, 12, 7);
        let orders = [
            order(1, "瓷砖", Some(4), date(2026, 11, 1)),
            order(2, "卫浴", Some(4), date(2026, 12, 1)),
            order(3, "瓷砖", Some(2), date(2026, 12, 1)),  // another tier
            order(4, "家电", Some(4), date(2026, 12, 1)),  // another category
            order(5, "瓷砖", Some(4), date(2024, 11, 1)),  // too old
            order(6, "瓷砖", Some(4), date(2026, 12, 2)),  // already registered
            order(1, "卫浴", Some(4), date(2026, 11, 20)), // 1's latest
        ];
        let excluded = [phone(6)].into();
        let got = recommend(&target, &orders, &excluded, today, 365, 10);
        let picked: Vec<_> = got.iter().map(|r| (r.phone.clone(), r.category.as_str(), r.ordered_on)).collect();
        assert_eq!(picked, [(phone(2), "卫浴", date(2026, 12, 1)), (phone(1), "卫浴", date(2026, 11, 20))]);
        assert_eq!(recommend(&target, &orders, &excluded, today, 365, 1).len(), 1, "at most the limit");
        let any_tier = Target { tier: None, ..target };
        assert_eq!(recommend(&any_tier, &orders, &excluded, today, 365, 10).len(), 3);
    }

    #[test]
    fn recommendations_are_due_the_working_day_before_the_event() {
        let cal = Calendar::new(&CalendarSettings::default()).unwrap();
        let now = local(&cal, "2026-12-07T10:00");
        // A Monday event: due Friday evening.
        let due = recommendation_deadline(&cal, date(2026, 12, 14), now).unwrap();
        assert_eq!(due, cal.closing(date(2026, 12, 11)));
        // Tomorrow's event: due tonight; today's: too late.
        assert_eq!(recommendation_deadline(&cal, date(2026, 12, 8), now), Some(cal.closing(date(2026, 12, 7))));
        assert_eq!(recommendation_deadline(&cal, date(2026, 12, 7), now), None);
    }

    #[test]
    fn expected_and_actual_attendance_add_up() {
        let registered: BTreeSet<Phone> = (1..=4).map(phone).collect();
        let answers: BTreeMap<Phone, AttendanceAnswer> = [
            (phone(1), AttendanceAnswer::new(true, Some(3)).unwrap()),
            (phone(2), AttendanceAnswer::new(true, None).unwrap()),
            (phone(3), AttendanceAnswer::new(false, None).unwrap()),
            (phone(9), AttendanceAnswer::new(true, Some(5)).unwrap()), // not registered
        ]
        .into();
        let a = attendance(&registered, &answers, None);
        assert_eq!((a.registered, a.answered, a.coming, a.not_coming, a.expected_people), (4, 3, 2, 1, 4));
        assert_eq!(a.attended, None);
        let came: BTreeSet<Phone> = [phone(1), phone(4)].into();
        let a = attendance(&registered, &answers, Some(&came));
        assert_eq!((a.attended, a.attended_as_said), (Some(2), Some(1)));
    }

    #[test]
    fn answers_must_make_sense() {
        assert_eq!(AttendanceAnswer::new(true, Some(0)), Err(AnswerError::ComingWithoutPeople));
        assert_eq!(AttendanceAnswer::new(true, Some(51)), Err(AnswerError::ComingWithoutPeople));
        assert_eq!(AttendanceAnswer::new(false, Some(2)), Err(AnswerError::PeopleNotComing));
        assert_eq!(AttendanceAnswer::new(false, Some(0)).unwrap().people, 0);
    }
}
