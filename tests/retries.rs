//! Retries end to end: an unanswered callback goes back on the schedule,
//! comes back after the gap showing the earlier attempt on its screen-pop,
//! and closes as `unreachable` when its attempts are used up.

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::json;
use switchboard::testing::TestDb;

/// A server on `config` with agent li on the callbacks queue, and a new
/// sign-up callback created over REST.
async fn one_callback(config: switchboard::Config) -> (TestServer, common::Http, common::Console, serde_json::Value) {
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let console = server.console("li").await;
    let body = json!({"kind": "new_signup_callback", "customer_phone": "13900000001"});
    let (status, task) = admin.post("/api/v1/tasks", body).await;
    assert_eq!(status, 201, "{task}");
    (server, admin, console, task)
}

#[tokio::test]
async fn an_unanswered_callback_is_tried_again_then_closed_unreachable() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    config.dispatch.retry_gap_secs = 1;
    config.dispatch.wrap_up_secs = 0;
    let (server, admin, mut console, task) = one_callback(config).await;
    let id = task["id"].as_str().unwrap().to_owned();

    let first = console.expect("offer").await;
    assert_eq!((&first["task"]["attempt"], &first["task"]["attempts_allowed"]), (&json!(1), &json!(2)));
    assert!(first["task"]["first_tried_at"].is_null(), "{first}");
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    let complete = json!({"type": "complete", "task_id": id, "outcome": "no_answer", "summary": "rang 10 times"});
    console.send(complete).await;
    console.expect("ack").await;
    let (_, scheduled) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    assert!(scheduled["not_before"].is_string(), "{scheduled}");
    assert_eq!(scheduled["attempts"][0]["outcome"], "no_answer");

    // After the gap: the second attempt, with the first on the screen-pop.
    let second = console.expect_within("offer", Duration::from_secs(5)).await.expect("offered again after the gap");
    let card = &second["task"];
    assert_eq!((&card["id"], &card["attempt"], &card["attempts_allowed"]), (&json!(id), &json!(2), &json!(2)));
    assert_eq!(card["first_tried_at"], scheduled["attempts"][0]["accepted_at"], "{second}");
    assert_eq!(card["last_outcome"], "no_answer");
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    console.send(json!({"type": "complete", "task_id": id, "outcome": "busy"})).await;
    console.expect("ack").await;

    let (_, closed) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!((&closed["status"], &closed["outcome"]), (&json!("unreachable"), &json!("busy")), "{closed}");
    let outcomes: Vec<_> = closed["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].clone()).collect();
    assert_eq!(outcomes, [json!("no_answer"), json!("busy")]);
    let events: Vec<_> = closed["events"].as_array().unwrap().iter().map(|e| e["event"].clone()).collect();
    assert!(events.contains(&json!("retry_scheduled")) && events.last() == Some(&json!("unreachable")), "{events:?}");
    assert!(
        console.expect_within("offer", Duration::from_millis(1500)).await.is_none(),
        "an unreachable task is not offered again"
    );
    server.stop().await;
}

/// The day's edge: with the close five minutes away, a 15-minute sign-up
/// callback is due early the next morning (its minutes left over count from
/// the opening), and its first attempt failing is tried again at that
/// opening rather than closed after one call.
#[tokio::test]
async fn at_the_days_edge_the_deadline_and_the_retry_wait_for_the_next_opening() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    let tz = jiff::tz::TimeZone::get(&config.calendar.time_zone).unwrap();
    let now = jiff::Timestamp::now().to_zoned(tz.clone());
    let close = (now.datetime() + jiff::SignedDuration::from_mins(6)).time();
    config.calendar.working_hours = format!("06:00-{}", close.strftime("%H:%M"));
    config.dispatch.wrap_up_secs = 0;
    let (server, admin, mut console, task) = one_callback(config).await;
    let id = task["id"].as_str().unwrap().to_owned();
    let tomorrow = now.date().tomorrow().unwrap();
    let opening = tomorrow.at(6, 0, 0, 0).to_zoned(tz.clone()).unwrap().timestamp();
    let deadline: jiff::Timestamp = task["deadline"].as_str().unwrap().parse().unwrap();
    assert!(
        deadline > opening && deadline < opening + jiff::SignedDuration::from_mins(15),
        "due in the first minutes of tomorrow: {task}"
    );

    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    console.send(json!({"type": "complete", "task_id": id, "outcome": "no_answer"})).await;
    console.expect("ack").await;
    let (_, scheduled) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(scheduled["status"], "scheduled", "the second call owed is made: {scheduled}");
    let not_before: jiff::Timestamp = scheduled["not_before"].as_str().unwrap().parse().unwrap();
    assert_eq!(not_before, opening, "{scheduled}");
    server.stop().await;
}
