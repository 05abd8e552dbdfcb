//! Token buckets: how often something may happen, on average and in a
//! burst. Pure, time an argument in milliseconds. Used for SIP sources,
//! WebSocket messages and agents' status changes.

use std::collections::HashMap;
use std::hash::Hash;

/// `rate` events a second on average, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    pub fn new(per_sec: f64, burst: f64) -> Rate {
        Rate { per_sec, burst: burst.max(1.0) }
    }

    /// `n` a minute, all of them at once if need be.
    pub fn per_minute(n: u32) -> Rate {
        Rate::new(n as f64 / 60.0, n as f64)
    }

    /// Milliseconds an idle bucket takes to fill again; after that it is
    /// the same as a new one.
    fn refill_ms(&self) -> i64 {
        (self.burst / self.per_sec * 1000.0).ceil() as i64
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    at: i64,
}

impl Bucket {
    pub fn full(rate: Rate, now: i64) -> Bucket {
        Bucket { tokens: rate.burst, at: now }
    }

    /// Takes a token; `false` means over the rate.
    pub fn take(&mut self, rate: Rate, now: i64) -> bool {
        let refill = (now - self.at).max(0) as f64 / 1000.0 * rate.per_sec;
        self.tokens = (self.tokens + refill).min(rate.burst);
        self.at = self.at.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Milliseconds until the next token.
    pub fn wait_ms(&self, rate: Rate) -> i64 {
        ((1.0 - self.tokens).max(0.0) / rate.per_sec * 1000.0).ceil() as i64
    }
}

/// A bucket per key, bounded: a key whose bucket has filled again is
/// forgotten (it would start full anyway), and at `capacity` keys a new key
/// is refused until old ones are forgotten, so a flood of new keys (spoofed
/// source addresses) costs a bounded table.
pub struct KeyedBuckets<K> {
    rate: Rate,
    capacity: usize,
    buckets: HashMap<K, Bucket>,
    last_sweep: i64,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    pub fn new(rate: Rate, capacity: usize) -> Self {
        KeyedBuckets { rate, capacity, buckets: HashMap::new(), last_sweep: 0 }
    }

    /// Takes a token for `key`; `false` means drop (over the rate, or a new
    /// key while the table is full).
    pub fn allow(&mut self, key: &K, now: i64) -> bool {
        self.take(key, now).is_ok()
    }

    /// As [`allow`](Self::allow), with the milliseconds to wait when refused.
    pub fn take(&mut self, key: &K, now: i64) -> Result<(), i64> {
        // Swept once a second, and when full at most every 100 ms: a flood
        // of new keys must not cost a sweep of the whole table per event.
        let full = self.buckets.len() >= self.capacity;
        if now - self.last_sweep >= 1000 || (full && now - self.last_sweep >= 100) {
            self.sweep(now);
        }
        let rate = self.rate;
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.capacity {
            return Err(1000);
        }
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket::full(rate, now));
        if bucket.take(rate, now) { Ok(()) } else { Err(bucket.wait_ms(rate)) }
    }

    fn sweep(&mut self, now: i64) {
        self.last_sweep = now;
        let refill = self.rate.refill_ms();
        self.buckets.retain(|_, b| now - b.at < refill);
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate::new(20.0, 40.0);
        let mut b = Bucket::full(rate, 0);
        assert_eq!((0..100).filter(|_| b.take(rate, 0)).count(), 40);
        assert_eq!(b.wait_ms(rate), 50);
        assert!(b.take(rate, 50), "one token back after 50 ms at 20/s");
        assert!(!b.take(rate, 50));
        // A second at the rate: 20 more.
        assert_eq!((0..=1000).filter(|i| b.take(rate, 50 + i)).count(), 20);
    }

    #[test]
    fn keyed_buckets_limit_each_key_and_stay_bounded() {
        let mut k = KeyedBuckets::new(Rate::new(100.0, 100.0), 1000);
        let (flood, calm) = (1u32, 2u32);
        assert_eq!((0..1000).filter(|_| k.allow(&flood, 0)).count(), 100);
        assert!(k.allow(&calm, 0));
        assert!(k.allow(&flood, 10), "one token back after 10 ms at 100/s");
        assert!(!k.allow(&flood, 10));
        // A bucket full again (1 s at 100/s) is forgotten.
        k.allow(&calm, 5_000);
        assert_eq!(k.len(), 1);
        // Many new keys within a second: the table stops at its capacity.
        for key in 10..100_000u32 {
            k.allow(&key, 6_000);
        }
        assert!(k.len() <= 1000, "{} keys", k.len());
        assert!(!k.allow(&123_456, 6_000), "a new key waits while the table is full");
        assert!(k.allow(&123_456, 7_100), "and is served once old keys are forgotten");
    }
}
