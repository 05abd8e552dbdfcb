//! The monthly red and black list of merchants (红黑榜): the month's
//! report nominates merchants from the ranking, their complaint volume,
//! major complaints and reply scores; a supervisor confirms the lists by
//! the 10th of the next month (每月10日前针对上月的红黑榜评选), or the
//! wallboard reminds the supervisors. Pure: the ranking and dates in.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Serialize;
use utoipa::ToSchema;

use super::MerchantRank;

/// From `[cases]`: where the lists' lines are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRules {
    /// This many complaints in the month or more: nominated for the black list.
    pub black_min_complaints: u32,
    /// At most this many, all resolved, none major, every reply in time:
    /// nominated for the red list.
    pub red_max_complaints: u32,
}

/// A merchant put forward for a list, and why.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Nomination {
    pub merchant: String,
    pub why: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Nominations {
    /// Merchants who cooperated well (红榜).
    pub red: Vec<Nomination>,
    /// Merchants complained about most or who did not cooperate (黑榜).
    pub black: Vec<Nomination>,
}

impl Nominations {
    pub fn is_empty(&self) -> bool {
        self.red.is_empty() && self.black.is_empty()
    }
}

/// The month's nominations from its merchant ranking, in ranking order.
/// Black: `black_min_complaints` or more complaints, any major complaint,
/// or a reply score of 60 (the manual's lowest band, 89 % or less). Red: no
/// reason for black, at most `red_max_complaints`, all resolved, and every
/// reply owed made in time (score 100).
pub fn nominate(ranking: &[MerchantRank], rules: ListRules) -> Nominations {
    let mut n = Nominations::default();
    for m in ranking {
        let mut black = Vec::new();
        if m.complaints >= rules.black_min_complaints {
            black.push(format!("{} complaints (rank {})", m.complaints, m.rank));
        }
        if m.major > 0 {
            black.push(format!("{} major complaint{}", m.major, if m.major == 1 { "" } else { "s" }));
        }
        if m.reply_score <= 60 {
            black.push(format!(
                "reply score {} ({} of {} replies in time)",
                m.reply_score, m.replied_in_time, m.replies_due
            ));
        }
        if !black.is_empty() {
            n.black.push(Nomination { merchant: m.merchant.clone(), why: black });
        } else if m.complaints <= rules.red_max_complaints && m.resolved == m.complaints && m.reply_score == 100 {
            let why = vec![format!("{} complaint{}, resolved", m.complaints, if m.complaints == 1 { "" } else { "s" })];
            let mut why = why;
            if m.replies_due > 0 {
                why.push(format!("every reply in time ({})", m.replies_due));
            }
            n.red.push(Nomination { merchant: m.merchant.clone(), why });
        }
    }
    n
}

/// The month's lists are confirmed before this day: the 10th of the next
/// month (`month` is any day of the month).
pub fn confirm_before(month: Date) -> Date {
    month.first_of_month() + 1.month() + 9.days()
}

/// The month whose lists should be confirmed by `today`, if its deadline
/// has come: the month before.
pub fn month_due(today: Date) -> Option<Date> {
    let last_month = today.first_of_month() - 1.month();
    (today >= confirm_before(last_month)).then_some(last_month)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn rank(
        rank: u32,
        merchant: &str,
        complaints: u32,
        major: u32,
        resolved: u32,
        due: u32,
        in_time: u32,
    ) -> MerchantRank {
        MerchantRank {
            rank,
            merchant: merchant.into(),
            complaints,
            major,
            resolved,
            replies_due: due,
            replied_in_time: in_time,
            reply_score: crate::rules::figures::scoring::reply_rate_score(in_time, due),
        }
    }

    #[test]
    fn volume_major_complaints_and_poor_replies_nominate_for_black_good_cooperation_for_red() {
        let rules = ListRules { black_min_complaints: 3, red_max_complaints: 1 };
        let ranking = [
            rank(1, "Sunny Tiles", 3, 0, 3, 0, 0),
            rank(2, "Blue Lake", 2, 1, 2, 0, 0),
            rank(3, "Red Door", 2, 0, 2, 10, 8),
            rank(4, "Green Hill", 2, 0, 2, 2, 2),
            rank(5, "Oak", 1, 0, 1, 1, 1),
            rank(6, "Pine", 1, 0, 0, 0, 0),
        ];
        let n = nominate(&ranking, rules);
        let names = |v: &[Nomination]| v.iter().map(|x| x.merchant.clone()).collect::<Vec<_>>();
        assert_eq!(names(&n.black), ["Sunny Tiles", "Blue Lake", "Red Door"]);
        assert_eq!(n.black[2].why, ["reply score 60 (8 of 10 replies in time)"]);
        assert_eq!(names(&n.red), ["Oak"], "two complaints are too many; Pine's is not resolved");
        assert_eq!(n.red[0].why, ["1 complaint, resolved", "every reply in time (1)"]);
        let strict = ListRules { black_min_complaints: 2, red_max_complaints: 0 };
        let n = nominate(&ranking, strict);
        assert_eq!(names(&n.black), ["Sunny Tiles", "Blue Lake", "Red Door", "Green Hill"]);
        assert!(n.red.is_empty());
    }

    #[test]
    fn the_lists_are_due_before_the_tenth_of_the_next_month() {
        assert_eq!(confirm_before(date(2026, 11, 17)), date(2026, 12, 10));
        assert_eq!(confirm_before(date(2026, 12, 1)), date(2027, 1, 10));
        assert_eq!(month_due(date(2026, 12, 9)), None);
        assert_eq!(month_due(date(2026, 12, 10)), Some(date(2026, 11, 1)));
        assert_eq!(month_due(date(2027, 1, 31)), Some(date(2026, 12, 1)));
    }
}
