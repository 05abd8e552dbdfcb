//! Car-order escalation and inn-reminder claims, on SQLite and PostgreSQL,
//! with time as an argument.

use jiff::SignedDuration;

use super::tests::{new_task, now};
use super::*;
use crate::domain::{CarOrderId, CarOrderKind, InnOrderStatus, Phone, TaskKind};
use crate::testing::TestDb;

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

async fn escalation(store: Store) {
    let new_order = || NewCarOrder {
        id: CarOrderId::new(),
        kind: CarOrderKind::Pickup,
        passenger: "王五".into(),
        phone: Phone::parse("13800138002").unwrap(),
        passengers: 2,
        luggage: None,
        flight: Some("MU5101".into()),
        airport: Some("PVG".into()),
        from_address: None,
        to_address: None,
        time: now() + mins(180),
        confirm_by: now() + mins(60),
        created_by: None,
        created_at: now(),
    };
    let (order, confirmed) = (new_order(), new_order());
    for o in [&order, &confirmed] {
        store.create_car_order(o, &new_task("13800138002", TaskKind::CarDispatch)).await.unwrap();
    }
    // A driver confirmed for the second one in time: only the first escalates.
    let driver = NewDriver {
        name: "王师傅".into(),
        phone: Phone::parse("13900001111").unwrap(),
        vehicle: None,
        seats: 6,
        area: "PVG".into(),
        status: crate::domain::DriverStatus::Available,
    };
    let driver = store.create_driver(driver, now()).await.unwrap();
    let by = store.create_user(super::tests::new_user("zhou"), now()).await.unwrap().id;
    let trip = NewTrip {
        id: crate::domain::TripId::new(),
        orders: vec![confirmed.id],
        span: crate::rules::travel::trips::Span { start: now() + mins(90), end: now() + mins(270) },
        passengers: 2,
        pool_id: None,
        by,
        at: now(),
    };
    store.create_trip(&trip).await.unwrap().unwrap();
    let yes = crate::domain::DriverCallOutcome::Confirmed;
    store.record_driver_call(trip.id, driver.id, &driver.name, yes, by, now()).await.unwrap().unwrap();
    assert_eq!(store.next_car_order_deadline().await.unwrap(), Some(order.confirm_by));
    assert_eq!(store.escalate_overdue_car_orders(now() + mins(59)).await.unwrap(), []);
    assert_eq!(store.escalate_overdue_car_orders(now() + mins(60)).await.unwrap(), [order.id]);
    assert_eq!(store.escalate_overdue_car_orders(now() + mins(61)).await.unwrap(), [], "once");
    assert_eq!(store.next_car_order_deadline().await.unwrap(), None);
    let stored = store.car_order(order.id).await.unwrap().unwrap();
    assert_eq!(stored.escalated_at, Some(now() + mins(60)));
    assert_eq!(stored.events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["created", "escalated"]);
    store.close().await;
}

async fn inn_reminders(store: Store) {
    let desk = Phone::parse("057188886666").unwrap();
    let inn = store.create_inn("西湖客栈", &desk, now()).await.unwrap();
    let booking = NewInnOrder {
        inn: inn.id,
        reference: Some("XH-1".into()),
        front_desk_phone: desk.clone(),
        guest: "林女士".into(),
        check_in: None,
        check_out: None,
        status: InnOrderStatus::Unprocessed,
        created_at: now(),
        remind_at: now() + mins(10),
    };
    let (id, created, _) = store.report_inn_order(&booking, now()).await.unwrap();
    assert!(created);
    let (due, next) = store.due_inn_orders(now()).await.unwrap();
    assert_eq!((due.len(), next), (0, Some(now() + mins(10))));
    let (due, _) = store.due_inn_orders(now() + mins(10)).await.unwrap();
    assert_eq!(due[0].id, id);

    let remind = |escalated, next_at| ReminderWrite::Remind {
        task: Box::new(new_task("057188886666", TaskKind::InnReminder)),
        escalated,
        next_at,
    };
    let first = remind(false, now() + mins(20));
    assert!(store.write_inn_reminder(id, 0, &first, now() + mins(10)).await.unwrap());
    // A second node holding the same stale count writes nothing.
    assert!(!store.write_inn_reminder(id, 0, &remind(false, now() + mins(20)), now() + mins(10)).await.unwrap());
    assert_eq!(store.due_inn_orders(now() + mins(19)).await.unwrap().0, []);
    let (due, _) = store.due_inn_orders(now() + mins(20)).await.unwrap();
    assert_eq!((due[0].reminders, due[0].task_status), (1, Some(crate::domain::TaskStatus::Waiting)));

    // The reminder still waits: escalated, no second task; then an escalated reminder, one escalation.
    let wait = ReminderWrite::Escalate { next_at: now() + mins(30) };
    assert!(store.write_inn_reminder(id, 1, &wait, now() + mins(20)).await.unwrap());
    assert!(store.write_inn_reminder(id, 1, &remind(true, now() + mins(40)), now() + mins(30)).await.unwrap());
    let stored = store.inn_order(id).await.unwrap().unwrap();
    assert_eq!((stored.reminders, stored.escalated_at), (2, Some(now() + mins(20))));
    let events: Vec<&str> = stored.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["reported", "reminder", "escalated", "reminder"]);

    // Processed, reported again by its reference: the latest reminder is handed back to settle.
    let processed = NewInnOrder { status: InnOrderStatus::Processed, ..booking };
    let (again, created, task) = store.report_inn_order(&processed, now() + mins(31)).await.unwrap();
    assert_eq!((again, created, task), (id, false, stored.task_id));
    assert_eq!(store.due_inn_orders(now() + mins(60)).await.unwrap(), (vec![], None));
    assert!(!store.write_inn_reminder(id, 2, &remind(false, now() + mins(70)), now() + mins(60)).await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn car_orders_escalate_once_on_sqlite() {
    escalation(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn car_orders_escalate_once_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    escalation(db.store().await).await;
}

#[tokio::test]
async fn inn_reminders_are_claimed_once_on_sqlite() {
    inn_reminders(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn inn_reminders_are_claimed_once_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    inn_reminders(db.store().await).await;
}
