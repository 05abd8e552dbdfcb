//! Complaint cases end to end: opened with their deadlines, bad input
//! refused with nothing written, a deadline close at hand put before the
//! case's owner (and nobody else), steps on the record, a resolution
//! followed by the satisfaction callback, overdue cases flagged.

mod common;

use common::TestServer;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

fn hours_ago(h: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(h)).to_string()
}

fn case(channel: &str, phone: &str, received_at: Option<String>) -> Value {
    let mut body = json!({"channel": channel, "customer_phone": phone, "merchant": "Sunny Tiles",
        "category": "late delivery", "place": "expo hall 2", "description": "tiles promised for Monday never came"});
    if let Some(at) = received_at {
        body["received_at"] = json!(at);
    }
    body
}

#[tokio::test]
async fn cases_are_opened_reminded_worked_and_resolved() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["complaints"]).await;
    server.add_agent(&admin, "wang", &["complaints"]).await;
    let li_http = server.login("li", "agent-password").await;
    let wang_http = server.login("wang", "agent-password").await;

    // A forum complaint opened now: 24 hours to answer, the merchant's reply by the end of a working day.
    let (status, fresh) = li_http.post("/api/v1/cases", case("forum", "13900000001", None)).await;
    assert_eq!(status, 201, "{fresh}");
    assert_eq!((&fresh["status"], &fresh["owner_id"], &fresh["overdue"]), (&json!("open"), &json!(li), &json!(false)));
    let received: Timestamp = fresh["received_at"].as_str().unwrap().parse().unwrap();
    let answer_by: Timestamp = fresh["answer_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(answer_by.duration_since(received), SignedDuration::from_hours(24));
    assert!(fresh["merchant_reply_by"].is_string(), "{fresh}");
    assert_eq!(fresh["history"][0]["step"], "received");

    // Bad input: clear errors, nothing written.
    for (body, code) in [
        (
            json!({"channel": "fax", "customer_phone": "139", "merchant": "m", "category": "c", "description": "d"}),
            "invalid_body",
        ),
        (json!({"channel": "phone", "customer_phone": "139"}), "invalid_body"),
        (
            json!({"channel": "phone", "customer_phone": "not a phone", "merchant": "m", "category": "c", "description": "d"}),
            "invalid_body",
        ),
        (
            json!({"channel": "phone", "customer_phone": "139", "merchant": " ", "category": "c", "description": "d"}),
            "invalid_field",
        ),
        (
            json!({"channel": "phone", "customer_phone": "139", "merchant": "m", "category": "c", "description": "d",
            "owner": "01a23c2d-bf03-7054-942a-fa85abc6423e"}),
            "unknown_owner",
        ),
    ] {
        let (status, err) = li_http.post("/api/v1/cases", body.clone()).await;
        assert_eq!((status, err["error"]["code"].as_str()), (422, Some(code)), "{body}: {err}");
    }
    let (_, all) = admin.get("/api/v1/cases").await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    let (status, _) = wang_http.get(&format!("/api/v1/cases/{}", fresh["id"].as_str().unwrap())).await;
    assert_eq!(status, 403, "another agent's case");

    // A phone complaint received 23 hours ago is an hour from its deadline,
    // and one from 30 hours ago is past it.
    let (_, near) = li_http.post("/api/v1/cases", case("phone", "13900000002", Some(hours_ago(23)))).await;
    let (_, late) = li_http.post("/api/v1/cases", case("phone", "13900000003", Some(hours_ago(30)))).await;
    assert_eq!((&near["overdue"], &late["overdue"]), (&json!(false), &json!(true)));
    let (_, overdue) = admin.get("/api/v1/cases?overdue=true").await;
    let ids: Vec<&Value> = overdue.as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, [&late["id"]], "{overdue}");

    // Started again, the server puts both deadlines before their owner,
    // li, and nobody else.
    server.stop().await;
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let mut wang = server.console("wang").await;
    let mut li_console = server.console("li").await;
    let mut reminders = Vec::new();
    for _ in 0..2 {
        let offer = li_console.expect("offer").await;
        assert_eq!(offer["task"]["kind"], "complaint_follow_up");
        assert_eq!(offer["task"]["reserved"]["agent"], json!(li), "{offer}");
        let open = offer["customer"]["open_cases"].as_array().unwrap();
        assert_eq!(open.len(), 1, "the screen-pop shows the case: {offer}");
        reminders.push((offer["task"]["id"].clone(), open[0]["case_id"].clone()));
        li_console.send(json!({"type": "decline", "task_id": offer["task"]["id"]})).await;
    }
    let mut reminded: Vec<&Value> = reminders.iter().map(|(_, case)| case).collect();
    reminded.sort_by_key(|v| v.as_str().unwrap().to_owned());
    let mut expected = vec![&near["id"], &late["id"]];
    expected.sort_by_key(|v| v.as_str().unwrap().to_owned());
    assert_eq!(reminded, expected);
    assert!(wang.expect_within("offer", std::time::Duration::from_millis(500)).await.is_none(), "kept for the owner");

    // Steps: answered, answered again (refused), resolved with its callback.
    let li_http = server.login("li", "agent-password").await;
    let steps = format!("/api/v1/cases/{}/steps", near["id"].as_str().unwrap());
    let (status, answered) =
        li_http.post(&steps, json!({"step": "answered", "note": "merchant will deliver Friday"})).await;
    assert_eq!((status, &answered["status"]), (200, &json!("answered")), "{answered}");
    let (status, err) = li_http.post(&steps, json!({"step": "answered"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("step_not_allowed")));
    let (status, err) = li_http.post(&steps, json!({"step": "reassigned"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_field")));
    let (status, resolved) = li_http.post(&steps, json!({"step": "resolved", "note": "delivered"})).await;
    assert_eq!((status, &resolved["status"]), (200, &json!("resolved")), "{resolved}");
    let history: Vec<&str> =
        resolved["history"].as_array().unwrap().iter().map(|e| e["step"].as_str().unwrap()).collect();
    assert_eq!(history, ["received", "reminder", "answered", "resolved"]);
    let follow_up = resolved["follow_up_task"].as_str().expect("a satisfaction callback").to_owned();
    let (_, task) = admin.get(&format!("/api/v1/tasks/{follow_up}")).await;
    assert_eq!(task["kind"], "complaint_follow_up");
    assert!(task["reason"].as_str().unwrap().contains("confirm the customer is satisfied"), "{task}");
    assert_eq!(resolved["pending"], json!([]));
    server.stop().await;
}
