//! Pooling drop-offs (拼单): the manual pools drop-off orders going to the
//! same airport with departure times close together, as long as the
//! passengers fit the car. This module proposes the pools; the dispatcher
//! (a person) accepts, edits or rejects them. Pure: the open orders in,
//! the proposals out, with no clock and no I/O, so the rules can be tested
//! on any set of orders.
//!
//! The rule is a sweep per airport in departure order: the earliest order
//! not yet pooled opens a pool, and every later order within the window of
//! it joins if its passengers still fit (first fit). A pool has at least two
//! orders; an order that pools with nobody is not proposed. Because the
//! opener takes every compatible order it meets, two orders left out are
//! never compatible with each other (tested below): the proposals leave no
//! obvious pool behind.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::domain::CarOrderId;

/// An open drop-off, as pooling sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropOff {
    pub order: CarOrderId,
    pub airport: String,
    /// When the car leaves for the airport.
    pub departs: Timestamp,
    pub passengers: u32,
}

/// A proposed pool: orders to the same airport, dispatched as one trip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolProposal {
    /// In departure order.
    pub orders: Vec<CarOrderId>,
    pub airport: String,
    /// Passengers in all.
    pub seats: u32,
    pub earliest: Timestamp,
    pub latest: Timestamp,
}

impl PoolProposal {
    /// Names the pool by its orders, so that the same orders keep the same
    /// id while proposals are recomputed as orders come and go.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        for order in &self.orders {
            hash.update(order.0.as_bytes());
        }
        hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Proposes pools among `open`: same airport, departures at most `window`
/// apart, at most `capacity` passengers. Deterministic: the same orders give
/// the same proposals in the same order (by airport, then departure).
pub fn propose(open: &[DropOff], window: SignedDuration, capacity: u32) -> Vec<PoolProposal> {
    let mut sorted: Vec<&DropOff> = open.iter().filter(|o| o.passengers <= capacity).collect();
    sorted.sort_by(|a, b| (&a.airport, a.departs, a.order).cmp(&(&b.airport, b.departs, b.order)));
    let mut pooled = vec![false; sorted.len()];
    let mut proposals = Vec::new();
    for first in 0..sorted.len() {
        if pooled[first] {
            continue;
        }
        let opener = sorted[first];
        let mut members = vec![first];
        let mut seats = opener.passengers;
        for next in first + 1..sorted.len() {
            let o = sorted[next];
            if o.airport != opener.airport || o.departs.duration_since(opener.departs) > window {
                break;
            }
            if !pooled[next] && seats + o.passengers <= capacity {
                members.push(next);
                seats += o.passengers;
            }
        }
        if members.len() < 2 {
            continue;
        }
        for &m in &members {
            pooled[m] = true;
        }
        proposals.push(PoolProposal {
            orders: members.iter().map(|&m| sorted[m].order).collect(),
            airport: opener.airport.clone(),
            seats,
            earliest: opener.departs,
            latest: sorted[*members.last().expect("two or more")].departs,
        });
    }
    proposals
}

/// Why a group of orders chosen by a dispatcher cannot ride together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("a pool has two or more orders")]
    TooFew,
    #[error("the orders go to different airports ({0} and {1})")]
    Airports(String, String),
    #[error("the departures are {minutes} minutes apart; a pool spans at most {window}")]
    OutsideWindow { minutes: i64, window: i64 },
    #[error("{seats} passengers do not fit the largest car on duty ({capacity} seats)")]
    OverCapacity { seats: u32, capacity: u32 },
}

/// Checks a group a dispatcher put together (an edited proposal) by the
/// same rules proposals follow; returns the passengers in all.
pub fn check_group(orders: &[DropOff], window: SignedDuration, capacity: u32) -> Result<u32, GroupError> {
    let (Some(first), true) = (orders.first(), orders.len() >= 2) else {
        return Err(GroupError::TooFew);
    };
    if let Some(other) = orders.iter().find(|o| o.airport != first.airport) {
        return Err(GroupError::Airports(first.airport.clone(), other.airport.clone()));
    }
    let earliest = orders.iter().map(|o| o.departs).min().expect("not empty");
    let latest = orders.iter().map(|o| o.departs).max().expect("not empty");
    let span = latest.duration_since(earliest);
    if span > window {
        return Err(GroupError::OutsideWindow { minutes: span.as_mins(), window: window.as_mins() });
    }
    let seats = orders.iter().map(|o| o.passengers).sum();
    if seats > capacity {
        return Err(GroupError::OverCapacity { seats, capacity });
    }
    Ok(seats)
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn at(minute: i64) -> Timestamp {
        "2026-05-12T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute)
    }

    fn order(airport: &str, minute: i64, passengers: u32) -> DropOff {
        DropOff { order: CarOrderId::new(), airport: airport.into(), departs: at(minute), passengers }
    }

    #[test]
    fn an_edited_group_follows_the_proposal_rules() {
        let window = SignedDuration::from_mins(30);
        let (a, b, far) = (order("PVG", 0, 2), order("PVG", 25, 3), order("PVG", 45, 1));
        assert_eq!(check_group(&[a.clone(), b.clone()], window, 6), Ok(5));
        assert_eq!(check_group(std::slice::from_ref(&a), window, 6), Err(GroupError::TooFew));
        assert_eq!(
            check_group(&[a.clone(), far], window, 6),
            Err(GroupError::OutsideWindow { minutes: 45, window: 30 })
        );
        assert_eq!(
            check_group(&[a.clone(), b.clone()], window, 4),
            Err(GroupError::OverCapacity { seats: 5, capacity: 4 })
        );
        let sha = order("SHA", 5, 1);
        assert_eq!(check_group(&[a, sha], window, 6), Err(GroupError::Airports("PVG".into(), "SHA".into())));
    }

    #[test]
    fn three_to_one_airport_within_twenty_minutes_pool_and_the_other_airport_does_not() {
        let pvg = [order("PVG", 0, 1), order("PVG", 10, 2), order("PVG", 20, 1)];
        let sha = order("SHA", 5, 1);
        let all = [pvg[1].clone(), sha, pvg[0].clone(), pvg[2].clone()];
        let pools = propose(&all, SignedDuration::from_mins(30), 6);
        assert_eq!(pools.len(), 1, "{pools:?}");
        assert_eq!(pools[0].orders, pvg.iter().map(|o| o.order).collect::<Vec<_>>());
        assert_eq!((pools[0].airport.as_str(), pools[0].seats), ("PVG", 4));
        assert_eq!((pools[0].earliest, pools[0].latest), (at(0), at(20)));
    }

    #[test]
    fn the_window_and_the_seats_split_pools() {
        let window = SignedDuration::from_mins(30);
        // 31 minutes apart: too far.
        assert!(propose(&[order("PVG", 0, 1), order("PVG", 31, 1)], window, 6).is_empty());
        // Five and two passengers do not fit six seats; five and one do.
        let (big, two, one) = (order("PVG", 0, 5), order("PVG", 5, 2), order("PVG", 10, 1));
        let pools = propose(&[big.clone(), two.clone(), one.clone()], window, 6);
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].orders, vec![big.order, one.order]);
        // An order larger than any car is never pooled.
        assert!(propose(&[order("PVG", 0, 7), order("PVG", 1, 1)], window, 6).is_empty());
    }

    fn orders() -> impl Strategy<Value = Vec<DropOff>> {
        prop::collection::vec((0..3usize, 0..240i64, 1..8u32), 0..80)
            .prop_map(|v| v.into_iter().map(|(a, m, p)| order(["PVG", "SHA", "CTU"][a], m, p)).collect())
    }

    proptest! {
        #[test]
        fn proposals_keep_the_rules(open in orders(), window_min in 0..90i64, capacity in 1..9u32) {
            let window = SignedDuration::from_mins(window_min);
            let pools = propose(&open, window, capacity);
            let by_id: HashMap<CarOrderId, &DropOff> = open.iter().map(|o| (o.order, o)).collect();
            let mut seen = HashSet::new();
            for pool in &pools {
                prop_assert!(pool.orders.len() >= 2);
                let members: Vec<&DropOff> = pool.orders.iter().map(|id| by_id[id]).collect();
                let seats: u32 = members.iter().map(|o| o.passengers).sum();
                prop_assert_eq!(seats, pool.seats);
                prop_assert!(seats <= capacity, "over capacity: {:?}", pool);
                prop_assert!(members.iter().all(|o| o.airport == pool.airport), "across airports");
                let first = members.iter().map(|o| o.departs).min().unwrap();
                let last = members.iter().map(|o| o.departs).max().unwrap();
                prop_assert!(last.duration_since(first) <= window, "outside the window");
                prop_assert_eq!((first, last), (pool.earliest, pool.latest));
                for id in &pool.orders {
                    prop_assert!(seen.insert(*id), "an order in two pools");
                }
            }
            // No two orders left out could have pooled together.
            let left: Vec<&DropOff> = open.iter().filter(|o| !seen.contains(&o.order)).collect();
            for (i, a) in left.iter().enumerate() {
                for b in &left[i + 1..] {
                    let compatible = a.airport == b.airport
                        && a.departs.duration_since(b.departs).abs() <= window
                        && a.passengers + b.passengers <= capacity;
                    prop_assert!(!compatible, "{:?} and {:?} were left out", a, b);
                }
            }
            prop_assert_eq!(&pools, &propose(&open, window, capacity), "deterministic");
        }
    }
}
