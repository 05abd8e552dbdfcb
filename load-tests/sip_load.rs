//! Load test of the SIP connector: SIPp plays the PBX and sends hotline
//! calls at a fixed rate; simulated agents on WebSocket consoles accept and
//! complete every offer at once. Reports the sustained call rate, failed
//! calls, INVITE→302 latency (SIPp's response-time trace) and INVITE→
//! screen-pop latency (offer arrival on the console minus the task's
//! creation time, both on this machine's clock), then checks that every call
//! was dispatched: one completed task per call in the store.
//!
//! SIPp's clock advances in steps of a few milliseconds under load, too
//! coarse for a 5 ms target, so a probe caller in this process also places
//! 50 calls a second beside SIPp's for the whole run and times INVITE→302
//! with a microsecond clock; those calls are dispatched like the others.
//!
//! Run: `cargo run --release --example sip_load -- [RATE] [SECONDS] [AGENTS]`
//! (defaults 1000 calls/s for 10 s with 100 agents). Needs `sipp`.
//!
//! With a fourth argument, `HOLD_MS`, calls queue instead: each agent
//! holds a call for a random time (exponential, mean `HOLD_MS`) before
//! completing it, and callers placed by this process at random (Poisson)
//! times read the `X-Estimated-Wait` of their first `182 Queued` and time
//! their wait until the 302. Reports the median and p90 absolute error of
//! the estimate against the wait, beside Asterisk's estimate (its
//! `(3·old + new)/4` hold time, updated at each answer) on the same calls.
//! `cargo run --release --example sip_load -- 9 120 20 2000` is a floor at
//! 90 % occupancy.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use jiff::Timestamp;
use serde_json::json;
use switchboard::domain::{TaskKind, TaskStatus};
use switchboard::store::{Store, TaskFilter};
use switchboard::testing::{TestDb, temp_dir};

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let rate = args.first().copied().unwrap_or(1000);
    let seconds = args.get(1).copied().unwrap_or(10);
    let agents = args.get(2).copied().unwrap_or(100) as usize;
    let calls = rate * seconds;
    if let Some(hold_ms) = args.get(3).copied() {
        return queueing(rate as f64, seconds, agents, hold_ms as f64).await;
    }

    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    // SIPp and the probe play one PBX from 127.0.0.1: at 5,000 calls/s its
    // INVITEs and ACKs alone are 10,000 datagrams a second, the default
    // per-source limit, and every datagram dropped there comes back as
    // retransmissions. A PBX this busy is given a limit to match.
    config.sip.rate_per_source = 100_000;
    // The simulated agents accept and complete each offer at once, far
    // faster than a person: a socket's message rate is set to let them.
    config.websocket.messages_per_sec = 1000;
    config.websocket.message_burst = 2000;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;

    let pop_ms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut workers = Vec::new();
    for i in 0..agents {
        let name = format!("agent{i}");
        server.add_agent(&admin, &name, &["hotline"]).await;
        let mut console = server.console(&name).await;
        let pop_ms = pop_ms.clone();
        workers.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                // Until the first call, wait as long as setting up the other
                // agents may take; after the last, 5 s of quiet ends the run.
                let wait = Duration::from_secs(if done == 0 { 600 } else { 5 });
                let Some(offer) = console.expect_within("offer", wait).await else {
                    return done;
                };
                let created: Timestamp = offer["task"]["created_at"].as_str().unwrap().parse().unwrap();
                let waited = Timestamp::now().duration_since(created).as_secs_f64() * 1000.0;
                pop_ms.lock().unwrap().push(waited);
                let id = offer["task"]["id"].clone();
                console.send(json!({"type": "accept", "task_id": id})).await;
                console.send(json!({"type": "complete", "task_id": id, "outcome": "reached"})).await;
                done += 1;
            }
        }));
    }

    let probe_calls = seconds * 50;
    let probe = tokio::spawn(probe(server.sip_addr, probe_calls));
    let dir = temp_dir("sip-load");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/scenarios/redirect.xml");
    let local_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let status = tokio::process::Command::new("sipp")
        .arg(server.sip_addr.to_string())
        .args(["-sf", scenario, "-s", "4000", "-i", "127.0.0.1", "-p", &local_port.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string(), "-l", "10000"])
        .args([
            "-buff_size",
            "4194304",
            "-timer_resol",
            "1",
            "-timeout",
            &format!("{}s", seconds + 60),
            "-timeout_error",
            "-nostdin",
        ])
        .args(["-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-stf", "stats.csv"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("sipp runs");
    let elapsed = started.elapsed().as_secs_f64();
    let mut probe_us = probe.await.unwrap();
    probe_us.sort_by(f64::total_cmp);
    let mut completed = 0;
    for w in workers {
        completed += w.await.unwrap();
    }

    // SIPp's final statistics line: successful and failed calls.
    let stats = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy() == "stats.csv")
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap_or_default();
    let header: Vec<&str> = stats.lines().next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = stats.lines().last().unwrap_or_default().split(';').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).and_then(|i| last.get(i)).copied().unwrap_or("?");
    let (ok, failed) = (column("SuccessfulCall(C)"), column("FailedCall(C)"));

    // SIPp's response-time trace: one line per call, INVITE to 302 in ms.
    let mut rtt: Vec<f64> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_rtt.csv"))
        .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|l| l.split(';').nth(1).and_then(|v| v.trim().parse::<f64>().ok()))
        .collect();
    rtt.sort_by(f64::total_cmp);
    let mut pops = pop_ms.lock().unwrap().clone();
    pops.sort_by(f64::total_cmp);

    server.stop().await;
    let store = Store::connect(&db.url).await.unwrap();
    let filter = TaskFilter {
        kind: Some(TaskKind::InboundCall),
        limit: (calls + probe_calls) as u32 + 10,
        ..Default::default()
    };
    let tasks = store.tasks(&filter).await.unwrap();
    let dispatched = tasks.iter().filter(|t| t.status == TaskStatus::Completed).count();
    for t in tasks.iter().filter(|t| t.status != TaskStatus::Completed) {
        let t = store.task(t.id).await.unwrap().unwrap();
        let events: Vec<&str> = t.events.iter().map(|e| e.event.as_str()).collect();
        println!("not completed: {} {:?} events {events:?} attempts {:?}", t.id, t.status, t.attempts);
        println!("  call record {:?}", store.call_record(t.id).await.unwrap());
    }

    println!("{calls} calls offered at {rate}/s over {seconds} s, {agents} agents; SIPp ran {elapsed:.1} s");
    println!("SIPp: exit {status}, successful {ok}, failed {failed}");
    // SIPp ends when its last call does: calls over its run time is the rate
    // the server kept up with (the offered rate when it kept up).
    if let Ok(n) = ok.parse::<f64>() {
        println!("sustained: {:.0} calls/s redirected", n / elapsed);
    }
    if !rtt.is_empty() {
        println!(
            "INVITE -> 302:        n={} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            rtt.len(),
            percentile(&rtt, 0.5),
            percentile(&rtt, 0.99),
            rtt.last().unwrap()
        );
    }
    if !probe_us.is_empty() {
        println!(
            "INVITE -> 302 (probe): n={} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (microsecond clock)",
            probe_us.len(),
            percentile(&probe_us, 0.5) / 1000.0,
            percentile(&probe_us, 0.99) / 1000.0,
            probe_us.last().unwrap() / 1000.0
        );
    }
    if !pops.is_empty() {
        println!(
            "INVITE -> screen-pop: n={} p50 {:.1} ms  p99 {:.1} ms  (millisecond clock)",
            pops.len(),
            percentile(&pops, 0.5),
            percentile(&pops, 0.99)
        );
    }
    println!("agents completed {completed}; tasks completed in the store {dispatched} of {}", tasks.len());
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
    assert_eq!(failed, "0", "every call must succeed");
    assert_eq!(probe_us.len() as u64, probe_calls, "every probe call must be redirected");
    assert_eq!(dispatched as u64, calls + probe_calls, "every call must be dispatched and completed");
}

/// Places `n` calls one after another, 20 ms apart, and returns each one's
/// INVITE→302 time in microseconds. Like any UDP client it retransmits the
/// INVITE (Timer A: 500 ms, doubling) until the first response, and gives a
/// call up after 32 s (Timer B), so a datagram lost under overload shows as
/// a slow call, not a lost one; a call given up is left out and reported.
async fn probe(server: std::net::SocketAddr, n: u64) -> Vec<f64> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut times = Vec::new();
    let mut buf = vec![0u8; 8192];
    for i in 0..n {
        tick.tick().await;
        let branch = format!("z9hG4bKprobe{i}");
        let head = |method: &str| {
            format!(
                "{method} sip:4000@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
                 From: <sip:1370000{i}@{local}>;tag=p{i}\r\nTo: <sip:4000@{server}>\r\nCall-ID: probe-{i}@{local}\r\n\
                 CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
        };
        let sent = std::time::Instant::now();
        let give_up = sent + Duration::from_secs(32);
        let mut retransmit = sent;
        let mut interval = Duration::from_millis(500);
        let mut provisional = false;
        loop {
            let now = std::time::Instant::now();
            if now >= give_up {
                eprintln!("probe call {i}: no final response within 32 s");
                break;
            }
            if !provisional && now >= retransmit {
                socket.send_to(head("INVITE").as_bytes(), server).await.unwrap();
                retransmit = now + interval;
                interval *= 2;
            }
            let wake = if provisional { give_up } else { retransmit.min(give_up) };
            let Ok(Ok((len, _))) = tokio::time::timeout_at(wake.into(), socket.recv_from(&mut buf)).await else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..len]);
            if !text.contains(&branch) {
                continue;
            }
            match text.split(' ').nth(1) {
                Some("100") | Some("182") => provisional = true,
                Some("302") => {
                    times.push(sent.elapsed().as_secs_f64() * 1e6);
                    break;
                }
                other => {
                    eprintln!("probe call {i}: answered {other:?}");
                    break;
                }
            }
        }
        socket.send_to(head("ACK").as_bytes(), server).await.unwrap();
    }
    times
}

/// Calls queue: agents hold each call for a while, callers come at random
/// and compare the wait announced in their first 182 with the one they had.
async fn queueing(rate: f64, seconds: u64, agents: usize, hold_ms: f64) {
    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    // Each caller re-hears the figure every second, as a PBX announcing it would.
    config.sip.queued_interval_secs = 1;
    config.sip.max_wait_secs = 600;
    config.sip.rate_per_source = 100_000;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let mut workers = Vec::new();
    for i in 0..agents {
        let name = format!("agent{i}");
        server.add_agent(&admin, &name, &["hotline"]).await;
        let mut console = server.console(&name).await;
        let mut dice = switchboard::replay::dice::Dice::new(i as u64 + 1);
        workers.push(tokio::spawn(async move {
            while let Some(offer) = console.expect_within("offer", Duration::from_secs(30)).await {
                let id = offer["task"]["id"].clone();
                console.send(json!({"type": "accept", "task_id": id})).await;
                tokio::time::sleep(Duration::from_secs_f64(dice.exponential(hold_ms) / 1000.0)).await;
                console.send(json!({"type": "complete", "task_id": id, "outcome": "reached"})).await;
            }
        }));
    }
    let asterisk = Arc::new(Mutex::new(0.0f64));
    let mut dice = switchboard::replay::dice::Dice::new(7);
    let mut callers = Vec::new();
    let started = std::time::Instant::now();
    let mut next = 0.0;
    let mut n = 0u64;
    while next < seconds as f64 {
        tokio::time::sleep_until((started + Duration::from_secs_f64(next)).into()).await;
        let at = started.elapsed().as_secs_f64();
        callers.push(tokio::spawn(queued_caller(server.sip_addr, n, at, asterisk.clone())));
        n += 1;
        next += dice.exponential(1.0 / rate);
    }
    let mut samples = Vec::new();
    for c in callers {
        if let Some(sample) = c.await.unwrap() {
            samples.push(sample);
        }
    }
    for w in workers {
        w.abort();
    }
    server.stop().await;
    // The first minute warms the measured handling times up from the
    // assumed 180 s; both estimates are judged after it.
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.arrived_at >= 60.0_f64.min(seconds as f64 / 2.0)).collect();
    let errors = |f: &dyn Fn(&Sample) -> f64| {
        let mut e: Vec<f64> = warm.iter().map(|s| f(s)).collect();
        e.sort_by(f64::total_cmp);
        e
    };
    let ours = errors(&|s| (s.estimate_secs - s.waited_secs).abs());
    let theirs = errors(&|s| (s.asterisk_secs - s.waited_secs).abs());
    let mut waits = errors(&|s| s.waited_secs);
    waits.sort_by(f64::total_cmp);
    println!("{n} calls at {rate}/s over {seconds} s, {agents} agents holding each call {hold_ms} ms on average");
    println!("judged after warm-up: {} callers who got through", warm.len());
    if !warm.is_empty() {
        println!("actual wait:      p50 {:.1} s  p90 {:.1} s", percentile(&waits, 0.5), percentile(&waits, 0.9));
        println!("ours, |error|:    p50 {:.2} s  p90 {:.2} s", percentile(&ours, 0.5), percentile(&ours, 0.9));
        println!("Asterisk, |error|: p50 {:.2} s  p90 {:.2} s", percentile(&theirs, 0.5), percentile(&theirs, 0.9));
        let bias = |f: &dyn Fn(&Sample) -> f64| warm.iter().map(|s| f(s)).sum::<f64>() / warm.len() as f64;
        println!(
            "mean signed error (estimate − wait): ours {:+.2} s, Asterisk {:+.2} s",
            bias(&|s| s.estimate_secs - s.waited_secs),
            bias(&|s| s.asterisk_secs - s.waited_secs)
        );
    }
    assert!(samples.len() as u64 >= n * 9 / 10, "most callers got through: {} of {n}", samples.len());
}

struct Sample {
    arrived_at: f64,
    estimate_secs: f64,
    asterisk_secs: f64,
    waited_secs: f64,
}

/// One caller: INVITE, the first 182's estimate, the wait until the 302.
/// Asterisk's hold time is read at arrival and updated with this caller's
/// wait when answered, as `app_queue` does.
async fn queued_caller(
    server: std::net::SocketAddr,
    i: u64,
    arrived_at: f64,
    asterisk: Arc<Mutex<f64>>,
) -> Option<Sample> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let branch = format!("z9hG4bKq{i}");
    let head = |method: &str| {
        format!(
            "{method} sip:4000@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
             From: <sip:1380000{i}@{local}>;tag=q{i}\r\nTo: <sip:4000@{server}>\r\nCall-ID: queued-{i}@{local}\r\n\
             CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // Told to the caller in whole seconds, as ours is.
    let asterisk_secs = asterisk.lock().unwrap().round();
    let sent = std::time::Instant::now();
    socket.send_to(head("INVITE").as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 8192];
    let mut first: Option<(std::time::Instant, f64)> = None;
    loop {
        let Ok(Ok((len, _))) = tokio::time::timeout(Duration::from_secs(600), socket.recv_from(&mut buf)).await else {
            eprintln!("caller {i}: no answer");
            return None;
        };
        let text = String::from_utf8_lossy(&buf[..len]).to_string();
        match text.split(' ').nth(1) {
            Some("182") if first.is_none() => {
                let wait =
                    text.lines().find_map(|l| l.strip_prefix("X-Estimated-Wait:")).map(|v| v.trim().parse().unwrap());
                if let Some(wait) = wait {
                    first = Some((std::time::Instant::now(), wait));
                }
            }
            Some("302") => {
                socket.send_to(head("ACK").as_bytes(), server).await.unwrap();
                let waited = sent.elapsed().as_secs_f64();
                let mut holdtime = asterisk.lock().unwrap();
                *holdtime = (3.0 * *holdtime + waited) / 4.0;
                // A call redirected before any 182 waited for nothing.
                let (heard, estimate_secs) = first.unwrap_or((sent, 0.0));
                let waited_secs = heard.elapsed().as_secs_f64();
                return Some(Sample { arrived_at, estimate_secs, asterisk_secs, waited_secs });
            }
            _ => {}
        }
    }
}
