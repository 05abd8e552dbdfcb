//! The SIP connector driven by real SIPp scenarios (`sip/scenarios/`)
//! against the real server, with agents on real WebSocket consoles.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::TestServer;
use serde_json::json;
use switchboard::domain::{TaskKind, TaskStatus};
use switchboard::store::{Store, TaskFilter};
use switchboard::testing::{TestDb, require_service, temp_dir};

/// Runs one SIPp scenario against the server; `None` when SIPp is missing
/// outside CI. Returns SIPp's output and its message trace.
async fn sipp(server: &TestServer, scenario: &str, calls: u32, extra: &[&str]) -> Option<(Output, String)> {
    if std::process::Command::new("sipp").arg("-v").output().is_err() {
        require_service("SIPp", "PATH", "the `sipp` binary (Debian package sip-tester) is not installed");
        return None;
    }
    let dir = temp_dir("sipp");
    let local_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let scenario_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/scenarios").join(format!("{scenario}.xml"));
    let trace: PathBuf = dir.join("messages.log");
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.arg(server.sip_addr.to_string())
        .arg("-sf")
        .arg(&scenario_path)
        .args(["-s", "4000", "-m", &calls.to_string(), "-i", "127.0.0.1", "-p", &local_port.to_string()])
        .args(["-timeout", "30s", "-timeout_error", "-nostdin", "-trace_msg", "-message_file"])
        .arg(&trace)
        .args(extra)
        .current_dir(&dir)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(40), cmd.output()).await.expect("SIPp finished").unwrap();
    let messages = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Some((output, messages))
}

fn assert_passed(run: &(Output, String)) {
    assert!(
        run.0.status.success(),
        "SIPp failed:\n{}\n{}\nmessages:\n{}",
        String::from_utf8_lossy(&run.0.stdout),
        String::from_utf8_lossy(&run.0.stderr),
        run.1
    );
}

async fn inbound_tasks(db: &TestDb) -> Vec<switchboard::store::TaskRecord> {
    let store = Store::connect(&db.url).await.unwrap();
    let filter = TaskFilter { kind: Some(TaskKind::InboundCall), limit: 100, ..Default::default() };
    let tasks = store.tasks(&filter).await.unwrap();
    store.close().await;
    tasks
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
    let caller = sipp(&server, "queued", 1, &[]);
    let connect_later = async {
        // Wait until the call is queued, then let the agent log in.
        for _ in 0..100 {
            let (_, queues) = admin.get("/api/v1/queues").await;
            if queues[0]["waiting"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut console = server.console("li").await;
        console.expect("offer").await
    };
    let (run, offer) = tokio::join!(caller, connect_later);
    let Some(run) = run else { return };
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
