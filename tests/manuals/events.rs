//! Events (seed 000 专场、营销性回访): the week-before call's attendance
//! counted live and in the reports (确认是否到场,统计预到场人数), an agent
//! registering a customer during a marketing call (代报名), and events
//! recommended from imported order history (针对专场的品类及档次,从历史订单
//! 数据中筛选匹配用户), on SQLite and PostgreSQL.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchboard::testing::TestDb;

use super::code;
use crate::common::{Console, TestServer, open_now};

#[tokio::test]
async fn events_count_attendance_and_are_recommended_on_sqlite() {
    events_count_attendance_and_are_recommended(TestDb::sqlite()).await;
}

#[tokio::test]
async fn events_count_attendance_and_are_recommended_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    events_count_attendance_and_are_recommended(db).await;
}

/// Accepts the next offer, whichever it is; returns its task.
async fn take_next(console: &mut Console) -> Value {
    let offer = console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    console.expect("task_assigned").await["task"].clone()
}

async fn events_count_attendance_and_are_recommended(db: TestDb) {
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    config.dispatch.wrap_up_secs = 0;
    let cal = config.rules().unwrap().calendar;
    let today = cal.date_of(jiff::Timestamp::now());
    let day = |n: i64| today.checked_add(jiff::Span::new().days(n)).unwrap().to_string();
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks", "marketing"]).await;
    server.add_agent(&admin, "wang", &["travel"]).await;

    // A flooring event ten days on, recommended to tile and bathroom buyers
    // of its tier. A tier out of range writes nothing.
    let expo = json!({"name": "安信地板专场", "date": day(10), "kind": "special", "place": "会展中心",
                      "category": "地板", "match_categories": ["瓷砖", "卫浴"], "price_tier": 4});
    let mut bad = expo.clone();
    bad["price_tier"] = json!(9);
    let (status, err) = admin.put("/api/v1/events/floor-expo", bad).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    assert_eq!(admin.get("/api/v1/events/floor-expo").await.0, 404);
    let (status, described) = admin.put("/api/v1/events/floor-expo", expo).await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["match_categories"], json!(["卫浴", "地板", "瓷砖"]));

    // A new customer registers: the registration must agree with the event.
    let signup = |phone: &str, date: String| {
        json!({"customer_phone": phone, "customer_kind": "new", "event_id": "floor-expo", "event_date": date,
               "event_kind": "special"})
    };
    let (status, err) = admin.post("/api/v1/registrations", signup("13800138001", day(11))).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    let (status, created) = admin.post("/api/v1/registrations", signup("13800138001", day(10))).await;
    assert_eq!(status, 201, "{created}");

    // The 15-minute call: li asks whether they will come and how many.
    let mut li = server.console("li").await;
    let held = take_next(&mut li).await;
    assert_eq!(held["customer_phone"], "13800138001", "{held}");
    let li_http = server.login("li", "agent-password").await;
    let wang = server.login("wang", "agent-password").await;
    let answer = "/api/v1/events/floor-expo/attendance/13800138001";
    let (status, err) = wang.put(answer, json!({"coming": true, "people": 3})).await;
    assert_eq!((status, code(&err)), (403, "not_your_work"), "{err}");
    let (status, err) = li_http.put(answer, json!({"coming": true, "people": 0})).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    let (status, counted) = li_http.put(answer, json!({"coming": true, "people": 3})).await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(
        (&counted["registered"], &counted["coming"], &counted["expected_people"]),
        (&json!(1), &json!(1), &json!(3))
    );
    let (status, err) = admin.put("/api/v1/events/floor-expo/attendance/13900139000", json!({"coming": false})).await;
    assert_eq!((status, code(&err)), (422, "not_registered"), "{err}");
    li.send(json!({"type": "complete", "task_id": held["id"], "outcome": "reached", "summary": "3 人到场"})).await;
    li.expect("ack").await;

    // Order history: a bad CSV row imports nothing; then the real files.
    let csv_header = "order_ref,customer_phone,category,brand,price_tier,ordered_on\n";
    let bad_csv =
        format!("{csv_header}A-1,13700137001,瓷砖,马可波罗,4,{}\nA-2,13700137002,卫浴,科勒,4,yesterday\n", day(-30));
    let (status, err) = admin.raw("POST", "/api/v1/orders", Some(bad_csv), "text/csv").await;
    assert_eq!((status, code(&err)), (422, "invalid_field"), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().starts_with("order 2:"), "{err}");
    let (status, err) = admin.post("/api/v1/events/floor-expo/recommendations", json!({})).await;
    assert_eq!((status, err.as_array().map(Vec::len)), (201, Some(0)), "nothing was imported: {err}");
    let good_csv = format!(
        "{csv_header}A-1,13700137001,瓷砖,马可波罗,4,{}\nA-2,13700137002,卫浴,科勒,4,{}\nA-3,13700137003,瓷砖,,2,{}\n\
         A-4,13800138001,瓷砖,,4,{}\n",
        day(-30),
        day(-60),
        day(-10),
        day(-5)
    );
    let (status, imported) = admin.raw("POST", "/api/v1/orders", Some(good_csv), "text/csv").await;
    assert_eq!((status, &imported["imported"]), (200, &json!(4)), "{imported}");
    let json_orders = json!({"orders": [{"order_ref": "B-1", "customer_phone": "13700137004", "category": "家电",
        "price_tier": 4, "ordered_on": day(-3)}]});
    assert_eq!(admin.post("/api/v1/orders", json_orders).await.0, 200);

    // Recommended: the tile and bathroom buyers of tier 4, latest order
    // first; not the other tier, not the appliance buyer, not a customer
    // already registered. Asked again: nobody twice.
    let (status, picked) = admin.post("/api/v1/events/floor-expo/recommendations", json!({})).await;
    assert_eq!(status, 201, "{picked}");
    let phones: Vec<&str> = picked.as_array().unwrap().iter().map(|r| r["customer_phone"].as_str().unwrap()).collect();
    assert_eq!(phones, ["13700137001", "13700137002"], "{picked}");
    let (_, again) = admin.post("/api/v1/events/floor-expo/recommendations", json!({})).await;
    assert_eq!(again, json!([]));

    // 代报名: li takes a recommendation call and registers the customer,
    // which makes that registration's own week-before callback.
    let held = take_next(&mut li).await;
    assert_eq!(held["kind"], "event_recommendation", "{held}");
    let phone = held["customer_phone"].as_str().unwrap().to_owned();
    assert!(held["reason"].as_str().unwrap().contains("安信地板专场"), "{held}");
    let mut on_behalf = signup(&phone, day(10));
    on_behalf["customer_kind"] = json!("returning");
    on_behalf["source"] = json!("代报名");
    let (status, callbacks) = li_http.post("/api/v1/registrations", on_behalf).await;
    assert_eq!(status, 201, "{callbacks}");
    let kinds: BTreeSet<&str> = callbacks.as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["event_callback"].into(), "{callbacks}");
    li.send(json!({"type": "complete", "task_id": held["id"], "outcome": "reached", "summary": "已代报名"})).await;
    li.expect("ack").await;
    let (_, event) = admin.get("/api/v1/events/floor-expo").await;
    assert_eq!((&event["attendance"]["registered"], &event["attendance"]["expected_people"]), (&json!(2), &json!(3)));
    let (_, listed) = li_http.get("/api/v1/events").await;
    assert_eq!(listed[0]["id"], "floor-expo", "agents see the events to register for: {listed}");

    // Today's show: expected against actual in the day's report.
    admin.put("/api/v1/events/today-show", json!({"name": "主场", "date": day(0), "kind": "main"})).await;
    for phone in ["13600136001", "13600136002"] {
        let mut r = signup(phone, day(0));
        (r["event_id"], r["event_kind"]) = (json!("today-show"), json!("main"));
        assert_eq!(admin.post("/api/v1/registrations", r).await.0, 201);
    }
    admin.put("/api/v1/events/today-show/attendance/13600136001", json!({"coming": true, "people": 2})).await;
    admin.put("/api/v1/events/today-show/attendance/13600136002", json!({"coming": false})).await;
    let ended = json!({"attended": ["13600136001"], "ordered": []});
    assert_eq!(admin.post("/api/v1/events/today-show/ended", ended).await.0, 201);
    let (_, report) = admin.get(&format!("/api/v1/reports/daily?date={}", day(0))).await;
    let shows = report["events"].as_array().unwrap();
    assert_eq!(shows.len(), 1, "only the events held that day: {report}");
    let s = &shows[0];
    assert_eq!(
        (&s["id"], &s["registered"], &s["coming"], &s["expected_people"], &s["attended"], &s["attended_as_said"]),
        (&json!("today-show"), &json!(2), &json!(1), &json!(2), &json!(1), &json!(1)),
        "{s}"
    );
    server.stop().await;
}
