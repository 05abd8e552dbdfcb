//! Load test: tasks created over REST at a steady rate, agents on real
//! WebSocket consoles accepting and completing everything they are offered.
//! Measures the time from sending `POST /api/v1/tasks` to the offer arriving
//! on a console (REST, store insert, dispatch, push), and checks at the end
//! that every task was completed.
//!
//! Run: `cargo run --release --example offer_latency -- [AGENTS] [TASKS] [RATE_PER_SEC]`
//! (defaults 50 agents, 2000 tasks, 200 per second). The server runs
//! in-process on an ephemeral port over a fresh SQLite database.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;
use serde_json::json;
use switchboard::domain::TaskStatus;
use switchboard::store::TaskFilter;
use switchboard::testing::TestDb;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let agents = args.first().copied().unwrap_or(50);
    let tasks = args.get(1).copied().unwrap_or(2000);
    let rate = args.get(2).copied().unwrap_or(200);

    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    // The simulated agents accept and complete each offer at once, far
    // faster than a person: a socket's message rate is set to let them.
    config.websocket.messages_per_sec = 1000;
    config.websocket.message_burst = 2000;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut consoles = Vec::new();
    for i in 0..agents {
        let name = format!("agent{i}");
        server.add_agent(&admin, &name, &["callbacks", "marketing"]).await;
        let mut console = server.console(&name).await;
        let (sent, latencies) = (sent.clone(), latencies.clone());
        consoles.push(tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let offer = match tokio::time::timeout(Duration::from_secs(3), console.expect("offer")).await {
                    Ok(o) => o,
                    Err(_) => return done,
                };
                let phone = offer["task"]["customer_phone"].as_str().unwrap().to_owned();
                if let Some(t0) = sent.lock().unwrap().get(&phone) {
                    latencies.lock().unwrap().push(t0.elapsed());
                }
                let id = offer["task"]["id"].clone();
                console.send(json!({"type": "accept", "task_id": id})).await;
                console.expect("ack").await;
                console.send(json!({"type": "complete", "task_id": id, "outcome": "reached", "summary": "load"})).await;
                console.expect("ack").await;
                done += 1;
            }
        }));
    }

    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut producers = Vec::new();
    for i in 0..tasks {
        tick.tick().await;
        let phone = format!("1380000{i:04}");
        let kind = if i % 3 == 0 { "marketing_no_show" } else { "new_signup_callback" };
        sent.lock().unwrap().insert(phone.clone(), Instant::now());
        let admin = admin.clone();
        producers.push(tokio::spawn(async move {
            let (status, body) = admin.post("/api/v1/tasks", json!({"kind": kind, "customer_phone": phone})).await;
            assert_eq!(status, 201, "{body}");
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    let created_in = started.elapsed();
    let mut completed = 0;
    for c in consoles {
        completed += c.await.unwrap();
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!("{agents} agents, {tasks} tasks at {rate}/s (sent in {:.1} s)", created_in.as_secs_f64());
    println!(
        "create -> offer latency: n={} median {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().unwrap().as_secs_f64() * 1000.0
    );
    server.stop().await;
    let store = switchboard::store::Store::connect(&db.url).await.unwrap();
    let filter = TaskFilter { status: Some(TaskStatus::Completed), limit: tasks as u32 + 1, ..Default::default() };
    let stored = store.tasks(&filter).await.unwrap().len();
    println!("completed by consoles: {completed}; stored as completed: {stored}");
    assert_eq!((completed, stored), (tasks, tasks), "every task must end completed");
}
