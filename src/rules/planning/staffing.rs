//! The agents an interval needs, from what the floor measured, and the
//! arrivals the rest of the day will bring.
//!
//! For each interval (`[planning] interval_minutes`, 15 or 30): the
//! arrivals, the mean handling time and the callers' patience measured on
//! the floor give the offered traffic; Erlang C says how many agents answer
//! the target share within `figures.service_level_secs`, Erlang A how many
//! keep abandonment under the limit with callers who give up.
//!
//! The forecast for the intervals still to come is the same weekday's
//! intervals averaged over the past weeks, scaled by how today has run so
//! far against the same average. A centre's calls follow the week more
//! than anything (Mondays are not Thursdays, and the lunch dip is at the
//! same hour every day), which a same-weekday profile keeps and plain
//! exponential smoothing of the last intervals does not: it would carry
//! the morning peak into the lunch hour. The scaling by today's ratio
//! keeps the profile's shape while following a day that runs above or
//! below the usual (a campaign, a holiday's eve).

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use super::erlang::{self, Traffic};
use crate::domain::{AgentStatus, UserId};

/// What one interval's hotline calls measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    pub arrivals: u32,
    /// Calls answered, and their handling (talk and wrap-up) in total.
    pub answered: u32,
    pub handling_secs: f64,
    pub abandoned: u32,
    /// Every caller's wait, given up or answered, in total (for patience).
    pub waited_secs: f64,
}

/// Maximum-likelihood mean patience for exponential patience with the
/// answered callers' waits as censored observations.
pub fn mean_patience_secs(measured: &[Measured]) -> Option<f64> {
    let waited: f64 = measured.iter().map(|m| m.waited_secs).sum();
    let gave_up: u32 = measured.iter().map(|m| m.abandoned).sum();
    (gave_up > 0).then(|| waited / f64::from(gave_up))
}

/// What the staffing rules target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Targets {
    pub interval_secs: f64,
    pub service_level_secs: f64,
    pub service_level_share: f64,
    pub max_abandon_share: f64,
}

/// The agents one interval needs by each rule.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Need {
    /// Arrivals the need is computed for (measured or forecast).
    pub arrivals: f64,
    pub by_service_level: u32,
    pub by_abandonment: u32,
}

/// The agents `arrivals` in an interval need, handled in `handling_secs`
/// on average, with callers' mean patience `patience_secs`.
pub fn need(arrivals: f64, handling_secs: f64, patience_secs: f64, t: &Targets) -> Need {
    let traffic = Traffic { arrivals_per_sec: arrivals / t.interval_secs, handling_secs };
    // Calls that come need someone to answer them, however short.
    let least = u32::from(arrivals > 0.0);
    Need {
        arrivals,
        by_service_level: erlang::agents_for_service_level(traffic, t.service_level_secs, t.service_level_share)
            .max(least),
        by_abandonment: erlang::agents_for_abandonment(traffic, patience_secs, t.max_abandon_share).max(least),
    }
}

/// Today's arrivals per interval, forecast: `past` holds the same weekday
/// of past weeks (each a day's arrivals per interval), `today` the
/// intervals of today that have ended. Past intervals are today's own;
/// the rest the past weeks' mean, scaled by today's total so far over the
/// same intervals' mean (left at 1 until today has seen 20 calls, so one
/// early call does not double the day).
pub fn forecast(past: &[Vec<u32>], today: &[u32], intervals: usize) -> Vec<f64> {
    let mean: Vec<f64> = (0..intervals)
        .map(|i| {
            let seen: Vec<f64> = past.iter().filter_map(|day| day.get(i)).map(|n| f64::from(*n)).collect();
            if seen.is_empty() { 0.0 } else { seen.iter().sum::<f64>() / seen.len() as f64 }
        })
        .collect();
    let so_far: f64 = today.iter().map(|n| f64::from(*n)).sum();
    let usual_so_far: f64 = mean.iter().take(today.len()).sum();
    let scale = if so_far >= 20.0 && usual_so_far > 0.0 { so_far / usual_so_far } else { 1.0 };
    (0..intervals).map(|i| today.get(i).map_or(mean[i] * scale, |n| f64::from(*n))).collect()
}

/// One interval of the day's plan.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct IntervalPlan {
    /// The interval's number in the day (0 starts at midnight).
    pub interval: usize,
    /// Calls measured (an interval that has ended) or forecast.
    pub arrivals: f64,
    pub forecast: bool,
    pub needed_for_service_level: u32,
    pub needed_for_abandonment: u32,
    /// Agents whose shift covers the interval's middle.
    pub scheduled: u32,
}

/// The whole day, interval by interval: `measured` holds today's intervals
/// so far, of which the first `ended` have ended (the next is running: its
/// calls so far if more than forecast); `past` the same weekday of past
/// weeks; `scheduled` the agents on shift per interval.
pub fn plan_day(
    measured: &[Measured],
    ended: usize,
    past: &[Vec<u32>],
    scheduled: &[u32],
    handling_secs: f64,
    patience_secs: f64,
    t: &Targets,
) -> Vec<IntervalPlan> {
    let intervals = (86_400.0 / t.interval_secs).round() as usize;
    let today: Vec<u32> = measured.iter().take(ended).map(|m| m.arrivals).collect();
    forecast(past, &today, intervals)
        .into_iter()
        .enumerate()
        .map(|(i, forecast)| {
            // The interval now running has had at least the calls so far.
            let so_far = if i == ended { measured.get(i).map_or(0, |m| m.arrivals) } else { 0 };
            let arrivals = forecast.max(f64::from(so_far));
            let n = need(arrivals, handling_secs, patience_secs, t);
            IntervalPlan {
                interval: i,
                arrivals,
                forecast: i >= today.len(),
                needed_for_service_level: n.by_service_level,
                needed_for_abandonment: n.by_abandonment,
                scheduled: scheduled.get(i).copied().unwrap_or(0),
            }
        })
        .collect()
}

/// One interval of a day looked back on: the calls forecast for it (the
/// same weekday of past weeks, as the day began) against those that came,
/// and the agents each would have needed against those scheduled and at
/// work.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct IntervalReview {
    /// The interval's start, `HH:MM` local time.
    pub starts: String,
    pub forecast_arrivals: f64,
    pub arrivals: u32,
    /// The larger of the two rules' needs, for the forecast and for the calls that came.
    pub needed_for_forecast: u32,
    pub needed: u32,
    pub scheduled: u32,
    /// Agents on line (not offline, not on a break) at the interval's middle.
    pub at_work: u32,
}

/// A day's intervals with anything in them, forecast against actual.
pub fn review_day(
    actual: &[Measured],
    past: &[Vec<u32>],
    scheduled: &[u32],
    at_work: &[u32],
    handling_secs: f64,
    patience_secs: f64,
    t: &Targets,
) -> Vec<IntervalReview> {
    let intervals = (86_400.0 / t.interval_secs).round() as usize;
    let forecast = forecast(past, &[], intervals);
    let most = |n: Need| n.by_service_level.max(n.by_abandonment);
    (0..intervals)
        .map(|i| {
            let arrivals = actual.get(i).map_or(0, |m| m.arrivals);
            let minutes = (i as f64 * t.interval_secs / 60.0) as u32;
            IntervalReview {
                starts: format!("{:02}:{:02}", minutes / 60, minutes % 60),
                forecast_arrivals: (forecast[i] * 10.0).round() / 10.0,
                arrivals,
                needed_for_forecast: most(need(forecast[i], handling_secs, patience_secs, t)),
                needed: most(need(f64::from(arrivals), handling_secs, patience_secs, t)),
                scheduled: scheduled.get(i).copied().unwrap_or(0),
                at_work: at_work.get(i).copied().unwrap_or(0),
            }
        })
        .filter(|r| r.forecast_arrivals > 0.0 || r.arrivals > 0 || r.scheduled > 0 || r.at_work > 0)
        .collect()
}

/// Agents on the line (`AgentStatus::is_on_line`) at each interval's
/// middle, from a status log in time order that starts early enough to
/// hold everyone's status at the first middle (a day before, say).
pub fn on_line_per_interval(
    log: &[(UserId, AgentStatus, Timestamp)],
    day_start: Timestamp,
    interval_secs: i64,
    intervals: usize,
) -> Vec<u32> {
    let mut status: HashMap<UserId, bool> = HashMap::new();
    let mut next = log.iter().peekable();
    (0..intervals)
        .map(|i| {
            let middle = day_start + SignedDuration::from_secs((i as i64 * 2 + 1) * interval_secs / 2);
            while let Some((agent, s, _)) = next.next_if(|(_, _, at)| *at <= middle) {
                status.insert(*agent, s.is_on_line());
            }
            status.values().filter(|on| **on).count() as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF_HOURS: Targets =
        Targets { interval_secs: 1800.0, service_level_secs: 20.0, service_level_share: 0.8, max_abandon_share: 0.25 };

    #[test]
    fn an_interval_needs_more_agents_to_answer_in_time_than_to_keep_callers_on_the_line() {
        // 100 calls in half an hour at 180 s: the reference's 14 agents for 80 % in 20 s.
        let n = need(100.0, 180.0, 120.0, &HALF_HOURS);
        assert_eq!(n.by_service_level, 14);
        assert!((5..14).contains(&n.by_abandonment), "{n:?}");
        assert_eq!(
            need(0.0, 180.0, 120.0, &HALF_HOURS),
            Need { arrivals: 0.0, by_service_level: 0, by_abandonment: 0 }
        );
        // Two calls of a second each still need someone to answer them.
        assert_eq!(need(2.0, 1.0, 120.0, &HALF_HOURS), Need { arrivals: 2.0, by_service_level: 1, by_abandonment: 1 });
    }

    #[test]
    fn patience_is_estimated_with_the_answered_callers_as_censored() {
        let m = [
            Measured { arrivals: 10, answered: 8, handling_secs: 1440.0, abandoned: 2, waited_secs: 300.0 },
            Measured { arrivals: 5, answered: 4, handling_secs: 700.0, abandoned: 1, waited_secs: 150.0 },
        ];
        assert_eq!(mean_patience_secs(&m), Some(150.0));
        assert_eq!(mean_patience_secs(&[Measured::default()]), None);
    }

    #[test]
    fn the_forecast_keeps_the_weekdays_shape_and_follows_a_busier_day() {
        let past = vec![vec![10, 40, 20, 30], vec![14, 36, 24, 26]];
        // Nothing seen yet: the mean of the past weeks.
        assert_eq!(forecast(&past, &[], 4), vec![12.0, 38.0, 22.0, 28.0]);
        // Today ran at 1.5 times the usual in its first two intervals.
        let f = forecast(&past, &[18, 57], 4);
        assert_eq!(f[..2], [18.0, 57.0]);
        assert!((f[2] - 33.0).abs() < 1e-9 && (f[3] - 42.0).abs() < 1e-9, "{f:?}");
        // A few early calls do not scale the day.
        assert_eq!(forecast(&past, &[3], 4)[1], 38.0);
        // No history: nothing forecast.
        assert_eq!(forecast(&[], &[], 2), vec![0.0, 0.0]);
    }

    #[test]
    fn agents_on_the_line_are_counted_at_each_intervals_middle() {
        let at = |secs: i64| Timestamp::from_second(1_800_000_000 + secs).unwrap();
        let (li, wang) = (UserId(uuid::Uuid::from_u128(1)), UserId(uuid::Uuid::from_u128(2)));
        let lunch = AgentStatus::Break(crate::domain::BreakReason::new("lunch").unwrap());
        let log = vec![
            (li, AgentStatus::Available, at(-100)),
            (wang, AgentStatus::Available, at(1000)),
            (li, lunch, at(1500)),
            (li, AgentStatus::Busy, at(2000)),
            (wang, AgentStatus::Offline, at(2800)),
        ];
        // Middles at 900, 2700 and 4500 s.
        assert_eq!(on_line_per_interval(&log, at(0), 1800, 3), [1, 2, 1]);
    }

    #[test]
    fn a_day_looked_back_on_puts_the_forecast_beside_what_came() {
        let t = Targets { interval_secs: 21_600.0, ..HALF_HOURS };
        let actual = [Measured::default(), Measured { arrivals: 600, ..Measured::default() }];
        let past = vec![vec![0, 400], vec![0, 200]];
        let review = review_day(&actual, &past, &[0, 4], &[0, 6], 180.0, 120.0, &t);
        assert_eq!(review.len(), 1, "an empty night is left out: {review:?}");
        let r = &review[0];
        assert_eq!(
            (r.starts.as_str(), r.forecast_arrivals, r.arrivals, r.scheduled, r.at_work),
            ("06:00", 300.0, 600, 4, 6)
        );
        assert!(r.needed > r.needed_for_forecast, "{r:?}");
    }

    #[test]
    fn the_days_plan_measures_what_has_ended_and_forecasts_the_rest() {
        let t = Targets { interval_secs: 21_600.0, ..HALF_HOURS };
        let measured =
            [Measured { arrivals: 0, ..Measured::default() }, Measured { arrivals: 500, ..Measured::default() }];
        let past = vec![vec![0, 400, 800, 100]];
        let plan = plan_day(&measured, 1, &past, &[0, 5, 9], 180.0, 120.0, &t);
        assert_eq!(plan.len(), 4);
        assert!(!plan[0].forecast && plan[1].forecast, "{plan:?}");
        // The interval running has had more calls than forecast: those count.
        assert_eq!(plan[1].arrivals, 500.0);
        let quiet = plan_day(&measured[..1], 1, &past, &[], 180.0, 120.0, &t);
        assert_eq!(quiet[1].arrivals, 400.0, "none yet: the forecast");
        assert_eq!((plan[2].arrivals, plan[2].scheduled, plan[3].scheduled), (800.0, 9, 0));
        // 800 calls in six hours at 180 s: 6.7 erlangs.
        assert!(
            plan[2].needed_for_service_level >= 7
                && plan[2].needed_for_service_level > plan[3].needed_for_service_level
        );
    }
}
