//! Registration callbacks over REST: the deadlines and start times the
//! rules call for (times given in the past so they are fixed), and bad
//! registrations refused with nothing written.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use switchboard::testing::TestDb;

fn registration(phone: &str, customer: &str, event_kind: &str, event_date: &str, at: &str) -> Value {
    json!({"customer_phone": phone, "customer_kind": customer, "event_id": "expo-12", "event_date": event_date,
        "event_kind": event_kind, "registered_at": at, "source": "web"})
}

fn summary(tasks: &Value) -> Vec<(String, String, Value)> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap().to_owned(),
                t["deadline"].as_str().unwrap().to_owned(),
                t["not_before"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn registrations_create_the_callbacks_the_rules_call_for() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;

    // A new customer on a Tuesday at 10:00 (Asia/Shanghai): within 15 minutes.
    let (status, tasks) = admin
        .post(
            "/api/v1/registrations",
            registration("13900000001", "new", "main", "2026-12-22", "2026-12-01T10:00:00+08:00"),
        )
        .await;
    assert_eq!(status, 201, "{tasks}");
    assert_eq!(summary(&tasks), [("new_signup_callback".into(), "2026-12-01T02:15:00Z".into(), Value::Null)]);
    assert_eq!(tasks[0]["overdue"], true, "a late report is already past its deadline, and kept");

    // Saturday 11:00: by the end of Monday.
    let (_, tasks) = admin
        .post(
            "/api/v1/registrations",
            registration("13900000002", "new", "main", "2026-12-22", "2026-11-28T11:00:00+08:00"),
        )
        .await;
    assert_eq!(summary(&tasks), [("new_signup_callback".into(), "2026-11-30T14:30:00Z".into(), Value::Null)]);

    // A special event on 22 December: called on the 15th, not before it opens.
    let (_, tasks) = admin
        .post(
            "/api/v1/registrations",
            registration("13900000001", "returning", "special", "2026-12-22", "2026-12-01T10:00:00+08:00"),
        )
        .await;
    assert_eq!(
        summary(&tasks),
        [("event_callback".into(), "2026-12-15T14:30:00Z".into(), json!("2026-12-15T01:00:00Z"))]
    );
    assert_eq!(tasks[0]["status"], "scheduled");

    // A new customer for a special event: both callbacks.
    let (_, tasks) = admin
        .post(
            "/api/v1/registrations",
            registration("13900000003", "new", "special", "2026-12-22", "2026-12-01T10:00:00+08:00"),
        )
        .await;
    let kinds: Vec<String> = summary(&tasks).into_iter().map(|t| t.0).collect();
    assert_eq!(kinds, ["new_signup_callback", "event_callback"]);
    server.stop().await;
}

#[tokio::test]
async fn bad_registrations_are_refused_and_nothing_is_written() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1)).to_string();
    let cases = [
        (registration("13900000001", "new", "main", "2026-11-01", "2026-11-20T10:00:00+08:00"), 422, "event_in_past"),
        (
            registration("13900000009", "returning", "main", "2026-12-30", "2026-12-01T10:00:00+08:00"),
            422,
            "unknown_customer",
        ),
        (registration("13900000001", "new", "main", "2026-12-30", &future), 422, "registered_in_future"),
        (registration("13900000001", "vip", "main", "2026-12-30", "2026-12-01T10:00:00+08:00"), 422, "invalid_body"),
        (registration("13900000001", "new", "main", "30/12/2026", "2026-12-01T10:00:00+08:00"), 422, "invalid_body"),
        (registration("not a phone", "new", "main", "2026-12-30", "2026-12-01T10:00:00+08:00"), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (got, err) = admin.post("/api/v1/registrations", body.clone()).await;
        assert_eq!((got, err["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    let (_, tasks) = admin.get("/api/v1/tasks").await;
    assert_eq!(tasks, json!([]), "nothing was created");
    server.stop().await;
}

#[tokio::test]
async fn an_ended_event_creates_its_marketing_callbacks_once() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    for phone in ["13900000001", "13900000002", "13900000003"] {
        let body = registration(phone, "new", "main", "2026-12-22", "2026-12-01T10:00:00+08:00");
        assert_eq!(admin.post("/api/v1/registrations", body).await.0, 201);
    }
    let attendance = json!({"attended": ["13900000001", "13900000002", "13900000005"], "ordered": ["13900000002"]});
    let (status, ended) = admin.post("/api/v1/events/expo-12/ended", attendance.clone()).await;
    assert_eq!(status, 201, "{ended}");
    let got: Vec<(String, String)> = ended["callbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["customer_phone"].as_str().unwrap().to_owned(), c["kind"].as_str().unwrap().to_owned()))
        .collect();
    let want = [
        ("13900000001", "marketing_attended_no_order"),
        ("13900000005", "marketing_attended_no_order"),
        ("13900000002", "marketing_attended_ordered"),
        ("13900000003", "marketing_no_show"),
    ];
    assert_eq!(got, want.map(|(p, k)| (p.to_owned(), k.to_owned())));
    let first = ended["callbacks"][0]["id"].as_str().unwrap();
    let (_, task) = admin.get(&format!("/api/v1/tasks/{first}")).await;
    assert_eq!(task["priority"], 55, "attended without an order goes first among the mediums");

    let (status, err) = admin.post("/api/v1/events/expo-12/ended", attendance).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("event_already_ended")));
    let (status, _) = admin.post("/api/v1/events/nobody-came/ended", json!({})).await;
    assert_eq!(status, 404);
    let (_, tasks) = admin.get("/api/v1/tasks?kind=marketing_no_show").await;
    assert_eq!(tasks.as_array().unwrap().len(), 1, "nothing created twice");
    server.stop().await;
}
