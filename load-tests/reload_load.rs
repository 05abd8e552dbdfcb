//! A configuration reload under load (`tests/common/reload_load.rs`):
//! SIPp sends hotline calls at a fixed rate to consoles that accept and
//! complete every offer, and halfway through an admin changes the offer
//! timeout and a priority over REST with re-evaluation. Prints what it saw
//! and exits non-zero unless no call failed, no console was closed or lost
//! a message, every call ended as a completed task (no offer lost), and
//! every offer had the timeout in force when it came.
//!
//! Run: `cargo run --release --example reload_load -- [RATE] [SECONDS] [AGENTS]`
//! (defaults 1000 calls/s for 10 s with 100 agents). Needs `sipp`.

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_env_filter("warn").with_writer(std::io::stderr).init();
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let rate = args.first().copied().unwrap_or(1000);
    let seconds = args.get(1).copied().unwrap_or(10);
    let agents = args.get(2).copied().unwrap_or(100) as usize;
    let outcome = common::reload_load::run(rate, seconds, agents).await;
    println!("{}", outcome.report());
    if !outcome.passed() {
        std::process::exit(1);
    }
}
