//! Position and estimated wait on the live server: on a task, on a call's
//! record, per queue (JSON and plain text for a PBX), in the `182 Queued`
//! headers, and on the wallboard with the day's staffing.

mod common;

use std::time::Duration;

use common::{Http, TestServer};
use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::testing::TestDb;
use tokio_tungstenite::tungstenite::Message;

/// The planner publishes four times a second: a figure shows within this long.
const PUBLISHED: Duration = Duration::from_secs(5);

/// Polls `path` until `ready` holds of its body.
async fn eventually(http: &Http, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + PUBLISHED;
    loop {
        let (status, body) = http.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        if ready(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < until, "{path} never got there: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One agent holds a callback; two more wait behind it.
async fn a_busy_floor(server: &TestServer, admin: &Http) -> (common::Console, String, String) {
    server.add_agent(admin, "li", &["callbacks"]).await;
    let mut console = server.console("li").await;
    let task = |phone: &str| json!({"kind": "new_signup_callback", "customer_phone": phone});
    let (s, first) = admin.post("/api/v1/tasks", task("13800000001")).await;
    assert_eq!(s, 201, "{first}");
    let offer = console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    console.expect("task_assigned").await;
    let (_, second) = admin.post("/api/v1/tasks", task("13800000002")).await;
    let (_, third) = admin.post("/api/v1/tasks", task("13800000003")).await;
    (console, second["id"].as_str().unwrap().to_owned(), third["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn waiting_tasks_have_a_position_and_a_wait_that_grows_down_the_queue() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_console, second, third) = a_busy_floor(&server, &admin).await;

    let has_wait = |t: &Value| t["wait"].is_object();
    let second = eventually(&admin, &format!("/api/v1/tasks/{second}"), has_wait).await;
    let third = eventually(&admin, &format!("/api/v1/tasks/{third}"), has_wait).await;
    assert_eq!(second["wait"]["position"], 0, "{second}");
    assert_eq!(third["wait"]["position"], 1, "{third}");
    let (w2, w3) = (second["wait"]["estimated_wait_secs"].as_u64(), third["wait"]["estimated_wait_secs"].as_u64());
    let (w2, w3) = (w2.expect("the agent will come free"), w3.expect("after the second"));
    // Nothing measured yet: a callback is assumed to take 180 s, plus 30 s
    // of wrap-up, so the second waits for the one in hand and the third for both.
    assert!((150..=215).contains(&w2), "{second}");
    assert!(w3 >= w2 + 150, "{w2} then {w3}");

    // A newcomer waits behind both; a queue nobody serves has no estimate.
    let q = eventually(&admin, "/api/v1/queues/callbacks/wait", |q| q["waiting"] == 2).await;
    assert!(q["estimated_wait_secs"].as_u64().unwrap() >= w3, "{q}");
    assert!(q["as_of"].is_string(), "{q}");
    let (_, hotline) = admin.get("/api/v1/queues/hotline/wait").await;
    assert!(hotline.get("estimated_wait_secs").is_none(), "nobody serves the hotline: {hotline}");
    let (status, _) = admin.get("/api/v1/queues/nowhere/wait").await;
    assert_eq!(status, 404);
    let (status, body) = admin.get("/api/v1/queues/callbacks/wait?format=xml").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_format")), "{body}");

    // A closed task has no wait.
    let (_, cancelled) =
        admin.post(&format!("/api/v1/tasks/{}/cancel", second["id"].as_str().unwrap()), json!({})).await;
    assert!(cancelled.get("wait").is_none(), "{cancelled}");
    server.stop().await;
}

#[tokio::test]
async fn the_pbx_reads_a_newcomers_wait_as_plain_seconds() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.cti.tokens.insert("pbx".into(), "pbx-token-0123456789abcdef-0123456789".into());
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let (_console, _, _) = a_busy_floor(&server, &admin).await;
    eventually(&admin, "/api/v1/queues/callbacks/wait", |q| q["waiting"] == 2).await;
    let request = "GET /api/v1/queues/callbacks/wait?format=text HTTP/1.1\r\nHost: sb\r\n\
                   Authorization: Bearer pbx-token-0123456789abcdef-0123456789\r\nConnection: close\r\n\r\n";
    let (status, head, body) = common::raw_request(server.addr, request).await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    let secs = body.as_u64().expect("only the seconds");
    assert!(secs > 300, "two callbacks ahead of a newcomer: {secs}");
    server.stop().await;
}

#[tokio::test]
async fn a_queued_caller_hears_position_and_wait_in_the_182() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    // The agent takes a call made over REST and is busy with it.
    admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13800000009"})).await;
    let offer = console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    console.expect("task_assigned").await;
    eventually(&admin, "/api/v1/queues/hotline/wait", |q| q["estimated_wait_secs"].is_u64()).await;

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&common::sip_request("INVITE", "est1", ""), server.sip_addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let queued = loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.starts_with("SIP/2.0 182") {
            break text;
        }
    };
    let header = |name: &str| {
        queued.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse::<u32>().expect("a number"))
    };
    assert_eq!(header("X-Queue-Position:"), Some(0), "{queued}");
    // The agent comes free in about 210 s (180 s assumed for a call, 30 s
    // of wrap-up); a caller who is still there then has waited less on
    // average, since with callers' mean patience of 120 s (assumed until
    // one gives up) most would not: 210 / (1 + 210 / 120) ≈ 77 s.
    let wait = header("X-Estimated-Wait:").expect("the agent will come free");
    assert!((65..=90).contains(&wait), "{queued}");

    // The same on the call's record, which a CTI integration reads.
    // The call's record is written beside the 182, not before it.
    let is_ours = |c: &Value| c["sip_call_id"] == "est1@test";
    let calls = eventually(&admin, "/api/v1/calls", |cs| cs.as_array().is_some_and(|cs| cs.iter().any(is_ours))).await;
    let call = calls.as_array().unwrap().iter().find(|c| is_ours(c)).expect("recorded").clone();
    let path = format!("/api/v1/calls/{}", call["task_id"].as_str().unwrap());
    let call = eventually(&admin, &path, |c| c["wait"].is_object()).await;
    assert_eq!(call["wait"]["position"], 0, "{call}");
    server.stop().await;
}

#[tokio::test]
async fn the_wallboard_shows_each_queues_wait_and_the_days_staffing() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_console, _, _) = a_busy_floor(&server, &admin).await;
    let (mut wall, first) = common::Console::wallboard(server.addr, &admin).await;
    let mut board = first["board"].clone();
    let until = tokio::time::Instant::now() + PUBLISHED;
    while board["waits"]["callbacks"]["waiting"] != 2 || !board["waits"]["callbacks"]["estimated_wait_secs"].is_u64() {
        assert!(tokio::time::Instant::now() < until, "{}", board["waits"]);
        let Ok(Some(Ok(Message::Text(frame)))) = tokio::time::timeout(PUBLISHED, wall.ws.next()).await else {
            panic!("the board stopped")
        };
        let m: Value = serde_json::from_str(&frame).unwrap();
        if m["type"] == "patch" {
            switchboard::rules::figures::wire::apply_patch(&mut board, &m["patch"]);
        }
    }
    let wait = board["waits"]["callbacks"]["estimated_wait_secs"].as_u64().unwrap();
    assert!(wait > 300 && wait % 5 == 0, "to the nearest 5 s: {wait}");
    let staffing = &board["staffing"];
    assert_eq!(staffing["interval_minutes"], 30);
    assert_eq!(staffing["at_work"], 1, "{staffing}");
    assert!(
        staffing["current"].as_str().unwrap().ends_with(":00")
            || staffing["current"].as_str().unwrap().ends_with(":30")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_daily_report_puts_the_calls_and_agents_beside_the_need() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    for phone in ["13800000011", "13800000012"] {
        admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": phone})).await;
        let offer = console.expect("offer").await;
        console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
        console.expect("task_assigned").await;
        console
            .send(json!({"type": "complete", "task_id": offer["task"]["id"], "outcome": "reached", "ref": phone}))
            .await;
        while console.expect("ack").await["ref"] != phone {}
    }
    let (status, report) = admin.get("/api/v1/reports/daily").await;
    assert_eq!(status, 200, "{report}");
    let rows = report["staffing"].as_array().expect("intervals");
    let now = rows.iter().find(|r| r["arrivals"] == 2).unwrap_or_else(|| panic!("the calls' interval: {rows:?}"));
    // Two calls in half an hour need one agent; no schedule was set and no
    // past week forecasts anything.
    assert_eq!((now["needed"].as_u64(), now["forecast_arrivals"].as_f64()), (Some(1), Some(0.0)), "{now}");
    assert_eq!(now["scheduled"], 0, "{now}");
    assert!(rows.iter().all(|r| r["arrivals"] == 2 || r["arrivals"] == 0), "{rows:?}");
    let (_, weekly) = admin.get("/api/v1/reports/weekly").await;
    assert_eq!(weekly["staffing"], json!([]), "by interval only for a day");
    let (_, csv) = admin.raw("GET", "/api/v1/reports/daily?format=csv", None, "application/json").await;
    let csv = csv.as_str().unwrap().to_owned();
    assert!(csv.contains(&format!("staffing,{},arrivals,2", now["starts"].as_str().unwrap())), "{csv}");
    server.stop().await;
}
