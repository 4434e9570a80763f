//! The service's rate limits, and where each one keeps its count.
//!
//! The limits that stop password guessing and mass registration are shared
//! by every instance on one store (`SharedLimiter`): with N instances an
//! attacker still gets 10 guesses per email, not N × 10. Refresh's per-IP
//! limit stays in each process's memory (`RateLimiter`) unless
//! `rate_limit.shared_refresh_limit` is set: a refresh already writes the
//! session, and a second write per refresh costs more than the limit is
//! worth (BENCHMARKS.md measures it); it is a resource guard, not a
//! guessing guard, so N instances give a client N × the refresh budget.
//!
//! Keys are hashed before they reach the store: the counters never hold an
//! email or an address in the clear.

use std::net::IpAddr;
use std::time::Duration;

use ring::digest::{SHA256, digest};

use super::rate_limit::{RateLimiter, ip_key, network_key};
use super::{ApiError, ApiResult};
use crate::domain::{ClientInfo, EmailAddress};
use crate::settings::RateLimitSettings;
use crate::store::{RateLimit, RateVerdict, SharedStore};

/// One limit kept in the store, shared by every instance.
#[derive(Clone)]
pub struct SharedLimiter {
    store: SharedStore,
    /// Separates this limit's keys from the others' in the one table.
    name: &'static str,
    limit: RateLimit,
}

impl SharedLimiter {
    pub fn new(store: SharedStore, name: &'static str, per_window: u32, window: Duration) -> Self {
        Self {
            store,
            name,
            limit: RateLimit {
                interval: window / per_window.max(1),
                window,
            },
        }
    }

    fn key(&self, key: &str) -> String {
        let hash = digest(&SHA256, format!("{}\0{key}", self.name).as_bytes());
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.name)
    }

    /// Spends one request of `key`'s budget: 429 past it, 503 when the store
    /// cannot say (fail closed).
    pub async fn check(&self, key: &str) -> ApiResult<()> {
        match self
            .store
            .spend_rate_limit(&self.key(key), self.limit, crate::domain::now())
            .await?
        {
            RateVerdict::Allowed => Ok(()),
            RateVerdict::Limited { retry_after } => Err(ApiError::RateLimited { retry_after }),
        }
    }

    /// Gives one request back, in the background (from `Drop`); a refund
    /// that fails only leaves the count one too high.
    fn refund_later(&self, key: &str) {
        let (store, key, limit) = (self.store.clone(), self.key(key), self.limit);
        tokio::spawn(async move {
            if let Err(e) = store.refund_rate_limit(&key, limit).await {
                tracing::warn!(error = %crate::telemetry::error_chain(&e), "rate-limit refund lost");
            }
        });
    }
}

/// Refresh's per-IP budget: per process by default, or in the store.
pub(super) enum RefreshLimit {
    Local(RateLimiter<IpAddr>),
    Shared(SharedLimiter),
}

pub(super) struct Limits {
    pub login_per_ip: SharedLimiter,
    pub register_per_ip: SharedLimiter,
    pub refresh_per_ip: RefreshLimit,
    /// The account flows (forgot, reset, verify, ...) per client IP.
    pub accounts_per_ip: SharedLimiter,
    /// Mails of the account flows per address per hour.
    pub mails_per_address: SharedLimiter,
    /// Failed logins per (email, client network).
    login_failures: SharedLimiter,
    /// Failed logins per email across every network: the ceiling.
    login_failures_per_email: SharedLimiter,
}

impl Limits {
    pub fn new(store: &SharedStore, rl: &RateLimitSettings, mails_per_hour: u32) -> Self {
        let shared =
            |name, per_window| SharedLimiter::new(store.clone(), name, per_window, rl.window);
        Self {
            login_per_ip: shared("login-ip", rl.per_ip),
            register_per_ip: shared("register-ip", rl.per_ip),
            refresh_per_ip: if rl.shared_refresh_limit {
                RefreshLimit::Shared(shared("refresh-ip", rl.per_ip))
            } else {
                RefreshLimit::Local(RateLimiter::new(rl.per_ip, rl.window, rl.max_keys))
            },
            accounts_per_ip: shared("accounts-ip", rl.per_ip),
            mails_per_address: SharedLimiter::new(
                store.clone(),
                "mails-address",
                mails_per_hour,
                Duration::from_secs(3600),
            ),
            login_failures: shared("login-failures", rl.login_failures),
            login_failures_per_email: shared("login-failures-email", rl.login_failures_per_email),
        }
    }

    /// Reserves one failure for `email` from `client`'s network before the
    /// password is checked, or answers 429 (or 503 when the store cannot
    /// count: login fails closed).
    pub async fn reserve_failure(
        &self,
        email: &EmailAddress,
        client: &ClientInfo,
    ) -> ApiResult<FailureReservation<'_>> {
        let network = client
            .ip
            .map_or_else(|| "unknown".to_owned(), |ip| network_key(ip).to_string());
        let per_network = format!("{}\0{network}", email.as_str());
        self.login_failures.check(&per_network).await?;
        if let Err(e) = self.login_failures_per_email.check(email.as_str()).await {
            self.login_failures.refund_later(&per_network);
            return Err(e);
        }
        Ok(FailureReservation {
            limits: self,
            per_network,
            email: email.as_str().to_owned(),
            kept: false,
        })
    }
}

/// The key an IP-based limit counts a client under.
pub(super) fn ip_limit_key(ip: IpAddr) -> String {
    ip_key(ip).to_string()
}

/// A failed login reserved against both failure limits before bcrypt runs,
/// so a burst of simultaneous guesses, on any instance, cannot get more
/// verdicts than the limit allows. Given back when dropped, unless `keep`
/// says the attempt really failed: a right password, a shed request or a
/// store error does not count.
pub(super) struct FailureReservation<'a> {
    limits: &'a Limits,
    per_network: String,
    email: String,
    kept: bool,
}

impl FailureReservation<'_> {
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for FailureReservation<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.limits.login_failures.refund_later(&self.per_network);
            self.limits
                .login_failures_per_email
                .refund_later(&self.email);
        }
    }
}
