//! Access tokens this instance has already verified, so a token presented
//! again (every request of a tab for up to 15 minutes) skips the signature
//! check: an Ed25519 verification costs far more than the rest of a
//! current-user request.
//!
//! Keyed by the SHA-256 of the token's exact bytes, so a hit needs the very
//! token that was verified (any changed byte is a miss and goes through the
//! full check), and the lookup compares digests, never the secret token
//! itself. An entry holds the verified claims and answers only until the
//! token's `exp` (plus the leeway the full check allows), exactly as the
//! full check would; failures are never cached. The cache is cleared when
//! the key set changes, so a key that stops verifying takes its tokens with
//! it. Bounded in entries (quick_cache evicts); a miss only costs the full
//! verification.

use chrono::{DateTime, Utc};
use quick_cache::sync::Cache;

use super::{AccessToken, TokenError};

/// Entries kept at most: about 100 bytes each.
pub(super) const CAPACITY: usize = 65_536;

pub(super) type Digest = [u8; 32];

pub(super) struct Verified {
    cache: Cache<Digest, AccessToken>,
    leeway_secs: i64,
}

impl Verified {
    pub(super) fn new(capacity: usize, leeway: std::time::Duration) -> Self {
        Self {
            cache: Cache::new(capacity),
            leeway_secs: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
        }
    }

    pub(super) fn digest(token: &str) -> Digest {
        let mut out = [0u8; 32];
        out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
        out
    }

    /// The cached verdict for a token at `now`: `None` on a miss; an expired
    /// entry answers `Expired` (as the full check would) and is dropped.
    pub(super) fn get(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
    ) -> Option<Result<AccessToken, TokenError>> {
        let token = self.cache.get(digest)?;
        if token
            .expires_at
            .timestamp()
            .saturating_add(self.leeway_secs)
            < now.timestamp()
        {
            self.cache.remove(digest);
            return Some(Err(TokenError::Expired));
        }
        Some(Ok(token))
    }

    pub(super) fn insert(&self, digest: Digest, token: AccessToken) {
        self.cache.insert(digest, token);
    }

    pub(super) fn clear(&self) {
        self.cache.clear();
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cache.len()
    }
}
