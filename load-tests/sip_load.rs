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
