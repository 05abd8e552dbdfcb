//! Two `switchboard serve` processes on one Redis and one PostgreSQL:
//! one leads, the other relays its agents to it; the leader is killed with
//! SIGKILL in the middle of the day's work and the other takes over.

#[path = "common/binary.rs"]
mod bin;
mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Http;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::testing::{TestDb, TestRedis};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "a long password";
const AGENTS: usize = 50;
const TASKS: usize = 1000;
const LEASE_MS: u64 = 1000;

/// Small deterministic randomness per agent (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100
    }
}

/// What the agents saw, shared.
#[derive(Default)]
struct Floor {
    stop: AtomicBool,
    /// Milliseconds since the start at which the leader was killed (0: not yet).
    killed_at: AtomicU64,
    /// The first offer that reached an agent over a connection opened after the kill.
    first_offer_after_kill: AtomicU64,
    reconnects: AtomicUsize,
    completes: AtomicUsize,
    /// Every refusal an agent got, with the agent's name, for a failure's message.
    refusals: std::sync::Mutex<Vec<String>>,
    /// What each agent received and sent, one line each, for a failure's message.
    log: std::sync::Mutex<Vec<String>>,
}

#[tokio::test]
async fn two_nodes_share_the_floor_and_the_survivor_serves_a_killed_leaders_tasks() {
    let Some(redis) = TestRedis::new("nodes").await else { return };
    let Some(db) = TestDb::postgres().await else { return };
    bin::add_admin(&["--database-url", &db.url], PASSWORD);
    let lease = LEASE_MS.to_string();
    // The nodes share one signing secret, as docs/security.md asks.
    let secret = switchboard::testing::temp_dir("nodes").join("token_secret");
    let secret = secret.to_str().unwrap();
    let env = [
        ("SWITCHBOARD_AUTH__TOKEN_SECRET_FILE", secret),
        ("SWITCHBOARD_REDIS__PREFIX", redis.prefix.as_str()),
        ("SWITCHBOARD_REDIS__LEASE_MS", lease.as_str()),
        ("SWITCHBOARD_DISPATCH__OFFER_TIMEOUT_SECS", "2"),
        ("SWITCHBOARD_DISPATCH__WRAP_UP_SECS", "0"),
        ("SWITCHBOARD_DISPATCH__MAX_MISSED_OFFERS", "1000"),
        ("SWITCHBOARD_DISPATCH__PASS_OVER_COOLDOWN_SECS", "1"),
    ];
    let args = ["--database-url", db.url.as_str(), "--redis", redis.url.as_str()];
    let (mut leader, a) = bin::serve(&args, &env);
    let (mut relay, b) = bin::serve_or_relay(&args, &env);
    let nodes = [a, b];
    let (_, health) = Http { addr: b, token: None }.get("/health").await;
    assert_eq!((&health["role"], &health["leader"]), (&json!("relay"), &json!(a.to_string())), "{health}");

    // Agents created through the relay, half of them working on each node.
    let admin_b = Http::login(b, "admin", PASSWORD).await;
    for i in 0..AGENTS {
        let body = json!({"username": format!("agent{i}"), "password": PASSWORD, "skills": ["callbacks", "marketing"]});
        assert_eq!(admin_b.post("/api/v1/agents", body).await.0, 201);
    }
    let floor = Arc::new(Floor::default());
    let start = Instant::now();
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        agents.push(tokio::spawn(agent(i, nodes, floor.clone(), start)));
    }

    // 1,000 tasks at about 100 a second, to both nodes; the leader dies half
    // way. One login serves both nodes: they share the signing secret.
    let token = admin_b.token.clone();
    let created = Arc::new(Mutex::new(Vec::new()));
    let mut creators = Vec::new();
    for i in 0..TASKS {
        let created = created.clone();
        let token = token.clone();
        creators.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i as u64 * 10)).await;
            let kind = if i % 2 == 0 { "new_signup_callback" } else { "marketing_no_show" };
            let body = json!({"kind": kind, "customer_phone": format!("13900{i:06}")});
            // Sent to its node; while no node answers, tried again on the other.
            for attempt in 0..100 {
                let admin = Http { addr: nodes[(i + attempt) % 2], token: token.clone() };
                if let Some((201, task)) = admin.try_post("/api/v1/tasks", body.clone()).await {
                    created.lock().await.push(task["id"].as_str().unwrap().to_owned());
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            panic!("task {i} could not be created on either node");
        }));
    }
    tokio::time::sleep(Duration::from_millis(TASKS as u64 * 5)).await;
    leader.kill();
    let killed = start.elapsed();
    floor.killed_at.store(killed.as_millis() as u64, Ordering::SeqCst);
    println!("leader killed at {killed:?}, {} tasks created so far", created.lock().await.len());
    for c in creators {
        c.await.unwrap();
    }

    // The survivor now leads; every agent is connected to it again (the
    // leader's own directly, the relay's through the relay, whose sockets
    // closed with the old leader) and every task gets done.
    let admin = Http::login(b, "admin", PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let all_back = loop {
        let (_, list) = admin.get("/api/v1/agents").await;
        let connected = list.as_array().unwrap().iter().filter(|a| a["connected"] == true).count();
        if connected == AGENTS {
            break start.elapsed().saturating_sub(killed);
        }
        assert!(Instant::now() < deadline, "{connected} of {AGENTS} agents connected again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        let (_, queues) = admin.get("/api/v1/queues").await;
        let live: u64 = queues
            .as_array()
            .unwrap()
            .iter()
            .map(|q| ["waiting", "offered", "assigned"].map(|k| q[k].as_u64().unwrap()).iter().sum::<u64>())
            .sum();
        if live == 0 {
            break;
        }
        if Instant::now() >= deadline {
            // Say which tasks are stuck and how they got there.
            for status in ["waiting", "offered", "assigned"] {
                let (_, tasks) = admin.get(&format!("/api/v1/tasks?status={status}&limit=20")).await;
                for t in tasks.as_array().unwrap() {
                    let (_, task) = admin.get(&format!("/api/v1/tasks/{}", t["id"].as_str().unwrap())).await;
                    println!("still {status}: {task}");
                    let id = t["id"].as_str().unwrap();
                    // The lines about the task, and the comings and goings of the agents it met.
                    let log = floor.log.lock().unwrap();
                    let names: HashSet<&str> =
                        log.iter().filter(|l| l.contains(id)).filter_map(|l| l.split(' ').nth(2)).collect();
                    let about = |l: &&String| {
                        l.contains(id)
                            || (l.split(' ').nth(2).is_some_and(|n| names.contains(n))
                                && ["hello", "socket ended", "could not"].iter().any(|w| l.contains(w)))
                    };
                    for line in log.iter().filter(about) {
                        println!("  {line}");
                    }
                }
            }
            println!("refusals the agents got: {:?}", floor.refusals.lock().unwrap());
            panic!("tasks still live: {queues}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    floor.stop.store(true, Ordering::SeqCst);
    for a in agents {
        a.await.unwrap();
    }
    let first_after = floor.first_offer_after_kill.load(Ordering::SeqCst);
    let served_after = Duration::from_millis(first_after).saturating_sub(killed);
    println!(
        "first offer after the kill: {served_after:?} later; all {AGENTS} agents connected again {all_back:?} after it \
         ({} reconnects); {} completions",
        floor.reconnects.load(Ordering::SeqCst),
        floor.completes.load(Ordering::SeqCst)
    );
    assert!(first_after > 0, "no offer after the kill");
    assert!(
        served_after < Duration::from_millis(LEASE_MS) + Duration::from_secs(5),
        "served {served_after:?} after the kill"
    );

    // Every task ends exactly once: completed, with one reached attempt and one completion.
    let created = created.lock().await.clone();
    assert_eq!(created.len(), TASKS);
    let mut stored = 0;
    for kind in ["new_signup_callback", "marketing_no_show"] {
        let (_, tasks) = admin.get(&format!("/api/v1/tasks?kind={kind}&limit=1000")).await;
        for t in tasks.as_array().unwrap() {
            stored += 1;
            let (_, task) = admin.get(&format!("/api/v1/tasks/{}", t["id"].as_str().unwrap())).await;
            assert_eq!(task["status"], "completed", "{task}");
            let reached = task["attempts"].as_array().unwrap().iter().filter(|a| a["outcome"] == "reached").count();
            let completions = task["events"].as_array().unwrap().iter().filter(|e| e["event"] == "completed").count();
            assert_eq!((reached, completions), (1, 1), "ended more than once: {task}");
        }
    }
    assert!(stored >= TASKS, "every acknowledged task is stored ({stored})");
    for id in &created {
        let (status, _) = admin.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(status, 200);
    }
    println!("{stored} tasks stored, each completed exactly once");
    relay.kill();
}

async fn login(addr: SocketAddr, user: &str) -> Option<Http> {
    let (status, body) =
        Http { addr, token: None }.try_post("/api/v1/login", json!({"username": user, "password": PASSWORD})).await?;
    (status == 200).then(|| Http { addr, token: Some(body["token"].as_str().unwrap().to_owned()) })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens an authenticated console at `addr` with the agent's token (valid
/// on every node: they share the signing secret), logging in first if the
/// agent has none yet. A console keeps its token across reconnects, as a
/// real one does, so a take-over is not also a storm of password checks.
async fn connect(addr: SocketAddr, name: &str, token: &mut Option<String>) -> Option<Socket> {
    if token.is_none() {
        *token = login(addr, name).await?.token;
    }
    let http = Http { addr, token: token.clone() };
    let (status, ticket) = http.try_post("/api/v1/ws-ticket", json!({})).await?;
    if status != 200 {
        return None;
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await.ok()?;
    let auth = json!({"type": "auth", "ticket": ticket["ticket"]}).to_string();
    ws.send(Message::Text(auth.into())).await.ok()?;
    Some(ws)
}

/// One agent: accepts (70 %), declines (15 %) or lets an offer time out
/// (15 %); completes what it accepted; reconnects when its socket closes,
/// to its own node first, then to the other.
async fn agent(i: usize, nodes: [SocketAddr; 2], floor: Arc<Floor>, start: Instant) {
    let name = format!("agent{i}");
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let mut home = i % 2;
    let mut first = true;
    let mut token = None;
    while !floor.stop.load(Ordering::SeqCst) {
        let Some(mut ws) = connect(nodes[home], &name, &mut token).await else {
            floor.log.lock().unwrap().push(format!(
                "{} ms {name} could not connect to {}",
                start.elapsed().as_millis(),
                nodes[home]
            ));
            home = 1 - home;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if !first {
            floor.reconnects.fetch_add(1, Ordering::SeqCst);
        }
        first = false;
        let connected_at = start.elapsed().as_millis() as u64;
        while !floor.stop.load(Ordering::SeqCst) {
            let msg = match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(text)))) => {
                    let at = start.elapsed().as_millis();
                    floor.log.lock().unwrap().push(format!("{at} ms {name} got {text}"));
                    serde_json::from_str::<Value>(&text).unwrap()
                }
                Ok(Some(Ok(_))) => continue,
                Ok(end) => {
                    floor
                        .log
                        .lock()
                        .unwrap()
                        .push(format!("{} ms {name} socket ended: {end:?}", start.elapsed().as_millis()));
                    break;
                }
            };
            let reply = match msg["type"].as_str().unwrap_or_default() {
                "hello" => {
                    // Held from before a take-over: finish it.
                    let held = msg["snapshot"]["held"].as_array().cloned().unwrap_or_default();
                    for task in held {
                        let done = json!({"type": "complete", "task_id": task["id"], "outcome": "reached"});
                        if ws.send(Message::Text(done.to_string().into())).await.is_ok() {
                            floor.completes.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    continue;
                }
                "offer" => {
                    // Counted only on a connection opened after the kill:
                    // an offer the old leader sent just before it died is not
                    // the survivor serving.
                    let killed = floor.killed_at.load(Ordering::SeqCst);
                    let now = start.elapsed().as_millis() as u64;
                    if killed > 0 && connected_at > killed {
                        let _ =
                            floor.first_offer_after_kill.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
                    }
                    match dice.roll() {
                        0..70 => json!({"type": "accept", "task_id": msg["task"]["id"]}),
                        70..85 => json!({"type": "decline", "task_id": msg["task"]["id"]}),
                        _ => continue,
                    }
                }
                "error" => {
                    floor.refusals.lock().unwrap().push(format!("{name}: {msg}"));
                    continue;
                }
                "task_assigned" => {
                    floor.completes.fetch_add(1, Ordering::SeqCst);
                    json!({"type": "complete", "task_id": msg["task"]["id"], "outcome": "reached"})
                }
                _ => continue,
            };
            let sent = ws.send(Message::Text(reply.to_string().into())).await;
            let at = start.elapsed().as_millis();
            floor.log.lock().unwrap().push(format!("{at} ms {name} sent {reply} ({})", sent.is_ok()));
            if sent.is_err() {
                break;
            }
            // A console's person answers at a person's pace; a robot that
            // answered every offer the instant it came would pass
            // `websocket.messages_per_sec` after a take-over's backlog,
            // and a refused `complete` would leave its task held.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    }
}
