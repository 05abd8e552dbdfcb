//! Flood test of the SIP connector: while SIPp places hotline calls at a
//! steady rate from the PBX's address, five other addresses send as fast as
//! they can: one trusted but rate-limited source sending OPTIONS with fresh
//! branches (each a transaction the server must keep for Timer J), and four
//! untrusted sources sending a mix of random bytes, truncated INVITEs and
//! RFC 4475 torture messages. Every second the server's resident memory is
//! sampled. Passes when every SIPp call succeeded and was offered to an
//! agent, no untrusted source ever saw an agent's address, and memory in
//! the second half of the run stays within 64 MiB of the first half's peak
//! (bounded, not growing with the flood).
//!
//! Run: `cargo run --release --example sip_flood -- [SECONDS] [CALL_RATE] [FLOOD_RATE]`
//! (defaults 60 s, 100 calls/s, 20,000 datagrams/s from each flooding
//! address: 1,000 times the calls' own traffic). Needs `sipp`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::TestServer;
use serde_json::json;
use switchboard::testing::{TestDb, temp_dir};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A small deterministic generator for the random payloads.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn torture_messages() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/torture");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "dat")).map(|p| std::fs::read(p).unwrap()).collect()
}

/// Sends `per_sec` datagrams a second from `from` until `stop`; counts
/// datagrams sent, and any reply that carries a `Contact` (which an
/// untrusted source must never see).
fn flood(
    from: &str,
    to: std::net::SocketAddr,
    payloads: Vec<Vec<u8>>,
    per_sec: u64,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    leaks: Arc<AtomicU64>,
) {
    let started = std::time::Instant::now();
    let socket = std::net::UdpSocket::bind(format!("{from}:0")).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if i as u64 >= started.elapsed().as_millis() as u64 * per_sec / 1000 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let _ = socket.send_to(&payloads[i % payloads.len()], to);
        i += 1;
        if i.is_multiple_of(64) {
            sent.fetch_add(64, Ordering::Relaxed);
            while let Ok((n, _)) = socket.recv_from(&mut buf) {
                if String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase().contains("\ncontact:") {
                    leaks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn options(from: &str, i: u64) -> Vec<u8> {
    format!(
        "OPTIONS sip:4000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from}:5999;branch=z9hG4bKflood{i}\r\n\
         From: <sip:flood@{from}>;tag=f{i}\r\nTo: <sip:4000@127.0.0.1>\r\nCall-ID: flood-{i}@{from}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let seconds = args.first().copied().unwrap_or(60);
    let rate = args.get(1).copied().unwrap_or(100);
    let flood_rate = args.get(2).copied().unwrap_or(20_000);
    let calls = rate * seconds;

    let db = TestDb::sqlite();
    let mut config = TestServer::config(&db);
    config.dispatch.wrap_up_secs = 0;
    // The PBX (SIPp) and one rate-limited flooder are trusted; the rest are not.
    config.sip.trusted = vec!["127.0.0.1/32".into(), "127.0.0.2/32".into()];
    config.sip.rate_per_source = 2_000;
    // The simulated agents accept and complete each offer at once, far
    // faster than a person: a socket's message rate is set to let them.
    config.websocket.messages_per_sec = 1000;
    config.websocket.message_burst = 2000;
    let server = TestServer::start_with(config).await;
    let admin = server.admin().await;
    let offered = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..20 {
        let name = format!("agent{i}");
        server.add_agent(&admin, &name, &["hotline"]).await;
        let mut console = server.console(&name).await;
        let offered = offered.clone();
        workers.push(tokio::spawn(async move {
            let mut first = true;
            loop {
                let wait = Duration::from_secs(if first { 600 } else { 10 });
                let Some(offer) = console.expect_within("offer", wait).await else { return };
                first = false;
                offered.fetch_add(1, Ordering::Relaxed);
                let id = offer["task"]["id"].clone();
                console.send(json!({"type": "accept", "task_id": id})).await;
                console.send(json!({"type": "complete", "task_id": id, "outcome": "reached"})).await;
            }
        }));
    }

    let (stop, sent, leaks) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let target = server.sip_addr;
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut junk: Vec<Vec<u8>> = torture_messages();
    let invite = String::from_utf8(options("127.0.0.3", 0)).unwrap().replace("OPTIONS", "INVITE").into_bytes();
    for n in 0..2000 {
        let len = (next(&mut rng) % 1400) as usize;
        junk.push((0..len).map(|_| next(&mut rng) as u8).collect());
        junk.push(invite[..(n % invite.len())].to_vec());
    }
    let mut threads = Vec::new();
    let trusted: Vec<Vec<u8>> = (0..100_000).map(|i| options("127.0.0.2", i)).collect();
    for (from, payloads) in [("127.0.0.2", trusted)]
        .into_iter()
        .chain((3..7).map(|k| (["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"][k - 3], junk.clone())))
    {
        let (stop, sent, leaks) = (stop.clone(), sent.clone(), leaks.clone());
        threads.push(std::thread::spawn(move || flood(from, target, payloads, flood_rate, stop, sent, leaks)));
    }

    let dir = temp_dir("sip-flood");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/sip/scenarios/redirect.xml");
    let local_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sipp = tokio::process::Command::new("sipp")
        .arg(target.to_string())
        .args(["-sf", scenario, "-s", "4000", "-i", "127.0.0.1", "-p", &local_port.to_string()])
        .args(["-r", &rate.to_string(), "-m", &calls.to_string(), "-l", "1000"])
        .args([
            "-timeout",
            &format!("{}s", seconds + 60),
            "-timeout_error",
            "-nostdin",
            "-trace_stat",
            "-stf",
            "stats.csv",
        ])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("sipp runs");
    let mut samples = Vec::new();
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(rss_mib());
    }
    let status = sipp.wait_with_output().await.unwrap().status;
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    for w in workers {
        w.await.unwrap();
    }
    let stats = std::fs::read_to_string(dir.join("stats.csv")).unwrap_or_default();
    let header: Vec<&str> = stats.lines().next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = stats.lines().last().unwrap_or_default().split(';').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).and_then(|i| last.get(i)).copied().unwrap_or("?");
    let (ok, failed) = (column("SuccessfulCall(C)"), column("FailedCall(C)"));
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let half = samples.len() / 2;
    let first_peak = samples[..half].iter().cloned().fold(0.0, f64::max);
    let second_peak = samples[half..].iter().cloned().fold(0.0, f64::max);
    let flood_sent = sent.load(Ordering::Relaxed);
    println!(
        "{seconds} s: {flood_sent} flood datagrams from 5 addresses ({:.0}/s)",
        flood_sent as f64 / seconds as f64
    );
    println!(
        "SIPp: exit {status}, {calls} calls at {rate}/s, successful {ok}, failed {failed}; offers on consoles {}",
        offered.load(Ordering::Relaxed)
    );
    println!(
        "resident memory (MiB) per second: {}",
        samples.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(" ")
    );
    println!(
        "peak first half {first_peak:.1} MiB, second half {second_peak:.1} MiB; replies with a Contact to flooders: {}",
        leaks.load(Ordering::Relaxed)
    );
    assert_eq!(failed, "0", "every call must succeed under the flood");
    assert_eq!(ok, calls.to_string());
    assert_eq!(offered.load(Ordering::Relaxed), calls, "every call offered to an agent");
    assert_eq!(leaks.load(Ordering::Relaxed), 0, "no agent address to a flooder");
    assert!(second_peak <= first_peak + 64.0, "memory keeps growing under the flood");
}
