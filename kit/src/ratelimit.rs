//! In-memory token buckets keyed by anonymised client address (login, public forms) or by an
//! opaque key such as the hash of an account (login throttling per account).
//!
//! Addresses are cut to their network (IPv4 /24, IPv6 /48) before use, so the limiter neither
//! stores full addresses nor lets one client dodge it by hopping inside its own prefix.
//! The limiter reads no clock: callers pass `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE_BUCKETS: usize = 10_000;

/// Size and refill of each bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Attempts allowed at once (bucket capacity).
    pub burst: u32,
    /// Time to earn one attempt back.
    pub refill_every: Duration,
}

impl Default for RateLimitConfig {
    /// 10 attempts at once, then one every 6 s (10 a minute) per network.
    fn default() -> Self {
        Self {
            burst: 10,
            refill_every: Duration::from_secs(6),
        }
    }
}

/// An IP address cut to its network: IPv4 /24, IPv6 /48.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network(IpAddr);

impl Network {
    /// The anonymised network of `ip`. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Network(IpAddr::from([a, b, c, 0]))
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::of(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Network(IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0]))
                }
            },
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(_) => write!(f, "{}/24", self.0),
            IpAddr::V6(_) => write!(f, "{}/48", self.0),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per key (by default: per network).
#[derive(Debug)]
pub struct RateLimiter<K = Network> {
    config: RateLimitConfig,
    buckets: HashMap<K, Bucket>,
}

impl RateLimiter<Network> {
    /// Takes one attempt for `ip`'s network at `now`. `Err(wait)` says how long until one is
    /// available.
    #[must_use = "a refused attempt must be answered with 429"]
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.take(Network::of(ip), now)
    }
}

impl<K: Copy + Eq + Hash> RateLimiter<K> {
    /// An empty limiter.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: HashMap::new(),
        }
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        let earned = elapsed
            / self
                .config
                .refill_every
                .as_secs_f64()
                .max(f64::MIN_POSITIVE);
        bucket.tokens = (bucket.tokens + earned).min(f64::from(self.config.burst));
        bucket.updated = now;
    }

    /// Takes one attempt for `key` at `now`. `Err(wait)` says how long until one is available.
    #[must_use = "a refused attempt must be answered with 429"]
    pub fn take(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() > PRUNE_ABOVE_BUCKETS {
            self.prune(now);
        }
        let burst = f64::from(self.config.burst);
        let mut bucket = *self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        self.refill(&mut bucket, now);
        let result = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.config.refill_every.mul_f64(1.0 - bucket.tokens))
        };
        self.buckets.insert(key, bucket);
        result
    }

    /// Returns an attempt taken for `key` (it turned out not to count, e.g. a correct
    /// password). Never more than the bucket holds.
    pub fn give_back(&mut self, key: K, now: Instant) {
        if let Some(mut bucket) = self.buckets.get(&key).copied() {
            self.refill(&mut bucket, now);
            bucket.tokens = (bucket.tokens + 1.0).min(f64::from(self.config.burst));
            self.buckets.insert(key, bucket);
        }
    }

    /// Drops buckets that have refilled completely (they are equal to a fresh one).
    pub fn prune(&mut self, now: Instant) {
        let burst = f64::from(self.config.burst);
        let every = self
            .config
            .refill_every
            .as_secs_f64()
            .max(f64::MIN_POSITIVE);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() / every < burst
        });
    }

    /// Buckets held (for tests).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_anonymised() {
        assert_eq!(Network::of(ip("192.0.2.77")).to_string(), "192.0.2.0/24");
        assert_eq!(
            Network::of(ip("2001:db8:1:2:3:4:5:6")).to_string(),
            "2001:db8:1::/48"
        );
        assert_eq!(
            Network::of(ip("::ffff:192.0.2.9")),
            Network::of(ip("192.0.2.1"))
        );
    }

    #[test]
    fn burst_then_refused_then_refilled() {
        let cfg = RateLimitConfig {
            burst: 3,
            refill_every: Duration::from_secs(10),
        };
        let mut rl = RateLimiter::new(cfg);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check(ip("10.0.0.1"), t0).is_ok());
        }
        let wait = rl.check(ip("10.0.0.2"), t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        // Another network is unaffected.
        assert!(rl.check(ip("10.0.1.1"), t0).is_ok());
        // Half a refill later, half the wait remains.
        assert_eq!(
            rl.check(ip("10.0.0.1"), t0 + Duration::from_secs(5))
                .unwrap_err(),
            Duration::from_secs(5)
        );
        assert!(rl
            .check(ip("10.0.0.1"), t0 + Duration::from_secs(10))
            .is_ok());
    }

    #[test]
    fn an_attempt_given_back_is_available_again_and_never_exceeds_the_burst() {
        let cfg = RateLimitConfig {
            burst: 2,
            refill_every: Duration::from_secs(60),
        };
        let mut rl = RateLimiter::<[u8; 1]>::new(cfg);
        let t0 = Instant::now();
        assert!(rl.take([1], t0).is_ok());
        assert!(rl.take([1], t0).is_ok());
        assert!(rl.take([1], t0).is_err());
        rl.give_back([1], t0);
        assert!(rl.take([1], t0).is_ok());
        assert!(rl.take([2], t0).is_ok(), "another key is unaffected");
        rl.give_back([2], t0);
        rl.give_back([2], t0);
        assert!(rl.take([2], t0).is_ok());
        assert!(rl.take([2], t0).is_ok());
        assert!(
            rl.take([2], t0).is_err(),
            "giving back never exceeds the burst"
        );
    }

    #[test]
    fn full_buckets_are_pruned() {
        let cfg = RateLimitConfig {
            burst: 2,
            refill_every: Duration::from_secs(1),
        };
        let mut rl = RateLimiter::new(cfg);
        let t0 = Instant::now();
        assert!(rl.check(ip("10.0.0.1"), t0).is_ok());
        assert!(rl.check(ip("10.0.9.1"), t0).is_ok());
        rl.prune(t0);
        assert_eq!(rl.len(), 2);
        rl.prune(t0 + Duration::from_secs(2));
        assert!(rl.is_empty());
    }
}
