//! Trips and drivers as rules: when a trip keeps its driver, which drivers
//! can take it, and in what order a dispatcher should phone them. Pure:
//! the facts in (drivers, their trips, who declined), the ranking out. The
//! dispatcher, a person, still decides.
//!
//! Ranking, among drivers who can take the trip: those covering the trip's
//! area first, then fewest recent violations (违规行为, `[cars]
//! violation_window_days`), then fewest trips today (spreading the work, as
//! the manual asks), then the smallest car that fits (keeping the big ones
//! for big groups), then name. Drivers who cannot take it follow, each with why.

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{DriverId, DriverStatus};

/// The time a trip keeps its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Span {
    #[schema(value_type = String)]
    pub start: Timestamp,
    #[schema(value_type = String)]
    pub end: Timestamp,
}

impl Span {
    /// From the first service time less `margin` to the last plus `margin`.
    pub fn around(first: Timestamp, last: Timestamp, margin: SignedDuration) -> Span {
        Span { start: first.saturating_sub(margin).unwrap_or(first), end: last.saturating_add(margin).unwrap_or(last) }
    }

    /// Touching spans (one ends as the other starts) do not overlap.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    fn local(&self, zone: &TimeZone) -> String {
        let hm = |t: Timestamp| t.to_zoned(zone.clone()).strftime("%H:%M").to_string();
        format!("{}-{}", hm(self.start), hm(self.end))
    }
}

/// What a trip needs of its driver.
#[derive(Clone, Debug)]
pub struct Need {
    pub span: Span,
    pub passengers: u32,
    /// Places the trip goes through (the airport, the addresses), compared
    /// with a driver's service area without regard to case.
    pub places: Vec<String>,
}

/// A driver as the ranking sees it.
#[derive(Clone, Debug)]
pub struct DriverFacts {
    pub id: DriverId,
    pub name: String,
    pub seats: u32,
    pub area: String,
    pub status: DriverStatus,
    /// The spans of the driver's other trips that still hold them.
    pub booked: Vec<Span>,
    /// Trips the driver has taken today (local day).
    pub trips_today: u32,
    /// When the driver declined or did not answer for this trip, if so.
    pub passed: Option<(Timestamp, &'static str)>,
    /// Violations recorded in the window before now.
    pub violations: u32,
}

/// One driver in the ranked list, with the reasons a dispatcher reads.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Suggestion {
    pub driver_id: DriverId,
    pub name: String,
    /// Whether the driver can take the trip; those who can come first.
    pub eligible: bool,
    /// Why the driver is where they are in the list, in words.
    pub reasons: Vec<String>,
}

/// Whether a driver's area covers one of the trip's places.
pub fn covers(area: &str, places: &[String]) -> bool {
    let area = area.trim().to_lowercase();
    !area.is_empty() && places.iter().any(|p| p.to_lowercase().contains(&area))
}

/// Ranks `drivers` for a trip that needs `need`; times in reasons are local to `zone`.
pub fn suggest(need: &Need, drivers: &[DriverFacts], zone: &TimeZone) -> Vec<Suggestion> {
    let mut ranked: Vec<(bool, bool, u32, u32, u32, &str, Suggestion)> = drivers
        .iter()
        .map(|d| {
            let mut blockers = Vec::new();
            if d.status == DriverStatus::OffDuty {
                blockers.push("off duty".to_owned());
            }
            if let Some((at, how)) = d.passed {
                blockers.push(format!("{how} for this trip at {}", at.to_zoned(zone.clone()).strftime("%H:%M")));
            }
            if d.seats < need.passengers {
                blockers.push(format!("{} seats for {} passengers", d.seats, need.passengers));
            }
            for busy in d.booked.iter().filter(|b| b.overlaps(&need.span)) {
                blockers.push(format!("booked {}", busy.local(zone)));
            }
            let eligible = blockers.is_empty();
            let local = covers(&d.area, &need.places);
            let mut reasons = if eligible {
                vec![format!("free {}", need.span.local(zone)), format!("{} seats for {}", d.seats, need.passengers)]
            } else {
                blockers
            };
            reasons.push(if local {
                format!("covers {}", d.area)
            } else {
                format!("covers {}, not this trip", d.area)
            });
            match d.violations {
                0 => {}
                1 => reasons.push("1 recent violation".to_owned()),
                n => reasons.push(format!("{n} recent violations")),
            }
            reasons.push(match d.trips_today {
                1 => "1 trip today".to_owned(),
                n => format!("{n} trips today"),
            });
            let s = Suggestion { driver_id: d.id, name: d.name.clone(), eligible, reasons };
            (!eligible, !local, d.violations, d.trips_today, d.seats, d.name.as_str(), s)
        })
        .collect();
    ranked.sort_by(|a, b| (a.0, a.1, a.2, a.3, a.4, a.5).cmp(&(b.0, b.1, b.2, b.3, b.4, b.5)));
    ranked.into_iter().map(|r| r.6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hhmm: &str) -> Timestamp {
        format!("2026-05-12T{hhmm}:00+08:00[Asia/Shanghai]").parse::<jiff::Zoned>().unwrap().timestamp()
    }

    fn zone() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn driver(name: &str, seats: u32, area: &str, trips_today: u32) -> DriverFacts {
        DriverFacts {
            id: DriverId::new(),
            name: name.into(),
            seats,
            area: area.into(),
            status: DriverStatus::Available,
            booked: vec![],
            trips_today,
            passed: None,
            violations: 0,
        }
    }

    fn need() -> Need {
        Need {
            span: Span::around(at("14:00"), at("14:20"), SignedDuration::from_mins(90)),
            passengers: 4,
            places: vec!["PVG".into()],
        }
    }

    #[test]
    fn spans_keep_the_driver_either_side_and_touching_ones_do_not_overlap() {
        let s = need().span;
        assert_eq!((s.start, s.end), (at("12:30"), at("15:50")));
        let later = Span { start: at("15:50"), end: at("17:00") };
        assert!(!s.overlaps(&later) && !later.overlaps(&s));
        let clash = Span { start: at("15:49"), end: at("17:00") };
        assert!(s.overlaps(&clash) && clash.overlaps(&s));
    }

    #[test]
    fn the_local_driver_with_fewest_trips_and_the_smallest_fitting_car_comes_first() {
        let drivers = [
            driver("Busy local", 6, "pvg", 3),
            driver("Far", 6, "Hongqiao", 0),
            driver("Big local", 14, "PVG", 1),
            driver("Small local", 6, "PVG", 1),
        ];
        let list = suggest(&need(), &drivers, &zone());
        let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Small local", "Big local", "Busy local", "Far"]);
        assert!(list.iter().all(|s| s.eligible));
        assert_eq!(list[0].reasons, ["free 12:30-15:50", "6 seats for 4", "covers PVG", "1 trip today"]);
        assert_eq!(list[3].reasons[2], "covers Hongqiao, not this trip");
    }

    #[test]
    fn drivers_who_cannot_take_it_follow_with_why() {
        let mut booked = driver("Booked", 6, "PVG", 0);
        booked.booked =
            vec![Span { start: at("15:00"), end: at("18:00") }, Span { start: at("08:00"), end: at("10:00") }];
        let mut off = driver("Off", 6, "PVG", 0);
        off.status = DriverStatus::OffDuty;
        let mut declined = driver("Declined", 6, "PVG", 0);
        declined.passed = Some((at("10:02"), "declined"));
        let small = driver("Small", 3, "PVG", 0);
        let free = driver("Free", 6, "SHA", 5);
        let list = suggest(&need(), &[booked, off, declined, small, free], &zone());
        assert_eq!(list[0].name, "Free");
        assert!(list[0].eligible);
        let why = |name: &str| list.iter().find(|s| s.name == name).unwrap().reasons[0].clone();
        assert_eq!(why("Booked"), "booked 15:00-18:00");
        assert_eq!(why("Off"), "off duty");
        assert_eq!(why("Declined"), "declined for this trip at 10:02");
        assert_eq!(why("Small"), "3 seats for 4 passengers");
        assert!(list[1..].iter().all(|s| !s.eligible));
    }

    #[test]
    fn a_driver_with_recent_violations_comes_after_one_without() {
        let mut fined = driver("Aaron", 6, "pvg", 0);
        fined.violations = 2;
        let clean = driver("Zhou", 6, "pvg", 2);
        let far = driver("Far", 6, "Hongqiao", 0);
        let list = suggest(&need(), &[fined, clean, far], &zone());
        let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Zhou", "Aaron", "Far"], "violations count before trips today, after the area");
        assert!(list[1].reasons.contains(&"2 recent violations".to_owned()), "{:?}", list[1].reasons);
    }
}
