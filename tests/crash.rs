//! The embedded default loses nothing to a crash: the real `switchboard`
//! binary is killed with SIGKILL in the middle of a burst of new tasks and
//! accepts, with callbacks pending, and started again on the same data.

#[path = "common/binary.rs"]
mod bin;
mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use bin::binary;
use common::{Console, Http};
use futures_util::{SinkExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::testing::temp_dir;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "a long password";

/// A running server, killed (SIGKILL) when dropped, so a failing test
/// leaves no process behind.
struct Server(Child);

impl Server {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `serve` on `data` and returns it with its HTTP address, read
/// from its "serving" log line.
fn serve(data: &std::path::Path) -> (Server, SocketAddr) {
    let mut child = binary()
        .args(["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server exited early").unwrap();
        if line.contains("switchboard is serving") {
            let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).expect("http= in the line");
            break http.parse().unwrap();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr)
}

#[tokio::test]
async fn a_killed_server_loses_no_task_and_assigns_none_twice() {
    let data = temp_dir("crash");
    let mut add = binary()
        .args(["user", "add", "admin", "--role", "admin", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(add.wait().unwrap().success());

    let (mut server, addr) = serve(&data);
    let admin = Http::login(addr, "admin", PASSWORD).await;
    let agents = ["li", "wang", "zhao", "qian"];
    for name in agents {
        let body = json!({"username": name, "password": PASSWORD, "skills": ["callbacks", "marketing"]});
        assert_eq!(admin.post("/api/v1/agents", body).await.0, 201);
    }
    // 50 pending callbacks: 40 scheduled for later, 10 misses waiting for their checkpoint.
    // Whole milliseconds, as the store keeps them.
    let later = Timestamp::from_millisecond((Timestamp::now() + SignedDuration::from_hours(2)).as_millisecond())
        .unwrap()
        .to_string();
    let mut scheduled = Vec::new();
    for i in 0..40 {
        let body = json!({"kind": "event_callback", "customer_phone": format!("1390000{i:04}"), "not_before": later});
        let (status, task) = admin.post("/api/v1/tasks", body).await;
        assert_eq!(status, 201, "{task}");
        scheduled.push(task["id"].as_str().unwrap().to_owned());
    }
    for i in 0..10 {
        let body = json!({"caller": format!("1370000{i:04}"), "called": "4000"});
        assert_eq!(admin.post("/api/v1/missed-calls", body).await.0, 201);
    }

    // Four consoles accept whatever they are offered, while 200 tasks
    // arrive; the server is killed in the middle of it.
    let mut consoles = Vec::new();
    for name in agents {
        let http = Http::login(addr, name, PASSWORD).await;
        let mut console = Console::open(addr).await;
        console.auth(&http).await;
        consoles.push(tokio::spawn(async move {
            // Until the server dies under it.
            while let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout(Duration::from_secs(5), console.ws.next()).await
            {
                let msg: Value = serde_json::from_str(&text).unwrap();
                if msg["type"] == "offer" {
                    let accept = json!({"type": "accept", "task_id": msg["task"]["id"]}).to_string();
                    if console.ws.send(Message::Text(accept.into())).await.is_err() {
                        break;
                    }
                }
            }
        }));
    }
    let mut creators = Vec::new();
    for i in 0..200 {
        let admin = admin.clone();
        creators.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            let kind = if i % 2 == 0 { "new_signup_callback" } else { "marketing_no_show" };
            let body = json!({"kind": kind, "customer_phone": format!("1380000{i:04}")});
            match admin.try_post("/api/v1/tasks", body).await {
                Some((201, task)) => Some(task["id"].as_str().unwrap().to_owned()),
                _ => None,
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill(); // SIGKILL: no graceful anything
    let mut created = Vec::new();
    for c in creators {
        created.extend(c.await.unwrap());
    }
    for c in consoles {
        c.await.unwrap();
    }
    assert!(created.len() > 20 && created.len() < 200, "killed mid-burst: {} created", created.len());
    println!("killed after {} of 200 tasks were created", created.len());

    // Started again on the same data: every task that got its 201 is there,
    // none is held by two agents, the callbacks are still due.
    let (mut server, addr) = serve(&data);
    let admin = Http::login(addr, "admin", PASSWORD).await;
    let mut holders: HashSet<String> = HashSet::new();
    for id in &created {
        let (status, task) = admin.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(status, 200, "task {id} lost: {task}");
        let open: Vec<&Value> =
            task["attempts"].as_array().unwrap().iter().filter(|a| a["ended_at"].is_null()).collect();
        assert!(open.len() <= 1, "task {id} held twice: {task}");
        if task["status"] == "assigned" {
            assert_eq!(open.len(), 1, "{task}");
            assert_eq!(open[0]["agent_id"], task["agent_id"], "{task}");
            assert!(holders.insert(task["agent_id"].to_string()), "an agent holds two voice tasks: {task}");
        }
        assert!(["waiting", "offered", "assigned"].contains(&task["status"].as_str().unwrap()), "{task}");
    }
    for id in &scheduled {
        let (_, task) = admin.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!((&task["status"], &task["not_before"]), (&json!("scheduled"), &json!(later)), "{task}");
    }
    let (_, backlog) = admin.get("/api/v1/missed-calls").await;
    assert_eq!(backlog.as_array().unwrap().len(), 10, "{backlog}");
    let (_, queues) = admin.get("/api/v1/queues").await;
    let live: u64 = queues
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["waiting"].as_u64().unwrap() + q["offered"].as_u64().unwrap() + q["assigned"].as_u64().unwrap())
        .sum();
    assert_eq!(live as usize, created.len(), "the dispatcher has every task back: {queues}");
    println!("after the restart: {} tasks live, {} held by their agents", live, holders.len());
    server.kill();
    std::fs::remove_dir_all(data).unwrap();
}
