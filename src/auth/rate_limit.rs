//! Keyed rate limits: GCRA, the token bucket written as one timestamp a key.
//!
//! Written here rather than taken from `governor` because the login-failure
//! limit needs to *look* without spending ("is this email locked?") before
//! bcrypt runs and spend only when the password was wrong, which governor's
//! API cannot express, and because the key table needs a hard size bound:
//! keys whose bucket is full again are swept, and when the table is still at
//! its bound new keys are refused (fail closed) rather than tracked.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter<K> {
    /// Time one request "costs": window / limit.
    interval: Duration,
    /// How far ahead of now a key's theoretical arrival time may run: the
    /// whole window, so `limit` requests fit back to back.
    window: Duration,
    max_keys: usize,
    state: Mutex<State<K>>,
}

struct State<K> {
    tat: HashMap<K, Instant>,
    last_sweep: Instant,
}

/// The request is over the limit; retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `limit` requests per `window` for each key, at most `max_keys` keys.
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            interval: window / limit.max(1),
            window,
            max_keys,
            state: Mutex::new(State {
                tat: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Spends one request for `key`, or says how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        self.check_at(key, Instant::now())
    }

    /// Whether `key` could spend a request now, without spending it.
    pub fn peek(&self, key: &K) -> Result<(), Limited> {
        self.peek_at(key, Instant::now())
    }

    /// Number of keys tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.state.lock().map_or(0, |s| s.tat.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The key's next theoretical arrival time if it spent a request now,
    /// or how long it must wait.
    fn next_tat(&self, state: &State<K>, key: &K, now: Instant) -> Result<Instant, Limited> {
        let tat = state.tat.get(key).copied().unwrap_or(now).max(now);
        let next = tat + self.interval;
        let ahead = next - now;
        if ahead > self.window {
            return Err(Limited {
                retry_after: ahead - self.window,
            });
        }
        Ok(next)
    }

    fn peek_at(&self, key: &K, now: Instant) -> Result<(), Limited> {
        self.next_tat(&self.lock(), key, now).map(drop)
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Limited> {
        let mut state = self.lock();
        let next = self.next_tat(&state, key, now)?;
        if !state.tat.contains_key(key) && state.tat.len() >= self.max_keys {
            state.sweep(now);
            if state.tat.len() >= self.max_keys {
                return Err(Limited {
                    retry_after: self.interval,
                });
            }
        }
        state.tat.insert(key.clone(), next);
        if now.duration_since(state.last_sweep) > self.window {
            state.sweep(now);
        }
        Ok(())
    }
}

impl<K: Hash + Eq> State<K> {
    /// Forgets keys whose bucket is full again: they behave like new keys.
    fn sweep(&mut self, now: Instant) {
        self.tat.retain(|_, tat| *tat > now);
        self.last_sweep = now;
    }
}

/// The key an IP address is limited under: IPv4 addresses as they are, IPv6
/// by their /64 prefix (one host usually holds a whole /64).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn allows_the_limit_then_refuses_with_a_retry_time() {
        let limiter = RateLimiter::new(10, 15 * MIN, 100);
        let now = Instant::now();
        for i in 0..10 {
            assert!(limiter.check_at(&"a", now).is_ok(), "request {i}");
        }
        let refused = limiter.check_at(&"a", now).unwrap_err();
        assert_eq!(refused.retry_after, 90 * Duration::from_secs(1));
        // Other keys are unaffected.
        assert!(limiter.check_at(&"b", now).is_ok());
        // One interval later, one more request fits.
        assert!(
            limiter
                .check_at(&"a", now + Duration::from_secs(90))
                .is_ok()
        );
        assert!(
            limiter
                .check_at(&"a", now + Duration::from_secs(90))
                .is_err()
        );
    }

    #[test]
    fn peek_does_not_spend() {
        let limiter = RateLimiter::new(2, MIN, 100);
        let now = Instant::now();
        for _ in 0..10 {
            assert!(limiter.peek_at(&"a", now).is_ok());
        }
        assert!(limiter.check_at(&"a", now).is_ok());
        assert!(limiter.check_at(&"a", now).is_ok());
        assert!(limiter.peek_at(&"a", now).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = RateLimiter::new(5, MIN, 3);
        let now = Instant::now();
        for key in 0..3 {
            assert!(limiter.check_at(&key, now).is_ok());
        }
        // Full of live keys: a new key is refused, known keys still work.
        assert!(limiter.check_at(&99, now).is_err());
        assert!(limiter.check_at(&0, now).is_ok());
        assert_eq!(limiter.tracked_keys(), 3);
        // Once their buckets are full again the old keys are swept.
        let later = now + MIN;
        assert!(limiter.check_at(&99, later).is_ok());
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[test]
    fn ipv6_is_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
