//! Replay speed and the estimated wait's backtest.
//!
//! 1. A generated day of 20,000 hotline calls and 5,000 callbacks with 200
//!    agents on the manual's two shifts, replayed 10 times: median and p99
//!    (with 10 runs, the slowest) of the wall time.
//! 2. A generated month (30 days of the default centre: about 2,000 calls a
//!    weekday, 20 agents, about 15 % giving up) replayed with the estimates on: for the callers
//!    who got through, the median and 90th percentile absolute error of
//!    our estimate at arrival and of Asterisk's, on the same calls.
//!
//! Run: `cargo bench --bench replay`

use std::time::Instant;

use jiff::civil::date;
use switchboard::config::Config;
use switchboard::replay::generate::{self, Size};
use switchboard::replay::outcome::estimate_errors;
use switchboard::replay::{Settings, run};

fn main() {
    let config = Config::default();
    let (rules, figures) = (config.rules().expect("the default configuration is valid"), config.figures.clone());

    let big = Size {
        calls_per_day: 20_000.0,
        callbacks_per_day: 5_000.0,
        early_agents: 100,
        late_agents: 100,
        ..Size::default()
    };
    // A Tuesday: weekday factor 1.
    let truth = generate::truth(&rules.calendar, date(2026, 3, 3), &big, 1);
    let (day, _) = generate::recorded(&truth, &rules, &figures, 2);
    let calls = day.arrivals.iter().filter(|a| a.patience.is_some()).count();
    let mut times = Vec::new();
    let mut kpis = None;
    for seed in 0..10 {
        let started = Instant::now();
        let result = run(&day, &rules, &figures, &Settings { seed, ..Settings::default() });
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        kpis = Some(result.kpis());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "replay of one day: {calls} hotline calls, {} callbacks, {} agents",
        day.arrivals.len() - calls,
        day.agents.len()
    );
    println!("  10 runs: median {:.0} ms, p99 {:.0} ms", times[4].max(times[5]), times[9]);
    println!("  last run's figures: {:?}", kpis.expect("ten runs"));

    let mut waits = Vec::new();
    let started = Instant::now();
    for d in 1..=30 {
        let truth = generate::truth(&rules.calendar, date(2026, 4, d), &Size::default(), 7);
        let settings = Settings { seed: u64::from(d as u8), estimate_waits: true, ..Settings::default() };
        waits.extend(run(&truth, &rules, &figures, &settings).waits);
    }
    let (ours, asterisk) = estimate_errors(&waits);
    println!("estimated wait at arrival, April 2026 generated ({:.1} s):", started.elapsed().as_secs_f64());
    println!(
        "  ours:     {} calls answered, median abs error {:.1} s, p90 {:.1} s",
        ours.calls, ours.median_abs_error_secs, ours.p90_abs_error_secs
    );
    println!(
        "  asterisk: {} calls answered, median abs error {:.1} s, p90 {:.1} s",
        asterisk.calls, asterisk.median_abs_error_secs, asterisk.p90_abs_error_secs
    );
}
