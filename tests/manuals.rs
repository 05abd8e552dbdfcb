//! The manuals' remaining rules end to end, over REST and the console:
//! work numbers (工号) on the console, in the opening line, on call records
//! and in the reports; someone always online (the wallboard's uncovered
//! queues, and the agent told when a break leaves one); shift swaps; a
//! centre's own kinds of work. Complaints and partners are in
//! `manuals/complaints.rs`, warranty callbacks in `manuals/warranty.rs`,
//! events' attendance and recommendations in `manuals/events.rs`, the
//! customer file in `manuals/customers.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{Console, Http, TestServer};
use serde_json::{Value, json};
use switchboard::testing::TestDb;

#[path = "manuals/complaints.rs"]
mod complaints;
use complaints::code;

#[path = "manuals/warranty.rs"]
mod warranty;

#[path = "manuals/events.rs"]
mod events;

#[path = "manuals/customers.rs"]
mod customers;

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
    // The attempt reaches the store just after the acknowledgement.
    let started = Instant::now();
    loop {
        let (status, report) = admin.get(&format!("/api/v1/reports/daily?date={today}")).await;
        assert_eq!(status, 200, "{report}");
        let row = report["agents"].as_array().unwrap().iter().find(|a| a["name"] == "li").cloned();
        if let Some(row) = row {
            assert_eq!(row["work_number"], json!("010"), "{report}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "li is not in the report: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, csv) = admin.raw("GET", &format!("/api/v1/reports/daily?date={today}&format=csv"), None, "").await;
    assert!(csv.to_string().contains(",work_number,010"), "{csv}");
    server.stop().await;
}

/// A shift swap (调班) asked for by an agent changes nothing until a
/// supervisor approves it; then both schedules carry the exchanged day.
/// Bad input, and a swap of the same hours, write nothing.
#[tokio::test]
async fn a_shift_swap_takes_effect_only_when_a_supervisor_approves_it() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let body = json!({"username": "sun", "password": "agent-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let sun = server.login("sun", "agent-password").await;
    let every_day = |shift: &str| {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        Value::Object(days.iter().map(|d| (d.to_string(), json!([shift]))).collect())
    };
    let mut agents = Vec::new();
    for (name, shift) in [("li", "early"), ("wang", "late"), ("zhao", "early")] {
        let id = server.add_agent(&admin, name, &["hotline"]).await;
        let (status, set) = sun.put(&format!("/api/v1/agents/{id}/schedule"), every_day(shift)).await;
        assert_eq!(status, 200, "{set}");
        agents.push(id);
    }
    let (li, wang, zhao) = (&agents[0], &agents[1], &agents[2]);
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let (day, next_day) = (today.tomorrow().unwrap(), today.tomorrow().unwrap().tomorrow().unwrap());
    let li_http = server.login("li", "agent-password").await;

    // Refused with nothing written: today, oneself, nobody, the same hours.
    let nobody = "01a23c2d-bf03-7054-942a-fa85abc6423e";
    for (body, expected) in [
        (json!({"with": wang, "day": today}), "invalid_field"),
        (json!({"with": li, "day": day}), "invalid_field"),
        (json!({"with": nobody, "day": day}), "unknown_agent"),
        (json!({"with": zhao, "day": day}), "nothing_to_swap"),
    ] {
        let (status, err) = li_http.post("/api/v1/shift-swaps", body.clone()).await;
        assert_eq!((status, code(&err)), (422, expected), "{body}: {err}");
    }
    assert_eq!(li_http.get("/api/v1/shift-swaps").await.1, json!([]));

    // Asked for: nothing changes yet; the colleague sees it; an agent may not approve.
    let body = json!({"with": wang, "day": day, "note": "doctor's appointment in the morning"});
    let (status, swap) = li_http.post("/api/v1/shift-swaps", body).await;
    assert_eq!((status, &swap["status"]), (201, &json!("requested")), "{swap}");
    let approve = format!("/api/v1/shift-swaps/{}/approve", swap["id"].as_str().unwrap());
    let schedule = |id: &str| format!("/api/v1/agents/{id}/schedule");
    let (_, before) = sun.get(&schedule(li)).await;
    assert!(before["schedule"].get(day.to_string()).is_none(), "{before}");
    let wang_http = server.login("wang", "agent-password").await;
    assert_eq!(wang_http.get("/api/v1/shift-swaps?status=requested").await.1.as_array().unwrap().len(), 1);
    assert_eq!(li_http.post(&approve, json!({})).await.0, 403);

    // Approved: li works the late shift that day, wang the early one; once.
    let (status, approved) = sun.post(&approve, json!({"note": "ok"})).await;
    assert_eq!((status, &approved["status"]), (200, &json!("approved")), "{approved}");
    let (_, li_week) = sun.get(&schedule(li)).await;
    let (_, wang_week) = sun.get(&schedule(wang)).await;
    assert_eq!(li_week["schedule"][day.to_string()], json!(["14:30-22:30"]), "{li_week}");
    assert_eq!(wang_week["schedule"][day.to_string()], json!(["09:00-17:00"]), "{wang_week}");
    assert_eq!(li_week["schedule"]["mon"], json!(["09:00-17:00"]), "the other days stay");
    let (status, err) = sun.post(&approve, json!({})).await;
    assert_eq!((status, code(&err)), (409, "swap_decided"));

    // Rejected, or withdrawn: the schedules stay as they are.
    let zhao_http = server.login("zhao", "agent-password").await;
    let (_, asked) = zhao_http.post("/api/v1/shift-swaps", json!({"with": wang, "day": next_day})).await;
    let id = asked["id"].as_str().unwrap().to_owned();
    assert_eq!(li_http.post(&format!("/api/v1/shift-swaps/{id}/cancel"), json!({})).await.0, 403);
    let (status, rejected) =
        sun.post(&format!("/api/v1/shift-swaps/{id}/reject"), json!({"note": "short-staffed"})).await;
    assert_eq!((status, &rejected["status"]), (200, &json!("rejected")), "{rejected}");
    let (_, zhao_week) = sun.get(&schedule(zhao)).await;
    assert!(zhao_week["schedule"].get(next_day.to_string()).is_none(), "{zhao_week}");
    let (_, asked) = zhao_http.post("/api/v1/shift-swaps", json!({"with": wang, "day": next_day})).await;
    let cancel = format!("/api/v1/shift-swaps/{}/cancel", asked["id"].as_str().unwrap());
    let (status, cancelled) = zhao_http.post(&cancel, json!({})).await;
    assert_eq!((status, &cancelled["status"]), (200, &json!("cancelled")), "{cancelled}");
    server.stop().await;
}

/// A centre's own kind of work (疑難訂單的追蹤), configured in `[kinds]`:
/// created (by an agent, since it is listed for them), routed, offered and
/// done like a built-in one; listed with its label, in the OpenAPI
/// document, on the wallboard and in the reports. An unconfigured kind is
/// refused; one removed later still names its old tasks.
#[tokio::test]
async fn a_centres_own_kind_of_work_is_worked_like_any_other() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 1;
    let plain = config.clone();
    let mut kind = config.kinds["new_signup_callback"].clone();
    (kind.label, kind.priority, kind.deadline_minutes) = (Some("疑難訂單的追蹤".into()), 60, 240);
    config.kinds.insert("order_follow_up".into(), kind);
    let order_follow_up = switchboard::domain::TaskKind::register("order_follow_up").unwrap();
    config.access.agent_task_kinds.push(order_follow_up);
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["callbacks"]).await;
    let mut li_console = server.console("li").await;
    let li = server.login("li", "agent-password").await;

    let (status, err) =
        li.post("/api/v1/tasks", json!({"kind": "no_such_kind", "customer_phone": "13800138000"})).await;
    assert_eq!(status, 422, "{err}");
    let body =
        json!({"kind": "order_follow_up", "customer_phone": "13800138000", "reason": "parcel lost at the depot"});
    let (status, task) = li.post("/api/v1/tasks", body).await;
    assert_eq!((status, &task["kind"], &task["priority"]), (201, &json!("order_follow_up"), &json!(60)), "{task}");
    assert!(task["deadline"].is_string(), "the kind's deadline: {task}");
    let offer = li_console.expect("offer").await;
    assert_eq!((&offer["task"]["kind"], &offer["task"]["queue"]), (&json!("order_follow_up"), &json!("callbacks")));
    let id = task["id"].as_str().unwrap().to_owned();
    li_console.send(json!({"type": "accept", "task_id": id})).await;
    li_console.expect("ack").await;
    li_console.send(json!({"type": "complete", "task_id": id, "outcome": "reached", "summary": "found"})).await;
    li_console.expect("ack").await;

    // Listed with its label, in the document, on the wallboard.
    let (_, kinds) = li.get("/api/v1/kinds").await;
    let own = kinds.as_array().unwrap().iter().find(|k| k["kind"] == "order_follow_up").cloned().unwrap();
    assert_eq!(
        (&own["label"], &own["built_in"], &own["agents_may_create"]),
        (&json!("疑難訂單的追蹤"), &json!(false), &json!(true))
    );
    assert_eq!(kinds.as_array().unwrap().len(), 17, "the sixteen built-in kinds and the centre's own");
    let (_, doc) = admin.get("/api/v1/openapi.json").await;
    let values = doc["components"]["schemas"]["TaskKind"]["enum"].as_array().unwrap();
    assert!(values.contains(&json!("order_follow_up")) && values.contains(&json!("inbound_call")), "{values:?}");
    let (_, board) = Console::wallboard(server.addr, &admin).await;
    assert_eq!(board["board"]["queues"]["callbacks/order_follow_up"]["entered_today"], 1, "{board}");

    // In the reports once its deadline has passed: a second one, due in
    // four seconds and done in time.
    let deadline = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4);
    let body = json!({"kind": "order_follow_up", "customer_phone": "13800138001", "deadline": deadline.to_string()});
    let (status, second) = admin.post("/api/v1/tasks", body).await;
    assert_eq!(status, 201, "{second}");
    let offer = li_console.expect("offer").await;
    let id = offer["task"]["id"].as_str().unwrap().to_owned();
    li_console.send(json!({"type": "accept", "task_id": id})).await;
    li_console.expect("ack").await;
    li_console.send(json!({"type": "complete", "task_id": id, "outcome": "reached"})).await;
    li_console.expect("ack").await;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let (today, due_day) = (jiff::Timestamp::now().to_zoned(tz.clone()).date(), deadline.to_zoned(tz).date());
    if due_day == today {
        let started = Instant::now();
        loop {
            let (_, report) = admin.get(&format!("/api/v1/reports/daily?date={today}")).await;
            let row = report["callbacks"].as_array().unwrap().iter().find(|c| c["kind"] == "order_follow_up").cloned();
            if let Some(row) = row.filter(|r| r["done_in_time"] == 1) {
                assert_eq!(row["due"], 1, "{report}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{report}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    server.stop().await;

    // The kind removed from the configuration: its old tasks still read; no new ones.
    let server = TestServer::start_with(plain).await;
    let admin = server.admin().await;
    let (status, old) = admin.get(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap())).await;
    assert_eq!((status, &old["kind"]), (200, &json!("order_follow_up")), "{old}");
    let (status, err) =
        admin.post("/api/v1/tasks", json!({"kind": "order_follow_up", "customer_phone": "13800138000"})).await;
    assert_eq!((status, code(&err)), (422, "unknown_kind"), "{err}");
    server.stop().await;
}

/// Recurring work (未成交分析 30 a person a day; orders reviewed once a
/// day): released on its days for each agent serving its queue (kept for
/// them) or once for the queue, counted up from the console, in the
/// reports; released once however often the server starts. A rule that
/// would never run is refused with its key.
#[tokio::test]
async fn recurring_work_is_released_counted_and_reported() {
    use switchboard::rules::recurring::{Days, Per, RecurringSettings};
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    let mut kind = config.kinds["insurance_registration"].clone();
    (kind.label, kind.queue) = (Some("未成交分析".into()), "callbacks".into());
    config.kinds.insert("lost_sale_analysis".into(), kind);
    switchboard::domain::TaskKind::register("lost_sale_analysis").unwrap();
    let rule = |name: &str, label: &str, per, count| RecurringSettings {
        name: name.into(),
        label: label.into(),
        kind: "lost_sale_analysis".into(),
        phone: "4008001234".into(),
        days: Days::Named("every".into()),
        working_days_only: false,
        release: "00:00".into(),
        due: "23:59".into(),
        per,
        count,
        count_on_event_days: Some(20),
    };
    let mut never = config.clone();
    never.recurring = vec![RecurringSettings { days: Days::Weekdays(vec![]), ..rule("never", "never", Per::Queue, 1) }];
    let err = never.rules().unwrap_err().to_string();
    assert!(err.contains("recurring.never.days: never falls on a day it may run"), "{err}");
    config.recurring =
        vec![rule("lost_sales", "未成交分析", Per::Agent, 30), rule("order_review", "審核訂單", Per::Queue, 1)];

    // The agents exist before the server that releases the work starts.
    let server = TestServer::start_with(config.clone()).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["callbacks"]).await;
    server.add_agent(&admin, "wang", &["callbacks"]).await;
    server.add_agent(&admin, "zhou", &["travel"]).await;
    server.stop().await;
    let server = TestServer::start_with(config.clone()).await;
    let li_http = server.login("li", "agent-password").await;
    let started = Instant::now();
    let mine = loop {
        let (_, work) = li_http.get("/api/v1/recurring-work").await;
        if work.as_array().unwrap().len() == 2 {
            break work;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{work}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let own = mine.as_array().unwrap().iter().find(|w| w["rule"] == "lost_sales").cloned().unwrap();
    assert_eq!((&own["agent_id"], &own["target"], &own["done"]), (&json!(li), &json!(30), &json!(0)), "{mine}");
    let zhou = server.login("zhou", "agent-password").await;
    assert_eq!(zhou.get("/api/v1/recurring-work").await.1, json!([]), "zhou serves another queue");

    // Li's task is kept for her; she counts up and finishes.
    let mut console = server.console("li").await;
    let mut offered = Vec::new();
    for _ in 0..2 {
        let offer = console.expect("offer").await;
        offered.push(offer["task"]["id"].clone());
    }
    assert!(offered.contains(&own["task_id"]), "{offered:?}");
    let done = format!("/api/v1/recurring-work/{}/done", own["id"].as_str().unwrap());
    let wang_http = server.login("wang", "agent-password").await;
    assert_eq!(wang_http.put(&done, json!({"done": 3})).await.0, 403, "not wang's");
    let (status, err) = li_http.put(&done, json!({"done": 20000})).await;
    assert_eq!((status, code(&err)), (422, "invalid_field"));
    let (status, counted) = li_http.put(&done, json!({"done": 30})).await;
    assert_eq!((status, &counted["done"]), (200, &json!(30)), "{counted}");

    // Started again: nothing released twice. The day's report.
    server.stop().await;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, all) = admin.get("/api/v1/recurring-work").await;
    assert_eq!(all.as_array().unwrap().len(), 3, "li's, wang's and the queue's, once: {all}");
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let (_, report) = admin.get(&format!("/api/v1/reports/daily?date={today}")).await;
    let rows: Vec<(Value, Value, Value, Value)> = report["recurring"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["rule"].clone(), r["name"].clone(), r["done"].clone(), r["days_met"].clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (json!("lost_sales"), json!("li"), json!(30), json!(1)),
            (json!("lost_sales"), json!("wang"), json!(0), json!(0)),
            (json!("order_review"), Value::Null, json!(0), json!(0)),
        ],
        "{report}"
    );
    server.stop().await;
}
