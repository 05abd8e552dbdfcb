use jiff::civil::date;

use super::*;

#[test]
fn periods_are_the_day_its_monday_to_sunday_week_or_its_month() {
    let today = date(2026, 12, 4);
    let thursday = date(2026, 3, 5);
    assert_eq!(period_dates(ReportPeriod::Daily, thursday, today), Ok((thursday, date(2026, 3, 6))));
    assert_eq!(period_dates(ReportPeriod::Weekly, thursday, today), Ok((date(2026, 3, 2), date(2026, 3, 9))));
    assert_eq!(period_dates(ReportPeriod::Weekly, date(2026, 3, 8), today), Ok((date(2026, 3, 2), date(2026, 3, 9))));
    assert_eq!(period_dates(ReportPeriod::Monthly, thursday, today), Ok((date(2026, 3, 1), date(2026, 4, 1))));
    assert_eq!(
        period_dates(ReportPeriod::Monthly, date(2026, 12, 31), today),
        Ok((date(2026, 12, 1), date(2027, 1, 1)))
    );
}

#[test]
fn periods_not_begun_or_before_records_are_refused() {
    let today = date(2026, 12, 4);
    assert_eq!(period_dates(ReportPeriod::Daily, date(2026, 12, 5), today), Err(RangeError::Future(date(2026, 12, 5))));
    // This week and month have begun: reported so far.
    assert!(period_dates(ReportPeriod::Weekly, date(2026, 12, 6), today).is_ok());
    assert!(period_dates(ReportPeriod::Monthly, date(2026, 12, 31), today).is_ok());
    assert_eq!(period_dates(ReportPeriod::Monthly, date(2027, 1, 1), today), Err(RangeError::Future(date(2027, 1, 1))));
    assert_eq!(
        period_dates(ReportPeriod::Daily, date(1999, 12, 31), today),
        Err(RangeError::TooEarly(date(1999, 12, 31)))
    );
}

#[test]
fn a_period_under_way_ends_now_in_the_centres_time_zone() {
    let calendar = crate::config::Config::default().rules().unwrap().calendar;
    let now: Timestamp = "2026-12-04T06:00:00Z".parse().unwrap();
    let (from, to) = period_bounds(&calendar, date(2026, 12, 4), date(2026, 12, 5), now);
    assert_eq!(from.to_string(), "2026-12-03T16:00:00Z", "midnight in Shanghai");
    assert_eq!(to, now);
}

fn case(merchant: &str, major: bool, reply: Option<(i64, Option<i64>)>) -> CaseRow {
    let t = |m: i64| Timestamp::from_second(m * 60).unwrap();
    CaseRow {
        channel: CaseChannel::Forum,
        merchant: merchant.into(),
        category: "c".into(),
        brand: None,
        major,
        resolved: false,
        answer_by: t(1000),
        answered_at: None,
        merchant_reply_by: reply.map(|(by, _)| t(by)),
        merchant_replied_at: reply.and_then(|(_, at)| at.map(t)),
    }
}

#[test]
fn merchants_rank_by_complaints_then_major_ones_then_worst_replies() {
    let now = Timestamp::from_second(100 * 60).unwrap();
    let cases = [
        case("A", false, Some((10, Some(5)))),
        case("B", true, None),
        case("C", false, Some((10, None))),
        case("D", false, Some((200, None))), // not owed yet
        case("E", false, None),
        case("E", false, None),
    ];
    let ranked: Vec<_> = merchants(&cases, now).into_iter().map(|m| (m.rank, m.merchant, m.reply_score)).collect();
    let expected = [(1, "E", 100), (2, "B", 100), (3, "C", 60), (4, "A", 100), (5, "D", 100)];
    assert_eq!(ranked, expected.map(|(r, m, s)| (r, m.to_owned(), s)));
}

#[test]
fn each_agents_placed_calls_over_the_target_and_the_limit_are_a_share() {
    let (li, wang) = (UserId::new(), UserId::new());
    let talks = [(li, 100_000), (li, 200_000), (li, 400_000), (wang, 180_000)];
    let list = agents(&[], &BTreeMap::new(), &BTreeMap::new(), (&talks, &CallLength::default()));
    let of = |a: UserId| list.iter().find(|k| k.agent == a).unwrap();
    assert_eq!(of(li).calls_talked, 3);
    assert_eq!((of(li).share_over_target, of(li).share_over_limit), (Some(2.0 / 3.0), Some(1.0 / 3.0)));
    // Exactly the target is not over it.
    assert_eq!((of(wang).share_over_target, of(wang).share_over_limit), (Some(0.0), Some(0.0)));
}
