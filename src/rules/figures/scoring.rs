//! The manual's scoring bands (DOMAIN.md, "The numbers the floor is judged
//! by"), as functions of the measured figure.

use serde::Serialize;
use utoipa::ToSchema;

/// A response time's score: 100 at 10 s or less, 90 at 11-19 s, 80 at
/// 20-39 s, 60 at 40 s or more. Times are rounded down to whole seconds, as
/// a stopwatch on the floor would read them.
pub fn response_time_score(millis: i64) -> u8 {
    match millis.max(0) / 1000 {
        0..=10 => 100,
        11..=19 => 90,
        20..=39 => 80,
        _ => 60,
    }
}

/// A reply rate's score: 100 at 100 %, 90 at 98-99 %, 80 at 90-97 %, 60 at
/// 89 % or less. `replied` of `due`; nothing due scores 100.
pub fn reply_rate_score(replied: u32, due: u32) -> u8 {
    if due == 0 || replied >= due {
        return 100;
    }
    // Whole percent, rounded down: 98.9 % is 98 %, not 99 %.
    match u64::from(replied) * 100 / u64::from(due) {
        98..=99 => 90,
        90..=97 => 80,
        _ => 60,
    }
}

/// A figure against its target, for the wallboard to colour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct Judged {
    /// The figure: a rate from 0 to 1, or milliseconds.
    pub value: f64,
    pub target: f64,
    /// Whether the figure breaks its target (red on the wallboard).
    pub breached: bool,
}

impl Judged {
    /// A figure that must stay at or under `target`.
    pub fn at_most(value: f64, target: f64) -> Judged {
        Judged { value, target, breached: value > target }
    }

    /// A figure that must reach `target`.
    pub fn at_least(value: f64, target: f64) -> Judged {
        Judged { value, target, breached: value < target }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_bands_follow_the_manual_at_their_edges() {
        let scores: Vec<u8> =
            [0, 10_999, 11_000, 19_999, 20_000, 39_999, 40_000, 600_000].map(response_time_score).to_vec();
        assert_eq!(scores, [100, 100, 90, 90, 80, 80, 60, 60]);
    }

    #[test]
    fn reply_rate_bands_follow_the_manual_at_their_edges() {
        assert_eq!(reply_rate_score(0, 0), 100);
        assert_eq!(reply_rate_score(100, 100), 100);
        assert_eq!(reply_rate_score(99, 100), 90);
        assert_eq!(reply_rate_score(98, 100), 90);
        assert_eq!(reply_rate_score(979, 1000), 80, "97.9 % is 97 %");
        assert_eq!(reply_rate_score(90, 100), 80);
        assert_eq!(reply_rate_score(89, 100), 60);
    }

    #[test]
    fn judged_figures_say_when_they_break_their_target() {
        assert!(!Judged::at_most(0.25, 0.25).breached);
        assert!(Judged::at_most(0.26, 0.25).breached);
        assert!(Judged::at_least(0.79, 0.8).breached);
    }
}
