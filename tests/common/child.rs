//! A server in a child process for the load tests: the load test runs
//! itself again with an environment variable naming the database, so the
//! server's memory and file descriptors are its own, not its clients'.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use switchboard::{Config, Listeners};

/// In the child: serves `config` (with the SIP connector when `sip`),
/// prints `listening HTTP [SIP]`, and stops when standard input closes.
pub async fn serve_until_stdin_closes(config: Config, sip: bool) {
    let listeners = if sip {
        Listeners::bind(&config).await.unwrap()
    } else {
        Listeners::http_only(config.server.http).await.unwrap()
    };
    match listeners.sip_addr() {
        Some(sip) => println!("listening {} {sip}", listeners.http_addr().unwrap()),
        None => println!("listening {}", listeners.http_addr().unwrap()),
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
        stop.cancel();
    });
    switchboard::run(config, listeners, shutdown).await.unwrap();
}

/// In the parent: this program again with `var` set to `value`; returns
/// the child and its HTTP (and SIP) address once it listens. Closing the
/// child's standard input stops it.
pub fn spawn_self(var: &str, value: &str) -> (Child, SocketAddr, Option<SocketAddr>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(var, value)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let mut words = line.trim().strip_prefix("listening ").expect("the child's addresses").split(' ');
    let http = words.next().unwrap().parse().unwrap();
    let sip = words.next().map(|w| w.parse().unwrap());
    (child, http, sip)
}

/// A process's resident memory, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
