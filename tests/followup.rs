//! The missed-call follow-up end to end: misses reported over REST, the
//! checkpoint firing on the real clock (set a few seconds ahead), callbacks
//! offered to an agent, a checkpoint that passed while the server was
//! down fired at start-up, once, and a miss reported after its checkpoint
//! left for the next.

mod common;

use std::time::Duration;

use common::TestServer;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use switchboard::Config;
use switchboard::domain::TaskKind;
use switchboard::store::TaskRecord;
use switchboard::testing::TestDb;

/// Every day a working day, one checkpoint `ahead` from now (local time of
/// day, to the second). Returns the config and the checkpoint instant.
fn config_with_checkpoint_in(db: &TestDb, ahead: SignedDuration) -> (Config, Timestamp) {
    let mut config = TestServer::config(db);
    config.calendar.working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec();
    let calendar = config.calendar().unwrap();
    let at = Timestamp::now() + ahead;
    let local = at.to_zoned(calendar.time_zone().clone());
    config.missed_calls.checkpoints = vec![local.strftime("%H:%M:%S").to_string()];
    let checkpoint = calendar.at(local.date(), jiff::civil::time(local.hour(), local.minute(), local.second(), 0));
    (config, checkpoint)
}

async fn callbacks(db: &TestDb) -> Vec<TaskRecord> {
    let mut tasks = common::stored_tasks(db, TaskKind::MissedCallCallback).await;
    tasks.sort_by(|a, b| a.customer_phone.cmp(&b.customer_phone));
    tasks
}

async fn sleep_past(t: Timestamp) {
    let wait = t.duration_since(Timestamp::now()) + SignedDuration::from_millis(500);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

#[tokio::test]
async fn a_checkpoint_missed_while_down_fires_at_start_up_once() {
    let db = TestDb::sqlite();
    let (config, checkpoint) = config_with_checkpoint_in(&db, SignedDuration::from_secs(4));
    let calendar = config.calendar().unwrap();
    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    for caller in ["13900000001", "13900000002", "13900000001"] {
        let (status, entry) = admin.post("/api/v1/missed-calls", json!({"caller": caller, "called": "4000"})).await;
        assert_eq!(status, 201, "{entry}");
        let release_at: Timestamp = entry["release_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(release_at, checkpoint, "{entry}");
    }
    server.stop().await;
    assert!(Timestamp::now() < checkpoint, "the test machine was too slow to stop before the checkpoint");
    sleep_past(checkpoint).await;

    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    let mut console = server.console("wang").await;
    let offer = console.expect_within("offer", Duration::from_secs(5)).await.expect("a callback offered");
    assert_eq!(offer["task"]["kind"], "missed_call_callback");
    // The oldest caller first.
    assert_eq!(offer["task"]["customer_phone"], "13900000001");
    let reason = offer["task"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("missed calls to 4000: 2 ("), "{reason}");
    let (_, backlog) = admin.get("/api/v1/missed-calls").await;
    assert_eq!(backlog, json!([]));
    server.stop().await;

    let tasks = callbacks(&db).await;
    assert_eq!(tasks.len(), 2, "one callback per caller: {tasks:?}");
    let end_of_day = calendar.end_of_day(checkpoint);
    assert!(tasks.iter().all(|t| t.deadline == Some(end_of_day)), "{tasks:?}");

    // Started again after the checkpoint: it has fired, nothing is added.
    let server = TestServer::start_with(config).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await;
    assert_eq!(callbacks(&db).await.len(), 2);
}

#[tokio::test]
async fn a_checkpoint_fires_while_running_and_leaves_later_misses() {
    let db = TestDb::sqlite();
    let (config, checkpoint) = config_with_checkpoint_in(&db, SignedDuration::from_secs(3));
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    let mut console = server.console("wang").await;
    let (status, _) = admin.post("/api/v1/missed-calls", json!({"caller": "13900000003", "called": "4000"})).await;
    assert_eq!(status, 201);
    assert!(
        console.expect_within("offer", Duration::from_millis(500)).await.is_none(),
        "nothing before the checkpoint"
    );
    sleep_past(checkpoint).await;
    let offer = console.expect_within("offer", Duration::from_secs(5)).await.expect("released at the checkpoint");
    assert_eq!(offer["task"]["customer_phone"], "13900000003");
    // A miss after the checkpoint waits for the next one (tomorrow).
    let (_, entry) = admin.post("/api/v1/missed-calls", json!({"caller": "13900000004", "called": "4000"})).await;
    let release_at: Timestamp = entry["release_at"].as_str().unwrap().parse().unwrap();
    assert!(release_at > checkpoint + SignedDuration::from_hours(23), "{entry}");
    // A miss from before the checkpoint, reported after it fired: it waits
    // for the next checkpoint too (its day, and so its deadline, are that
    // checkpoint's), rather than counting from one already gone.
    let before = (checkpoint - SignedDuration::from_secs(1)).to_string();
    let (status, entry) =
        admin.post("/api/v1/missed-calls", json!({"caller": "13900000005", "called": "4000", "at": before})).await;
    assert_eq!(status, 201, "{entry}");
    let release_at: Timestamp = entry["release_at"].as_str().unwrap().parse().unwrap();
    assert!(release_at > checkpoint + SignedDuration::from_hours(23), "{entry}");
    let reported_at: Timestamp = entry["reported_at"].as_str().unwrap().parse().unwrap();
    let at: Timestamp = entry["at"].as_str().unwrap().parse().unwrap();
    assert!(at < checkpoint && reported_at >= checkpoint, "{entry}");
    let (_, backlog) = admin.get("/api/v1/missed-calls").await;
    assert_eq!(backlog.as_array().unwrap().len(), 2, "{backlog}");
    server.stop().await;
    assert_eq!(callbacks(&db).await.len(), 1);
}
