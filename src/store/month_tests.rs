//! A scripted month: the scripted day (`report_tests.rs`) and, on other
//! days of March 2026, warranty callbacks, an event with its attendance
//! calls, and a second day of recurring work; the month's report against
//! figures worked out by hand. The same on SQLite and PostgreSQL.

use jiff::Timestamp;
use jiff::civil::{Date, Time, date};

use super::report_tests::{DAY, period_report, script, task};
use super::*;
use crate::config::Config;
use crate::domain::{Outcome, Phone, ReportPeriod, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Record;
use crate::rules::events::AttendanceAnswer;
use crate::testing::TestDb;

fn on(day: Date, h: i8) -> Timestamp {
    Config::default().rules().unwrap().calendar.at(day, Time::new(h, 0, 0, 0).unwrap())
}

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

/// A warranty delivered on `delivered` with a callback on each of `days`
/// (made at 10:00, due at 22:30), each worked as `worked` says: `Some`
/// outcome of one attempt, or `None` for never called.
async fn warranty(store: &Store, customer: &str, delivered: Date, days: &[(Date, Option<Outcome>)], agent: UserId) {
    let mut callbacks = Vec::new();
    for (i, (day, _)) in days.iter().enumerate() {
        let t = task(TaskKind::WarrantyCallback, on(*day, 9), Some(on(*day, 22)));
        callbacks.push((3 + 4 * i as u32, *day, t));
    }
    let w = NewWarranty {
        id: format!("w-{customer}"),
        customer_phone: phone(customer),
        product: "电动车 X1".into(),
        serial_number: None,
        delivered_on: delivered,
        warranty_until: date(2027, 3, 1),
        at: on(delivered, 12),
        by: None,
        callbacks: callbacks.clone(),
    };
    store.add_warranty(&w).await.unwrap();
    for ((day, worked), (_, _, t)) in days.iter().zip(&callbacks) {
        let Some(outcome) = worked else { continue };
        let status = if *outcome == Outcome::Reached { TaskStatus::Completed } else { TaskStatus::Unreachable };
        store
            .apply(&[
                Record::TaskOffered { task: t.id, agent, at: on(*day, 10) },
                Record::TaskAssigned { task: t.id, agent, at: on(*day, 10) },
                Record::TaskClosed {
                    task: t.id,
                    status,
                    agent: Some(agent),
                    outcome: Some(*outcome),
                    summary: None,
                    at: on(*day, 11),
                },
            ])
            .await
            .unwrap();
    }
}

async fn script_month(store: &Store) {
    script(store).await;
    let li = store.user_by_name("li").await.unwrap().unwrap().id;
    // Warranty customers: 1 reached on both callbacks; 2 reached on the
    // first, no answer on the second; 3 never called; 4's callback falls in
    // April.
    let (r, n) = (Some(Outcome::Reached), Some(Outcome::NoAnswer));
    warranty(store, "13500000001", date(2026, 3, 2), &[(date(2026, 3, 5), r), (date(2026, 3, 9), r)], li).await;
    warranty(store, "13500000002", date(2026, 3, 10), &[(date(2026, 3, 13), r), (date(2026, 3, 17), n)], li).await;
    let never = [(date(2026, 3, 27), None), (date(2026, 3, 31), None)];
    warranty(store, "13500000003", date(2026, 3, 24), &never, li).await;
    warranty(store, "13500000004", date(2026, 3, 29), &[(date(2026, 4, 1), r)], li).await;

    // The spring expo on Friday 20 March: three registered; the week-before
    // calls say 3 people and 1 person will come, and one will not. It ends
    // with the first and a walk-in signed in, and the one who said no
    // ordering. An April event is not in March.
    let expo = crate::store::EventWrite {
        id: "spring-expo".into(),
        name: "春季家装展".into(),
        date: date(2026, 3, 20),
        kind: crate::rules::registrations::EventKind::Special,
        place: None,
        category: None,
        match_categories: vec![],
        price_tier: None,
        at: on(date(2026, 3, 2), 9),
        by: None,
    };
    store.put_event(&expo).await.unwrap();
    for (customer, event, day) in [
        ("13600000001", "spring-expo", date(2026, 3, 20)),
        ("13600000002", "spring-expo", date(2026, 3, 20)),
        ("13600000003", "spring-expo", date(2026, 3, 20)),
        ("13600000001", "april-show", date(2026, 4, 3)),
    ] {
        let r = NewRegistration {
            customer_phone: phone(customer),
            customer_kind: "new",
            event_id: event.into(),
            event_date: day,
            event_kind: "special",
            source: None,
            registered_at: on(date(2026, 3, 4), 10),
            registered_by: Some(li),
        };
        store.add_registration(&r, &[]).await.unwrap();
    }
    for (customer, coming, people) in [("13600000001", true, 3), ("13600000002", true, 1), ("13600000003", false, 0)] {
        let answer = AttendanceAnswer::new(coming, Some(people)).unwrap();
        store
            .put_attendance("spring-expo", &phone(customer), answer, on(date(2026, 3, 13), 11), Some(li))
            .await
            .unwrap();
    }
    let (came, ordered) = ([phone("13600000001"), phone("13600000009")], [phone("13600000003")]);
    assert!(store.end_event("spring-expo", on(date(2026, 3, 20), 18), &came, &ordered, &[]).await.unwrap());

    // Recurring work on a second day: li does 25 of 30.
    let t = task(TaskKind::CommunityOutreach, on(date(2026, 3, 4), 9), None);
    let work = NewRecurringWork {
        id: t.id.to_string(),
        rule: "lost_sales".into(),
        label: "未成交分析".into(),
        day: date(2026, 3, 4),
        agent: Some(li),
        queue: "callbacks".into(),
        target: 30,
        due_at: on(date(2026, 3, 4), 22),
        at: on(date(2026, 3, 4), 9),
        task: t,
    };
    assert!(store.release_recurring(&work).await.unwrap());
    assert!(store.set_recurring_done(&work.id, 25, li, on(date(2026, 3, 4), 21)).await.unwrap());
}

async fn scripted_month(store: Store) {
    script_month(&store).await;
    let month = period_report(&store, ReportPeriod::Monthly, date(2026, 4, 2)).await;
    assert_eq!((month.first_day, month.next_day), (date(2026, 3, 1), date(2026, 4, 1)));
    assert!(DAY >= month.first_day && DAY < month.next_day);

    // Satisfaction: the day's three answers, two satisfied (66.7 % < 98 %).
    let s = &month.satisfaction.centre;
    assert_eq!((s.asked, s.satisfied), (3, 2));
    assert!(s.rate.unwrap().breached);

    // Warranty: customers 1, 2 and 3 due; 1 and 2 called on every callback;
    // only 1 reached on every one: 1 of 3 against 100 %. Callbacks: 6 due,
    // 4 called, 3 reached.
    let w = &month.warranty;
    assert_eq!((w.customers_due, w.customers_called, w.customers_reached), (3, 2, 1));
    assert_eq!((w.callbacks_due, w.callbacks_called, w.callbacks_reached), (6, 4, 3));
    let rate = w.callback_rate.unwrap();
    assert_eq!((rate.value, rate.target, rate.breached), (1.0 / 3.0, 1.0, true));

    // The spring expo: 3 registered and answered, 2 coming with 4 people,
    // 1 not; 3 came (one a walk-in), 1 of whom had said they would.
    let [expo] = &month.events[..] else { panic!("one event in March: {:?}", month.events) };
    let a = &expo.attendance;
    assert_eq!((expo.id.as_str(), expo.name.as_deref()), ("spring-expo", Some("春季家装展")));
    assert_eq!((a.registered, a.answered, a.coming, a.not_coming, a.expected_people), (3, 3, 2, 1, 4));
    assert_eq!((a.attended, a.attended_as_said), (Some(3), Some(1)));

    // Nominations: Sunny Tiles on the black list, Blue Lake on the red.
    let n = month.nominations.as_ref().unwrap();
    let names =
        |v: &[crate::rules::reports::lists::Nomination]| v.iter().map(|x| x.merchant.clone()).collect::<Vec<_>>();
    assert_eq!((names(&n.black), names(&n.red)), (vec!["Sunny Tiles".to_owned()], vec!["Blue Lake".to_owned()]));

    // Recurring work per agent: li 55 of 60 over two days, one met; wang
    // 12 of 30.
    let recurring: Vec<_> =
        month.recurring.iter().map(|w| (w.name.as_deref(), w.days, w.target, w.done, w.days_met)).collect();
    assert_eq!(recurring, [(Some("LI"), 2, 60, 55, 1), (Some("WANG"), 1, 30, 12, 0)]);

    let csv = crate::rules::reports::csv::render(&month);
    assert!(csv.contains("\r\nwarranty,customers,callback_rate,0.3333333333333333\r\n"), "{csv}");
    assert!(csv.contains("\r\nevent,2026-03-20 spring-expo,expected_people,4\r\n"), "{csv}");
}

#[tokio::test]
async fn a_scripted_month_reports_as_worked_out_by_hand() {
    scripted_month(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn a_scripted_month_reports_the_same_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    scripted_month(db.store().await).await;
}
