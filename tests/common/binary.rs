//! The `switchboard` binary for tests that run it as operators do. Apart
//! from `mod.rs` because the load tests (examples), which share `mod.rs`,
//! have no binary to point at.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// The `switchboard` binary, with no logging or database settings
/// inherited from the developer's shell.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_remove("RUST_LOG").env_remove("DATABASE_URL").env_remove("REDIS_URL");
    cmd
}

/// `switchboard user ARGS --data-dir DATA` with `stdin` as its standard input.
pub fn user_command(data: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = binary()
        .arg("user")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Creates the `admin` user with `password`; `store` selects the database
/// (`--data-dir DIR` or `--database-url URL`).
pub fn add_admin(store: &[&str], password: &str) {
    let mut add = binary()
        .args(["user", "add", "admin", "--role", "admin"])
        .args(store)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(add.wait().unwrap().success());
}

/// A running server, killed (SIGKILL) when dropped, so a failing test
/// leaves no process behind.
pub struct Server(Child);

impl Server {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL: no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `serve` on ephemeral ports with `args` and `env`, and returns it
/// with its HTTP address once it leads ("switchboard is serving").
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> (Server, SocketAddr) {
    start(args, env, &["switchboard is serving"])
}

/// Like [`serve`], but returns as soon as the node serves in either role:
/// leading, or relaying to another node.
pub fn serve_or_relay(args: &[&str], env: &[(&str, &str)]) -> (Server, SocketAddr) {
    start(args, env, &["switchboard is serving", "this node is relaying"])
}

fn start(args: &[&str], env: &[(&str, &str)], ready: &[&str]) -> (Server, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.env_remove("RUST_LOG").env_remove("DATABASE_URL").env_remove("REDIS_URL");
    let (server, http, _) = start_command(cmd, args, env, ready);
    (server, http)
}

/// Like [`serve`], with the binary run by `cmd` (a wrapper such as
/// `prlimit -- switchboard`); also returns the SIP address.
pub fn serve_command(cmd: Command, args: &[&str], env: &[(&str, &str)]) -> (Server, SocketAddr, SocketAddr) {
    let (server, http, sip) = start_command(cmd, args, env, &["switchboard is serving"]);
    (server, http, sip.expect("the SIP connector's address in the log"))
}

fn start_command(
    mut cmd: Command,
    args: &[&str],
    env: &[(&str, &str)],
    ready: &[&str],
) -> (Server, SocketAddr, Option<SocketAddr>) {
    let mut child = cmd
        .args(["serve", "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut sip = None;
    let addr = loop {
        let line = lines.next().expect("the server exited early").unwrap();
        if let Some(addr) = line.split_whitespace().find_map(|w| w.strip_prefix("sip=")) {
            sip = addr.parse().ok();
        }
        if ready.iter().any(|r| line.contains(r)) {
            let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).expect("http= in the line");
            break http.parse().unwrap();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr, sip)
}
