//! The service satisfaction rate (服务满意率, DOMAIN.md KPIs: 98 % or more):
//! of the satisfaction calls answered in a period, the share satisfied,
//! for the centre, each department and each agent (the case's owner when
//! the customer answered). Pure: the store hands over the answers.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::AgentName;
use crate::domain::{DepartmentId, UserId, WorkNumber};
use crate::rules::figures::scoring::Judged;

/// A satisfaction call's answer given in the period (store query).
#[derive(Clone, Debug, PartialEq)]
pub struct SatisfactionRow {
    pub satisfied: bool,
    /// The case's owner and department when the customer answered.
    pub owner: UserId,
    pub department: Option<DepartmentId>,
}

/// Answers and the rate against the target; no rate without answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct SatisfactionRate {
    pub asked: u32,
    pub satisfied: u32,
    pub rate: Option<Judged>,
}

impl SatisfactionRate {
    /// The rate of `rows` against `target` (0-1).
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a SatisfactionRow>, target: f64) -> SatisfactionRate {
        let mut r = SatisfactionRate::default();
        for row in rows {
            r.asked += 1;
            r.satisfied += u32::from(row.satisfied);
        }
        r.rate = (r.asked > 0).then(|| Judged::at_least(f64::from(r.satisfied) / f64::from(r.asked), target));
        r
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Satisfaction {
    pub centre: SatisfactionRate,
    /// Departments by name; cases sent to none are under `department: null`.
    pub by_department: Vec<DepartmentSatisfaction>,
    /// Agents by name.
    pub by_agent: Vec<AgentSatisfaction>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct DepartmentSatisfaction {
    pub department: Option<DepartmentId>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub figures: SatisfactionRate,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentSatisfaction {
    pub agent: UserId,
    pub name: String,
    #[schema(value_type = Option<String>)]
    pub work_number: Option<WorkNumber>,
    #[serde(flatten)]
    pub figures: SatisfactionRate,
}

/// The period's satisfaction figures.
pub fn satisfaction(
    rows: &[SatisfactionRow],
    target: f64,
    agents: &BTreeMap<UserId, AgentName>,
    departments: &BTreeMap<DepartmentId, String>,
) -> Satisfaction {
    let mut by_department: BTreeMap<Option<DepartmentId>, Vec<&SatisfactionRow>> = BTreeMap::new();
    let mut by_agent: BTreeMap<UserId, Vec<&SatisfactionRow>> = BTreeMap::new();
    for row in rows {
        by_department.entry(row.department).or_default().push(row);
        by_agent.entry(row.owner).or_default().push(row);
    }
    let mut departments: Vec<DepartmentSatisfaction> = by_department
        .into_iter()
        .map(|(department, rows)| DepartmentSatisfaction {
            department,
            name: department.and_then(|d| departments.get(&d).cloned()),
            figures: SatisfactionRate::of(rows, target),
        })
        .collect();
    departments.sort_by(|a, b| (a.department.is_none(), &a.name).cmp(&(b.department.is_none(), &b.name)));
    let mut agents: Vec<AgentSatisfaction> = by_agent
        .into_iter()
        .map(|(agent, rows)| {
            let known = agents.get(&agent);
            AgentSatisfaction {
                agent,
                name: known.map_or_else(|| agent.to_string(), |n| n.name.clone()),
                work_number: known.and_then(|n| n.work_number.clone()),
                figures: SatisfactionRate::of(rows, target),
            }
        })
        .collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.agent.cmp(&b.agent)));
    Satisfaction { centre: SatisfactionRate::of(rows, target), by_department: departments, by_agent: agents }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_share_satisfied_against_98_percent() {
        let (li, wang) = (UserId::new(), UserId::new());
        let sales = DepartmentId::new();
        let row = |satisfied, owner, department| SatisfactionRow { satisfied, owner, department };
        let mut rows: Vec<SatisfactionRow> = (0..49).map(|_| row(true, li, Some(sales))).collect();
        rows.push(row(false, wang, None));
        let name = |n: &str| AgentName { name: n.into(), work_number: None };
        let names = BTreeMap::from([(li, name("Li")), (wang, name("Wang"))]);
        let s = satisfaction(&rows, 0.98, &names, &BTreeMap::from([(sales, "Sales".into())]));
        assert_eq!((s.centre.asked, s.centre.satisfied), (50, 49));
        let rate = s.centre.rate.unwrap();
        assert_eq!((rate.value, rate.breached), (0.98, false), "49 of 50 is exactly the target");
        assert_eq!(s.by_department[0].name.as_deref(), Some("Sales"));
        assert_eq!(s.by_department[1].department, None, "cases sent nowhere come last");
        assert!(s.by_department[1].figures.rate.unwrap().breached);
        assert_eq!(s.by_agent[0].name, "Li");
        assert_eq!(s.by_agent[1].figures.rate.unwrap().value, 0.0);
        rows.push(row(false, li, Some(sales)));
        let s = satisfaction(&rows, 0.98, &names, &BTreeMap::new());
        assert!(s.centre.rate.unwrap().breached, "49 of 51 is under 98 %");
        assert_eq!(satisfaction(&[], 0.98, &names, &BTreeMap::new()).centre.rate, None);
    }
}
