//! The figures as a wallboard receives them: a JSON document whose parts
//! are keyed (queues by `queue/kind`, agents by id) so that a change is a
//! small JSON merge patch (RFC 7386) rather than the whole board again.
//!
//! Figures that only grow with the clock (time in status, longest wait,
//! time to breach) travel as the moment they count from, and the page
//! counts on by itself: the board changes only when something happens, so
//! an idle floor sends nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::FloorFigures;
use crate::domain::{AgentStatus, UserId};
use crate::rules::planning::PlanningBoard;
use crate::rules::reports::satisfaction::SatisfactionRate;

/// What the wallboard shows beside the fold's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    /// Missed calls not yet called back.
    pub missed_backlog: u32,
    /// The next missed-call checkpoint (ms since the epoch).
    pub next_checkpoint_ms: Option<i64>,
    /// `ok`, `unreachable` or `not_configured`.
    pub redis: &'static str,
    pub escalations: Escalations,
    /// While the centre is open: each queue and the agents who serve it
    /// (empty when closed, when nobody need be online).
    pub coverage: BTreeMap<String, Vec<UserId>>,
    /// Today's satisfaction calls (服务满意率).
    pub satisfaction: SatisfactionRate,
    /// Each queue's estimated wait, and the day's staffing.
    pub planning: PlanningBoard,
}

/// Work past a deadline that the rules hand to supervisors, now.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Escalations {
    /// Car orders still without a driver past their confirmation deadline.
    pub car_orders: u32,
    /// Inn bookings still unprocessed after their reminders.
    pub inn_orders: u32,
    /// Complaint cases whose customer was not answered in time.
    pub cases_unanswered: u32,
    /// Forum and Weibo cases whose merchant has not replied in time.
    pub merchant_replies: u32,
    /// Last month's red and black lists, unconfirmed on or after the 10th
    /// (1), or not (0).
    pub merchant_lists: u32,
}

/// The board document for `figures`, with agents named from `names`.
pub fn board(figures: &FloorFigures, names: &HashMap<UserId, String>, extras: &Extras) -> Value {
    // A figure with no value is left out rather than sent as `null`: in a
    // merge patch `null` means "remove", so a screen that followed the
    // patches would lack a key the newcomer's board has as `null`.
    without_nulls(board_with_nulls(figures, names, extras))
}

/// `value` with every object member whose value is `null` left out, at
/// any depth.
pub fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn board_with_nulls(figures: &FloorFigures, names: &HashMap<UserId, String>, extras: &Extras) -> Value {
    let mut queues = Map::new();
    for k in &figures.kinds {
        let key = format!("{}/{}", k.queue, k.kind.as_str());
        queues.insert(
            key,
            json!({
                "queue": k.queue,
                "kind": k.kind,
                "waiting": k.waiting,
                "offered": k.offered,
                "held": k.held,
                "waiting_since": k.waiting_since.map(|t| t.as_millisecond()),
                "oldest_deadline": k.oldest_deadline.map(|t| t.as_millisecond()),
                "entered_today": k.entered_today,
                "answered_today": k.answered_today,
                "abandoned_today": k.abandoned_today,
            }),
        );
    }
    let mut agents = Map::new();
    // An agent offline who has handled nothing today is not on the floor:
    // a centre with 2,000 accounts and 80 people at work shows the 80.
    let on_floor = |a: &&super::AgentFigures| a.status != AgentStatus::Offline || a.handled_today > 0;
    for a in figures.agents.iter().filter(on_floor) {
        agents.insert(
            a.agent.to_string(),
            json!({
                "name": names.get(&a.agent).cloned().unwrap_or_else(|| a.agent.to_string()),
                "status": a.status.name(),
                "reason": a.status.break_reason(),
                "since": a.since.as_millisecond(),
                "handled_today": a.handled_today,
                "average_handling_secs": a.average_handling_secs,
                "talking_since": a.talking_since.map(|t| t.as_millisecond()),
                "call_past_limit": a.call_past_limit,
            }),
        );
    }
    let centre = serde_json::to_value(&figures.centre).expect("figures serialise");
    json!({
        "day_start": figures.day_start.as_millisecond(),
        "centre": centre,
        "queues": queues,
        "agents": agents,
        "missed": {
            "backlog": extras.missed_backlog,
            "next_checkpoint": extras.next_checkpoint_ms,
        },
        "health": { "redis": extras.redis },
        "coverage": { "uncovered": super::uncovered(&extras.coverage, &figures.agents) },
        "satisfaction": extras.satisfaction,
        "waits": waits(&extras.planning),
        "staffing": staffing(&extras.planning),
        "escalations": {
            "car_orders": extras.escalations.car_orders,
            "inn_orders": extras.escalations.inn_orders,
            "cases_unanswered": extras.escalations.cases_unanswered,
            "merchant_replies": extras.escalations.merchant_replies,
            "merchant_lists": extras.escalations.merchant_lists,
        },
    })
}

/// Per queue: waiting work and a newcomer's estimated wait, to the
/// nearest 5 s (finer would patch every board each second for a figure
/// nobody reads to the second).
fn waits(p: &PlanningBoard) -> Value {
    let rounded = |secs: u32| secs.div_ceil(5) * 5;
    let queues: Map<String, Value> = p
        .queues
        .iter()
        .map(|(name, q)| {
            let wait = q.estimated_wait_secs.map(rounded);
            (name.clone(), json!({"waiting": q.waiting, "estimated_wait_secs": wait}))
        })
        .collect();
    Value::Object(queues)
}

/// The day's intervals keyed by their start (`HH:MM`), only those with
/// calls, need or agents, so a patch carries the intervals that changed.
fn staffing(p: &PlanningBoard) -> Value {
    let s = &p.staffing;
    let mut intervals = Map::new();
    for i in &s.intervals {
        if i.arrivals < 0.05 && i.scheduled == 0 && i.needed_for_service_level == 0 {
            continue;
        }
        let minutes = i.interval as u32 * s.interval_minutes;
        intervals.insert(
            format!("{:02}:{:02}", minutes / 60, minutes % 60),
            json!({
                "arrivals": (i.arrivals * 10.0).round() / 10.0,
                "forecast": i.forecast,
                "needed_for_service_level": i.needed_for_service_level,
                "needed_for_abandonment": i.needed_for_abandonment,
                "scheduled": i.scheduled,
            }),
        );
    }
    let current = s.current as u32 * s.interval_minutes;
    json!({
        "interval_minutes": s.interval_minutes,
        "current": format!("{:02}:{:02}", current / 60, current % 60),
        "at_work": s.at_work,
        "intervals": intervals,
    })
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`, or `None`
/// when they are equal. Objects are compared key by key; anything else is
/// replaced whole; a key gone from `new` is `null` in the patch. (A `null`
/// in `new` also reads as "gone", which a page shows the same way.)
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(p) = merge_patch(ov, nv) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None if nv.is_null() => {}
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                if !o[k].is_null() {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        // An object patched with a non-object must replace it, and null
        // would delete it instead: merge patches cannot say "set to null"
        // inside a value that was an object; the page reads both as absent.
        _ if old == new => None,
        _ => Some(new.clone()),
    }
}

/// Applies a merge patch, as RFC 7386 describes (and as the page does).
pub fn apply_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            apply_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_patch_holds_only_what_changed() {
        let old = json!({"queues": {"a": {"waiting": 3, "held": 1}, "b": {"waiting": 0}}, "x": 1});
        let new = json!({"queues": {"a": {"waiting": 2, "held": 1}, "c": {"waiting": 1}}, "x": 1});
        let patch = merge_patch(&old, &new).unwrap();
        assert_eq!(patch, json!({"queues": {"a": {"waiting": 2}, "b": null, "c": {"waiting": 1}}}));
        assert_eq!(merge_patch(&new, &new), None);
    }

    /// Values without nulls (a null reads as absent, see `merge_patch`).
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![any::<i32>().prop_map(|n| json!(n)), "[a-c]{0,2}".prop_map(|s| json!(s))];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
        })
    }

    proptest! {
        #[test]
        fn applying_the_patch_gives_the_new_document(old in value(), new in value()) {
            let mut doc = old.clone();
            if let Some(p) = merge_patch(&old, &new) {
                apply_patch(&mut doc, &p);
            }
            prop_assert_eq!(doc, new);
        }
    }
}
