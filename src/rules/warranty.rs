//! Warranty callbacks (seed 001 三、十: 保修期内客户回访率为100%, 7dc、3dc回访;
//! seed 004: 对前一天的遗留售后问题进行跟踪), as rules: which callbacks a
//! product delivered under warranty calls for and on which day, and which
//! after-sales items a morning puts before someone. Pure: the calendar and
//! the time are arguments.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{Phone, TaskId};
use crate::rules::calendar::Calendar;

/// The rule's numbers, from `[warranty]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarrantyRules {
    /// A callback this many days after delivery, each (3dc and 7dc).
    pub callback_days: Vec<u32>,
}

impl Default for WarrantyRules {
    fn default() -> Self {
        WarrantyRules { callback_days: vec![3, 7] }
    }
}

/// The longest warranty taken: a product's whole life, not a typo's.
const MAX_WARRANTY_DAYS: i32 = 20 * 366;
/// How far ahead a delivery may be announced.
const MAX_DAYS_AHEAD: i32 = 366;

impl WarrantyRules {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let days = &self.callback_days;
        if days.is_empty() || days.len() > 10 {
            problems.push("warranty.callback_days: 1-10 numbers of days".into());
        }
        if days.iter().any(|d| !(1..=365).contains(d)) {
            problems.push("warranty.callback_days: each must be 1-365".into());
        }
        if days.windows(2).any(|w| w[0] >= w[1]) {
            problems.push("warranty.callback_days: must rise, each once (e.g. [3, 7])".into());
        }
        problems
    }
}

/// A product delivered under warranty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warranty {
    pub delivered_on: Date,
    /// The last day the warranty covers.
    pub warranty_until: Date,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WarrantyError {
    #[error("warranty_until ({until}) is before delivered_on ({delivered})")]
    EndsBeforeDelivery { delivered: Date, until: Date },
    #[error("the warranty runs more than {MAX_WARRANTY_DAYS} days")]
    TooLong,
    #[error("delivered_on ({delivered}) is more than {MAX_DAYS_AHEAD} days ahead")]
    TooFarAhead { delivered: Date },
}

/// One warranty callback to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarrantyCallback {
    /// Days after delivery it stands for (3 for the 3dc callback).
    pub days_after: u32,
    /// The working day it is made on.
    pub day: Date,
    /// Offered to no one before this (`None`: at once).
    pub not_before: Option<Timestamp>,
    /// That day's close.
    pub deadline: Timestamp,
}

/// The callbacks a warranty calls for at `now`, in order.
///
/// Each of `callback_days` after delivery, on the first working day at or
/// after that date (a 3dc falling on a Sunday is made on Monday) and due
/// at its close. A callback whose date falls after the warranty's last day
/// is not made: the customer is no longer a warranty customer then. One
/// whose day is already over (a delivery recorded late) is made on the
/// first working day still open; when several land on one day, only the
/// latest of them is made, so a customer is not phoned twice in a day for
/// the same product.
pub fn plan(
    calendar: &Calendar,
    rules: &WarrantyRules,
    w: &Warranty,
    now: Timestamp,
) -> Result<Vec<WarrantyCallback>, WarrantyError> {
    if w.warranty_until < w.delivered_on {
        return Err(WarrantyError::EndsBeforeDelivery { delivered: w.delivered_on, until: w.warranty_until });
    }
    if (w.warranty_until - w.delivered_on).get_days() > MAX_WARRANTY_DAYS {
        return Err(WarrantyError::TooLong);
    }
    let today = calendar.date_of(now);
    if (w.delivered_on - today).get_days() > MAX_DAYS_AHEAD {
        return Err(WarrantyError::TooFarAhead { delivered: w.delivered_on });
    }
    let mut by_day: BTreeMap<Date, WarrantyCallback> = BTreeMap::new();
    for &d in &rules.callback_days {
        let Ok(date) = w.delivered_on.checked_add(jiff::Span::new().days(i64::from(d))) else { continue };
        if date > w.warranty_until {
            continue;
        }
        let Some(day) = calendar.working_day_closing_after(date.max(today), now) else { continue };
        let opening = calendar.opening(day);
        let callback = WarrantyCallback {
            days_after: d,
            day,
            not_before: (opening > now).then_some(opening),
            deadline: calendar.closing(day),
        };
        // `callback_days` rise: a later one on the same day replaces.
        by_day.insert(day, callback);
    }
    Ok(by_day.into_values().collect())
}

/// A warranty callback left open from an earlier day (store query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenItem {
    pub task_id: TaskId,
    pub phone: Phone,
    pub product: String,
    pub days_after: u32,
    pub day: Date,
}

/// One customer's items put before someone this morning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub phone: Phone,
    pub items: Vec<TaskId>,
    /// What the task says, listing each item.
    pub reason: String,
    pub deadline: Timestamp,
}

/// The working day whose morning review is due at `now`: today, once it
/// has opened and until it closes; `None` on a day off or outside hours.
pub fn review_day(calendar: &Calendar, now: Timestamp) -> Option<Date> {
    let today = calendar.date_of(now);
    calendar.is_open(now).then_some(today)
}

/// This morning's reviews: one per customer with items left open from
/// before `today`, in the order of their oldest item, due at today's close.
pub fn reviews(calendar: &Calendar, today: Date, open: &[OpenItem]) -> Vec<Review> {
    let mut order: Vec<&Phone> = Vec::new();
    let mut by_phone: BTreeMap<&Phone, Vec<&OpenItem>> = BTreeMap::new();
    let mut sorted: Vec<&OpenItem> = open.iter().filter(|i| i.day < today).collect();
    sorted.sort_by_key(|i| (i.day, i.days_after));
    for item in sorted {
        let list = by_phone.entry(&item.phone).or_default();
        if list.is_empty() {
            order.push(&item.phone);
        }
        list.push(item);
    }
    order
        .into_iter()
        .map(|phone| {
            let items = &by_phone[phone];
            let listed: Vec<String> = items
                .iter()
                .map(|i| format!("{} day-{} callback of {} still open", i.product, i.days_after, i.day))
                .collect();
            Review {
                phone: phone.clone(),
                items: items.iter().map(|i| i.task_id).collect(),
                reason: format!("after-sales left open from before {today}: {}", listed.join("; ")),
                deadline: calendar.closing(today),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::calendar::CalendarSettings;
    use jiff::civil::date;

    fn shanghai_calendar() -> Calendar {
        Calendar::new(&CalendarSettings::default()).unwrap()
    }

    fn at(cal: &Calendar, d: Date, h: i8, m: i8) -> Timestamp {
        cal.at(d, jiff::civil::time(h, m, 0, 0))
    }

    fn w(delivered: Date, until: Date) -> Warranty {
        Warranty { delivered_on: delivered, warranty_until: until }
    }

    #[test]
    fn callbacks_come_three_and_seven_days_after_delivery_on_working_days() {
        let cal = shanghai_calendar();
        // Delivered Tuesday 2026-12-01: day 3 is Friday the 4th, day 7 is
        // Tuesday the 8th.
        let now = at(&cal, date(2026, 12, 1), 15, 0);
        let plans = plan(&cal, &WarrantyRules::default(), &w(date(2026, 12, 1), date(2027, 12, 1)), now).unwrap();
        assert_eq!(plans.len(), 2);
        assert_eq!((plans[0].days_after, plans[0].day), (3, date(2026, 12, 4)));
        assert_eq!(plans[0].not_before, Some(cal.opening(date(2026, 12, 4))));
        assert_eq!(plans[0].deadline, cal.closing(date(2026, 12, 4)));
        assert_eq!((plans[1].days_after, plans[1].day), (7, date(2026, 12, 8)));
        // Delivered Wednesday the 2nd: day 3 is Saturday, made on Monday.
        let plans = plan(&cal, &WarrantyRules::default(), &w(date(2026, 12, 2), date(2027, 12, 2)), now).unwrap();
        assert_eq!(plans[0].day, date(2026, 12, 7));
    }

    #[test]
    fn a_callback_past_the_warranty_is_not_made() {
        let cal = shanghai_calendar();
        let now = at(&cal, date(2026, 12, 1), 15, 0);
        let plans = plan(&cal, &WarrantyRules::default(), &w(date(2026, 12, 1), date(2026, 12, 5)), now).unwrap();
        assert_eq!(plans.iter().map(|p| p.days_after).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_delivery_recorded_late_is_called_today_once() {
        let cal = shanghai_calendar();
        // Recorded on Thursday the 10th, nine days after delivery: both
        // callbacks are overdue and one call today stands for them.
        let now = at(&cal, date(2026, 12, 10), 11, 0);
        let plans = plan(&cal, &WarrantyRules::default(), &w(date(2026, 12, 1), date(2027, 12, 1)), now).unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!((plans[0].days_after, plans[0].day, plans[0].not_before), (7, date(2026, 12, 10), None));
        // After the close, the next working day.
        let late = at(&cal, date(2026, 12, 10), 23, 0);
        let plans = plan(&cal, &WarrantyRules::default(), &w(date(2026, 12, 1), date(2027, 12, 1)), late).unwrap();
        assert_eq!(plans[0].day, date(2026, 12, 11));
    }

    #[test]
    fn nonsense_is_refused() {
        let cal = shanghai_calendar();
        let now = at(&cal, date(2026, 12, 1), 15, 0);
        let rules = WarrantyRules::default();
        assert!(matches!(
            plan(&cal, &rules, &w(date(2026, 12, 1), date(2026, 11, 30)), now),
            Err(WarrantyError::EndsBeforeDelivery { .. })
        ));
        assert_eq!(plan(&cal, &rules, &w(date(2026, 12, 1), date(2060, 1, 1)), now), Err(WarrantyError::TooLong));
        assert!(matches!(
            plan(&cal, &rules, &w(date(2028, 12, 1), date(2029, 1, 1)), now),
            Err(WarrantyError::TooFarAhead { .. })
        ));
        assert!(WarrantyRules { callback_days: vec![7, 3] }.problems().len() == 1);
        assert!(WarrantyRules { callback_days: vec![] }.problems().len() == 1);
        assert!(WarrantyRules { callback_days: vec![0] }.problems().len() == 1);
        assert!(WarrantyRules::default().problems().is_empty());
    }

    #[test]
    fn the_morning_puts_each_customers_earlier_items_together() {
        let cal = shanghai_calendar();
        let today = date(2026, 12, 8);
        assert_eq!(review_day(&cal, at(&cal, today, 9, 30)), Some(today));
        assert_eq!(review_day(&cal, at(&cal, today, 8, 0)), None);
        assert_eq!(review_day(&cal, at(&cal, date(2026, 12, 6), 10, 0)), None, "a Sunday");
        let (a, b) = (Phone::parse("13800138000").unwrap(), Phone::parse("13900139000").unwrap());
        let item = |phone: &Phone, day, d| OpenItem {
            task_id: TaskId::new(),
            phone: phone.clone(),
            product: "电动车 X1".into(),
            days_after: d,
            day,
        };
        let open = [
            item(&b, date(2026, 12, 7), 7),
            item(&a, date(2026, 12, 4), 3),
            item(&a, date(2026, 12, 7), 7),
            item(&b, today, 3),
        ];
        let got = reviews(&cal, today, &open);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].phone, a, "the oldest item first");
        assert_eq!(got[0].items, [open[1].task_id, open[2].task_id]);
        assert_eq!(got[1].items, [open[0].task_id], "today's own item is not left over");
        assert_eq!(got[0].deadline, cal.closing(today));
        assert!(got[0].reason.contains("day-3 callback of 2026-12-04"), "{}", got[0].reason);
    }
}
