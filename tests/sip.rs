//! The SIP connector driven by real SIPp scenarios (`sip/scenarios/`)
//! against the real server, with agents on real WebSocket consoles.

mod common;

use std::time::Duration;

use common::TestServer;
use common::sipp::{SippRun, assert_passed};
use serde_json::json;
use switchboard::domain::{TaskId, TaskKind, TaskStatus};
use switchboard::store::Store;
use switchboard::testing::TestDb;

/// Runs one SIPp scenario against the server; `None` when SIPp is missing
/// outside CI.
async fn sipp(server: &TestServer, scenario: &str, calls: u32, extra: &[&str]) -> Option<SippRun> {
    common::sipp::sipp(server.sip_addr, scenario, calls, extra).await
}

async fn inbound_tasks(db: &TestDb) -> Vec<switchboard::store::TaskRecord> {
    common::stored_tasks(db, TaskKind::InboundCall).await
}

#[tokio::test]
async fn a_call_is_redirected_to_the_free_agent_with_a_screen_pop() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    let Some(run) = sipp(&server, "redirect", 1, &[]).await else { return };
    assert_passed(&run);
    assert!(run.1.contains("SIP/2.0 302 Moved Temporarily"), "{}", run.1);
    assert!(run.1.contains("Contact: <sip:li@pbx>"), "{}", run.1);
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["kind"], "inbound_call");
    assert_eq!(offer["task"]["customer_phone"], "13900001");
    assert_eq!(offer["task"]["priority"], 100);
    server.stop().await;
}

#[tokio::test]
async fn a_queued_call_is_redirected_when_an_agent_frees_up() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    // Started first, so that a missing SIPp skips the test before anyone waits for its call.
    let Some(caller) = common::sipp::Sipp::start(Some(server.sip_addr), "queued", 1, &[]) else { return };
    let connect_later = async {
        // Wait until the call is queued, then let the agent log in. The
        // connector sends 182 on its next tick (every 50 ms) after the
        // dispatcher has the call, so give it a few ticks: an agent who
        // logs in before that is offered the call before the caller ever
        // hears it was queued.
        for _ in 0..100 {
            let (_, queues) = admin.get("/api/v1/queues").await;
            if queues[0]["waiting"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut console = server.console("li").await;
        console.expect("offer").await
    };
    let (run, offer) = tokio::join!(caller.finish(), connect_later);
    assert_passed(&run);
    assert!(run.1.contains("SIP/2.0 182 Queued"), "{}", run.1);
    assert_eq!(offer["task"]["kind"], "inbound_call");
    server.stop().await;
}

#[tokio::test]
async fn a_caller_who_hangs_up_while_queued_becomes_a_missed_call() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let Some(run) = sipp(&server, "cancel", 2, &[]).await else { return };
    assert_passed(&run);
    assert!(run.1.contains("SIP/2.0 487 Request Terminated"), "{}", run.1);
    server.stop().await;
    let tasks = inbound_tasks(&db).await;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Abandoned), "{tasks:?}");
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    let mut callers: Vec<&str> = backlog.iter().map(|m| m.caller.as_str()).collect();
    callers.sort();
    assert_eq!(callers, ["13900001", "13900002"]);
    store.close().await;
}

#[tokio::test]
async fn a_retransmitted_invite_makes_one_task() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    // -nr: SIPp would otherwise answer each retransmitted 182 by resending
    // its INVITE, and the two would ping-pong.
    let Some(run) = sipp(&server, "retransmit", 1, &["-nr"]).await else { return };
    assert_passed(&run);
    assert!(run.1.matches("SIP/2.0 182 Queued").count() >= 2, "{}", run.1);
    server.stop().await;
    let tasks = inbound_tasks(&db).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].status, TaskStatus::Abandoned);
}

#[tokio::test]
async fn an_untrusted_source_gets_403_and_no_agent_address() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.trusted = vec!["192.0.2.1".into()];
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let _console = server.console("li").await;
    let Some(run) = sipp(&server, "forbidden", 1, &[]).await else { return };
    assert_passed(&run);
    assert!(!run.1.contains("sip:li@pbx"), "an agent's address leaked:\n{}", run.1);
    server.stop().await;
    assert!(inbound_tasks(&db).await.is_empty());
}

#[tokio::test]
async fn options_is_answered_for_keep_alive() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let Some(run) = sipp(&server, "options", 3, &[]).await else { return };
    assert_passed(&run);
    server.stop().await;
}

#[tokio::test]
async fn rest_created_inbound_tasks_do_not_confuse_the_connector() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    let (s, _) = admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "1001"})).await;
    assert_eq!(s, 201);
    console.expect("offer").await;
    server.stop().await;
}

#[tokio::test]
async fn methods_outside_the_queue_get_the_right_answers() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let wait = Duration::from_millis(300);
    assert_eq!(common::udp_exchange(&server, "127.0.0.1", &common::sip_request("BYE", "m1", ""), wait).await, [481]);
    assert_eq!(common::udp_exchange(&server, "127.0.0.1", &common::sip_request("INFO", "m2", ""), wait).await, [481]);
    assert_eq!(
        common::udp_exchange(&server, "127.0.0.1", &common::sip_request("REGISTER", "m3", ""), wait).await,
        [405]
    );
    assert_eq!(
        common::udp_exchange(&server, "127.0.0.1", &common::sip_request("FROBNICATE", "m4", ""), wait).await,
        [501]
    );
    assert_eq!(
        common::udp_exchange(&server, "127.0.0.1", &common::sip_request("ACK", "m5", ""), wait).await,
        Vec::<u16>::new()
    );
    let wrong_number =
        String::from_utf8(common::sip_request("INVITE", "m6", "")).unwrap().replace("sip:4000@", "sip:4999@");
    assert_eq!(common::udp_exchange(&server, "127.0.0.1", wrong_number.as_bytes(), wait).await, [404]);
    let cancel_nothing = common::sip_request("CANCEL", "m7", "");
    assert_eq!(common::udp_exchange(&server, "127.0.0.1", &cancel_nothing, wait).await, [481]);
    server.stop().await;
}

#[tokio::test]
async fn torture_messages_over_udp_get_the_rfc_4475_answers() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/torture");
    // (file, status codes expected back; none for responses, which a
    // redirect server drops). A zero Max-Forwards only stops proxies, so the
    // OPTIONS in `zeromf` is answered like any keep-alive.
    let cases: &[(&str, &[u16])] = &[
        ("badvers", &[505]),
        ("mismatch01", &[400]),
        ("ncl", &[400]),
        ("clerr", &[400]),
        ("insuf", &[400]),
        ("unkscm", &[416]),
        ("bext01", &[420]),
        ("escruri", &[400]),
        ("zeromf", &[200]),
        ("bcast", &[]),
        ("bigcode", &[]),
        ("unreason", &[]),
    ];
    for (file, expected) in cases {
        let bytes = std::fs::read(dir.join(format!("{file}.dat"))).unwrap();
        let got = common::udp_exchange(&server, "127.0.0.1", &bytes, Duration::from_millis(300)).await;
        assert_eq!(&got, expected, "{file}");
    }
    assert!(inbound_tasks(&db).await.is_empty(), "no torture message made a call");
    server.stop().await;
}

#[tokio::test]
async fn a_caller_waiting_too_long_gets_480_and_becomes_a_missed_call() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.max_wait_secs = 1;
    let server = TestServer::start_with(config).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&common::sip_request("INVITE", "w1", ""), server.sip_addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let mut seen = Vec::new();
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf)).await {
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let final_response = text.starts_with("SIP/2.0 480");
        seen.push(text);
        if final_response {
            break;
        }
    }
    let last = seen.last().expect("responses");
    assert!(last.starts_with("SIP/2.0 480 Temporarily Unavailable"), "{seen:?}");
    assert!(last.contains("Retry-After: 300"), "{last}");
    assert!(seen.iter().any(|m| m.starts_with("SIP/2.0 182 Queued")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop().await;
    let tasks = inbound_tasks(&db).await;
    assert_eq!(tasks[0].status, TaskStatus::Abandoned);
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(backlog[0].caller.as_str(), "13900009999");
    store.close().await;
}

async fn tcp_read_until_closed(stream: &mut tokio::net::TcpStream, wait: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

#[tokio::test]
async fn tcp_frames_by_content_length_and_closes_bad_or_idle_connections() {
    use tokio::io::AsyncWriteExt;
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.max_message_bytes = 2048;
    config.sip.tcp_idle_secs = 1;
    let server = TestServer::start_with(config).await;
    let tcp = |s: &str| s.replace("SIP/2.0/UDP", "SIP/2.0/TCP");

    // Two requests in one write, compact Content-Length: two answers.
    let mut stream = tokio::net::TcpStream::connect(server.sip_addr).await.unwrap();
    let mut two =
        tcp(&String::from_utf8(common::sip_request("OPTIONS", "t1", "")).unwrap()).replace("Content-Length: 0", "l: 0");
    two.push_str(&tcp(&String::from_utf8(common::sip_request("OPTIONS", "t2", "")).unwrap()));
    stream.write_all(two.as_bytes()).await.unwrap();
    let (text, closed) = tcp_read_until_closed(&mut stream, Duration::from_millis(500)).await;
    assert_eq!(text.matches("SIP/2.0 200 OK").count(), 2, "{text}");
    assert!(!closed);

    // Half a message, then silence: closed after the idle limit.
    stream.write_all(b"OPTIONS sip:4000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP").await.unwrap();
    let (_, closed) = tcp_read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(closed, "a half-sent message must not hold the connection");

    // A bad Content-Length: 400, then the connection is closed.
    let mut stream = tokio::net::TcpStream::connect(server.sip_addr).await.unwrap();
    let bad = tcp(&String::from_utf8(common::sip_request("OPTIONS", "t3", "")).unwrap())
        .replace("Content-Length: 0", "Content-Length: ten");
    stream.write_all(bad.as_bytes()).await.unwrap();
    let (text, closed) = tcp_read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(text.starts_with("SIP/2.0 400"), "{text}");
    assert!(closed);

    // Over the size limit: closed.
    let mut stream = tokio::net::TcpStream::connect(server.sip_addr).await.unwrap();
    let big =
        tcp(&String::from_utf8(common::sip_request("OPTIONS", "t4", &format!("Subject: {}\r\n", "x".repeat(4096))))
            .unwrap());
    stream.write_all(big.as_bytes()).await.unwrap();
    let (text, closed) = tcp_read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(closed && !text.contains("200 OK"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_flood_from_one_address_does_not_stop_calls_from_another() {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.sip.rate_per_source = 200;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    server.add_agent(&admin, "li", &["hotline"]).await;
    let mut console = server.console("li").await;
    let target = server.sip_addr;
    let flood = tokio::spawn(async move {
        let socket = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
        for i in 0..20_000 {
            let _ = socket.send_to(&common::sip_request("OPTIONS", &format!("f{i}"), ""), target).await;
        }
        let mut answered = 0;
        let mut buf = vec![0u8; 65536];
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
            answered += 1;
        }
        answered
    });
    let run = sipp(&server, "redirect", 1, &[]).await;
    let answered = flood.await.unwrap();
    // It is served up to its rate (one second's burst, then 200/s), no more.
    assert!((150..=1000).contains(&answered), "the flooding address got {answered} answers");
    if let Some(run) = run {
        assert_passed(&run);
        console.expect("offer").await;
    }
    server.stop().await;
}

/// The call record once it shows `outcome` (its writes trail the call by a moment).
async fn call_with_outcome(admin: &common::Http, task: &str, outcome: &str) -> serde_json::Value {
    let mut record = serde_json::Value::Null;
    for _ in 0..100 {
        record = admin.get(&format!("/api/v1/calls/{task}")).await.1;
        if record["outcome"] == outcome {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the call never reached `{outcome}`: {record}");
}

const PBX_TOKEN: &str = "pbx-token-0123456789abcdef0123456789";

/// A server with a PBX token, agent `li` on a console, and one hotline call
/// SIPp placed that was redirected to li.
struct RedirectedCall {
    server: TestServer,
    admin: common::Http,
    pbx: common::Http,
    console: common::Console,
    li: String,
    task: String,
    call_id: String,
}

async fn redirected_call(db: &TestDb) -> Option<RedirectedCall> {
    let mut config = TestServer::config(db);
    config.cti.tokens.insert("asterisk-1".into(), PBX_TOKEN.into());
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let li = server.add_agent(&admin, "li", &["hotline"]).await;
    let (status, _) = admin.patch(&format!("/api/v1/agents/{li}"), json!({"work_number": "010"})).await;
    assert_eq!(status, 200);
    let mut console = server.console("li").await;
    let run = sipp(&server, "redirect", 1, &[]).await?;
    assert_passed(&run);
    let offer = console.expect("offer").await;
    let task = offer["task"]["id"].as_str().unwrap().to_owned();
    let record = call_with_outcome(&admin, &task, "redirected").await;
    let call_id = record["sip_call_id"].as_str().unwrap().to_owned();
    let pbx = server.client(Some(PBX_TOKEN.into()));
    Some(RedirectedCall { server, admin, pbx, console, li, task, call_id })
}

#[tokio::test]
async fn cti_events_drive_the_call_and_its_record() {
    let db = TestDb::sqlite();
    let Some(RedirectedCall { server, admin, pbx, mut console, li, task, call_id }) = redirected_call(&db).await else {
        return;
    };
    let event = |id: &str, kind: &str| json!({"event_id": id, "call_id": call_id, "event": kind, "agent": "li"});
    let (s, r) = pbx.post("/api/v1/cti/events", event("e1", "answered")).await;
    assert_eq!((s, r["applied"].as_bool()), (200, Some(true)), "{r}");
    let (s, r) = pbx.post("/api/v1/cti/events", event("e1", "answered")).await;
    assert_eq!((s, r["duplicate"].as_bool()), (200, Some(true)), "a repeated event changes nothing");
    assert_eq!(console.expect("status").await["status"], "busy");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (s, r) = pbx.post("/api/v1/cti/events", event("e2", "hangup")).await;
    assert_eq!((s, r["applied"].as_bool()), (200, Some(true)), "{r}");
    assert_eq!(console.expect("status").await["status"], "wrap_up");
    let record = call_with_outcome(&admin, &task, "completed").await;
    assert_eq!(record["answered_by"], li.as_str());
    assert_eq!(record["answered_by_work_number"], "010", "{record}");
    assert_eq!(record["offered_agents"], json!([li]));
    assert!(record["talk_ms"].as_i64().unwrap() >= 50, "{record}");
    assert!(record["wait_ms"].as_i64().is_some());
    // The PBX ended the call: the agent writes its summary in wrap-up.
    console
        .send(json!({"type": "summary", "task_id": task, "summary": "asked about the 12 May expo", "ref": "s1"}))
        .await;
    assert_eq!(console.expect("ack").await["ref"], "s1");
    let (_, stored) = admin.get(&format!("/api/v1/tasks/{task}")).await;
    assert_eq!(stored["attempts"][0]["summary"], "asked about the 12 May expo", "{stored}");
    assert_eq!(stored["events"].as_array().unwrap().last().unwrap()["event"], "summary");
    let stranger = json!({"type": "summary", "task_id": TaskId::new(), "summary": "x"});
    console.send(stranger).await;
    assert_eq!(console.expect("error").await["code"], "no_finished_attempt");

    // Refused: no token, a wrong token, an unknown call.
    let (s, _) = server.client(None).post("/api/v1/cti/events", event("e3", "ringing")).await;
    assert_eq!(s, 401);
    let (s, _) = server.client(Some("x".repeat(40))).post("/api/v1/cti/events", event("e3", "ringing")).await;
    assert_eq!(s, 401);
    let unknown = json!({"event_id": "e4", "call_id": "nope", "event": "ringing"});
    assert_eq!(pbx.post("/api/v1/cti/events", unknown).await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_redirected_call_the_agent_does_not_take_becomes_a_missed_call() {
    let db = TestDb::sqlite();
    // The console stays open: the agent is there, just not answering the phone.
    let Some(RedirectedCall { server, admin, pbx, console: _console, task, call_id, .. }) = redirected_call(&db).await
    else {
        return;
    };
    let no_answer = json!({"event_id": "n1", "call_id": call_id, "event": "no_answer", "agent": "li"});
    let (s, r) = pbx.post("/api/v1/cti/events", no_answer).await;
    assert_eq!((s, r["applied"].as_bool()), (200, Some(true)));
    call_with_outcome(&admin, &task, "unanswered").await;
    let (_, queues) = admin.get("/api/v1/queues").await;
    assert_eq!(queues[0]["waiting"], 0, "no ghost call waits in the queue");
    server.stop().await;
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(backlog.len(), 1);
    store.close().await;
}

#[tokio::test]
async fn callers_waiting_when_the_server_stops_become_missed_calls() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_, waiting) =
        admin.post("/api/v1/tasks", json!({"kind": "inbound_call", "customer_phone": "13900005555"})).await;
    server.stop().await;
    let server = TestServer::start(&db).await;
    let admin = server.admin().await;
    let (_, task) = admin.get(&format!("/api/v1/tasks/{}", waiting["id"].as_str().unwrap())).await;
    assert_eq!(task["status"], "abandoned", "{task}");
    let (_, queues) = admin.get("/api/v1/queues").await;
    assert_eq!(queues[0]["waiting"], 0, "no screen-pop for a call that no longer exists");
    server.stop().await;
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(backlog[0].caller.as_str(), "13900005555");
    store.close().await;
}

#[tokio::test]
async fn a_graceful_stop_sends_waiting_callers_503_and_records_them() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&common::sip_request("INVITE", "s1", ""), server.sip_addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(3), socket.recv_from(&mut buf)).await.unwrap().unwrap();
        if buf[..n].starts_with(b"SIP/2.0 182") {
            break;
        }
    }
    let stopping = tokio::spawn(server.stop());
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 503"), "{}", String::from_utf8_lossy(&buf[..n]));
    stopping.await.unwrap();
    let tasks = inbound_tasks(&db).await;
    assert_eq!(tasks[0].status, TaskStatus::Abandoned);
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(backlog.len(), 1, "one missed call, not one per stop and start");
    store.close().await;
}
