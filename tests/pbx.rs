//! The PBX example in `sip/pbx/kamailio.cfg` run for real: a Kamailio
//! proxy in front of the server, SIPp as the caller and as the agent's
//! phone. Proves the example does what its comments say: the hotline call
//! is queued by Switchboard, its 302 is followed inside the proxy, and the
//! agent's phone rings with the caller's call.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::TestServer;
use common::sipp::{Sipp, assert_passed, free_udp_port, sipp};
use serde_json::json;
use switchboard::domain::{TaskKind, TaskStatus};
use switchboard::sip::settings::OutboundConfig;
use switchboard::store::Store;
use switchboard::testing::{TestDb, require_service, temp_dir};

/// A Kamailio running the example configuration, with only its two
/// addresses (its own listen port, Switchboard's address) changed.
struct Kamailio {
    child: tokio::process::Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Kamailio {
    /// `None` when Kamailio is not installed outside CI.
    async fn start(switchboard: SocketAddr) -> Option<Kamailio> {
        Self::start_with_trunk(switchboard, 5090).await
    }

    /// With the trunk (customers' numbers) at SIPp on `trunk`.
    async fn start_with_trunk(switchboard: SocketAddr, trunk: u16) -> Option<Kamailio> {
        Self::start_on(switchboard, trunk, free_udp_port()).await
    }

    /// On `port`, with the trunk at `trunk`.
    async fn start_on(switchboard: SocketAddr, trunk: u16, port: u16) -> Option<Kamailio> {
        if std::process::Command::new("kamailio").arg("-v").output().is_err() {
            require_service("Kamailio", "PATH", "the `kamailio` binary (Debian package kamailio) is not installed");
            return None;
        }
        let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sip/pbx/kamailio.cfg")).unwrap();
        let config = replace_once(&example, "\"sip:127.0.0.1:5060\"", &format!("\"sip:{switchboard}\""));
        let config = config.replace("127.0.0.1:5080", &format!("127.0.0.1:{port}"));
        let config = replace_once(&config, "\"sip:127.0.0.1:5090\"", &format!("\"sip:127.0.0.1:{trunk}\""));
        let dir = temp_dir("kamailio");
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = tokio::process::Command::new("kamailio")
            .args(["-DD", "-E", "-f"])
            .arg(&path)
            .arg("-Y")
            .arg(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start kamailio");
        let kamailio = Kamailio { child, addr: format!("127.0.0.1:{port}").parse().unwrap(), dir };
        kamailio.wait_ready().await;
        Some(kamailio)
    }

    /// Ready once it answers anything on its SIP port.
    async fn wait_ready(&self) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 4096];
        for attempt in 0..100 {
            let probe = format!(
                "OPTIONS sip:probe@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKready{attempt}\r\n\
                 From: <sip:probe@test>;tag=r{attempt}\r\nTo: <sip:probe@test>\r\nCall-ID: ready{attempt}@test\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                addr = self.addr,
                local = socket.local_addr().unwrap()
            );
            socket.send_to(probe.as_bytes(), self.addr).await.unwrap();
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), socket.recv_from(&mut buf)).await {
                return;
            }
        }
        panic!("Kamailio did not start:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    async fn stop(mut self) {
        self.terminate();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// SIGTERM to the main process, which stops its worker processes too
    /// (SIGKILL would leave them running).
    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The example must still contain what the test changes; otherwise the
/// test would silently run something else.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "the example should name {from} once");
    text.replace(from, to)
}

async fn inbound_tasks(db: &TestDb) -> Vec<switchboard::store::TaskRecord> {
    common::stored_tasks(db, TaskKind::InboundCall).await
}

#[tokio::test]
async fn kamailio_follows_the_redirect_and_rings_the_agents_phone() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let Some(kamailio) = Kamailio::start(server.sip_addr).await else { return };
    let Some(phone) = Sipp::start(None, "agent_phone", 1, &[]) else { return };
    let admin = server.admin().await;
    let agent = server.add_agent(&admin, "li", &["hotline"]).await;
    let phone_uri = format!("sip:li@127.0.0.1:{}", phone.port);
    let (status, body) = admin.patch(&format!("/api/v1/agents/{agent}"), json!({"sip_uri": phone_uri})).await;
    assert_eq!(status, 200, "{body}");
    let mut console = server.console("li").await;

    let caller = sipp(kamailio.addr, "pbx_caller", 1, &[]).await.unwrap();
    let phone = phone.finish().await;
    let log = kamailio.log();
    kamailio.stop().await;
    assert_passed(&caller);
    assert_passed(&phone);
    // The caller never saw Switchboard's 302: the proxy followed it.
    assert!(!caller.1.contains("302 Moved"), "{}", caller.1);
    assert!(caller.1.contains("SIP/2.0 200 OK"), "{}", caller.1);
    assert!(phone.1.contains(&format!("INVITE {phone_uri} SIP/2.0")), "{}\nkamailio:\n{log}", phone.1);
    assert!(phone.1.contains("From: \"Caller\" <sip:13900001111@"), "{}", phone.1);
    let offer = console.expect("offer").await;
    assert_eq!(offer["task"]["kind"], "inbound_call");
    assert_eq!(offer["task"]["customer_phone"], "13900001111");
    server.stop().await;
}

#[tokio::test]
async fn a_caller_hanging_up_at_kamailio_becomes_a_missed_call() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db).await;
    let Some(kamailio) = Kamailio::start(server.sip_addr).await else { return };
    let Some(caller) = sipp(kamailio.addr, "cancel", 1, &[]).await else { return };
    let log = kamailio.log();
    kamailio.stop().await;
    assert_passed(&caller);
    assert!(caller.1.contains("SIP/2.0 182 Queued"), "{}", caller.1);
    // The queue's headers reach the caller through the proxy, which reads
    // them: nobody is at work, so a position and no wait.
    assert!(caller.1.contains("X-Queue-Position: 0"), "{}", caller.1);
    assert!(log.contains("queued: position 0, nobody at work to answer"), "{log}");
    assert!(caller.1.contains("SIP/2.0 487 Request Terminated"), "{}", caller.1);
    server.stop().await;
    let tasks = inbound_tasks(&db).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].status, TaskStatus::Abandoned);
    let store = Store::connect(&db.url).await.unwrap();
    let backlog = store.missed_callers("2000-01-01T00:00:00Z".parse().unwrap()).await.unwrap();
    assert_eq!(backlog.iter().map(|m| m.caller.as_str()).collect::<Vec<_>>(), ["13900001"]);
    store.close().await;
}

#[tokio::test]
async fn a_call_switchboard_places_goes_out_through_kamailio_to_the_trunk() {
    let Some(phone) = Sipp::start(None, "placed_agent", 1, &[]) else { return };
    let customer = Sipp::start(None, "placed_customer_hangs_up", 1, &[]).unwrap();
    let db = TestDb::sqlite();
    // Kamailio's port is known only once it runs; the server's PBX is it.
    let kamailio_port = free_udp_port();
    let mut config = TestServer::config(&db);
    common::open_now(&mut config);
    config.sip.outbound = Some(OutboundConfig {
        customer_uri: "sip:{number}@pbx.example".into(),
        caller_id: "sip:4008001234@pbx.example".into(),
        ..common::outbound(kamailio_port)
    });
    config.kinds.get_mut("event_callback").unwrap().dialling = switchboard::rules::dialling::DialMode::Preview;
    let server = TestServer::start_with(config).await;
    let Some(kamailio) = Kamailio::start_on(server.sip_addr, customer.port, kamailio_port).await else { return };
    let admin = server.admin().await;
    let agent = server.add_agent(&admin, "li", &["callbacks", "marketing"]).await;
    let phone_uri = format!("sip:1001@127.0.0.1:{}", phone.port);
    assert_eq!(admin.patch(&format!("/api/v1/agents/{agent}"), json!({"sip_uri": phone_uri})).await.0, 200);
    let mut console = server.console("li").await;
    let (_, task) =
        admin.post("/api/v1/tasks", json!({"kind": "event_callback", "customer_phone": "13800138000"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    console.expect("offer").await;
    console.send(json!({"type": "accept", "task_id": id})).await;
    console.expect("ack").await;
    console.send(json!({"type": "dial", "task_id": id})).await;
    let mut last = json!(null);
    while let Some(call) = console.expect_within("call", Duration::from_secs(20)).await {
        last = call;
        if last["state"] == "ended" {
            break;
        }
    }
    let log = kamailio.log();
    kamailio.stop().await;
    assert_eq!(last["outcome"], "reached", "{last}\nkamailio:\n{log}");
    assert_passed(&customer.finish().await);
    assert_passed(&phone.finish().await);
    let (_, records) = admin.get("/api/v1/calls/outbound").await;
    assert_eq!(records[0]["hung_up_by"], "customer", "the customer's BYE came back through Kamailio: {records}");
}
