//! Load test: the wallboard under 500 screens, then the memory of 2,000
//! agent consoles.
//!
//! The server runs in a child process (this program again, with
//! `WALLBOARD_LOAD_SERVER` set) on a fresh SQLite database, so that its
//! resident memory is its own and not the clients'. Then:
//!
//! 1. AGENTS consoles open `/ws`, authenticate and receive `hello`; the
//!    server's resident memory before and after, divided by AGENTS, is the
//!    cost of one console. They stay connected, so the board below lists
//!    every one of them.
//! 2. WALLBOARDS supervisors' sockets open `/ws/wallboard`.
//! 3. EVENTS (+1, the stop signal) tasks are created over REST, 100 ms apart (no agent serves
//!    their queue, so each one raises the waiting count by one). For each
//!    event and each screen, the time from sending the `POST` to the screen
//!    holding the patched count is recorded: REST, dispatch, the floor
//!    feed's coalescing and 500 sends, all included.
//!
//! Run: `cargo run --release --example wallboard_load -- [WALLBOARDS] [EVENTS] [AGENTS]`
//! (defaults 500, 100, 2000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Http;
use common::child::{rss_kib, serve_until_stdin_closes, spawn_self};
use futures_util::{SinkExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::auth::Auth;
use switchboard::domain::{Role, UserId};
use switchboard::store::{NewUser, Store};
use switchboard::testing::TestDb;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "wallboard-load-test-secret-0123456789";
const QUEUE_KEY: &str = "callbacks/new_signup_callback";

fn config(database_url: &str) -> Config {
    let mut config = Config::default();
    config.server.database_url = database_url.to_owned();
    config.server.http = "127.0.0.1:0".parse().unwrap();
    config.auth.token_secret = SECRET.to_owned();
    config.auth.ws_auth_timeout_secs = 30;
    // One supervisor watches every screen here.
    config.websocket.max_wallboards_per_user = 1000;
    config
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket at `path` and authenticates it with a fresh ticket.
async fn open(http: &Http, path: &str) -> Ws {
    let (status, ticket) = http.post("/api/v1/ws-ticket", json!({})).await;
    assert_eq!(status, 200, "{ticket}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}{path}", http.addr)).await.unwrap();
    let auth = json!({"type": "auth", "ticket": ticket["ticket"]}).to_string();
    ws.send(Message::Text(auth.into())).await.unwrap();
    ws
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("socket open").expect("a frame") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() {
    if let Ok(url) = std::env::var("WALLBOARD_LOAD_SERVER") {
        return serve_until_stdin_closes(config(&url), false).await;
    }
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let wallboards = args.first().copied().unwrap_or(500);
    let events = args.get(1).copied().unwrap_or(100);
    let agents = args.get(2).copied().unwrap_or(2000);

    // Users straight into the store (one password hash for all: logins are
    // not what is measured; tokens are signed here with the server's key).
    let db = TestDb::sqlite();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let hash = switchboard::auth::passwords::hash("load-password").unwrap();
    let user = |name: String, role: Role, skills: &[&str]| NewUser {
        work_number: None,
        username: name.clone(),
        role,
        password_hash: hash.clone(),
        display_name: name,
        sip_uri: None,
        skills: skills.iter().map(|s| s.to_string()).collect(),
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
    };
    let now = Timestamp::now();
    let admin = store.create_user(user("admin".into(), Role::Admin, &[]), now).await.unwrap().id;
    let supervisor = store.create_user(user("sup".into(), Role::Supervisor, &[]), now).await.unwrap().id;
    let mut agent_ids = Vec::new();
    for i in 0..agents {
        // Hotline agents: the callbacks created below wait for someone else.
        agent_ids.push(store.create_user(user(format!("agent{i}"), Role::Agent, &["hotline"]), now).await.unwrap().id);
    }
    store.close().await;

    let (mut child, addr, _) = spawn_self("WALLBOARD_LOAD_SERVER", &db.url);
    let pid = child.id();
    let auth = Auth::new(SECRET, SignedDuration::from_hours(2), SignedDuration::from_secs(30));
    let http = |user: UserId, role| Http { addr, token: Some(auth.issue_token(user, role, Timestamp::now()).0) };
    let (admin, sup) = (http(admin, Role::Admin), http(supervisor, Role::Supervisor));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    // 1. The consoles, which stay connected: the board then shows them all.
    let rss_before = rss_idle;
    let mut consoles = Vec::with_capacity(agents);
    for id in &agent_ids {
        let mut ws = open(&http(*id, Role::Agent), "/ws").await;
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{hello}");
        consoles.push(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);
    let per = (rss_after.saturating_sub(rss_before)) as f64 / agents as f64;
    println!("{agents} agent consoles: server RSS {rss_before} KiB -> {rss_after} KiB, {per:.1} KiB per connection");
    // 2. The screens.
    let received: Arc<Mutex<Vec<Vec<Option<Instant>>>>> =
        Arc::new(Mutex::new(vec![vec![None; events + 1]; wallboards]));
    let mut screens = Vec::new();
    for s in 0..wallboards {
        let mut ws = open(&sup, "/ws/wallboard").await;
        let first = next_json(&mut ws).await;
        assert_eq!(first["type"], "figures", "{first}");
        let received = received.clone();
        screens.push(tokio::spawn(async move {
            let mut board = first["board"].clone();
            let mut seen = 0usize;
            // One more event than measured: a screen stops reading only
            // after the last measured one is in. (Measured, the last event
            // read 70-300 ms late on most screens while the server had
            // published it within 2 ms: the client process winding down
            // 500 tasks at once, not the server.)
            while seen < events + 1 {
                let msg = next_json(&mut ws).await;
                if msg["type"] != "patch" {
                    continue;
                }
                switchboard::rules::figures::wire::apply_patch(&mut board, &msg["patch"]);
                let waiting = board["queues"][QUEUE_KEY]["waiting"].as_u64().unwrap_or(0) as usize;
                let at = Instant::now();
                let mut r = received.lock().unwrap();
                while seen < waiting.min(events + 1) {
                    seen += 1;
                    if seen <= events {
                        r[s][seen] = Some(at);
                    }
                }
            }
            ws
        }));
    }
    let rss_screens = rss_kib(pid);
    let per_screen = rss_screens.saturating_sub(rss_after) as f64 / wallboards as f64;
    println!(
        "{wallboards} wallboards: server RSS {rss_after} KiB -> {rss_screens} KiB, {per_screen:.1} KiB per screen"
    );

    // 3. The events, 100 ms apart.
    let mut sent = vec![Instant::now(); events + 2];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for (i, at) in sent.iter_mut().enumerate().skip(1) {
        tick.tick().await;
        *at = Instant::now();
        let body = json!({"kind": "new_signup_callback", "customer_phone": format!("1380000{i:04}")});
        let (status, task) = admin.post("/api/v1/tasks", body).await;
        assert_eq!(status, 201, "{task}");
    }
    let mut open_screens = Vec::new();
    for s in screens {
        open_screens.push(
            tokio::time::timeout(Duration::from_secs(30), s).await.expect("every screen saw every event").unwrap(),
        );
    }
    let received = std::mem::take(&mut *received.lock().unwrap());
    let mut latencies: Vec<Duration> = received
        .iter()
        .flat_map(|screen| screen.iter().enumerate().skip(1).map(|(i, at)| at.expect("seen").duration_since(sent[i])))
        .collect();
    latencies.sort();
    let within = latencies.iter().filter(|d| **d <= Duration::from_millis(100)).count();
    println!(
        "event -> patch on screen, {} deliveries ({wallboards} screens x {events} events): median {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.2} % within 100 ms",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        within as f64 * 100.0 / latencies.len() as f64,
    );
    // The slowest events, to tell a warm-up from a periodic stall.
    let mut worst: Vec<(Duration, usize)> = (1..=events)
        .map(|i| (received.iter().map(|screen| screen[i].unwrap().duration_since(sent[i])).max().unwrap(), i))
        .collect();
    worst.sort_by(|a, b| b.cmp(a));
    let shown: Vec<String> =
        worst.iter().take(5).map(|(d, i)| format!("#{i} {:.1} ms", d.as_secs_f64() * 1e3)).collect();
    println!("slowest events (last screen to see them): {}", shown.join(", "));
    drop(open_screens);

    let (_, health) = Http { addr, token: None }.get("/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    drop(consoles);
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the server stopped cleanly");
}
