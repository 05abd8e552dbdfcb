//! Recurring work done per rule and agent in a period (未成交分析 30 a day,
//! orders reviewed by 16:00): how many days it was released, the counts
//! asked and done, and on how many days the count was reached.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::AgentName;
use crate::domain::{UserId, WorkNumber};

/// One day's release (store query).
#[derive(Clone, Debug, PartialEq)]
pub struct RecurringRow {
    pub rule: String,
    pub label: String,
    /// `None`: the queue's.
    pub agent: Option<UserId>,
    pub target: u32,
    pub done: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RecurringFigures {
    pub rule: String,
    pub label: String,
    /// `null` for work released to the queue.
    pub agent: Option<UserId>,
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub work_number: Option<WorkNumber>,
    /// Days it was released.
    pub days: u32,
    pub target: u32,
    pub done: u32,
    /// Days the count was reached.
    pub days_met: u32,
}

/// Per rule, then agent by name (the queue's last).
pub fn recurring(rows: &[RecurringRow], names: &BTreeMap<UserId, AgentName>) -> Vec<RecurringFigures> {
    let mut by: BTreeMap<(String, Option<UserId>), RecurringFigures> = BTreeMap::new();
    for r in rows {
        let f = by.entry((r.rule.clone(), r.agent)).or_insert_with(|| {
            let known = r.agent.and_then(|a| names.get(&a));
            RecurringFigures {
                rule: r.rule.clone(),
                label: r.label.clone(),
                agent: r.agent,
                name: r.agent.map(|a| known.map_or_else(|| a.to_string(), |n| n.name.clone())),
                work_number: known.and_then(|n| n.work_number.clone()),
                days: 0,
                target: 0,
                done: 0,
                days_met: 0,
            }
        });
        f.days += 1;
        f.target += r.target;
        f.done += r.done;
        f.days_met += u32::from(r.done >= r.target);
    }
    let mut list: Vec<RecurringFigures> = by.into_values().collect();
    list.sort_by(|a, b| (&a.rule, a.agent.is_none(), &a.name).cmp(&(&b.rule, b.agent.is_none(), &b.name)));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_rule_and_agent() {
        let (li, wang) = (UserId::new(), UserId::new());
        let row = |rule: &str, agent, target, done| RecurringRow {
            rule: rule.into(),
            label: "未成交分析".into(),
            agent,
            target,
            done,
        };
        let rows = [
            row("lost_sale", Some(li), 30, 30),
            row("lost_sale", Some(li), 20, 12),
            row("lost_sale", Some(wang), 30, 31),
            row("order_review", None, 1, 1),
        ];
        let name = |n: &str| AgentName { name: n.into(), work_number: None };
        let f = recurring(&rows, &BTreeMap::from([(li, name("Li")), (wang, name("Wang"))]));
        let got: Vec<_> =
            f.iter().map(|f| (f.rule.as_str(), f.name.as_deref(), f.days, f.target, f.done, f.days_met)).collect();
        assert_eq!(
            got,
            [
                ("lost_sale", Some("Li"), 2, 50, 42, 1),
                ("lost_sale", Some("Wang"), 1, 30, 31, 1),
                ("order_review", None, 1, 1, 1, 1)
            ]
        );
    }
}
