//! The attacks of an anonymous client or one agent, each against the real
//! server for a bounded time, with `/health` and `GET /api/v1/queues`
//! timed every 50 ms throughout (median, p99, max per attack).
//!
//! The server runs in a child process (this program again, with
//! `ABUSE_SERVER` set) on a fresh SQLite database, so its resident memory
//! and file descriptors are its own. It believes `X-Forwarded-For` from
//! 127.0.0.1, so one client here can stand for many addresses.
//!
//! 1. Guessing: wrong passwords as fast as they are answered, first from
//!    one address at many names, then at one name from many addresses:
//!    how many are still checked per second once the limit holds.
//! 2. 64 wrong passwords at once, again and again, from 64 addresses at 64
//!    names (no limit applies): the server's memory above idle, and what
//!    the password pool refused.
//! 3. 1,000 HTTP connections sending a header line every 2 s (slowloris):
//!    how long each stays open against `server.header_read_timeout_secs`.
//! 4. 1,000 SIP TCP connections sending a byte a second, from 20 source
//!    addresses: the same against `sip.tcp_message_secs`.
//! 5. One agent's socket sending `set_status` as fast as it can for 5 s:
//!    status rows written, the socket's fate, the SQLite log's size.
//! 6. 100,000 WebSocket tickets (8 for each of 12,500 users): the issue
//!    rate per 10,000, which must stay flat.
//!
//! Run: `cargo run --release --example abuse -- [SECONDS]` (default 10 s
//! per timed attack).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::child::{rss_kib, serve_until_stdin_closes, spawn_self};
use common::{Console, Http, json_request, raw_request};
use futures_util::{SinkExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::auth::Auth;
use switchboard::domain::{Role, UserId};
use switchboard::store::{NewUser, Store};
use switchboard::testing::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "abuse-test-signing-secret-0123456789abcdef";
const PASSWORD: &str = "the agents' long password";

fn config(database_url: &str) -> Config {
    let mut config = Config::default();
    config.server.database_url = database_url.to_owned();
    config.server.http = "127.0.0.1:0".parse().unwrap();
    config.server.sip = "127.0.0.1:0".parse().unwrap();
    config.server.trusted_proxies = vec!["127.0.0.1".into()];
    config.auth.token_secret = SECRET.to_owned();
    // Attack 6 keeps 100,000 tickets out at once: none may expire meanwhile.
    config.auth.ws_ticket_ttl_secs = 600;
    config
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `/health` and `/queues` timed every 50 ms while an attack runs.
struct Probe {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<Duration>, Vec<Duration>, usize)>,
}

impl Probe {
    fn start(addr: SocketAddr, admin: &Http) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, admin) = (stop.clone(), admin.clone());
        let task = tokio::spawn(async move {
            let (mut health, mut queues, mut failed) = (Vec::new(), Vec::new(), 0);
            let anonymous = Http { addr, token: None };
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                match tokio::time::timeout(Duration::from_secs(10), anonymous.try_get("/health")).await {
                    Ok(Some((200, _))) => health.push(started.elapsed()),
                    _ => failed += 1,
                }
                let started = Instant::now();
                match tokio::time::timeout(Duration::from_secs(10), admin.try_get("/api/v1/queues")).await {
                    Ok(Some((200, _))) => queues.push(started.elapsed()),
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (health, queues, failed)
        });
        Probe { stop, task }
    }

    async fn report(self, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut health, mut queues, failed) = self.task.await.unwrap();
        health.sort();
        queues.sort();
        let line = |name: &str, v: &[Duration]| {
            if v.is_empty() {
                return format!("{name} never answered");
            }
            format!(
                "{name} median {:.1} ms p99 {:.1} ms max {:.1} ms ({} probes)",
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.99)),
                ms(*v.last().unwrap()),
                v.len()
            )
        };
        println!("  during {what}: {}; {}; {failed} probes failed", line("/health", &health), line("/queues", &queues));
    }
}

async fn login(addr: SocketAddr, client: &str, user: &str) -> u16 {
    let body = json!({"username": user, "password": "a wrong password"});
    let request = json_request("POST", "/api/v1/login", None, &format!("X-Forwarded-For: {client}\r\n"), &body);
    raw_request(addr, &request).await.0
}

/// Wrong logins as fast as they are answered for `secs`; `at(i)` picks the
/// i-th attempt's address and name. Counts answers by status, and the
/// attempts still checked (401) after the first refusal.
async fn guess(addr: SocketAddr, secs: u64, at: impl Fn(usize) -> (String, String)) -> (usize, usize, usize, f64) {
    let (started, mut i) = (Instant::now(), 0);
    let (mut checked, mut refused, mut checked_after, mut limited_at) = (0, 0, 0, None);
    while started.elapsed() < Duration::from_secs(secs) {
        let (client, user) = at(i);
        match login(addr, &client, &user).await {
            401 if limited_at.is_some() => {
                checked += 1;
                checked_after += 1
            }
            401 => checked += 1,
            429 => {
                refused += 1;
                limited_at.get_or_insert(started.elapsed());
            }
            other => panic!("login answered {other}"),
        }
        i += 1;
    }
    let after = started.elapsed().saturating_sub(limited_at.unwrap_or_default()).as_secs_f64();
    (checked, refused, checked_after, checked_after as f64 / after.max(0.001))
}

/// A connection from `source` (a loopback address of its own).
async fn connect_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Opens `n` connections from `sources` that send `first`, then one of
/// `drip` every `every`, until the server closes them; returns how long
/// each one stayed open (`None`: still open after `give_up`).
async fn trickle(
    n: usize,
    sources: &[String],
    to: SocketAddr,
    first: &'static [u8],
    drip: &'static [u8],
    every: Duration,
    give_up: Duration,
) -> Vec<Option<Duration>> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let source = sources[i % sources.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = connect_from(&source, to).await.ok()?;
            let started = Instant::now();
            if stream.write_all(first).await.is_err() {
                return Some(started.elapsed());
            }
            let mut buf = [0u8; 512];
            loop {
                if started.elapsed() > give_up {
                    return None;
                }
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return Some(started.elapsed()),
                        Ok(_) => {}
                    },
                    _ = tokio::time::sleep(every) => {
                        if stream.write_all(drip).await.is_err() {
                            return Some(started.elapsed());
                        }
                    }
                }
            }
        }));
    }
    let mut open_for = Vec::with_capacity(n);
    for t in tasks {
        open_for.push(t.await.unwrap());
    }
    open_for
}

fn report_trickle(what: &str, open_for: &[Option<Duration>], limit: Duration) {
    let closed: Vec<Duration> = open_for.iter().flatten().copied().collect();
    let within = closed.iter().filter(|d| **d <= limit + Duration::from_secs(1)).count();
    let mut sorted = closed.clone();
    sorted.sort();
    println!(
        "  {what}: {} connections, {} closed by the server, {within} within the limit ({:.0} s) + 1 s; open for median {:.2} s, max {:.2} s; {} still open",
        open_for.len(),
        closed.len(),
        limit.as_secs_f64(),
        sorted.get(sorted.len() / 2).map_or(0.0, |d| d.as_secs_f64()),
        sorted.last().map_or(0.0, |d| d.as_secs_f64()),
        open_for.len() - closed.len(),
    );
}

fn wal_bytes(db: &TestDb) -> u64 {
    let path = db.url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned() + "-wal";
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::main]
async fn main() {
    if let Ok(url) = std::env::var("ABUSE_SERVER") {
        return serve_until_stdin_closes(config(&url), true).await;
    }
    let secs: u64 = std::env::args().nth(1).map_or(10, |a| a.parse().expect("seconds"));
    let db = TestDb::sqlite();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let hash = switchboard::auth::passwords::hash(PASSWORD).unwrap();
    let now = Timestamp::now();
    let new = |name: String, role: Role, skills: &[&str]| NewUser {
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
    let admin_id = store.create_user(new("admin".into(), Role::Admin, &[]), now).await.unwrap().id;
    let agent_id = store.create_user(new("li".into(), Role::Agent, &["hotline"]), now).await.unwrap().id;
    // The ticket holders of attack 6 (supervisors: no dispatcher entry each).
    let mut holders = Vec::new();
    for i in 0..12_500 {
        holders.push(store.create_user(new(format!("sup{i}"), Role::Supervisor, &[]), now).await.unwrap().id);
    }
    store.close().await;

    let (mut child, addr, sip) = spawn_self("ABUSE_SERVER", &db.url);
    let sip = sip.expect("the child's SIP address");
    let pid = child.id();
    let auth = Auth::new(SECRET, SignedDuration::from_hours(2), SignedDuration::from_secs(30));
    let token = |user: UserId, role| auth.issue_token(user, role, Timestamp::now()).0;
    let admin = Http { addr, token: Some(token(admin_id, Role::Admin)) };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid);
    println!("server idle: RSS {idle} KiB, {} users", 12_502);

    // 1. Guessing.
    println!("1. wrong passwords as fast as answered, {secs} s each");
    let probe = Probe::start(addr, &admin);
    let (checked, refused, after, rate) =
        guess(addr, secs, |i| ("198.51.100.7".into(), format!("name{}", i % 50))).await;
    println!(
        "  one address, 50 names: {checked} checked, {refused} refused (429); after the limit {after} checked = {rate:.2}/s"
    );
    let (checked, refused, after, rate) =
        guess(addr, secs, |i| (format!("10.{}.{}.{}", i / 65_536 % 256, i / 256 % 256, i % 256), "li".into())).await;
    println!(
        "  one name ('li'), a new address each time: {checked} checked, {refused} refused; after the limit {after} checked = {rate:.2}/s"
    );
    probe.report("guessing").await;

    // 2. 64 wrong passwords at once, again and again.
    println!("2. 64 concurrent wrong passwords for {secs} s (64 addresses, 64 names)");
    let probe = Probe::start(addr, &admin);
    let peak = Arc::new(Mutex::new(idle));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let now = rss_kib(pid);
                {
                    let mut p = peak.lock().unwrap();
                    *p = (*p).max(now);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let until = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..64)
        .map(|w| {
            tokio::spawn(async move {
                let (mut checked, mut busy) = (0usize, 0usize);
                let mut round = 0;
                while Instant::now() < until {
                    // A fresh address and name each round: no limit applies.
                    let client = format!("172.16.{}.{}", round % 200, w);
                    match login(addr, &client, &format!("user{w}x{round}")).await {
                        401 => checked += 1,
                        503 => busy += 1,
                        other => panic!("login answered {other}"),
                    }
                    round += 1;
                }
                (checked, busy)
            })
        })
        .collect();
    let (mut checked, mut busy) = (0, 0);
    for w in workers {
        let (c, b) = w.await.unwrap();
        checked += c;
        busy += b;
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = *peak.lock().unwrap();
    println!(
        "  {checked} checked ({:.0}/s), {busy} refused busy (503); server RSS idle {idle} KiB, peak {peak} KiB: {:.1} MiB above idle",
        checked as f64 / secs as f64,
        (peak.saturating_sub(idle)) as f64 / 1024.0
    );
    probe.report("64 concurrent wrong passwords").await;

    // 3. HTTP slowloris.
    let header_limit = Duration::from_secs(Config::default().server.header_read_timeout_secs);
    println!("3. 1,000 HTTP connections sending a header line every 2 s");
    let probe = Probe::start(addr, &admin);
    let sources: Vec<String> = (2..12).map(|i| format!("127.0.1.{i}")).collect();
    let open_for = trickle(
        1000,
        &sources,
        addr,
        b"GET /health HTTP/1.1\r\n",
        b"X-Slow: 1\r\n",
        Duration::from_secs(2),
        header_limit * 3,
    )
    .await;
    report_trickle("HTTP", &open_for, header_limit);
    probe.report("HTTP slowloris").await;

    // 4. SIP over TCP, a byte a second.
    let message_limit = Duration::from_secs(Config::default().sip.tcp_message_secs);
    println!("4. 1,000 SIP TCP connections sending a byte a second, from 20 addresses");
    let probe = Probe::start(addr, &admin);
    let sources: Vec<String> = (2..22).map(|i| format!("127.0.2.{i}")).collect();
    let open_for = trickle(
        1000,
        &sources,
        sip,
        b"OPTIONS sip:4000@127.0.0.1 SIP/2.0\r\n",
        b"V",
        Duration::from_secs(1),
        message_limit * 3,
    )
    .await;
    report_trickle("SIP TCP", &open_for, message_limit);
    probe.report("SIP slowloris").await;

    // 5. One agent's socket flooding set_status.
    println!("5. one agent socket sending set_status as fast as it can for 5 s");
    let rows = || async {
        let store = Store::connect(&db.url).await.unwrap();
        let n = store.status_rows().await.unwrap();
        store.close().await;
        n
    };
    let (rows_before, wal_before) = (rows().await, wal_bytes(&db));
    let probe = Probe::start(addr, &admin);
    let li = Http { addr, token: Some(token(agent_id, Role::Agent)) };
    let mut console = Console::open(addr).await;
    console.auth(&li).await;
    console.expect("hello").await;
    let (mut sent, mut acks, mut limited, mut close) = (0usize, 0usize, 0usize, None);
    let flood_until = Instant::now() + Duration::from_secs(5);
    'flood: while Instant::now() < flood_until {
        let status = if sent % 2 == 0 {
            json!({"type": "set_status", "status": "break", "reason": "x"})
        } else {
            json!({"type": "set_status", "status": "available"})
        };
        if console.ws.send(Message::Text(status.to_string().into())).await.is_err() {
            break;
        }
        sent += 1;
        // Read what is there without waiting for it.
        while let Ok(next) = tokio::time::timeout(Duration::from_millis(0), console.ws.next()).await {
            match next {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("ack") => acks += 1,
                        Some("error") => limited += 1,
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    close = frame.map(|f| u16::from(f.code));
                    break 'flood;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break 'flood,
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rows_after, wal_after) = (rows().await, wal_bytes(&db));
    println!(
        "  {sent} sent, {acks} acknowledged, {limited} refused (rate_limited), closed with {close:?}; status rows {rows_before} -> {rows_after} (+{}), SQLite log {wal_before} -> {wal_after} bytes",
        rows_after - rows_before
    );
    probe.report("the set_status flood").await;

    // 6. 100,000 tickets, 8 for each of 12,500 users.
    println!("6. 100,000 WebSocket tickets, 8 for each of 12,500 users, rate per 10,000");
    let probe = Probe::start(addr, &admin);
    let holders: Vec<Http> =
        holders.iter().map(|id| Http { addr, token: Some(token(*id, Role::Supervisor)) }).collect();
    let mut rates = Vec::new();
    let mut block_started = Instant::now();
    let mut issued = 0;
    for round in 0..8 {
        for chunk in holders.chunks(50) {
            let asks = chunk.iter().map(|h| h.post("/api/v1/ws-ticket", json!({})));
            for (status, body) in futures_util::future::join_all(asks).await {
                assert_eq!(status, 200, "round {round}: {body}");
                issued += 1;
                if issued % 10_000 == 0 {
                    rates.push(10_000.0 / block_started.elapsed().as_secs_f64());
                    block_started = Instant::now();
                }
            }
        }
    }
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!("  tickets/s per 10,000 issued: {}", shown.join(", "));
    probe.report("ticket issuance").await;

    let (_, health) = Http { addr, token: None }.get("/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the server stopped cleanly");
}
