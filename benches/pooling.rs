//! Time to propose pools among 1,000 open drop-off orders (the target is
//! under 10 ms). Reports median and p99 over repeated runs on the same
//! orders (a plain harness: the usual bench harnesses do not report p99).
//!
//! Run: `cargo bench --bench pooling`

use std::hint::black_box;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use switchboard::domain::CarOrderId;
use switchboard::rules::travel::pooling::{DropOff, propose};

const ORDERS: usize = 1_000;
const SAMPLES: usize = 2_000;

/// A small deterministic generator so every run pools the same orders.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn main() {
    let mut rng = Lcg(7);
    let start: Timestamp = "2026-05-12T00:00:00Z".parse().unwrap();
    // A day of drop-offs to three airports, one to four passengers each.
    let open: Vec<DropOff> = (0..ORDERS)
        .map(|_| DropOff {
            order: CarOrderId::new(),
            airport: ["PVG", "SHA", "CTU"][(rng.next() % 3) as usize].to_owned(),
            departs: start + SignedDuration::from_mins((rng.next() % (18 * 60)) as i64),
            passengers: (rng.next() % 4) as u32 + 1,
        })
        .collect();
    let window = SignedDuration::from_mins(30);
    let pools = propose(&open, window, 6);
    let pooled: usize = pools.iter().map(|p| p.orders.len()).sum();
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        black_box(propose(black_box(&open), window, 6));
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "pooling {ORDERS} open drop-offs ({} pools, {pooled} orders pooled), {SAMPLES} samples: \
         median {:?}, p99 {:?}, max {:?}",
        pools.len(),
        pct(0.5),
        pct(0.99),
        samples[samples.len() - 1]
    );
}
