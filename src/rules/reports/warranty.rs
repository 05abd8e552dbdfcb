//! Warranty customers called back (保修期内客户回访率为100%): of the customers
//! whose warranty callbacks fell due in the period, how many were called
//! and how many reached on every one of them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Phone;
use crate::rules::figures::scoring::Judged;

/// One warranty callback due in the period (store query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarrantyRow {
    pub phone: Phone,
    /// An attempt at it has ended.
    pub called: bool,
    /// An attempt reached the customer.
    pub reached: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct WarrantyFigures {
    /// Customers with a warranty callback due in the period.
    pub customers_due: u32,
    /// Of those, called on every callback due.
    pub customers_called: u32,
    /// Reached on every callback due.
    pub customers_reached: u32,
    pub callbacks_due: u32,
    pub callbacks_called: u32,
    pub callbacks_reached: u32,
    /// Customers reached / due, against 100 %.
    pub callback_rate: Option<Judged>,
}

/// The period's figures from its callbacks.
pub fn warranty(rows: &[WarrantyRow]) -> WarrantyFigures {
    let mut per_customer: BTreeMap<&Phone, (bool, bool)> = BTreeMap::new();
    let mut f = WarrantyFigures::default();
    for r in rows {
        f.callbacks_due += 1;
        f.callbacks_called += u32::from(r.called);
        f.callbacks_reached += u32::from(r.reached);
        let c = per_customer.entry(&r.phone).or_insert((true, true));
        c.0 &= r.called;
        c.1 &= r.reached;
    }
    f.customers_due = per_customer.len() as u32;
    f.customers_called = per_customer.values().filter(|c| c.0).count() as u32;
    f.customers_reached = per_customer.values().filter(|c| c.1).count() as u32;
    if f.customers_due > 0 {
        f.callback_rate = Some(Judged::at_least(f.customers_reached as f64 / f.customers_due as f64, 1.0));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_counts_as_reached_only_when_every_callback_was() {
        let (a, b) = (Phone::parse("13800138000").unwrap(), Phone::parse("13900139000").unwrap());
        let row = |p: &Phone, called, reached| WarrantyRow { phone: p.clone(), called, reached };
        let f = warranty(&[row(&a, true, true), row(&a, true, false), row(&b, true, true)]);
        assert_eq!((f.customers_due, f.customers_called, f.customers_reached), (2, 2, 1));
        assert_eq!((f.callbacks_due, f.callbacks_called, f.callbacks_reached), (3, 3, 2));
        let rate = f.callback_rate.unwrap();
        assert_eq!(rate.value, 0.5);
        assert!(rate.breached, "anything under 100 % breaks the target");
        let all = warranty(&[row(&b, true, true)]);
        assert!(!all.callback_rate.unwrap().breached);
        assert_eq!(warranty(&[]).callback_rate, None);
    }
}
