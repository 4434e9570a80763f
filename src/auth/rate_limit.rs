//! Keyed rate limits: GCRA, the token bucket written as one timestamp a key.
//!
//! The in-process limiter (refresh's per-IP budget); the limits shared by
//! every instance live in the store (`limits::SharedLimiter`), with the same
//! GCRA rule. Written here rather than taken from `governor` because the key
//! table needs a hard size bound that evicts at O(1) per request.
//!
//! The table is bounded by evicting, never by refusing: when it is full, the
//! key that entered it first is forgotten (it then behaves like a new key),
//! so a flood of keys cannot make the limiter fail closed for everyone or
//! stop counting. Keys whose bucket is full again are dropped from the front
//! of the same queue as requests pass, so nothing ever scans the table.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
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
    /// Each key's theoretical arrival time.
    tat: HashMap<K, Instant>,
    /// The keys in the order they entered `tat`: the eviction order.
    order: VecDeque<K>,
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
            max_keys: max_keys.max(1),
            state: Mutex::new(State {
                tat: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    /// Spends one request for `key`, or says how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        self.check_at(key, Instant::now())
    }

    /// Number of keys tracked (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.lock().tat.len()
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The key's next theoretical arrival time if it spent a request now,
    /// or how long it must wait.
    fn next_tat(&self, state: &State<K>, key: &K, now: Instant) -> Result<Instant, Limited> {
        let tat = state.tat.get(key).copied().unwrap_or(now).max(now);
        let limited = |ahead: Duration| Limited {
            retry_after: ahead
                .saturating_sub(self.window)
                .max(Duration::from_secs(1)),
        };
        // An arrival time past what an Instant holds is as limited as can be.
        let next = tat
            .checked_add(self.interval)
            .ok_or_else(|| limited(Duration::MAX))?;
        let ahead = next - now;
        if ahead > self.window {
            return Err(limited(ahead));
        }
        Ok(next)
    }

    fn check_at(&self, key: &K, now: Instant) -> Result<(), Limited> {
        let mut state = self.lock();
        let next = self.next_tat(&state, key, now)?;
        state.forget_expired(now);
        if let Some(tat) = state.tat.get_mut(key) {
            *tat = next;
            return Ok(());
        }
        if state.tat.len() >= self.max_keys {
            state.evict_oldest();
        }
        state.tat.insert(key.clone(), next);
        state.order.push_back(key.clone());
        Ok(())
    }
}

impl<K: Hash + Eq> State<K> {
    /// Drops keys from the front of the queue while their bucket is full
    /// again (they behave like new keys anyway). Stops at the first live
    /// key: O(1) per request, amortised.
    fn forget_expired(&mut self, now: Instant) {
        while let Some(front) = self.order.front() {
            match self.tat.get(front) {
                Some(tat) if *tat > now => break,
                _ => {
                    if let Some(key) = self.order.pop_front() {
                        self.tat.remove(&key);
                    }
                }
            }
        }
    }

    /// Forgets the key that entered the table first.
    fn evict_oldest(&mut self) {
        if let Some(key) = self.order.pop_front() {
            self.tat.remove(&key);
        }
    }
}

/// The network a client address belongs to, for counting failed logins per
/// (email, network): IPv4 by /24, IPv6 by /48 (a site's usual prefix), an
/// IPv4-mapped IPv6 address as the IPv4 one. A stranger elsewhere cannot
/// use up the failures of a user's own network.
pub fn network_key(ip: IpAddr) -> IpAddr {
    match ip_key(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4([a, b, c, 0].into())
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[3..].fill(0);
            IpAddr::V6(segments.into())
        }
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
    fn a_full_table_evicts_the_oldest_key_and_keeps_counting() {
        let limiter = RateLimiter::new(2, MIN, 3);
        let now = Instant::now();
        for key in 0..3 {
            assert!(limiter.check_at(&key, now).is_ok());
            assert!(limiter.check_at(&key, now).is_ok());
            assert!(limiter.check_at(&key, now).is_err());
        }
        // Full of live keys: a new key is still counted (today's fix: it
        // used to be refused, and a full failure table stopped counting).
        assert!(limiter.check_at(&99, now).is_ok());
        assert!(limiter.check_at(&99, now).is_ok());
        assert!(
            limiter.check_at(&99, now).is_err(),
            "the new key is limited"
        );
        assert_eq!(limiter.tracked_keys(), 3);
        // The oldest key (0) was forgotten; the others are still limited.
        assert!(limiter.check_at(&1, now).is_err());
        assert!(limiter.check_at(&2, now).is_err());
        assert!(limiter.check_at(&0, now).is_ok());
    }

    #[test]
    fn expired_keys_leave_the_table_without_a_scan() {
        let limiter = RateLimiter::new(5, MIN, 1000);
        let now = Instant::now();
        for key in 0..100 {
            assert!(limiter.check_at(&key, now).is_ok());
        }
        // A whole window later, one request drops every refilled key.
        assert!(limiter.check_at(&1000, now + MIN).is_ok());
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[test]
    fn huge_windows_do_not_overflow() {
        let limiter = RateLimiter::new(1, Duration::MAX, 10);
        let now = Instant::now();
        let _ = limiter.check_at(&"a", now);
        assert!(limiter.check_at(&"a", now).is_err());
    }

    #[test]
    fn failures_are_counted_per_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_key(ip("203.0.113.7")), ip("203.0.113.0"));
        assert_eq!(
            network_key(ip("203.0.113.7")),
            network_key(ip("203.0.113.200"))
        );
        assert_ne!(
            network_key(ip("203.0.113.7")),
            network_key(ip("203.0.114.7"))
        );
        assert_eq!(network_key(ip("::ffff:203.0.113.7")), ip("203.0.113.0"));
        assert_eq!(
            network_key(ip("2001:db8:1:2:3::1")),
            network_key(ip("2001:db8:1:ffff::2"))
        );
        assert_ne!(
            network_key(ip("2001:db8:1::1")),
            network_key(ip("2001:db8:2::1"))
        );
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
