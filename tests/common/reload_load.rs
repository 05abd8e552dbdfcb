//! A configuration reload under SIP load, shared by the load test
//! (`load-tests/reload_load.rs`, 1,000 calls/s on a release build) and the
//! end-to-end test (`tests/reload.rs`, a rate a debug build keeps up with):
//! SIPp plays the PBX and sends hotline calls at a fixed rate, simulated
//! agents on WebSocket consoles accept and complete every offer at once,
//! and halfway through an admin changes the offer timeout (15 s to 20 s)
//! and the hotline's priority over REST with re-evaluation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use switchboard::domain::{TaskKind, TaskStatus};
use switchboard::store::{Store, TaskFilter};
use switchboard::testing::{TestDb, temp_dir};

use super::TestServer;

/// When each offer arrived and how long it was given.
type Seen = Arc<Mutex<Vec<(Timestamp, f64)>>>;

/// What a run saw.
pub struct Outcome {
    pub rate: u64,
    pub seconds: u64,
    pub agents: usize,
    pub calls: u64,
    pub sipp_secs: f64,
    pub sipp_ok: String,
    pub sipp_failed: String,
    /// Seconds into the run the reload was asked for, and how long it took.
    pub asked_after_secs: f64,
    pub reload_ms: f64,
    pub applied: Value,
    /// Consoles closed or with a gap in their messages.
    pub consoles_closed: usize,
    /// Offers the consoles accepted and completed.
    pub completed: u64,
    pub tasks: usize,
    pub not_completed: usize,
    /// Offers before the reload was asked for, and those with the new timeout.
    pub before: usize,
    pub new_before: usize,
    /// Offers after it was answered, and those with the old timeout.
    pub after: usize,
    pub old_after: usize,
}

impl Outcome {
    /// No call failed, no console closed, every call a completed task (no
    /// offer lost), each offer with the timeout in force when it came.
    pub fn passed(&self) -> bool {
        self.sipp_failed == "0"
            && self.consoles_closed == 0
            && self.not_completed == 0
            && self.tasks as u64 == self.calls
            && self.completed == self.calls
            && self.old_after == 0
            && self.new_before == 0
            && self.after > 0
    }

    pub fn report(&self) -> String {
        format!(
            "{} calls offered at {}/s over {} s, {} agents; SIPp ran {:.1} s\n\
             SIPp: successful {}, failed {}\n\
             reload: asked {:.1} s into the run, answered in {:.1} ms; version {}, {} keys, {} tasks re-planned\n\
             consoles closed: {}; offers completed by the consoles: {}; tasks: {}, not completed: {}\n\
             offers before the reload: {} (with the new timeout: {}); after: {} (with the old timeout: {})\n{}",
            self.calls,
            self.rate,
            self.seconds,
            self.agents,
            self.sipp_secs,
            self.sipp_ok,
            self.sipp_failed,
            self.asked_after_secs,
            self.reload_ms,
            self.applied["version"],
            self.applied["changes"].as_array().map_or(0, Vec::len),
            self.applied["replanned"],
            self.consoles_closed,
            self.completed,
            self.tasks,
            self.not_completed,
            self.before,
            self.new_before,
            self.after,
            self.old_after,
            if self.passed() { "PASSED" } else { "FAILED" }
        )
    }
}

/// Runs `rate` calls a second for `seconds` with `agents` consoles, the
/// reload halfway. Needs `sipp` on the PATH.
pub async fn run(rate: u64, seconds: u64, agents: usize) -> Outcome {
    let calls = rate * seconds;

    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    config.sip.rate_per_source = 100_000;
    config.websocket.messages_per_sec = 1000;
    config.websocket.message_burst = 2000;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;

    let seen: Seen = Arc::default();
    let mut workers = Vec::new();
    for i in 0..agents {
        let name = format!("agent{i}");
        server.add_agent(&admin, &name, &["hotline"]).await;
        let mut console = server.console(&name).await;
        let seen = seen.clone();
        workers.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                let wait = Duration::from_secs(if done == 0 { 600 } else { 5 });
                // A closed socket or a gap in the sequence numbers panics
                // here, and is counted below.
                let Some(offer) = console.expect_within("offer", wait).await else {
                    return done;
                };
                let now = Timestamp::now();
                let expires: Timestamp = offer["expires_at"].as_str().unwrap().parse().unwrap();
                seen.lock().unwrap().push((now, expires.duration_since(now).as_secs_f64()));
                let id = offer["task"]["id"].clone();
                console.send(json!({"type": "accept", "task_id": id})).await;
                console.send(json!({"type": "complete", "task_id": id, "outcome": "reached"})).await;
                done += 1;
            }
        }));
    }

    // Halfway through the calls, the reload.
    let reload_admin = admin.clone();
    let reload = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
        let asked = Timestamp::now();
        let change = "[dispatch]\noffer_timeout_secs = 20\n[kinds.inbound_call]\npriority = 110\n";
        let (status, body) = reload_admin.put("/api/v1/config", json!({"toml": change, "reevaluate": true})).await;
        let answered = Timestamp::now();
        assert_eq!(status, 200, "{body}");
        (asked, answered, body)
    });

    let dir = temp_dir("reload-load");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/scenarios/redirect.xml");
    let local_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let run_start = Timestamp::now();
    let status = tokio::process::Command::new("sipp")
        .arg(server.sip_addr.to_string())
        .args(["-sf", scenario, "-s", "4000", "-i", "127.0.0.1", "-p", &local_port.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string(), "-l", "10000"])
        .args(["-buff_size", "4194304", "-timer_resol", "1", "-timeout", &format!("{}s", seconds + 60)])
        .args(["-timeout_error", "-nostdin", "-trace_stat", "-stf", "stats.csv"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("sipp runs");
    let _ = status;
    let elapsed = started.elapsed().as_secs_f64();
    let (asked, answered, applied) = reload.await.unwrap();
    let (mut completed, mut closed) = (0, 0);
    for w in workers {
        match w.await {
            Ok(done) => completed += done,
            Err(_) => closed += 1,
        }
    }

    let stats = std::fs::read_to_string(dir.join("stats.csv")).unwrap_or_default();
    let header: Vec<&str> = stats.lines().next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = stats.lines().last().unwrap_or_default().split(';').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).and_then(|i| last.get(i)).copied().unwrap_or("?");
    let (ok, failed) = (column("SuccessfulCall(C)"), column("FailedCall(C)"));

    server.stop().await;
    let store = Store::connect(&db.url).await.unwrap();
    let filter = TaskFilter { kind: Some(TaskKind::InboundCall), limit: calls as u32 + 10, ..Default::default() };
    let tasks = store.tasks(&filter).await.unwrap();
    let not_completed = tasks.iter().filter(|t| t.status != TaskStatus::Completed).count();

    let seen = seen.lock().unwrap().clone();
    let before: Vec<f64> = seen.iter().filter(|(at, _)| *at < asked).map(|(_, t)| *t).collect();
    let after: Vec<f64> = seen.iter().filter(|(at, _)| *at > answered).map(|(_, t)| *t).collect();
    // Given at most 15 s before, more than 15 s after (less the moments in flight).
    let old_after = after.iter().filter(|t| **t <= 15.5).count();
    let new_before = before.iter().filter(|t| **t > 15.5).count();

    Outcome {
        rate,
        seconds,
        agents,
        calls,
        sipp_secs: elapsed,
        sipp_ok: ok.to_owned(),
        sipp_failed: failed.to_owned(),
        asked_after_secs: asked.duration_since(run_start).as_secs_f64(),
        reload_ms: answered.duration_since(asked).as_secs_f64() * 1000.0,
        applied,
        consoles_closed: closed,
        completed,
        tasks: tasks.len(),
        not_completed,
        before: before.len(),
        new_before,
        after: after.len(),
        old_after,
    }
}
