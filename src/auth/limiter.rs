//! How many failed logins a client address or a username may have before
//! further attempts are refused without a password check. Pure: time is an
//! argument, in milliseconds.
//!
//! Each key (an address, a username) may fail `allowed` times within a
//! window of `window_ms`; the next attempt is then refused until a lockout
//! has passed, and every lockout that follows another (before the key has
//! been quiet for [`FORGET_AFTER_MS`]) is twice as long, up to
//! `max_lockout_ms`. A refused attempt is checked before the password is
//! hashed, and the same way whether the user exists or not, so the limit
//! neither costs CPU nor tells names apart.
//!
//! The tables are bounded: a key is forgotten once it is quiet and
//! unlocked, and when a table is full the oldest entries go first.

use std::collections::HashMap;
use std::hash::Hash;

/// A key quiet for this long starts again from no failures and no strikes.
pub const FORGET_AFTER_MS: i64 = 60 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitRule {
    /// Failures allowed within a window.
    pub allowed: u32,
    pub window_ms: i64,
    /// The first lockout; each next one doubles.
    pub lockout_ms: i64,
    pub max_lockout_ms: i64,
    /// Keys kept at most.
    pub capacity: usize,
}

impl Default for LimitRule {
    fn default() -> Self {
        LimitRule { allowed: 5, window_ms: 60_000, lockout_ms: 60_000, max_lockout_ms: 15 * 60_000, capacity: 100_000 }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    window_start: i64,
    failures: u32,
    locked_until: i64,
    strikes: u32,
    last_seen: i64,
}

/// Failed attempts per key.
pub struct FailureLimiter<K> {
    rule: LimitRule,
    entries: HashMap<K, Entry>,
    last_sweep: i64,
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(rule: LimitRule) -> Self {
        FailureLimiter { rule, entries: HashMap::new(), last_sweep: 0 }
    }

    /// `Err(ms)`: refused for that long still.
    pub fn check(&self, key: &K, now: i64) -> Result<(), i64> {
        match self.entries.get(key) {
            Some(e) if e.locked_until > now => Err(e.locked_until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure; `Err(ms)` when it starts a lockout.
    pub fn fail(&mut self, key: &K, now: i64) -> Result<(), i64> {
        self.sweep(now);
        let rule = self.rule;
        let e = self.entries.entry(key.clone()).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: 0,
            strikes: 0,
            last_seen: now,
        });
        if now - e.last_seen >= FORGET_AFTER_MS {
            e.strikes = 0;
        }
        if now - e.window_start >= rule.window_ms {
            e.window_start = now;
            e.failures = 0;
        }
        e.last_seen = now;
        e.failures += 1;
        if e.failures < rule.allowed {
            return Ok(());
        }
        let lockout = rule.lockout_ms.saturating_mul(1 << e.strikes.min(20)).min(rule.max_lockout_ms);
        e.strikes += 1;
        e.locked_until = now + lockout;
        e.window_start = e.locked_until;
        e.failures = 0;
        Err(lockout)
    }

    /// A success under this key: its failures are forgotten.
    pub fn succeed(&mut self, key: &K) {
        self.entries.remove(key);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets quiet, unlocked keys (at most once a second), and when the
    /// table is still full the least recently seen ones.
    fn sweep(&mut self, now: i64) {
        let full = self.entries.len() >= self.rule.capacity;
        if !full && now - self.last_sweep < 1000 {
            return;
        }
        self.last_sweep = now;
        let window = self.rule.window_ms;
        // Kept: a lockout running, failures still in their window, or
        // strikes that would lengthen the next lockout.
        self.entries.retain(|_, e| {
            e.locked_until > now || now - e.last_seen < window || (e.strikes > 0 && now - e.last_seen < FORGET_AFTER_MS)
        });
        if self.entries.len() >= self.rule.capacity {
            let mut seen: Vec<i64> = self.entries.values().map(|e| e.last_seen).collect();
            let cut = seen.len() - self.rule.capacity / 2;
            let (_, &mut oldest_kept, _) = seen.select_nth_unstable(cut);
            self.entries.retain(|_, e| e.last_seen >= oldest_kept);
        }
    }
}

/// Failed logins by client address and by username: either locked refuses.
pub struct LoginLimits {
    by_address: FailureLimiter<std::net::IpAddr>,
    by_name: FailureLimiter<String>,
}

impl LoginLimits {
    pub fn new(rule: LimitRule) -> Self {
        LoginLimits { by_address: FailureLimiter::new(rule), by_name: FailureLimiter::new(rule) }
    }

    /// `Err(ms)`: refused for that long still, under either key.
    pub fn check(&self, address: std::net::IpAddr, name: &str, now: i64) -> Result<(), i64> {
        let by_name = self.by_name.check(&name.to_owned(), now);
        match (self.by_address.check(&address, now), by_name) {
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(a), _) | (_, Err(a)) => Err(a),
            _ => Ok(()),
        }
    }

    pub fn fail(&mut self, address: std::net::IpAddr, name: &str, now: i64) {
        let _ = self.by_address.fail(&address, now);
        let _ = self.by_name.fail(&name.to_owned(), now);
    }

    /// A right password: the name's failures are forgotten (not the
    /// address's, which may be trying many names).
    pub fn succeed(&mut self, name: &str) {
        self.by_name.succeed(&name.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> LimitRule {
        LimitRule { allowed: 5, window_ms: 60_000, lockout_ms: 60_000, max_lockout_ms: 240_000, capacity: 10 }
    }

    #[test]
    fn five_failures_a_minute_then_a_growing_lockout() {
        let mut l = FailureLimiter::new(rule());
        let k = "10.0.0.1";
        for i in 0..4 {
            assert_eq!(l.check(&k, i), Ok(()));
            assert_eq!(l.fail(&k, i), Ok(()));
        }
        assert_eq!(l.fail(&k, 10), Err(60_000), "the fifth within the minute locks");
        assert_eq!(l.check(&k, 10), Err(60_000), "so a sixth attempt is refused");
        assert_eq!(l.check(&k, 30_010), Err(30_000));
        assert_eq!(l.check(&k, 60_010), Ok(()), "over after the lockout");
        for i in 0..4 {
            assert_eq!(l.fail(&k, 60_010 + i), Ok(()));
        }
        assert_eq!(l.fail(&k, 60_020), Err(120_000), "the second lockout is twice as long");
        for i in 0..6 {
            let _ = l.fail(&k, 180_020 + i);
        }
        assert_eq!(l.check(&k, 180_030), Err(239_994), "capped at the maximum");
    }

    #[test]
    fn failures_spread_out_never_lock_and_success_forgets() {
        let mut l = FailureLimiter::new(rule());
        let k = "li";
        for i in 0..20 {
            assert_eq!(l.fail(&k, i * 61_000), Ok(()), "one a minute is fine");
        }
        for i in 0..4 {
            l.fail(&k, 2_000_000 + i).unwrap();
        }
        l.succeed(&k);
        assert_eq!(l.fail(&k, 2_000_010), Ok(()));
    }

    #[test]
    fn either_the_address_or_the_name_locks() {
        let mut l = LoginLimits::new(rule());
        let (a, b): (std::net::IpAddr, std::net::IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for i in 0..6 {
            l.fail(a, &format!("user{i}"), i);
        }
        assert!(l.check(a, "someone-else", 10).is_err(), "the address is locked for every name");
        assert!(l.check(b, "user0", 10).is_ok());
        for i in 0..6 {
            l.fail(std::net::IpAddr::from([10, 1, 0, i as u8]), "li", 20 + i);
        }
        assert!(l.check(b, "li", 30).is_err(), "the name is locked from every address");
        l.succeed("li");
        assert!(l.check(b, "li", 30).is_ok());
    }

    #[test]
    fn the_table_stays_bounded_under_many_keys() {
        let mut l = FailureLimiter::new(rule());
        for i in 0..1000u32 {
            let _ = l.fail(&i, i as i64);
        }
        assert!(l.len() <= 10, "{} keys kept", l.len());
        // The newest keys are the ones kept: 999's earlier failure still counts.
        for t in 0..3 {
            assert_eq!(l.fail(&999, 1000 + t), Ok(()));
        }
        assert_eq!(l.fail(&999, 1004), Err(60_000));
        assert!(l.check(&999, 1010).is_err());
    }
}
