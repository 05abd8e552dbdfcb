//! Reads what the monthly red and black lists (`rules/reports/lists.rs`)
//! need: a month's complaints, ranked and nominated, and whether the lists
//! of the month now due were confirmed. Shared by the REST area and the
//! wallboard's reminder.

use jiff::civil::{Date, Time};
use jiff::{Timestamp, ToSpan};

use crate::rules::calendar::Calendar;
use crate::rules::reports::lists::{self, ListRules, Nominations};
use crate::rules::reports::merchants;
use crate::store::{Store, StoreError};

/// How a month is named in the API and the store: `2026-11`.
pub fn month_key(month: Date) -> String {
    month.strftime("%Y-%m").to_string()
}

/// The nominations of the month starting `month`, from its complaints.
pub async fn nominations(
    store: &Store,
    calendar: &Calendar,
    rules: ListRules,
    month: Date,
) -> Result<Nominations, StoreError> {
    let first = month.first_of_month();
    let (from, to) = (calendar.at(first, Time::midnight()), calendar.at(first + 1.month(), Time::midnight()));
    let cases = store.cases_received(from, to).await?;
    Ok(lists::nominate(&merchants(&cases, to), rules))
}

/// The month whose lists are past their deadline unconfirmed at `now`, if
/// any; a month that nominated nobody has nothing to confirm.
pub async fn unconfirmed(
    store: &Store,
    calendar: &Calendar,
    rules: ListRules,
    now: Timestamp,
) -> Result<Option<Date>, StoreError> {
    let today = now.to_zoned(calendar.time_zone().clone()).date();
    let Some(month) = lists::month_due(today) else { return Ok(None) };
    if store.merchant_lists(&month_key(month)).await?.is_some() {
        return Ok(None);
    }
    Ok((!nominations(store, calendar, rules, month).await?.is_empty()).then_some(month))
}
