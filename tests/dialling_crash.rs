//! No call is left open by a crash: the real binary is killed with SIGKILL
//! while 20 calls it placed are connected (SIPp as the agents' phones and
//! as the customers); started again on the same data, it hangs up every
//! leg (each phone receives BYE and both SIPp runs finish clean) and
//! records every call `interrupted`.

#[path = "common/binary.rs"]
mod bin;
mod common;

use std::time::Duration;

use common::sipp::{Sipp, assert_passed, free_udp_port};
use common::{Console, Http};
use serde_json::json;
use switchboard::testing::temp_dir;

const PASSWORD: &str = "a long password";
const CALLS: usize = 20;

/// The configuration file: the PBX is SIPp on `pbx`, missed-call
/// callbacks are dialled as soon as they are accepted, and the centre is
/// open now.
fn config_file(dir: &std::path::Path, pbx: u16) -> std::path::PathBuf {
    let mut calendar = switchboard::config::Config::default();
    common::open_now(&mut calendar);
    let text = format!(
        r#"
[sip.outbound]
listen = "127.0.0.1:{dialler}"
pbx = "127.0.0.1:{pbx}"
customer_uri = "sip:{{number}}@pbx.invalid"
caller_id = "sip:4008001234@pbx.invalid"
agent_ring_secs = 10
customer_ring_secs = 10
least_gap_minutes = 0
drain_secs = 1

[calendar]
time_zone = "{zone}"
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
holidays = []

[kinds.missed_call_callback]
dialling = "progressive"
"#,
        dialler = free_udp_port(),
        zone = calendar.calendar.time_zone,
    );
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn calls_connected_at_a_crash_are_hung_up_and_recorded_interrupted() {
    let Some(phones) = Sipp::start(None, "placed_agent", CALLS as u32, &[]) else { return };
    let customers = Sipp::start(None, "placed_customer", CALLS as u32, &[]).unwrap();
    let data = temp_dir("dialling_crash");
    let config = config_file(&data, customers.port);
    let args = ["--config", config.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
    bin::add_admin(&args, PASSWORD);
    let (mut server, addr) = bin::serve(&args, &[]);
    let admin = Http::login(addr, "admin", PASSWORD).await;
    let mut consoles = Vec::new();
    for i in 0..CALLS {
        let name = format!("agent{i}");
        let body = json!({"username": name, "password": PASSWORD, "skills": ["callbacks"],
            "sip_uri": format!("sip:10{i:02}@127.0.0.1:{}", phones.port)});
        assert_eq!(admin.post("/api/v1/agents", body).await.0, 201);
        let http = Http::login(addr, &name, PASSWORD).await;
        let mut console = Console::open(addr).await;
        console.auth(&http).await;
        console.expect("hello").await;
        consoles.push(console);
    }
    for i in 0..CALLS {
        let body = json!({"kind": "missed_call_callback", "customer_phone": format!("1380000{i:04}")});
        assert_eq!(admin.post("/api/v1/tasks", body).await.0, 201);
    }
    for console in &mut consoles {
        let offer = console.expect("offer").await;
        console.send(json!({"type": "accept", "task_id": offer["task"]["id"]})).await;
    }
    for console in &mut consoles {
        loop {
            let call = console.expect_within("call", Duration::from_secs(20)).await.expect("the call goes on");
            assert_ne!(call["state"], "ended", "{call}");
            if call["state"] == "connected" {
                break;
            }
        }
    }
    let (_, open) = admin.get("/api/v1/calls/outbound?limit=100").await;
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), CALLS);
    assert!(open.iter().all(|c| c["outcome"].is_null() && c["answered_at"].is_string()), "{open:?}");
    drop(consoles);
    server.kill();

    // The next start finds the calls left open and ends every leg.
    let (_server, addr) = bin::serve(&args, &[]);
    let run = phones.finish().await;
    assert_passed(&run);
    assert_passed(&customers.finish().await);
    let admin = Http::login(addr, "admin", PASSWORD).await;
    let (_, records) = admin.get("/api/v1/calls/outbound?limit=100").await;
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), CALLS, "none lost");
    for r in records {
        assert_eq!(
            (r["outcome"].as_str(), r["hung_up_by"].as_str()),
            (Some("interrupted"), Some("switchboard")),
            "{r}"
        );
        assert!(r["ended_at"].is_string(), "none left open: {r}");
    }
}
