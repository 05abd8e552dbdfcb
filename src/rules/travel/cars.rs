//! Private-car orders as rules: what a valid order is, and by when a
//! driver must have confirmed it. Pure: time is an argument.
//!
//! The manual's flow is: find a driver, phone to confirm, dispatch. The
//! confirmation is due `confirm_before_minutes` before the service time; an
//! order made later than that is urgent and due within `urgent_minutes`
//! (never after the service itself).

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::domain::CarOrderKind;

/// From `[cars]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarRules {
    /// A driver confirms this many minutes before the service time.
    pub confirm_before_minutes: u32,
    /// An order made later than that is confirmed within this many minutes.
    pub urgent_minutes: u32,
    /// Drop-offs departing at most this many minutes apart may pool.
    pub pool_window_minutes: u32,
    /// How long a trip keeps its driver before the first service time and
    /// after the last (driving there, waiting, driving back): two trips of
    /// one driver may not overlap by these spans.
    pub trip_minutes: u32,
    /// A driver's violations in this many days before now rank them after
    /// drivers with fewer (1-3650).
    #[serde(default = "CarRules::default_violation_window_days")]
    pub violation_window_days: u32,
}

impl Default for CarRules {
    fn default() -> Self {
        CarRules {
            confirm_before_minutes: 120,
            urgent_minutes: 15,
            pool_window_minutes: 30,
            trip_minutes: 90,
            violation_window_days: CarRules::default_violation_window_days(),
        }
    }
}

/// An order as asked for, before it is stored.
#[derive(Clone, Debug)]
pub struct OrderRequest {
    pub kind: CarOrderKind,
    pub passengers: u32,
    pub airport: Option<String>,
    /// When the service starts: the pickup at arrival, the charter's start,
    /// the drop-off's departure.
    pub time: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CarOrderError {
    #[error("the service time is in the past")]
    TimeInPast,
    #[error("passengers must be at least 1")]
    NoPassengers,
    #[error("{passengers} passengers do not fit any vehicle (the largest has {largest} seats)")]
    TooManyPassengers { passengers: u32, largest: u32 },
    #[error("a {0} needs the airport")]
    AirportMissing(&'static str),
}

impl CarRules {
    fn default_violation_window_days() -> u32 {
        90
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=3650).contains(&self.violation_window_days) {
            problems.push("cars.violation_window_days: must be 1-3650".into());
        }
        if !(1..=7 * 24 * 60).contains(&self.confirm_before_minutes) {
            problems.push("cars.confirm_before_minutes: must be 1-10080".into());
        }
        if !(1..=24 * 60).contains(&self.urgent_minutes) {
            problems.push("cars.urgent_minutes: must be 1-1440".into());
        }
        if !(1..=24 * 60).contains(&self.pool_window_minutes) {
            problems.push("cars.pool_window_minutes: must be 1-1440".into());
        }
        if !(1..=24 * 60).contains(&self.trip_minutes) {
            problems.push("cars.trip_minutes: must be 1-1440".into());
        }
        problems
    }

    pub fn trip_span(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.trip_minutes))
    }

    pub fn pool_window(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.pool_window_minutes))
    }

    /// Checks an order against the time and the largest vehicle there is.
    pub fn check(&self, order: &OrderRequest, now: Timestamp, largest_vehicle: u32) -> Result<(), CarOrderError> {
        if order.time <= now {
            return Err(CarOrderError::TimeInPast);
        }
        if order.passengers == 0 {
            return Err(CarOrderError::NoPassengers);
        }
        if order.passengers > largest_vehicle {
            return Err(CarOrderError::TooManyPassengers { passengers: order.passengers, largest: largest_vehicle });
        }
        let needs_airport = matches!(order.kind, CarOrderKind::Pickup | CarOrderKind::Dropoff);
        if needs_airport && order.airport.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(CarOrderError::AirportMissing(order.kind.as_str()));
        }
        Ok(())
    }

    /// By when a driver must have confirmed an order for `time` made at `now`.
    pub fn confirm_by(&self, time: Timestamp, now: Timestamp) -> Timestamp {
        let due = time - SignedDuration::from_mins(i64::from(self.confirm_before_minutes));
        let urgent = (now + SignedDuration::from_mins(i64::from(self.urgent_minutes))).min(time);
        due.max(urgent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hhmm: &str) -> Timestamp {
        format!("2026-05-12T{hhmm}:00+08:00[Asia/Shanghai]").parse::<jiff::Zoned>().unwrap().timestamp()
    }

    #[test]
    fn a_driver_confirms_two_hours_ahead_or_at_once_for_late_orders() {
        let rules = CarRules::default();
        assert_eq!(rules.confirm_by(at("14:00"), at("09:00")), at("12:00"));
        // Made at 12:30 for 14:00: urgent, within 15 minutes.
        assert_eq!(rules.confirm_by(at("14:00"), at("12:30")), at("12:45"));
        // Made at 13:55 for 14:00: by 14:00, not after the service.
        assert_eq!(rules.confirm_by(at("14:00"), at("13:55")), at("14:00"));
    }

    #[test]
    fn bad_orders_are_named() {
        let rules = CarRules::default();
        let order = |kind, passengers, airport: Option<&str>, time| OrderRequest {
            kind,
            passengers,
            airport: airport.map(str::to_owned),
            time,
        };
        let now = at("09:00");
        let ok = order(CarOrderKind::Dropoff, 3, Some("PVG"), at("14:00"));
        assert_eq!(rules.check(&ok, now, 6), Ok(()));
        assert_eq!(
            rules.check(&order(CarOrderKind::Dropoff, 3, Some("PVG"), at("08:00")), now, 6),
            Err(CarOrderError::TimeInPast)
        );
        assert_eq!(
            rules.check(&order(CarOrderKind::Dropoff, 7, Some("PVG"), at("14:00")), now, 6),
            Err(CarOrderError::TooManyPassengers { passengers: 7, largest: 6 })
        );
        assert_eq!(
            rules.check(&order(CarOrderKind::Pickup, 1, None, at("14:00")), now, 6),
            Err(CarOrderError::AirportMissing("pickup"))
        );
        assert_eq!(rules.check(&order(CarOrderKind::Charter, 1, None, at("14:00")), now, 6), Ok(()));
        assert_eq!(
            rules.check(&order(CarOrderKind::Charter, 0, None, at("14:00")), now, 6),
            Err(CarOrderError::NoPassengers)
        );
    }
}
