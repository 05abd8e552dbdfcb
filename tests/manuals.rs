//! The manuals' remaining rules end to end, over REST and the console:
//! work numbers (工号) on the console, in the opening line, on call records
//! and in the reports; someone always online (the wallboard's uncovered
//! queues, and the agent told when a break leaves one).

mod common;

use std::time::{Duration, Instant};

use common::{Console, Http, TestServer};
use serde_json::json;
use switchboard::testing::TestDb;

/// The queues the wallboard shows with nobody online, from a new
/// wallboard's whole board.
async fn uncovered_on_the_wallboard(server: &TestServer, supervisor: &Http) -> Vec<String> {
    let (_ws, first) = Console::wallboard(server.addr, supervisor).await;
    assert_eq!(first["type"], "figures", "{first}");
    let list = first["board"]["coverage"]["uncovered"].as_array().cloned().unwrap_or_default();
    list.iter().map(|q| q.as_str().unwrap().to_owned()).collect()
}

/// Waits (the wallboard reads who serves which queue every few seconds)
/// until the wallboard's uncovered queues are `expected`.
async fn wallboard_shows(server: &TestServer, supervisor: &Http, expected: &[&str]) {
    let started = Instant::now();
    loop {
        let now = uncovered_on_the_wallboard(server, supervisor).await;
        if now == expected {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(12), "the wallboard shows {now:?}, not {expected:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// In working hours the wallboard lists the queues nobody is online to
/// answer, and an agent whose break leaves a queue so is told (over the
/// console and REST); the break still happens.
#[tokio::test]
async fn the_wallboard_and_the_agent_are_told_when_nobody_is_online_for_a_queue() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"username": "sun", "password": "agent-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let sun = server.login("sun", "agent-password").await;
    let all = ["callbacks", "complaints", "hotline", "marketing", "travel"];
    wallboard_shows(&server, &sun, &all).await;
    let li = server.add_agent(&admin, "li", &["hotline", "callbacks"]).await;
    server.add_agent(&admin, "wang", &["hotline"]).await;
    let _li_console = server.console("li").await;
    let mut wang = server.console("wang").await;
    wallboard_shows(&server, &sun, &["complaints", "marketing", "travel"]).await;

    // Wang's lunch leaves Li online for the hotline: nothing to say.
    wang.send(json!({"type": "set_status", "status": "break", "reason": "lunch", "ref": "w1"})).await;
    let ack = wang.expect("ack").await;
    assert!(ack.get("uncovered").is_none(), "{ack}");
    // Li's break leaves both of her queues with nobody: she is told, and
    // the wallboard shows them.
    let li_http = server.login("li", "agent-password").await;
    let (status, info) =
        li_http.put(&format!("/api/v1/agents/{li}/status"), json!({"status": "break", "reason": "toilet"})).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["left_uncovered"], json!(["hotline", "callbacks"]), "{info}");
    assert_eq!(info["status"], "break", "told, not refused: {info}");
    wallboard_shows(&server, &sun, &all).await;
    // Wang back: the hotline is covered again, the callbacks are not.
    wang.send(json!({"type": "set_status", "status": "available"})).await;
    wang.expect("ack").await;
    wallboard_shows(&server, &sun, &["callbacks", "complaints", "marketing", "travel"]).await;
    server.stop().await;
}

/// An agent created with a work number gives it on the console, in the
/// opening line of each screen-pop (the manual's 我的工号是010) and in the
/// reports; a number held by another account, or not a number, is refused
/// with nothing written.
#[tokio::test]
async fn an_agents_work_number_is_on_the_console_the_greeting_and_the_reports() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.greetings.centre = "风游精旅行客服部".into();
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"username": "li", "password": "agent-password", "skills": ["callbacks"], "work_number": "010"});
    let (status, li) = admin.post("/api/v1/agents", body).await;
    assert_eq!((status, &li["work_number"]), (201, &json!("010")), "{li}");
    let (_, users) = admin.get("/api/v1/users").await;
    let before = users.as_array().unwrap().len();
    let taken = json!({"username": "wang", "password": "agent-password", "work_number": "010"});
    let (status, err) = admin.post("/api/v1/agents", taken).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("work_number_taken")), "{err}");
    let bad = json!({"username": "wang", "password": "agent-password", "work_number": "01 0"});
    let (status, err) = admin.post("/api/v1/agents", bad).await;
    assert_eq!((status, &err["error"]["code"]), (422, &json!("invalid_field")), "{err}");
    let (_, users) = admin.get("/api/v1/users").await;
    assert_eq!(users.as_array().unwrap().len(), before, "nothing written: {users}");
    let wang = server.add_agent(&admin, "wang", &["hotline"]).await;
    let (status, err) = admin.patch(&format!("/api/v1/agents/{wang}"), json!({"work_number": "010"})).await;
    assert_eq!((status, &err["error"]["code"]), (409, &json!("work_number_taken")), "{err}");
    let (status, changed) = admin.patch(&format!("/api/v1/users/{wang}"), json!({"work_number": "011"})).await;
    assert_eq!((status, &changed["work_number"]), (200, &json!("011")), "{changed}");

    let http = server.login("li", "agent-password").await;
    let mut console = Console::open(server.addr).await;
    console.auth(&http).await;
    let hello = console.expect("hello").await;
    assert_eq!(hello["work_number"], "010", "{hello}");
    let task = json!({"kind": "new_signup_callback", "customer_phone": "13800138000"});
    let (status, task) = admin.post("/api/v1/tasks", task).await;
    assert_eq!(status, 201, "{task}");
    let offer = console.expect("offer").await;
    assert_eq!(offer["greeting"], "您好!这里是风游精旅行客服部,我的工号是010,请问您现在方便接听电话吗?", "{offer}");
    let id = task["id"].as_str().unwrap();
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    console.send(json!({"type": "complete", "task_id": id, "outcome": "reached", "summary": "will come"})).await;
    console.expect("ack").await;

    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let (status, report) = admin.get(&format!("/api/v1/reports/daily?date={today}")).await;
    assert_eq!(status, 200, "{report}");
    let row = report["agents"].as_array().unwrap().iter().find(|a| a["name"] == "li").cloned();
    assert_eq!(row.map(|r| r["work_number"].clone()), Some(json!("010")), "{report}");
    let (_, csv) = admin.raw("GET", &format!("/api/v1/reports/daily?date={today}&format=csv"), None, "").await;
    assert!(csv.to_string().contains(",work_number,010"), "{csv}");
    server.stop().await;
}
