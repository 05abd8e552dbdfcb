//! The manuals' remaining rules end to end, over REST and the console:
//! work numbers (工号) on the console, in the opening line, on call records
//! and in the reports.

mod common;

use common::{Console, TestServer};
use serde_json::json;
use switchboard::testing::TestDb;

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
