//! Running SIPp scenarios from `sip/scenarios/` in tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use switchboard::testing::{require_service, temp_dir};

/// One SIPp run's result: the process output and its message trace.
pub type SippRun = (Output, String);

pub fn installed() -> bool {
    if std::process::Command::new("sipp").arg("-v").output().is_err() {
        require_service("SIPp", "PATH", "the `sipp` binary (Debian package sip-tester) is not installed");
        return false;
    }
    true
}

pub fn free_udp_port() -> u16 {
    // Free for TCP too: Kamailio listens on both, and the kernel hands out
    // UDP and TCP ports independently (a TCP connection may hold the number).
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A SIPp process playing one scenario, started but not yet awaited.
pub struct Sipp {
    child: tokio::process::Child,
    dir: PathBuf,
    pub port: u16,
}

impl Sipp {
    /// Starts a scenario as a client calling `target`, or, with `target`
    /// `None`, as a server (a phone) waiting on its own port.
    /// `None` when SIPp is missing outside CI.
    pub fn start(target: Option<SocketAddr>, scenario: &str, calls: u32, extra: &[&str]) -> Option<Sipp> {
        Self::start_at(free_udp_port(), target, scenario, calls, extra)
    }

    /// As a server (a phone) on `port`.
    pub fn start_on(port: u16, scenario: &str, calls: u32, extra: &[&str]) -> Option<Sipp> {
        Self::start_at(port, None, scenario, calls, extra)
    }

    fn start_at(port: u16, target: Option<SocketAddr>, scenario: &str, calls: u32, extra: &[&str]) -> Option<Sipp> {
        if !installed() {
            return None;
        }
        let dir = temp_dir("sipp");
        let scenario_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip/scenarios").join(format!("{scenario}.xml"));
        let mut cmd = tokio::process::Command::new("sipp");
        if let Some(target) = target {
            cmd.arg(target.to_string());
        }
        cmd.arg("-sf")
            .arg(&scenario_path)
            .args(["-s", "4000", "-m", &calls.to_string(), "-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin", "-trace_msg", "-message_file"])
            .arg(dir.join("messages.log"))
            .args(extra)
            .current_dir(&dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd.spawn().expect("start sipp");
        Some(Sipp { child, dir, port })
    }

    /// Waits for the scenario to finish and returns its output and trace.
    pub async fn finish(self) -> SippRun {
        let output = tokio::time::timeout(Duration::from_secs(40), self.child.wait_with_output())
            .await
            .expect("SIPp finished")
            .unwrap();
        let messages = std::fs::read_to_string(self.dir.join("messages.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&self.dir);
        (output, messages)
    }
}

/// Runs one scenario against `target` to the end.
pub async fn sipp(target: SocketAddr, scenario: &str, calls: u32, extra: &[&str]) -> Option<SippRun> {
    Some(Sipp::start(Some(target), scenario, calls, extra)?.finish().await)
}

pub fn assert_passed(run: &SippRun) {
    assert!(
        run.0.status.success(),
        "SIPp failed:\n{}\n{}\nmessages:\n{}",
        String::from_utf8_lossy(&run.0.stdout),
        String::from_utf8_lossy(&run.0.stderr),
        run.1
    );
}
