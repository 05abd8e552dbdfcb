//! Shifts and handover end to end: schedules over REST (overlaps refused),
//! a held callback handed back at the shift's end with the agent's note on
//! the next screen-pop, and handing over at once.

mod common;

use std::time::Duration;

use common::TestServer;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::rules::shifts::DAY_KEYS;
use switchboard::testing::TestDb;

/// Today's weekday key and a shift from an hour ago to `ends_in` from now,
/// in the server's time zone (about noon there: see `open_now`).
fn shift_ending_in(server: &TestServer, ends_in: SignedDuration) -> (String, String) {
    let tz = jiff::tz::TimeZone::get(&server.config.calendar.time_zone).unwrap();
    let now = Timestamp::now().to_zoned(tz);
    let end = now.checked_add(ends_in).unwrap();
    let start = now.checked_sub(SignedDuration::from_hours(1)).unwrap();
    let day = DAY_KEYS[now.weekday().to_monday_zero_offset() as usize].to_owned();
    (day, format!("{}-{}", start.strftime("%H:%M:%S"), end.strftime("%H:%M:%S")))
}

async fn start() -> (TestDb, TestServer) {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    config.shifts.wind_down_minutes = 0;
    let server = TestServer::start_with(config).await;
    (db, server)
}

#[tokio::test]
async fn a_held_callback_returns_at_the_shift_end_with_the_handover_note() {
    let (db, server) = start().await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    let (day, hours) = shift_ending_in(&server, SignedDuration::from_secs(4));
    let (status, schedule) = admin.put(&format!("/api/v1/agents/{li}/schedule"), json!({ day.clone(): [hours] })).await;
    assert_eq!(status, 200, "{schedule}");
    assert!(schedule["next_shift_end"].is_string(), "{schedule}");

    let mut console = server.console("li").await;
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "missed_call_callback", "customer_phone": "13900000001"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    let note = "called once, line busy; she asked for a call after 18:00";
    let (status, left) =
        console.http.as_ref().unwrap().post(&format!("/api/v1/agents/{li}/handover"), json!({"note": note})).await;
    assert_eq!(status, 200, "{left}");
    assert_eq!(left["applies_at"], schedule["next_shift_end"]);

    // The shift ends: the task goes back, li goes offline.
    let revoked = console.expect_within("task_revoked", Duration::from_secs(10)).await.expect("handed back at the end");
    assert_eq!((&revoked["task_id"], &revoked["reason"]), (&json!(id), &json!("shift_ended")));
    assert_eq!(console.expect("status").await["status"], "offline");
    // The next agent's screen-pop carries the note.
    let mut wang = server.console("wang").await;
    let offer = wang.expect("offer").await;
    assert_eq!((&offer["task"]["id"], &offer["task"]["handover_note"]), (&json!(id), &json!(note)));
    let (_, stored) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    let handed: Vec<&Value> =
        stored["events"].as_array().unwrap().iter().filter(|e| e["event"] == "shift_ended").collect();
    assert_eq!(handed.len(), 1, "{stored}");
    assert_eq!(handed[0]["note"], note);
    // The note was for that shift: it is used up.
    let store = switchboard::store::Store::connect(&db.url).await.unwrap();
    assert_eq!(store.handover_note(li.parse().unwrap()).await.unwrap(), None);
    store.close().await;
    server.stop().await;
}

#[tokio::test]
async fn handing_over_at_once_and_bad_schedules() {
    let (_db, server) = start().await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    let li_http = console.http.clone().unwrap();
    let path = format!("/api/v1/agents/{li}/schedule");

    // Overlapping or unreadable shifts are refused and nothing is stored.
    let (status, ok) = admin.put(&path, json!({"mon": ["early"], "tue": ["late"]})).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["schedule"], json!({"mon": ["09:00-17:00"], "tue": ["14:30-22:30"]}));
    for (body, code) in [
        (json!({"wed": ["early", "late"]}), "overlapping_shifts"),
        (json!({"wed": ["09:00-12:00", "11:00-13:00"]}), "overlapping_shifts"),
        (json!({"wed": ["night"]}), "invalid_shift"),
        (json!({"wed": ["18:00-09:00"]}), "invalid_shift"),
        (json!({"someday": ["early"]}), "invalid_shift"),
    ] {
        let (status, err) = admin.put(&path, body.clone()).await;
        assert_eq!((status, err["error"]["code"].as_str()), (422, Some(code)), "{body}: {err}");
    }
    let (status, _) = admin.put(&path, json!({"wed": "early"})).await;
    assert_eq!(status, 422, "a day's shifts are a list");
    let (status, _) = li_http.put(&path, json!({"mon": ["late"]})).await;
    assert_eq!(status, 403, "an agent does not set their own schedule");
    let (status, mine) = li_http.get(&path).await;
    assert_eq!((status, &mine["schedule"]), (200, &ok["schedule"]), "unchanged by the refused ones");

    // A note waits for the shift's end; it can be read and withdrawn.
    let handover = format!("/api/v1/agents/{li}/handover");
    let (status, left) = li_http.post(&handover, json!({"note": "the Zhang callback is half done"})).await;
    assert_eq!(status, 200, "{left}");
    let (status, read) = li_http.get(&handover).await;
    assert_eq!((status, &read["note"], &read["applies_at"]), (200, &left["note"], &left["applies_at"]), "{read}");
    assert_eq!(li_http.delete(&handover).await.0, 204);
    assert_eq!(li_http.get(&handover).await.0, 404);

    // Without shifts, a note alone is refused; `now` hands over at once.
    admin.put(&path, json!({})).await;
    let (status, err) = li_http.post(&handover, json!({"note": "for later"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("no_schedule")));
    let (status, err) = li_http.post(&handover, json!({"note": "  ", "now": true})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("invalid_field")));
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "new_signup_callback", "customer_phone": "13900000002"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    let (status, done) = li_http.post(&handover, json!({"note": "leaving early: dentist", "now": true})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(console.expect("task_revoked").await["reason"], "shift_ended");
    let (_, stored) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(stored["status"], "waiting", "{stored}");
    server.stop().await;
}

/// An agent who logs in during their own shift's wind-down is offered
/// nothing from the first instant (before, the shift clock's next round
/// took up to several seconds to notice, and offers went out meanwhile);
/// an agent with no shift ending takes the work.
#[tokio::test]
async fn logging_in_during_the_wind_down_brings_no_offer() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    config.shifts.wind_down_minutes = 15;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    let (day, hours) = shift_ending_in(&server, SignedDuration::from_mins(5));
    let (status, body) = admin.put(&format!("/api/v1/agents/{li}/schedule"), json!({ day: [hours] })).await;
    assert_eq!(status, 200, "{body}");
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "missed_call_callback", "customer_phone": "13900000002"})).await;

    let mut console = server.console("li").await;
    let offer = console.expect_within("offer", Duration::from_millis(1500)).await;
    assert!(offer.is_none(), "offered in the wind-down: {offer:?}");
    let mut wang = server.console("wang").await;
    assert_eq!(wang.expect("offer").await["task"]["id"], task["id"]);
    server.stop().await;
}
