//! Private-car orders over REST: the dispatch task, the pool proposals,
//! and bad orders refused with nothing written.

mod common;

use common::TestServer;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

fn at(t: Timestamp) -> String {
    // Whole seconds, as a script would send them.
    Timestamp::from_second(t.as_second()).unwrap().to_string()
}

#[tokio::test]
async fn car_orders_on_sqlite() {
    car_orders_become_dispatch_tasks_and_drop_offs_pool(&TestDb::sqlite()).await;
}

#[tokio::test]
async fn car_orders_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    car_orders_become_dispatch_tasks_and_drop_offs_pool(&db).await;
}

async fn car_orders_become_dispatch_tasks_and_drop_offs_pool(db: &TestDb) {
    let server = TestServer::start(db).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"]});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    for (name, phone, seats, status) in [
        ("王师傅", "13900001111", 6, "available"),
        ("Li", "13900002222", 4, "available"),
        ("Zhao", "13900003333", 8, "off_duty"),
    ] {
        let body = json!({"name": name, "phone": phone, "seats": seats, "area": "Pudong", "status": status});
        assert_eq!(admin.post("/api/v1/drivers", body).await.0, 201);
    }
    let dispatcher = server.login("zhou", "agent-password").await;
    let mut console = server.console("zhou").await;

    // Three drop-offs to PVG within 20 minutes, one to SHA.
    let t = Timestamp::now() + SignedDuration::from_hours(5);
    let mut pvg = Vec::new();
    for (minutes, passengers) in [(0, 1), (10, 2), (20, 2)] {
        let body = json!({"kind": "dropoff", "passenger": "张三", "phone": "13800138000", "passengers": passengers,
            "airport": "PVG", "time": at(t + SignedDuration::from_mins(minutes)), "luggage": 2});
        let (status, order) = dispatcher.post("/api/v1/car-orders", body).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["status"], "open");
        pvg.push(order);
    }
    let body = json!({"kind": "dropoff", "passenger": "李四", "phone": "13800138001", "passengers": 1,
        "airport": "SHA", "time": at(t + SignedDuration::from_mins(5))});
    assert_eq!(dispatcher.post("/api/v1/car-orders", body).await.0, 201);

    let (status, pools) = dispatcher.get("/api/v1/pool-proposals").await;
    assert_eq!(status, 200, "{pools}");
    let pools = pools.as_array().unwrap();
    assert_eq!(pools.len(), 1, "{pools:?}");
    let ids: Vec<&Value> = pvg.iter().map(|o| &o["id"]).collect();
    assert_eq!(pools[0]["order_ids"].as_array().unwrap().iter().collect::<Vec<_>>(), ids);
    assert_eq!((&pools[0]["airport"], &pools[0]["seats"]), (&json!("PVG"), &json!(5)));
    let (_, again) = dispatcher.get("/api/v1/pool-proposals").await;
    assert_eq!(again[0]["id"], pools[0]["id"], "a proposal keeps its id while its orders are the same");

    // Each order is a car_dispatch task for the dispatcher, due two hours before.
    let first = &pvg[0];
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["id"], first["task_id"], "{offer}");
    assert_eq!(offer["task"]["kind"], "car_dispatch");
    assert!(offer["task"]["reason"].as_str().unwrap().contains("dropoff for 张三"), "{offer}");
    let due: Timestamp = first["confirm_by"].as_str().unwrap().parse().unwrap();
    let time: Timestamp = first["time"].as_str().unwrap().parse().unwrap();
    assert_eq!(time.duration_since(due), SignedDuration::from_hours(2));
    assert_eq!(offer["task"]["deadline"], first["confirm_by"]);
    let (_, stored) = dispatcher.get(&format!("/api/v1/car-orders/{}", first["id"].as_str().unwrap())).await;
    assert_eq!(
        stored["events"].as_array().unwrap().iter().map(|e| &e["event"]).collect::<Vec<_>>(),
        [&json!("created")]
    );

    // An order made 30 minutes ahead is urgent: confirmed within 15 minutes.
    let soon = Timestamp::now() + SignedDuration::from_mins(30);
    let body = json!({"kind": "pickup", "passenger": "王五", "phone": "13800138002", "passengers": 2,
        "airport": "PVG", "flight": "MU5101", "time": at(soon)});
    let (status, urgent) = dispatcher.post("/api/v1/car-orders", body).await;
    assert_eq!(status, 201, "{urgent}");
    let due: Timestamp = urgent["confirm_by"].as_str().unwrap().parse().unwrap();
    let ahead = due.duration_since(Timestamp::now());
    assert!(ahead > SignedDuration::from_mins(14) && ahead <= SignedDuration::from_mins(15), "{urgent}");

    // Eight passengers fit the van of a driver off duty now: taken (not pooled,
    // and pools are sized by the cars on duty, six seats).
    let body = json!({"kind": "charter", "passenger": "赵六", "phone": "13800138004", "passengers": 8, "time": at(t)});
    assert_eq!(dispatcher.post("/api/v1/car-orders", body).await.0, 201);

    // Bad orders: a clear 4xx, nothing written.
    let (_, before) = dispatcher.get("/api/v1/car-orders").await;
    let past = at(Timestamp::now() - SignedDuration::from_hours(1));
    for (body, code) in [
        (
            json!({"kind": "dropoff", "passenger": "A", "phone": "13800138003", "passengers": 1, "airport": "PVG", "time": past}),
            "time_in_past",
        ),
        (
            json!({"kind": "dropoff", "passenger": "A", "phone": "13800138003", "passengers": 9, "airport": "PVG", "time": at(t)}),
            "passengers",
        ),
        (
            json!({"kind": "dropoff", "passenger": "A", "phone": "13800138003", "passengers": 0, "airport": "PVG", "time": at(t)}),
            "passengers",
        ),
        (
            json!({"kind": "dropoff", "passenger": "A", "phone": "13800138003", "passengers": 1, "time": at(t)}),
            "airport_missing",
        ),
        (
            json!({"kind": "dropoff", "passenger": " ", "phone": "13800138003", "passengers": 1, "airport": "PVG", "time": at(t)}),
            "invalid_field",
        ),
        (
            json!({"kind": "helicopter", "passenger": "A", "phone": "13800138003", "passengers": 1, "time": at(t)}),
            "invalid_body",
        ),
    ] {
        let (status, err) = dispatcher.post("/api/v1/car-orders", body.clone()).await;
        assert_eq!(status, 422, "{body} -> {err}");
        if code != "invalid_body" {
            assert_eq!(err["error"]["code"], code, "{body} -> {err}");
        }
    }
    let (_, after) = dispatcher.get("/api/v1/car-orders").await;
    assert_eq!(before, after, "nothing half-written");
    assert_eq!(after.as_array().unwrap().len(), 6);
    server.stop().await;
}
