//! Benchmark of the dispatch path with Redis as the live store against the
//! path without it (in memory, SQL behind). Not a test: it prints figures.
//!
//! The hub, the SQL writer and (in the Redis run) the live writer run
//! in-process as in the server; REST and WebSocket are left out so that
//! what differs between the two runs is only the live store. Tasks are
//! stored in SQL first (as `POST /tasks` does), then handed to the
//! dispatcher at a steady rate; simulated agents accept and complete every
//! offer at once. Measured: the time from handing a task to the hub to its
//! offer reaching the agent's connection (the decision plus, with Redis, the
//! write before the push), and tasks dispatched and completed per second.
//!
//! Run: `cargo run --release --example live_path -- [RATE_PER_SEC] [SECONDS] [AGENTS]`
//! (defaults 5000, 10, 200). Redis from `REDIS_URL` (default
//! `redis://127.0.0.1:6379`), under a key prefix of its own that it deletes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use switchboard::auth::accounts::{self, NewAccount};
use switchboard::domain::{AgentStatus, Outcome, Phone, Role, TaskKind};
use switchboard::live::{Live, LiveHealth};
use switchboard::rules::dispatch::{Command, Dispatcher, Rules, TaskDraft};
use switchboard::runtime::hub::{self, Hub, Push};
use switchboard::runtime::live_writer::LiveWriter;
use switchboard::runtime::record_writer::Writer;
use switchboard::store::Store;
use switchboard::testing::{TestDb, TestRedis};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Run {
    label: &'static str,
    sent: usize,
    completed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let rate = args.first().copied().unwrap_or(5000);
    let seconds = args.get(1).copied().unwrap_or(10);
    let agents = args.get(2).copied().unwrap_or(200);
    let memory = run(None, rate, seconds, agents).await;
    let redis = TestRedis::new("bench").await.expect("Redis for the benchmark");
    let with_redis = run(Some(&redis), rate, seconds, agents).await;
    println!("\n{rate} tasks/s offered for {seconds} s, {agents} agents accepting and completing at once");
    println!(
        "{:<10} {:>8} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "path", "tasks", "completed", "tasks/s", "p50", "p99", "max"
    );
    for r in [&memory, &with_redis] {
        report(r);
    }
    let added = median(&with_redis.latencies).saturating_sub(median(&memory.latencies));
    println!("added latency per decision (median): {added:?}");
}

fn median(l: &[Duration]) -> Duration {
    l.get(l.len() / 2).copied().unwrap_or_default()
}

fn report(r: &Run) {
    let pct = |p: f64| {
        r.latencies
            .get(((r.latencies.len() as f64 * p) as usize).min(r.latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{:<10} {:>8} {:>10} {:>12.0} {:>10.3?} {:>10.3?} {:>10.3?}",
        r.label,
        r.sent,
        r.completed,
        r.completed as f64 / r.elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        r.latencies.last().copied().unwrap_or_default()
    );
}

async fn run(redis: Option<&TestRedis>, rate: usize, seconds: usize, agents: usize) -> Run {
    let label = if redis.is_some() { "redis" } else { "in-memory" };
    let db = TestDb::sqlite();
    let store = db.store().await;
    let mut config = switchboard::Config::default();
    config.dispatch.wrap_up_secs = 0;
    let rules = config.rules().unwrap();
    let total = rate * seconds;
    eprintln!("[{label}] storing {total} tasks and {agents} agents");
    let rows = store_tasks(&store, &rules, total).await;

    let (writer, writer_task) = Writer::spawn(store.clone());
    let stop = CancellationToken::new();
    let mut live_task = None;
    let live_writer = match redis {
        None => None,
        Some(r) => {
            let live = Live::connect(&r.url, &r.prefix, Duration::from_secs(5), "bench", "127.0.0.1:1").await.unwrap();
            let epoch = live.take_lease(None).await.unwrap().expect("a fresh prefix has a free lease");
            let health = LiveHealth::new(1_000_000, Default::default());
            let (lw, task) = LiveWriter::spawn(live, epoch, writer.clone(), health, stop.clone());
            live_task = Some(task);
            Some(lw)
        }
    };
    let (hub, hub_task) =
        hub::spawn(Dispatcher::new(rules.clone()), writer.clone(), live_writer, None, None, stop.clone());

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Duration>();
    for i in 0..agents {
        let account = NewAccount {
            work_number: None,
            username: format!("agent{i}"),
            password: "bench-password".into(),
            role: Role::Agent,
            display_name: None,
            sip_uri: None,
            skills: vec!["callbacks".into(), "marketing".into()],
            levels: Default::default(),
            voice_capacity: None,
            back_office_capacity: None,
        };
        let user = accounts::create(&store, &rules, 2, account).await.unwrap();
        hub.command(Command::UpsertAgent(user.agent_profile(&rules))).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        hub.attach(user.id, i as u64, tx, false).await.unwrap();
        hub.command(Command::SetStatus { agent: user.id, status: AgentStatus::Available }).await.unwrap();
        tokio::spawn(agent(hub.clone(), user.id, rx, done_tx.clone()));
    }
    drop(done_tx);

    eprintln!("[{label}] {rate} tasks/s for {seconds} s");
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    for (i, row) in rows.into_iter().enumerate() {
        let due = start + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let mut new = row.to_new_task(&rules);
        // The offer's latency is measured from here: the card carries the time.
        Arc::make_mut(&mut new.card).created_at = Timestamp::now();
        let hub = hub.clone();
        tokio::spawn(async move { hub.command(Command::AddTask(new)).await.expect("task added") });
    }
    let mut latencies = Vec::with_capacity(total);
    while latencies.len() < total {
        match tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
            Ok(Some(l)) => latencies.push(l),
            _ => break,
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    stop.cancel();
    let _ = hub_task.await;
    drop(hub);
    if let Some(task) = live_task {
        let _ = task.await;
    }
    drop(writer);
    let _ = writer_task.await;
    store.close().await;
    Run { label, sent: total, completed: latencies.len(), elapsed, latencies }
}

/// Stores `n` callbacks as `POST /tasks` would, in chunks of one transaction.
async fn store_tasks(store: &Store, rules: &Rules, n: usize) -> Vec<TaskDraft> {
    let now = Timestamp::now();
    let rows: Vec<TaskDraft> = (0..n)
        .map(|i| {
            let kind = if i % 2 == 0 { TaskKind::NewSignupCallback } else { TaskKind::MarketingNoShow };
            let plan = rules.plan(kind, now, None, None);
            let phone = Phone::parse(&format!("138{i:08}")).unwrap();
            TaskDraft::new(rules, kind, plan, phone, None, now, None)
        })
        .collect();
    for chunk in rows.chunks(500) {
        store.insert_tasks(chunk).await.unwrap();
    }
    rows
}

/// Accepts and completes every offer at once; reports each offer's latency.
async fn agent(
    hub: Hub,
    me: switchboard::domain::UserId,
    mut rx: mpsc::UnboundedReceiver<Push>,
    done: mpsc::UnboundedSender<Duration>,
) {
    while let Some(push) = rx.recv().await {
        if let Push::Offer(offer) = push {
            let latency = Timestamp::now().duration_since(offer.task.created_at).unsigned_abs();
            let task = offer.task.id;
            if hub.command(Command::Accept { agent: me, task }).await.is_err() {
                continue;
            }
            let complete = Command::Complete { agent: me, task, outcome: Outcome::Reached, summary: None };
            if hub.command(complete).await.is_ok() {
                let _ = done.send(latency);
            }
        }
    }
}
