//! The dispatcher's travel work end to end over REST and the dispatcher's
//! WebSocket: a pool accepted, drivers phoned (one declines, the next
//! confirms), the trip dispatched, insurance registered, the orders
//! completed, every step in the record; a driver double-booked refused;
//! an inn booking left unprocessed phoned about; bad input refused with
//! nothing written.

mod common;

use common::{Console, Http, TestServer};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

fn at(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second()).unwrap().to_string()
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Waits for a board on the dispatcher's socket for which `ready` holds.
async fn board_until(console: &mut Console, ready: impl Fn(&Value) -> bool) -> Value {
    loop {
        let msg = console.expect("board").await;
        if ready(&msg["board"]) {
            return msg["board"].clone();
        }
    }
}

fn events(order: &Value) -> Vec<String> {
    order["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

async fn add_driver(admin: &Http, name: &str, phone: &str, seats: u32, area: &str) -> String {
    let body = json!({"name": name, "phone": phone, "seats": seats, "area": area});
    let (status, driver) = admin.post("/api/v1/drivers", body).await;
    assert_eq!(status, 201, "{driver}");
    id(&driver).to_owned()
}

async fn drop_off(dispatcher: &Http, passenger: &str, airport: &str, time: Timestamp, passengers: u32) -> Value {
    let body = json!({"kind": "dropoff", "passenger": passenger, "phone": "13800138000", "passengers": passengers,
        "airport": airport, "time": at(time)});
    let (status, order) = dispatcher.post("/api/v1/car-orders", body).await;
    assert_eq!(status, 201, "{order}");
    order
}

const BACK_OFFICE_TOKEN: &str = "inn-back-office-token-0123456789abcdefghij";

#[tokio::test]
async fn a_pool_from_proposal_to_completion_on_sqlite() {
    a_pool_from_proposal_to_completion(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn a_pool_from_proposal_to_completion_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    a_pool_from_proposal_to_completion(&db).await;
}

async fn a_pool_from_proposal_to_completion(db: &TestDb) {
    let server = TestServer::start(db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let wang = add_driver(&admin, "王师傅", "13900001111", 6, "PVG").await;
    let li = add_driver(&admin, "Li", "13900002222", 6, "PVG").await;
    add_driver(&admin, "Far", "13900003333", 6, "Hongqiao").await;
    let dispatcher = server.login("zhou", "agent-password").await;
    let mut console = server.console("zhou").await;
    board_until(&mut console, |b| b["drivers"].as_array().unwrap().len() == 3).await;

    // Three drop-offs to PVG within 20 minutes, one to SHA: one proposal of three,
    // pushed to the dispatcher's board.
    let t = Timestamp::now() + SignedDuration::from_hours(5);
    let mut pvg = Vec::new();
    for (minutes, passengers) in [(0, 1), (10, 2), (20, 2)] {
        pvg.push(drop_off(&dispatcher, "张三", "PVG", t + SignedDuration::from_mins(minutes), passengers).await);
    }
    let sha = drop_off(&dispatcher, "李四", "SHA", t + SignedDuration::from_mins(5), 1).await;
    let board = board_until(&mut console, |b| b["car_orders"].as_array().unwrap().len() == 4).await;
    let pools = board["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "{board}");
    let order_ids: Vec<&str> = pvg.iter().map(id).collect();
    assert_eq!(pools[0]["order_ids"], json!(order_ids));
    let (_, rest) = dispatcher.get("/api/v1/pool-proposals").await;
    assert_eq!(rest, board["pools"], "REST and the board agree");

    // The dispatcher accepts it: one trip of the three orders; no proposal left.
    let pool = pools[0]["id"].as_str().unwrap();
    let (status, trip) = dispatcher.post(&format!("/api/v1/pool-proposals/{pool}/accept"), json!({})).await;
    assert_eq!(status, 201, "{trip}");
    assert_eq!(
        (&trip["status"], &trip["passengers"], &trip["order_ids"]),
        (&json!("planned"), &json!(5), &json!(order_ids))
    );
    let trip_id = id(&trip).to_owned();
    assert_eq!(dispatcher.get("/api/v1/pool-proposals").await.1, json!([]));
    board_until(&mut console, |b| b["trips"].as_array().unwrap().len() == 1).await;

    // Suggested drivers: the two covering PVG first, the one elsewhere after.
    let (_, ranked) = dispatcher.get(&format!("/api/v1/trips/{trip_id}/suggested-drivers")).await;
    let ranked = ranked.as_array().unwrap().clone();
    assert_eq!(ranked.len(), 3, "{ranked:?}");
    assert!(ranked.iter().all(|s| s["eligible"] == true), "{ranked:?}");
    assert_eq!(ranked[2]["name"], "Far");
    assert!(ranked[0]["reasons"].as_array().unwrap().contains(&json!("covers PVG")), "{ranked:?}");
    let (first, second) = (ranked[0]["driver_id"].as_str().unwrap(), ranked[1]["driver_id"].as_str().unwrap());
    assert_eq!([first, second].iter().filter(|d| **d == wang || **d == li).count(), 2);

    // The first declines; the ranking puts them last, with why; the next confirms.
    let call = |driver: &str, outcome: &str| json!({"driver_id": driver, "outcome": outcome});
    let calls = format!("/api/v1/trips/{trip_id}/calls");
    let (status, after) = dispatcher.post(&calls, call(first, "declined")).await;
    assert_eq!((status, &after["status"]), (201, &json!("planned")), "{after}");
    let (_, ranked) = dispatcher.get(&format!("/api/v1/trips/{trip_id}/suggested-drivers")).await;
    assert_eq!(ranked[0]["driver_id"], second);
    let last = ranked.as_array().unwrap().last().unwrap();
    assert_eq!((&last["driver_id"], &last["eligible"]), (&json!(first), &json!(false)));
    assert!(last["reasons"][0].as_str().unwrap().starts_with("declined for this trip at"), "{last}");
    let (status, confirmed) = dispatcher.post(&calls, call(second, "confirmed")).await;
    assert_eq!(status, 201, "{confirmed}");
    assert_eq!((&confirmed["status"], &confirmed["driver_id"]), (&json!("confirmed"), &json!(second)));
    assert_eq!(confirmed["calls"].as_array().unwrap().len(), 2);
    let (_, driver) = dispatcher.get(&format!("/api/v1/drivers/{second}")).await;
    assert_eq!(driver["status"], "assigned");

    // Double-booked: the same driver on an overlapping trip is refused, nothing written.
    let (_, sha_trip) = dispatcher.post("/api/v1/trips", json!({"order_ids": [id(&sha)]})).await;
    let sha_calls = format!("/api/v1/trips/{}/calls", id(&sha_trip));
    let (status, err) = dispatcher.post(&sha_calls, call(second, "confirmed")).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("driver_double_booked")), "{err}");
    let (_, unchanged) = dispatcher.get(&format!("/api/v1/trips/{}", id(&sha_trip))).await;
    assert_eq!((&unchanged["status"], &unchanged["calls"]), (&json!("planned"), &json!([])));
    // Completing before dispatch is refused too.
    let complete = |o: &Value| format!("/api/v1/car-orders/{}/complete", id(o));
    assert_eq!(dispatcher.post(&complete(&pvg[0]), json!({})).await.1["error"]["code"], "order_state");

    // Dispatched: the orders' car_dispatch tasks are done, insurance tasks exist.
    let (status, dispatched) = dispatcher.post(&format!("/api/v1/trips/{trip_id}/dispatch"), json!({})).await;
    assert_eq!((status, &dispatched["status"]), (200, &json!("dispatched")), "{dispatched}");
    for order in &pvg {
        let (_, stored) = dispatcher.get(&format!("/api/v1/car-orders/{}", id(order))).await;
        assert_eq!(stored["status"], "dispatched");
        let (_, task) = admin.get(&format!("/api/v1/tasks/{}", order["task_id"].as_str().unwrap())).await;
        assert_eq!(task["status"], "completed", "{task}");
        let insurance = stored["insurance_task_id"].as_str().expect("an insurance task");
        let (_, task) = admin.get(&format!("/api/v1/tasks/{insurance}")).await;
        assert_eq!(task["kind"], "insurance_registration", "{task}");
    }

    // No completion without the policy number; then registered, completed.
    let (status, err) = dispatcher.post(&complete(&pvg[0]), json!({})).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("insurance_missing")), "{err}");
    for (n, order) in pvg.iter().enumerate() {
        let body = json!({"policy_number": format!("PICC-2026-{n}")});
        let (status, insured) = dispatcher.post(&format!("/api/v1/car-orders/{}/insurance", id(order)), body).await;
        assert_eq!((status, &insured["policy_number"]), (200, &json!(format!("PICC-2026-{n}"))), "{insured}");
        let (status, done) = dispatcher.post(&complete(order), json!({})).await;
        assert_eq!((status, &done["status"]), (200, &json!("completed")), "{done}");
    }
    let (_, trip) = dispatcher.get(&format!("/api/v1/trips/{trip_id}")).await;
    assert_eq!(trip["status"], "completed");
    let (_, driver) = dispatcher.get(&format!("/api/v1/drivers/{second}")).await;
    assert_eq!(driver["status"], "available", "the driver is free once the trip completes");
    let (_, stored) = dispatcher.get(&format!("/api/v1/car-orders/{}", id(&pvg[0]))).await;
    let (_, insurance_task) =
        admin.get(&format!("/api/v1/tasks/{}", stored["insurance_task_id"].as_str().unwrap())).await;
    assert_eq!(insurance_task["status"], "completed", "{insurance_task}");

    // Every step is in the record.
    assert_eq!(
        events(&stored),
        [
            "created",
            "trip_planned",
            "driver_declined",
            "driver_confirmed",
            "dispatched",
            "insurance_registered",
            "completed"
        ]
    );
    let board = board_until(&mut console, |b| b["car_orders"].as_array().unwrap().len() == 1).await;
    assert_eq!(board["car_orders"][0]["id"], id(&sha), "only the SHA order is left on the board");
    server.stop().await;
}

#[tokio::test]
async fn bad_trip_steps_are_refused_with_nothing_written() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    add_driver(&admin, "Small", "13900001111", 4, "PVG").await;
    let dispatcher = server.login("zhou", "agent-password").await;
    let t = Timestamp::now() + SignedDuration::from_hours(5);
    let a = drop_off(&dispatcher, "A", "PVG", t, 3).await;
    let b = drop_off(&dispatcher, "B", "PVG", t + SignedDuration::from_mins(10), 3).await;
    let c = drop_off(&dispatcher, "C", "SHA", t, 1).await;
    let late = drop_off(&dispatcher, "D", "PVG", t + SignedDuration::from_mins(50), 1).await;
    for (orders, code) in [
        (json!([id(&a), id(&b)]), "pool_invalid"),    // 6 passengers, 4 seats
        (json!([id(&a), id(&c)]), "pool_invalid"),    // two airports
        (json!([id(&a), id(&late)]), "pool_invalid"), // 50 minutes apart
        (json!([id(&a), id(&a)]), "invalid_field"),
        (json!([]), "invalid_field"),
        (json!(["0190c4c4-0000-7000-8000-000000000000"]), "unknown_order"),
    ] {
        let (status, err) = dispatcher.post("/api/v1/trips", json!({"order_ids": orders})).await;
        assert_eq!((status, &err["error"]["code"]), (422, &json!(code)), "{orders}: {err}");
    }
    let (_, board) = dispatcher.get("/api/v1/dispatch-board").await;
    assert_eq!(board["trips"], json!([]), "nothing half-written");
    assert!(board["car_orders"].as_array().unwrap().iter().all(|o| o["trip_id"].is_null()));
    // An agent may not steer the cars.
    server.add_agent(&admin, "li", &["hotline"]).await;
    let agent = server.login("li", "agent-password").await;
    assert_eq!(agent.post("/api/v1/trips", json!({"order_ids": [id(&a)]})).await.0, 403);
    // A proposal turned down is not proposed again.
    let (_, plan) = dispatcher.post("/api/v1/trips", json!({"order_ids": [id(&a)]})).await;
    assert_eq!(plan["order_ids"], json!([id(&a)]));
    assert_eq!(
        dispatcher.post("/api/v1/trips", json!({"order_ids": [id(&a)]})).await.1["error"]["code"],
        "order_taken"
    );
    let e = drop_off(&dispatcher, "E", "SHA", t + SignedDuration::from_mins(5), 1).await;
    let (_, pools) = dispatcher.get("/api/v1/pool-proposals").await;
    assert_eq!(pools[0]["order_ids"], json!([id(&c), id(&e)]), "{pools}");
    let pool = pools[0]["id"].as_str().unwrap();
    assert_eq!(dispatcher.post(&format!("/api/v1/pool-proposals/{pool}/reject"), json!({})).await.0, 204);
    assert_eq!(dispatcher.get("/api/v1/pool-proposals").await.1, json!([]));
    let (status, _) = dispatcher.post(&format!("/api/v1/pool-proposals/{pool}/accept"), json!({})).await;
    assert_eq!(status, 404);
    // A cancelled order leaves its trip and closes its task.
    let (status, cancelled) = dispatcher.post(&format!("/api/v1/car-orders/{}/cancel", id(&a)), json!({})).await;
    assert_eq!((status, &cancelled["status"], &cancelled["trip_id"]), (200, &json!("cancelled"), &Value::Null));
    let (_, trip) = dispatcher.get(&format!("/api/v1/trips/{}", id(&plan))).await;
    assert_eq!(trip["status"], "cancelled");
    server.stop().await;
}

#[tokio::test]
async fn an_inn_booking_left_unprocessed_is_phoned_about_on_sqlite() {
    an_inn_booking_left_unprocessed_is_phoned_about(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn an_inn_booking_left_unprocessed_is_phoned_about_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    an_inn_booking_left_unprocessed_is_phoned_about(&db).await;
}

async fn an_inn_booking_left_unprocessed_is_phoned_about(db: &TestDb) {
    let mut config = TestServer::config(db);
    config.access.back_office_tokens.insert("inn-back-office".into(), BACK_OFFICE_TOKEN.into());
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["travel"]).await;
    let mut agent = server.console("li").await;
    let body = json!({"name": "西湖客栈", "front_desk_phone": "057188886666"});
    assert_eq!(admin.post("/api/v1/inns", body.clone()).await.0, 201);
    assert_eq!(admin.post("/api/v1/inns", body).await.1["error"]["code"], "conflict");
    // The inn back office reports with its own token; an agent may not.
    let back_office = server.client(Some(BACK_OFFICE_TOKEN.into()));
    let li = server.login("li", "agent-password").await;
    let booking = json!({"inn": "西湖客栈", "front_desk_phone": "057188886666", "guest": "陈先生",
        "status": "unprocessed", "created_at": at(Timestamp::now() - SignedDuration::from_hours(1))});
    assert_eq!(li.post("/api/v1/inn-orders", booking).await.0, 403, "an agent invents no bookings");
    assert_eq!(li.get("/api/v1/inn-orders").await.0, 403, "nor lists them");

    // Unknown inn, bad status, future creation: 4xx, nothing stored.
    let report = |inn: &str, status: &str, created: Timestamp| {
        json!({"inn": inn, "front_desk_phone": "057188886666", "guest": "陈先生", "status": status,
            "created_at": at(created), "check_in": "2026-12-24", "check_out": "2026-12-26"})
    };
    let now = Timestamp::now();
    let (status, err) = back_office.post("/api/v1/inn-orders", report("无名客栈", "unprocessed", now)).await;
    assert_eq!((status, &err["error"]["code"]), (422, &json!("unknown_inn")), "{err}");
    let (status, _) = back_office.post("/api/v1/inn-orders", report("西湖客栈", "lost", now)).await;
    assert_eq!(status, 422);
    let (status, _) = back_office
        .post("/api/v1/inn-orders", report("西湖客栈", "unprocessed", now + SignedDuration::from_hours(1)))
        .await;
    assert_eq!(status, 422);
    assert_eq!(back_office.get("/api/v1/inn-orders").await.1, json!([]), "nothing half-written");

    // Fresh and unprocessed: nothing yet. Ten minutes old and unprocessed: the reminder.
    let (status, fresh) = back_office.post("/api/v1/inn-orders", report("西湖客栈", "unprocessed", now)).await;
    assert_eq!((status, &fresh["reminders"]), (201, &json!(0)), "{fresh}");
    let mut old = report("西湖客栈", "unprocessed", now - SignedDuration::from_mins(10));
    old["reference"] = json!("XH-1001");
    old["guest"] = json!("林女士");
    let (status, order) = back_office.post("/api/v1/inn-orders", old.clone()).await;
    assert_eq!(status, 201, "{order}");
    let offer = agent.expect("offer").await;
    let task = &offer["task"];
    assert_eq!((&task["kind"], &task["customer_phone"]), (&json!("inn_reminder"), &json!("057188886666")), "{offer}");
    let reason = task["reason"].as_str().unwrap();
    assert!(reason.contains("西湖客栈") && reason.contains("林女士") && reason.contains("057188886666"), "{reason}");
    assert!(agent.next_within(std::time::Duration::from_millis(500)).await.is_none(), "the fresh booking waits");

    // The agent phones the inn; the back office then reports it processed.
    let task_id = task["id"].as_str().unwrap();
    agent.send(json!({"type": "accept", "task_id": task_id})).await;
    agent.expect("task_assigned").await;
    agent
        .send(json!({"type": "complete", "task_id": task_id, "outcome": "reached", "summary": "前台说马上处理"}))
        .await;
    agent.expect("ack").await;
    old["status"] = json!("processed");
    let (status, processed) = back_office.post("/api/v1/inn-orders", old).await;
    assert_eq!((status, &processed["status"]), (200, &json!("processed")), "{processed}");
    assert_eq!(processed["id"], order["id"], "the same booking, by its reference");
    // The reminder's end reaches the store a moment after the agent's ack.
    let deadline = Timestamp::now() + SignedDuration::from_secs(5);
    let stored = loop {
        let (_, stored) = back_office.get(&format!("/api/v1/inn-orders/{}", id(&order))).await;
        if stored["task_status"] == "completed" || Timestamp::now() > deadline {
            break stored;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(events(&stored), ["reported", "reminder", "processed"]);
    assert_eq!((&stored["reminders"], &stored["task_status"]), (&json!(1), &json!("completed")), "{stored}");
    let (_, waiting) = back_office.get("/api/v1/inn-orders").await;
    assert_eq!(waiting.as_array().unwrap().len(), 1, "only the fresh booking still waits");
    let fresh_path = format!("/api/v1/inn-orders/{}", id(&fresh));
    assert_eq!(li.get(&fresh_path).await.0, 403, "not a booking li was given work on");
    assert_eq!(li.patch(&fresh_path, json!({"status": "processed"})).await.0, 403);
    server.stop().await;
}
