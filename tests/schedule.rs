//! Scheduled tasks end to end: created over REST with `not_before`, offered
//! to no one before it, released on time, kept across a restart, and
//! cancellable while scheduled.

mod common;

use std::time::Duration;

use common::TestServer;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use switchboard::testing::TestDb;

fn in_ms(ms: i64) -> String {
    (Timestamp::now() + SignedDuration::from_millis(ms)).to_string()
}

#[tokio::test]
async fn a_scheduled_task_is_offered_from_its_start_time_even_across_a_restart() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    let body = json!({"kind": "event_callback", "customer_phone": "13900000001", "not_before": in_ms(1500)});
    let (status, task) = admin.post("/api/v1/tasks", body).await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["status"], "scheduled");
    assert!(console.expect_within("offer", Duration::from_millis(1000)).await.is_none(), "offered before its time");
    let offer = console.expect_within("offer", Duration::from_secs(3)).await.expect("offered when due");
    assert_eq!(offer["task"]["id"], task["id"]);

    // Scheduled, then the server stops: the next start still releases it.
    let body = json!({"kind": "event_callback", "customer_phone": "13900000002", "not_before": in_ms(1500)});
    let (_, later) = admin.post("/api/v1/tasks", body).await;
    drop(console);
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_, again) = admin.get(&format!("/api/v1/tasks/{}", later["id"].as_str().unwrap())).await;
    assert_eq!(again["status"], "waiting", "{again}");
    server.stop().await;
}

#[tokio::test]
async fn a_scheduled_task_can_be_cancelled_and_bad_schedules_are_refused() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    let body = json!({"kind": "event_callback", "customer_phone": "13900000001", "not_before": in_ms(800)});
    let (_, task) = admin.post("/api/v1/tasks", body).await;
    let id = task["id"].as_str().unwrap();
    let (status, cancelled) = admin.post(&format!("/api/v1/tasks/{id}/cancel"), json!({})).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")), "{cancelled}");
    assert!(
        console.expect_within("offer", Duration::from_millis(1500)).await.is_none(),
        "a cancelled task is never offered"
    );

    let body = json!({"kind": "event_callback", "customer_phone": "13900000001",
        "not_before": in_ms(7_200_000), "deadline": in_ms(3_600_000)});
    let (status, err) = admin.post("/api/v1/tasks", body).await;
    assert_eq!((status, &err["error"]["code"]), (422, &json!("not_before_after_deadline")));
    // A start time already past means now.
    let body = json!({"kind": "event_callback", "customer_phone": "13900000003", "not_before": in_ms(-60_000)});
    let (_, now) = admin.post("/api/v1/tasks", body).await;
    assert_ne!(now["status"], "scheduled", "{now}");
    server.stop().await;
}
