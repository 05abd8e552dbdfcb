//! Who may use the connector, and how fast: trusted networks and a token
//! bucket per source address. Pure; time is an argument.

use std::collections::HashMap;
use std::net::IpAddr;

/// An IP address or a CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(text: &str) -> Option<Net> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.trim().parse::<IpAddr>().ok()?, Some(p.trim().parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let (a, b, bits) = match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        if self.prefix == 0 {
            return true;
        }
        let shift = bits - self.prefix as u32;
        (a >> shift) == (b >> shift)
    }
}

/// Requests per second per source address, with a one-second burst.
pub struct RateLimiter {
    per_sec: f64,
    buckets: HashMap<IpAddr, (f64, i64)>,
    last_sweep: i64,
}

impl RateLimiter {
    pub fn new(per_sec: u32) -> Self {
        RateLimiter { per_sec: per_sec as f64, buckets: HashMap::new(), last_sweep: 0 }
    }

    /// Takes a token for `ip` at `now_ms`; `false` means drop the request.
    pub fn allow(&mut self, ip: IpAddr, now_ms: i64) -> bool {
        if now_ms - self.last_sweep > 60_000 {
            // Forget quiet sources so the table stays bounded.
            self.buckets.retain(|_, (_, at)| now_ms - *at < 60_000);
            self.last_sweep = now_ms;
        }
        let (tokens, at) = self.buckets.entry(ip).or_insert((self.per_sec, now_ms));
        let refill = (now_ms - *at).max(0) as f64 / 1000.0 * self.per_sec;
        *tokens = (*tokens + refill).min(self.per_sec);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn sources(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_addresses() {
        let lo = Net::parse("127.0.0.0/8").unwrap();
        assert!(lo.contains("127.1.2.3".parse().unwrap()));
        assert!(lo.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!lo.contains("10.0.0.1".parse().unwrap()));
        assert!(Net::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Net::parse("0.0.0.0/0").unwrap().contains("192.0.2.1".parse().unwrap()));
        assert!(Net::parse("10.0.0.0/33").is_none());
        assert!(Net::parse("pbx.example").is_none());
    }

    #[test]
    fn a_flooding_source_is_limited_and_others_are_not() {
        let mut r = RateLimiter::new(100);
        let (flood, calm): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let allowed = (0..1000).filter(|_| r.allow(flood, 0)).count();
        assert_eq!(allowed, 100);
        assert!(r.allow(calm, 0));
        assert!(r.allow(flood, 10), "one token back after 10 ms at 100/s");
        assert!(!r.allow(flood, 10));
        r.allow(calm, 120_000);
        assert_eq!(r.sources(), 1, "quiet sources are forgotten");
    }
}
