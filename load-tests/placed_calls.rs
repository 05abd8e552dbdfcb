//! Load test: calls Switchboard places. The server runs in a child process
//! (its memory its own) with `[sip.outbound]`; AGENTS agents on WebSocket
//! consoles each accept a progressive callback at once, so AGENTS calls
//! are placed together; SIPp plays every agent's phone and every customer
//! behind the PBX (customers talk SECONDS, then hang up). Measured from the
//! SIPp traces against the consoles' clock: accept → the agent's phone
//! receiving its INVITE, and the agent's phone answering (its 200) → the
//! customer's INVITE arriving (median, p99, max); calls placed per second
//! over the burst; resident memory per call in progress; and at the end
//! every call recorded with its outcome, none left open.
//!
//! Run: `cargo run --release --example placed_calls -- [AGENTS] [SECONDS] [RATE]`
//! (defaults 200 agents, 12 s of talk, accepts paced at 40 a second, so
//! that all 200 calls are in progress together; RATE 0 accepts all at
//! the same instant, a burst).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::Http;
use common::child::{rss_kib, serve_until_stdin_closes, spawn_self};
use common::sipp::{Sipp, assert_passed};
use futures_util::{SinkExt, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::auth::Auth;
use switchboard::domain::{Role, UserId};
use switchboard::rules::dialling::DialMode;
use switchboard::sip::settings::OutboundConfig;
use switchboard::store::{NewUser, Store};
use switchboard::testing::TestDb;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "placed-calls-load-test-secret-0123456789";

fn config(arg: &str) -> Config {
    let (url, pbx) = arg.rsplit_once('|').unwrap();
    let mut config = Config::default();
    config.server.database_url = url.to_owned();
    config.server.http = "127.0.0.1:0".parse().unwrap();
    config.server.sip = "127.0.0.1:0".parse().unwrap();
    config.auth.token_secret = SECRET.to_owned();
    config.auth.ws_auth_timeout_secs = 30;
    common::open_now(&mut config);
    config.sip.outbound = Some(OutboundConfig {
        agent_ring_secs: 20,
        customer_ring_secs: 20,
        drain_secs: 5,
        ..common::outbound(pbx.parse().unwrap())
    });
    config.kinds.get_mut("missed_call_callback").unwrap().dialling = DialMode::Progressive;
    config
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(http: &Http) -> Ws {
    let (status, ticket) = http.post("/api/v1/ws-ticket", json!({})).await;
    assert_eq!(status, 200, "{ticket}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", http.addr)).await.unwrap();
    let auth = json!({"type": "auth", "ticket": ticket["ticket"]}).to_string();
    ws.send(Message::Text(auth.into())).await.unwrap();
    ws
}

async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == kind {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

/// Seconds since local midnight, as SIPp stamps its traces.
fn seconds_of_day(t: Timestamp) -> f64 {
    let z = t.to_zoned(jiff::tz::TimeZone::system());
    f64::from(z.hour()) * 3600.0
        + f64::from(z.minute()) * 60.0
        + f64::from(z.second())
        + f64::from(z.subsec_nanosecond()) / 1e9
}

/// A SIPp message trace: each message's time (seconds of the day), whether
/// it was received, its start line and its Call-ID.
fn messages(trace: &str) -> Vec<(f64, bool, String, String)> {
    let mut out = Vec::new();
    for block in trace.split("\n-----") {
        let mut lines = block.lines();
        let Some(stamp) = lines.next() else { continue };
        let time = stamp.split_whitespace().last().unwrap_or_default();
        let secs = time.split(':').fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap_or(0.0));
        let Some(direction) = lines.next() else { continue };
        let received = direction.contains("received");
        let mut rest = lines.skip_while(|l| l.trim().is_empty());
        let start = rest.next().unwrap_or_default().to_owned();
        let call_id = rest.find_map(|l| l.strip_prefix("Call-ID:").map(|v| v.trim().to_owned())).unwrap_or_default();
        out.push((secs, received, start, call_id));
    }
    out
}

fn stats(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!("{name}: n={} median {:.1} ms, p99 {:.1} ms, max {:.1} ms", ms.len(), at(0.5), at(0.99), at(1.0));
}

#[tokio::main]
async fn main() {
    if let Ok(arg) = std::env::var("PLACED_CALLS_SERVER") {
        return serve_until_stdin_closes(config(&arg), true).await;
    }
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let agents = args.first().copied().unwrap_or(200) as usize;
    let talk = args.get(1).copied().unwrap_or(12);
    let rate = args.get(2).copied().unwrap_or(40);

    let phones = Sipp::start(None, "placed_agent", agents as u32, &[]).expect("SIPp (sip-tester) installed");
    let customers =
        Sipp::start(None, "placed_customer_talks", agents as u32, &["-d", &(talk * 1000).to_string()]).unwrap();
    let db = TestDb::sqlite();
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let hash = switchboard::auth::passwords::hash("load-password").unwrap();
    let now = Timestamp::now();
    let mut ids = Vec::new();
    for i in 0..agents {
        let user = NewUser {
            work_number: None,
            username: format!("agent{i}"),
            role: Role::Agent,
            password_hash: hash.clone(),
            display_name: format!("agent{i}"),
            sip_uri: Some(format!("sip:{}@127.0.0.1:{}", 1000 + i, phones.port)),
            skills: vec!["callbacks".into()],
            levels: Default::default(),
            voice_capacity: 1,
            back_office_capacity: 2,
        };
        ids.push(store.create_user(user, now).await.unwrap().id);
    }
    let admin_user = NewUser {
        work_number: None,
        username: "admin".into(),
        role: Role::Admin,
        password_hash: hash.clone(),
        display_name: "admin".into(),
        sip_uri: None,
        skills: vec![],
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
    };
    let admin_id = store.create_user(admin_user, now).await.unwrap().id;
    store.close().await;

    let (mut child, addr, _) = spawn_self("PLACED_CALLS_SERVER", &format!("{}|{}", db.url, customers.port));
    let pid = child.id();
    let auth = Auth::new(SECRET, SignedDuration::from_hours(2), SignedDuration::from_secs(30));
    let http = |user: UserId, role| Http { addr, token: Some(auth.issue_token(user, role, Timestamp::now()).0) };
    let admin = http(admin_id, Role::Admin);
    let mut consoles = Vec::new();
    for id in &ids {
        let mut ws = open(&http(*id, Role::Agent)).await;
        next_of(&mut ws, "hello").await;
        consoles.push(ws);
    }
    for i in 0..agents {
        let body = json!({"kind": "missed_call_callback", "customer_phone": format!("1380000{i:04}")});
        assert_eq!(admin.post("/api/v1/tasks", body).await.0, 201);
    }
    let mut offers = Vec::new();
    for ws in &mut consoles {
        offers.push(next_of(ws, "offer").await["task"]["id"].clone());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid);

    // The agents accept at RATE a second (all at once with 0).
    let mut accepted_at = Vec::new();
    let mut pace = (rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64)));
    for (ws, task) in consoles.iter_mut().zip(&offers) {
        if let Some(pace) = &mut pace {
            pace.tick().await;
        }
        accepted_at.push(Timestamp::now());
        ws.send(Message::Text(json!({"type": "accept", "task_id": task}).to_string().into())).await.unwrap();
    }
    let mut call_of = HashMap::new();
    for (i, ws) in consoles.iter_mut().enumerate() {
        let call = next_of(ws, "call").await;
        call_of.insert(call["call_id"].as_str().unwrap().to_owned(), i);
    }
    for ws in &mut consoles {
        while next_of(ws, "call").await["state"] != "connected" {}
    }
    let rss_busy = rss_kib(pid);
    for ws in &mut consoles {
        let ended = loop {
            let c = next_of(ws, "call").await;
            if c["state"] == "ended" {
                break c;
            }
        };
        assert_eq!(ended["outcome"], "reached", "{ended}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);
    let phones = phones.finish().await;
    let customers = customers.finish().await;
    assert_passed(&phones);
    assert_passed(&customers);

    let phone_log = messages(&phones.1);
    let customer_log = messages(&customers.1);
    let (mut to_ring, mut to_customer) = (Vec::new(), Vec::new());
    let (mut first_invite, mut last_invite) = (f64::MAX, 0.0f64);
    for (call, i) in &call_of {
        let agent_leg = format!("{call}-a");
        let customer_leg = format!("{call}-c");
        let rang = phone_log.iter().find(|m| m.1 && m.3 == agent_leg && m.2.starts_with("INVITE")).expect("rang").0;
        to_ring.push((rang - seconds_of_day(accepted_at[*i])) * 1000.0);
        let answered = phone_log.iter().find(|m| !m.1 && m.3 == agent_leg && m.2.starts_with("SIP/2.0 200")).unwrap().0;
        let out = customer_log.iter().find(|m| m.1 && m.3 == customer_leg && m.2.starts_with("INVITE")).unwrap().0;
        to_customer.push((out - answered) * 1000.0);
        (first_invite, last_invite) = (first_invite.min(rang), last_invite.max(out));
    }
    let how = if rate == 0 { "all at once".to_owned() } else { format!("accepted at {rate}/s") };
    println!(
        "{agents} calls, {how}, each talking {talk} s; machine: {} CPUs",
        std::thread::available_parallelism().unwrap()
    );
    stats("accept -> agent's phone receives INVITE", to_ring);
    stats("agent's phone answers (200) -> customer's INVITE arrives", to_customer);
    println!(
        "placed: {agents} calls from the first agent INVITE to the last customer INVITE in {:.2} s ({:.0} calls/s)",
        last_invite - first_invite,
        agents as f64 / (last_invite - first_invite).max(0.001)
    );
    // Against both sides: memory an allocator has taken stays in the
    // process, so "after" shows what the calls left behind.
    println!(
        "memory: {rss_idle} KiB before, {rss_busy} KiB with {agents} calls connected, {rss_after} KiB after: \
         {:.1} KiB per call in progress (against before), {:.1} (against after)",
        (rss_busy as f64 - rss_idle as f64) / agents as f64,
        (rss_busy as f64 - rss_after as f64) / agents as f64
    );
    let (_, records) = admin.get("/api/v1/calls/outbound?limit=1000").await;
    let records = records.as_array().unwrap();
    let open = records.iter().filter(|r| r["outcome"].is_null()).count();
    println!("records: {} calls, {open} left open", records.len());
    assert_eq!((records.len(), open), (agents, 0));
    drop(child.stdin.take());
    let _ = child.wait();
}
