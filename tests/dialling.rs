//! Click-to-call and progressive dialling end to end: a real server with
//! `[sip.outbound]`, an agent's console, SIPp as the agent's phone and as
//! the customer behind the PBX. The outcome, times and record come from
//! SIP; the rules of calling out refuse with nothing placed.

mod common;

use std::time::Duration;

use common::sipp::{Sipp, assert_passed};
use common::{Console, Http, TestServer, open_now};
use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard::sip::settings::OutboundConfig;
use switchboard::testing::TestDb;

/// A server whose missed-call callbacks are dialled `progressive` and
/// event callbacks `preview`, with the PBX at `pbx`.
async fn start(db: &TestDb, pbx: u16, open: bool) -> TestServer {
    let mut config = TestServer::config(db);
    if open {
        open_now(&mut config);
    } else {
        closed_now(&mut config);
    }
    config.sip.outbound = Some(OutboundConfig {
        caller_name: Some("客服中心".into()),
        agent_ring_secs: 5,
        drain_secs: 2,
        ..common::outbound(pbx)
    });
    config.kinds.get_mut("missed_call_callback").unwrap().dialling =
        switchboard::rules::dialling::DialMode::Progressive;
    config.kinds.get_mut("event_callback").unwrap().dialling = switchboard::rules::dialling::DialMode::Preview;
    config.dispatch.retry_gap_secs = 1;
    config.dispatch.wrap_up_secs = 0;
    TestServer::start_with(config).await
}

#[tokio::test]
async fn a_call_past_the_limit_shows_on_the_wallboard_while_it_lasts() {
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    // The customer talks 3 s and the limit is 1 s: past the limit for two
    // seconds, two of the board's one-second ticks, however busy the
    // machine (half a second, with a shorter call, could fall between them).
    let customer = Sipp::start(None, "placed_customer_talks", 1, &["-d", "3000"]).unwrap();
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    config.sip.outbound = Some(common::outbound(customer.port));
    config.kinds.get_mut("missed_call_callback").unwrap().dialling =
        switchboard::rules::dialling::DialMode::Progressive;
    config.calls = switchboard::rules::dialling::CallLength { target_secs: 1, limit_secs: 1, max_secs: 60 };
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let sup = json!({"username": "sun", "password": "supervisor-password", "role": "supervisor"});
    assert_eq!(admin.post("/api/v1/users", sup).await.0, 201);
    let (mut board, first) = Console::wallboard(server.addr, &server.login("sun", "supervisor-password").await).await;
    assert_eq!(first["board"]["centre"]["calls_past_limit"], 0, "{first}");
    let mut console = agent(&server, &admin, "li", phone.port).await;
    let (_, ended) = one_call(&admin, &mut console, "13800138000").await;
    assert_eq!(ended["outcome"], "reached");
    // Every change the board was sent, in order: 0, then 1 while the call
    // went on past a second, then 0 again once it ended.
    let mut seen = vec![0];
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(3), board.ws.next()).await {
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else { continue };
        let m: Value = serde_json::from_str(&text).unwrap();
        if let Some(n) = m["patch"]["centre"]["calls_past_limit"].as_u64() {
            seen.push(n);
        }
        if seen.ends_with(&[1, 0]) {
            break;
        }
    }
    assert_eq!(seen, [0, 1, 0]);
    assert_passed(&phone.finish().await);
    assert_passed(&customer.finish().await);
    server.stop().await;
}

/// A calendar on which the centre is closed now: about 02:00 local time.
fn closed_now(config: &mut switchboard::config::Config) {
    open_now(config);
    let utc_hour = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).hour() as i32;
    let mut offset = 2 - utc_hour;
    if offset < -12 {
        offset += 24;
    }
    config.calendar.time_zone = match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
}

/// An agent whose phone is SIPp on `phone`, with a console open.
async fn agent(server: &TestServer, admin: &Http, name: &str, phone: u16) -> Console {
    let body = json!({"username": name, "password": "agent-password", "skills": ["callbacks", "marketing"],
        "sip_uri": format!("sip:1001@127.0.0.1:{phone}")});
    let (status, body) = admin.post("/api/v1/agents", body).await;
    assert_eq!(status, 201, "{body}");
    server.console(name).await
}

async fn task(admin: &Http, kind: &str, phone: &str) -> String {
    let (status, task) = admin.post("/api/v1/tasks", json!({"kind": kind, "customer_phone": phone})).await;
    assert_eq!(status, 201, "{task}");
    task["id"].as_str().unwrap().to_owned()
}

/// The `call` messages up to and including `ended`.
async fn call_until_ended(console: &mut Console) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Some(m) = console.expect_within("call", Duration::from_secs(20)).await {
        let ended = m["state"] == "ended";
        seen.push(m);
        if ended {
            return seen;
        }
    }
    panic!("the call did not end: {seen:?}");
}

/// A placed call's record once its end is recorded (within 5 s).
async fn ended_record(admin: &Http, call_id: &str) -> Value {
    let mut record = json!(null);
    for _ in 0..50 {
        record = admin.get(&format!("/api/v1/calls/outbound/{call_id}")).await.1;
        if record["outcome"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    record
}

fn states(calls: &[Value]) -> Vec<&str> {
    calls.iter().map(|c| c["state"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_accepted_callback_is_dialled_joined_and_recorded_from_sip() {
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_hangs_up", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let server = start(&db, customer.port, true).await;
    let admin = server.admin().await;
    let mut console = agent(&server, &admin, "li", phone.port).await;
    let id = task(&admin, "missed_call_callback", "13800138000").await;
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["id"], id);
    console.send(json!({"type": "accept", "task_id": id})).await;
    let calls = call_until_ended(&mut console).await;
    assert_eq!(states(&calls), ["calling_you", "ringing_customer", "connected", "ended"], "{calls:?}");
    let ended = calls.last().unwrap();
    assert_eq!((ended["outcome"].as_str(), ended["code"].as_u64()), (Some("reached"), Some(200)), "{ended}");
    assert!(ended.get("attempt_recorded").is_none(), "the agent finishes a reached call: {ended}");
    assert_eq!(calls[2]["target_secs"], 180);
    // Typed `no_answer`: SIP said reached, and reached is recorded.
    console
        .send(json!({"type": "complete", "task_id": id, "outcome": "no_answer", "summary": "已回访，客户满意"}))
        .await;
    console.expect("ack").await;
    assert_passed(&phone.finish().await);
    assert_passed(&customer.finish().await);
    let (_, record) = admin.get(&format!("/api/v1/calls/outbound?task_id={id}")).await;
    let record = &record[0];
    assert_eq!(record["direction"], "outbound");
    assert_eq!((record["outcome"].as_str(), record["hung_up_by"].as_str()), (Some("reached"), Some("customer")));
    assert_eq!(record["customer_code"], 200);
    assert!(record["agent_answered_at"].is_string() && record["customer_ringing_at"].is_string(), "{record}");
    let talk = record["talk_ms"].as_i64().unwrap();
    assert!((1300..5000).contains(&talk), "the customer talked about 1.5 s: {record}");
    let ringing = record["ringing_ms"].as_i64().unwrap();
    assert!((300..3000).contains(&ringing), "rang about 0.5 s: {record}");
    let (_, one) = admin.get(&format!("/api/v1/calls/outbound/{}", record["id"].as_str().unwrap())).await;
    assert_eq!(one["id"], record["id"]);
    let (_, t) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(
        (t["status"].as_str(), t["attempts"][0]["outcome"].as_str()),
        (Some("completed"), Some("reached")),
        "{t}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_busy_customer_is_recorded_busy_and_retried_by_the_rule() {
    let Some(phone) = Sipp::start(None, "placed_agent_short", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_busy", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let server = start(&db, customer.port, true).await;
    let admin = server.admin().await;
    let mut console = agent(&server, &admin, "wang", phone.port).await;
    let id = task(&admin, "missed_call_callback", "13900139000").await;
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    let calls = call_until_ended(&mut console).await;
    let ended = calls.last().unwrap();
    assert_eq!((ended["outcome"].as_str(), ended["code"].as_u64()), (Some("busy"), Some(486)), "{ended}");
    assert_eq!(ended["attempt_recorded"], true);
    assert_passed(&phone.finish().await);
    assert_passed(&customer.finish().await);
    // Nothing typed: the attempt is busy and the rule brings the task back.
    let (_, t) = admin.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(t["attempts"][0]["outcome"], "busy", "{t}");
    let again = console.expect_within("offer", Duration::from_secs(10)).await.expect("offered again after the gap");
    assert_eq!((again["task"]["id"].as_str(), again["task"]["attempt"].as_u64()), (Some(id.as_str()), Some(2)));
    server.stop().await;
}

#[tokio::test]
async fn a_do_not_call_customer_and_a_closed_centre_are_refused_with_nothing_placed() {
    if !common::sipp::installed() {
        return;
    }
    let db = TestDb::sqlite();
    // Nobody listens at the PBX: a call placed would show as a record.
    let server = start(&db, 9, true).await;
    let admin = server.admin().await;
    let mut console = agent(&server, &admin, "zhao", 9).await;
    let (status, body) = admin.put("/api/v1/customers/13700137000", json!({"do_not_call": true})).await;
    assert_eq!(status, 200, "{body}");
    let id = task(&admin, "event_callback", "13700137000").await;
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id, "ref": "a"})).await;
    console.expect("ack").await;
    console.send(json!({"type": "dial", "task_id": id, "ref": "d"})).await;
    let refused = console.expect("error").await;
    assert_eq!((refused["code"].as_str(), refused["ref"].as_str()), (Some("do_not_call"), Some("d")), "{refused}");
    let (status, body) = console.http.as_ref().unwrap().post("/api/v1/calls/outbound", json!({"task_id": id})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("do_not_call")), "{body}");
    let (_, records) = admin.get("/api/v1/calls/outbound").await;
    assert_eq!(records, json!([]));
    server.stop().await;

    let db2 = TestDb::sqlite();
    let server = start(&db2, 9, false).await;
    let admin = server.admin().await;
    let mut console = agent(&server, &admin, "qian", 9).await;
    let id = task(&admin, "event_callback", "13600136000").await;
    // Work is still offered after hours (an agent finishing late); the call is not placed.
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    console.send(json!({"type": "dial", "task_id": id})).await;
    assert_eq!(console.expect("error").await["code"], "outside_hours");
    let (_, records) = admin.get("/api/v1/calls/outbound").await;
    assert_eq!(records, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn a_graceful_stop_lets_a_call_drain_then_hangs_it_up() {
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let server = start(&db, customer.port, true).await;
    let admin = server.admin().await;
    let mut console = agent(&server, &admin, "sun", phone.port).await;
    let id = task(&admin, "missed_call_callback", "13500135000").await;
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    while console.expect("call").await["state"] != "connected" {}
    let stopping = std::time::Instant::now();
    server.stop().await;
    let took = stopping.elapsed();
    // `drain_secs = 2`: the call went on that long, then both got BYE.
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "{took:?}");
    assert_passed(&phone.finish().await);
    assert_passed(&customer.finish().await);
    let store = switchboard::store::Store::connect(&db.url).await.unwrap();
    let calls = store.placed_calls(None, 10).await.unwrap();
    assert_eq!(calls.len(), 1);
    let hung_up = calls[0].hung_up_by.map(|h| h.as_str());
    assert_eq!((calls[0].outcome.map(|o| o.as_str()), hung_up), (Some("reached"), Some("switchboard")));
}

#[tokio::test]
async fn the_console_page_places_a_call_and_shows_it_to_the_end() {
    let Some(driver) = common::browser::Driver::start().await else { return };
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_hangs_up", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let server = start(&db, customer.port, true).await;
    let admin = server.admin().await;
    let body = json!({"username": "li", "password": "agent-password", "skills": ["callbacks", "marketing"],
        "sip_uri": format!("sip:1001@127.0.0.1:{}", phone.port)});
    assert_eq!(admin.post("/api/v1/agents", body).await.0, 201);
    let page = driver.browser().await;
    page.go(&format!("http://{}/agent", server.addr)).await;
    page.log_in("li", "agent-password").await;
    page.wait_for("#state.connected", Duration::from_secs(15)).await;
    // A preview kind: accepted, then the agent presses Call.
    let id = task(&admin, "event_callback", "13800138000").await;
    page.wait_for(&format!("section.offer[data-task='{id}'] button.accept"), Duration::from_secs(5)).await;
    page.click("section.offer button.accept").await;
    page.wait_for(".held-task button.dial", Duration::from_secs(5)).await;
    page.click(".held-task button.dial").await;
    page.wait_for(".held-task .call-state[data-state=connected]", Duration::from_secs(10)).await;
    page.wait_for(".held-task .call-timer", Duration::from_secs(2)).await;
    page.screenshot("agent-call-connected").await;
    page.wait_for(".held-task .call-state[data-state=ended]", Duration::from_secs(10)).await;
    let ended = page.text(".held-task .call-state").await.unwrap();
    assert!(ended.contains("已联系") && ended.contains("200"), "the outcome from SIP: {ended:?}");
    // Reached: the agent writes the summary and completes.
    page.type_into(".held-task textarea.summary", "客户确认到场").await;
    page.click(".held-task button.complete").await;
    page.wait_text("#held", "无", Duration::from_secs(5)).await;
    assert_passed(&phone.finish().await);
    assert_passed(&customer.finish().await);
    page.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_dispatcher_calls_a_driver_who_does_not_answer_and_the_trip_says_so() {
    let Some(phone) = Sipp::start(None, "placed_agent_short", 1, &[]) else { return };
    let driver_phone = Sipp::start(None, "placed_customer_no_answer", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    config.sip.outbound =
        Some(OutboundConfig { customer_ring_secs: 5, least_gap_minutes: 10, ..common::outbound(driver_phone.port) });
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"],
        "sip_uri": format!("sip:2001@127.0.0.1:{}", phone.port)});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let body = json!({"name": "王师傅", "phone": "13900001111", "seats": 6, "area": "Pudong", "status": "available"});
    let (_, driver) = admin.post("/api/v1/drivers", body).await;
    let dispatcher = server.login("zhou", "agent-password").await;
    let time = jiff::Timestamp::from_second((jiff::Timestamp::now() + jiff::SignedDuration::from_hours(5)).as_second());
    let body = json!({"kind": "dropoff", "passenger": "张三", "phone": "13800138000", "passengers": 1,
        "airport": "PVG", "time": time.unwrap().to_string()});
    let (status, order) = dispatcher.post("/api/v1/car-orders", body).await;
    assert_eq!(status, 201, "{order}");
    let (status, trip) = dispatcher.post("/api/v1/trips", json!({"order_ids": [order["id"]]})).await;
    assert_eq!(status, 201, "{trip}");
    let trip_id = trip["id"].as_str().unwrap();
    let path = format!("/api/v1/trips/{trip_id}/driver-calls");
    let (status, placed) = dispatcher.post(&path, json!({"driver_id": driver["id"]})).await;
    assert_eq!(status, 202, "{placed}");
    let call_id = placed["call_id"].as_str().unwrap().to_owned();
    assert_passed(&driver_phone.finish().await);
    assert_passed(&phone.finish().await);
    let record = ended_record(&admin, &call_id).await;
    assert_eq!(
        (record["purpose"].as_str(), record["outcome"].as_str()),
        (Some("driver"), Some("no_answer")),
        "{record}"
    );
    // The trip's call is written just after the call's record ends.
    let mut trip = json!(null);
    for _ in 0..50 {
        trip = dispatcher.get(&format!("/api/v1/trips/{trip_id}")).await.1;
        if trip["calls"].as_array().is_some_and(|c| !c.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = &trip["calls"][0];
    assert_eq!(
        (&call["outcome"], &call["driver_id"]),
        (&json!("no_answer"), &driver["id"]),
        "recorded without typing: {trip}"
    );
    assert!(trip["driver_id"].is_null(), "confirming stays the dispatcher's: {trip}");
    server.stop().await;
}

/// One call of a task, accepted on `console`: the task and the ended
/// `call` message.
async fn one_call(admin: &Http, console: &mut Console, phone: &str) -> (String, Value) {
    let id = task(admin, "missed_call_callback", phone).await;
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["id"], id);
    console.send(json!({"type": "accept", "task_id": id})).await;
    let ended = call_until_ended(console).await.pop().unwrap();
    (id, ended)
}

#[tokio::test]
async fn each_end_of_a_call_is_its_outcome_and_the_rule_follows_it() {
    if !common::sipp::installed() {
        return;
    }
    // One agent, one server; each case has its own phones. The PBX's port
    // changes with each case: the server's route names a fixed port that
    // each case's customer SIPp takes in turn.
    let pbx = common::sipp::free_udp_port();
    let db = TestDb::sqlite();
    let server = start(&db, pbx, true).await;
    let admin = server.admin().await;
    let agent_port = common::sipp::free_udp_port();
    let mut console = agent(&server, &admin, "zhou", agent_port).await;
    let cases = [
        // (the agent's phone, the customer, outcome, code, hung up by, retried)
        ("placed_agent_short", "placed_customer_404", "wrong_number", Some(404u64), None, false),
        ("placed_agent_short", "placed_customer_no_answer", "no_answer", Some(487), None, true),
        ("placed_agent_hangs_up", "placed_customer", "reached", Some(200), Some("agent"), false),
    ];
    for (n, (agent_side, customer_side, outcome, code, hung_up, retried)) in cases.into_iter().enumerate() {
        let phone = Sipp::start_on(agent_port, agent_side, 1, &[]).unwrap();
        let customer = Sipp::start_on(pbx, customer_side, 1, &[]).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (id, ended) = one_call(&admin, &mut console, &format!("1370000{n:04}")).await;
        assert_eq!((ended["outcome"].as_str(), ended["code"].as_u64()), (Some(outcome), code), "{ended}");
        assert_passed(&phone.finish().await);
        assert_passed(&customer.finish().await);
        let (_, record) = admin.get(&format!("/api/v1/calls/outbound?task_id={id}")).await;
        assert_eq!(record[0]["hung_up_by"].as_str(), hung_up, "{record}");
        let (_, t) = admin.get(&format!("/api/v1/tasks/{id}")).await;
        if outcome == "reached" {
            console.send(json!({"type": "complete", "task_id": id, "outcome": "reached", "summary": "ok"})).await;
            console.expect("ack").await;
        } else {
            assert_eq!(t["attempts"][0]["outcome"], outcome, "{t}");
            assert_eq!(t["status"] == "scheduled", retried, "{outcome}: retried {retried}: {t}");
            if retried {
                // The retry comes back after the gap; take it out of the way.
                let again = console.expect_within("offer", Duration::from_secs(10)).await.expect("the retry");
                admin.post(&format!("/api/v1/tasks/{}/cancel", again["task"]["id"].as_str().unwrap()), json!({})).await;
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_dispatcher_calls_an_inns_front_desk_about_a_booking() {
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let desk = Sipp::start(None, "placed_customer_hangs_up", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    open_now(&mut config);
    config.sip.outbound = Some(common::outbound(desk.port));
    config.access.back_office_tokens.insert("inn-back-office".into(), "inn-back-office-token-0123456789".into());
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let body = json!({"username": "zhou", "password": "agent-password", "role": "dispatcher", "skills": ["travel"],
        "sip_uri": format!("sip:2001@127.0.0.1:{}", phone.port)});
    assert_eq!(admin.post("/api/v1/users", body).await.0, 201);
    let inn = json!({"name": "西湖客栈", "front_desk_phone": "057188886666"});
    assert_eq!(admin.post("/api/v1/inns", inn).await.0, 201);
    let back_office = server.client(Some("inn-back-office-token-0123456789".into()));
    let created = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap().to_string();
    let booking = json!({"inn": "西湖客栈", "front_desk_phone": "057188886666", "guest": "陈先生",
        "status": "unprocessed", "created_at": created});
    let (status, order) = back_office.post("/api/v1/inn-orders", booking).await;
    assert_eq!(status, 201, "{order}");
    let dispatcher = server.login("zhou", "agent-password").await;
    let path = format!("/api/v1/inn-orders/{}/calls", order["id"].as_str().unwrap());
    let (status, placed) = dispatcher.post(&path, json!({})).await;
    assert_eq!(status, 202, "{placed}");
    assert_passed(&desk.finish().await);
    assert_passed(&phone.finish().await);
    let record = ended_record(&admin, placed["call_id"].as_str().unwrap()).await;
    assert_eq!((record["purpose"].as_str(), record["outcome"].as_str()), (Some("inn"), Some("reached")), "{record}");
    assert_eq!((&record["subject"], &record["number"]), (&order["id"], &json!("057188886666")), "{record}");
    server.stop().await;
}
