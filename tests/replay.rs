//! `switchboard replay` on a day the server really recorded: the day as
//! recorded and as replayed agree; another staffing changes the outcome
//! the expected way; bad input is refused with the flag named. The same
//! over REST (`POST /api/v1/simulations`), kept with its result.

#[path = "common/binary.rs"]
mod bin;
mod common;

use std::process::Output;

use common::TestServer;
use serde_json::{Value, json};
use switchboard::testing::TestDb;

/// `switchboard replay` over yesterday to tomorrow (the centre's days), with
/// the recorded day's configuration (no wrap-up) unless `extra` says otherwise.
fn replay(db: &TestDb, extra: &[&str]) -> Output {
    replay_with(db, extra, "0")
}

fn replay_with(db: &TestDb, extra: &[&str], wrap_up_secs: &str) -> Output {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date();
    let (from, to) = (today.yesterday().unwrap().to_string(), today.tomorrow().unwrap().to_string());
    let args = ["replay", "--database-url", db.url.as_str(), "--from", from.as_str(), "--to", to.as_str()];
    bin::binary().args(args).args(extra).env("SWITCHBOARD_DISPATCH__WRAP_UP_SECS", wrap_up_secs).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One agent answers three calls and does two callbacks, today.
async fn record_a_day(db: &TestDb) {
    let mut config = TestServer::config(db);
    config.dispatch.wrap_up_secs = 0;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline", "callbacks"]).await;
    let mut li = server.console("li").await;
    for (i, kind) in ["inbound_call", "inbound_call", "new_signup_callback", "inbound_call", "new_signup_callback"]
        .into_iter()
        .enumerate()
    {
        let (status, task) =
            admin.post("/api/v1/tasks", json!({"kind": kind, "customer_phone": format!("1380013800{i}")})).await;
        assert_eq!(status, 201, "{task}");
        let offer = li.expect("offer").await;
        li.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
        li.expect("task_assigned").await;
        let done = format!("done{i}");
        li.send(json!({"type": "complete", "task_id": offer["task"]["id"], "outcome": "reached", "ref": done})).await;
        while li.expect("ack").await["ref"] != done.as_str() {}
    }
    drop(li);
    server.stop().await;
}

#[tokio::test]
async fn a_recorded_day_replays_and_another_staffing_changes_it() {
    let db = TestDb::sqlite();
    record_a_day(&db).await;

    // As recorded and as replayed: three calls answered, none abandoned,
    // both callbacks done.
    let out = json_of(&replay(&db, &["--runs", "2"]));
    let (recorded, simulated) = (&out["recorded"], &out["simulated"]);
    assert_eq!((recorded["calls"].as_u64(), recorded["abandon_rate"].as_f64()), (Some(3), Some(0.0)), "{out}");
    assert_eq!(recorded["callbacks_done"], 2, "{out}");
    assert_eq!((simulated["calls"].as_u64(), simulated["abandon_rate"].as_f64()), (Some(3), Some(0.0)), "{out}");
    assert_eq!(simulated["callbacks_done"], 2, "{out}");
    assert_eq!(out["days"].as_array().unwrap().len(), 3);

    // Under another configuration (a minute's wrap-up after each task, one
    // agent) the callers wait longer.
    let out = json_of(&replay_with(&db, &[], "60"));
    assert!(out["simulated"]["first_response_ms"].as_i64() > Some(10_000), "{out}");
    assert!(out["recorded"]["first_response_ms"].as_i64() < Some(10_000), "{out}");

    // Staffed with someone who serves neither queue, every caller gives up
    // and no callback is done.
    let staffing = switchboard::testing::temp_dir("replay").join("staffing.toml");
    std::fs::write(
        &staffing,
        "[[agents]]\nname = \"m\"\nskills = [\"marketing\"]\nshift = \"00:00-23:59\"\ncount = 2\n",
    )
    .unwrap();
    let out = json_of(&replay(&db, &["--staffing", staffing.to_str().unwrap()]));
    assert_eq!(out["simulated"]["abandon_rate"].as_f64(), Some(1.0), "{out}");
    assert_eq!(out["simulated"]["callbacks_done"], 0, "{out}");
    assert_eq!(out["recorded"]["callbacks_done"], 2, "{out}");

    // CSV: a header, a row per day and one for the period.
    let out = replay(&db, &["--format", "csv"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("date,recorded_calls,simulated_calls,recorded_abandon_rate"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[4].starts_with("period,3,3,"), "{text}");

    // Bad input names what is wrong and prints nothing else.
    std::fs::write(&staffing, "[[agents]]\nname = \"m\"\nskills = []\nshift = \"nine to five\"\n").unwrap();
    let out = replay(&db, &["--staffing", staffing.to_str().unwrap()]);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shift `nine to five`"), "{out:?}");
    let args = ["replay", "--database-url", db.url.as_str(), "--from", "2026-03-02", "--to", "2026-03-01"];
    let out = bin::binary().args(args).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--to: must be on or after --from"), "{out:?}");
}

/// Runs `body` over REST and waits for it to end; returns the run.
async fn simulate(http: &common::Http, body: Value) -> Value {
    let (status, run) = http.post("/api/v1/simulations", body).await;
    assert_eq!(status, 202, "{run}");
    assert!(run["status"] == "waiting" || run["status"] == "running", "{run}");
    let path = format!("/api/v1/simulations/{}", run["id"].as_str().unwrap());
    for _ in 0..600 {
        let (_, run) = http.get(&path).await;
        if run["status"] == "done" || run["status"] == "failed" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the run did not end");
}

#[tokio::test]
async fn supervisors_run_a_what_if_over_rest_and_keep_its_result() {
    let db = TestDb::sqlite();
    record_a_day(&db).await;
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let sup = json!({"username": "sun", "password": "supervisor-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", sup).await.0, 201);
    let sun = server.login("sun", "supervisor-password").await;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap()).date();
    let (from, to) = (today.yesterday().unwrap().to_string(), today.tomorrow().unwrap().to_string());

    let same = simulate(&sun, json!({"from": from, "to": to, "runs": 2})).await;
    assert_eq!(same["status"], "done", "{same}");
    let result = &same["result"];
    assert_eq!(result["recorded"]["calls"], 3, "{result}");
    assert_eq!(result["simulated"]["calls"], 3, "{result}");
    assert_eq!(result["simulated"]["callbacks_done"], 2, "{result}");

    // A minute of wrap-up: callers wait longer than they did.
    let slower = simulate(&sun, json!({"from": from, "to": to, "changes": "[dispatch]\nwrap_up_secs = 60\n"})).await;
    assert!(slower["result"]["simulated"]["first_response_ms"].as_i64() > Some(10_000), "{slower}");
    // Nobody who serves the queues: every caller gives up.
    let staffing = json!({"agents": [{"name": "m", "skills": ["marketing"], "shift": "00:00-23:59", "count": 2}]});
    let empty = simulate(&sun, json!({"from": from, "to": to, "staffing": staffing})).await;
    assert_eq!(empty["result"]["simulated"]["abandon_rate"].as_f64(), Some(1.0), "{empty}");
    assert_eq!(empty["request"]["staffing"]["agents"][0]["count"], 2, "the request is kept: {empty}");

    // The same run as CSV; every run listed, latest first, results left out.
    let path = format!("/api/v1/simulations/{}?format=csv", same["id"].as_str().unwrap());
    let (status, csv) = sun.get(&path).await;
    assert_eq!(status, 200);
    assert!(csv.as_str().unwrap().lines().last().unwrap().starts_with("period,3,3,"), "{csv}");
    let (_, list) = sun.get("/api/v1/simulations").await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["id"], empty["id"]);
    assert!(list.iter().all(|r| r.get("result").is_none()));

    // Bad requests name the field; agents may not run them.
    for (body, says) in [
        (json!({"from": to, "to": from}), "to: must be on or after from"),
        (json!({"from": from, "to": to, "runs": 0}), "runs"),
        (json!({"from": from, "to": to, "changes": "[dispatch]\nwrap_up_secs = \"soon\""}), "wrap_up_secs"),
        (json!({"from": from, "to": to, "changes": "[kinds.inbound_call]\npriority = 999"}), "priority"),
    ] {
        let (status, err) = sun.post("/api/v1/simulations", body).await;
        assert_eq!(status, 422, "{err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{says}: {err}");
    }
    server.add_agent(&admin, "li2", &["hotline"]).await;
    let li = server.login("li2", "agent-password").await;
    assert_eq!(li.post("/api/v1/simulations", json!({"from": from, "to": to})).await.0, 403);
    let (_, list) = sun.get("/api/v1/simulations").await;
    assert_eq!(list.as_array().unwrap().len(), 3, "refused requests leave nothing behind");
    server.stop().await;
}
