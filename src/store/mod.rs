//! Persistence: one trait, one module per backend.
//!
//! The store knows nothing of HTTP. Every backend passes the same conformance
//! suite (`tests/store/`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AccountToken, EmailAddress, NewUser, ReportSetting, ReportSettingPatch, Session, SessionId,
    TokenHash, TokenId, TokenPurpose, User, UserCredentials, UserId,
};

pub mod mongo;
pub mod sqlite;

/// The store shared by every worker, built once at start-up.
pub type SharedStore = Arc<dyn Store>;

/// The cause of a store failure: the driver's error, or a message.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (the email is taken).
    #[error("duplicate email")]
    DuplicateEmail,
    /// The backend cannot be reached right now; worth retrying later.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug, corrupt data, a driver failure.
    #[error("store failure")]
    Internal(#[source] BoxError),
}

impl StoreError {
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(cause.into())
    }

    pub fn internal(cause: impl Into<BoxError>) -> Self {
        StoreError::Internal(cause.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A shared rate limit's shape (GCRA): each request costs `interval`; a
/// key's theoretical arrival time may run at most `window` ahead of now, so
/// `window / interval` requests fit back to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: std::time::Duration,
    pub window: std::time::Duration,
}

impl RateLimit {
    /// The interval and the window in milliseconds, as backends store
    /// times; saturating, so a window too long for an i64 is "forever".
    pub fn millis(self) -> (i64, i64) {
        let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        (ms(self.interval), ms(self.window))
    }

    /// The verdict for a key refused at `now_ms` whose arrival time is
    /// `tat_ms`: wait until one more request fits (at least a second).
    pub fn limited(self, tat_ms: i64, now_ms: i64) -> RateVerdict {
        let (interval, window) = self.millis();
        let wait = tat_ms
            .saturating_add(interval)
            .saturating_sub(now_ms)
            .saturating_sub(window);
        RateVerdict::Limited {
            retry_after: std::time::Duration::from_millis(wait.max(1000).unsigned_abs()),
        }
    }
}

/// The answer of one step of a shared rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    Allowed,
    Limited { retry_after: std::time::Duration },
}

/// A rotation: replace `expected_jti` by `new_jti`, atomically.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub session_id: SessionId,
    pub expected_jti: TokenId,
    pub new_jti: TokenId,
    pub now: DateTime<Utc>,
    pub new_expires_at: DateTime<Utc>,
}

/// The refresh's rotation: the session's current token `expected_jti`
/// becomes `new_jti` and its expiry slides to `sliding_expires_at`, but never
/// past its creation + `max_lifetime`.
#[derive(Debug, Clone)]
pub struct CurrentRotation {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub expected_jti: TokenId,
    pub new_jti: TokenId,
    pub now: DateTime<Utc>,
    pub sliding_expires_at: DateTime<Utc>,
    pub max_lifetime: std::time::Duration,
}

impl CurrentRotation {
    /// When the rotated session expires, given when it was created.
    pub fn expiry_for(&self, created_at: DateTime<Utc>) -> DateTime<Utc> {
        crate::domain::after(created_at, self.max_lifetime).map_or(self.sliding_expires_at, |cap| {
            cap.min(self.sliding_expires_at)
        })
    }
}

/// A password change by the logged-in user: `new_hash` replaces
/// `expected_hash` only if that is still the user's hash.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub user_id: UserId,
    pub expected_hash: String,
    pub new_hash: String,
    /// The caller's session, which stays (it is rotated by the caller);
    /// every other session of the user is revoked.
    pub keep_session: SessionId,
    pub now: DateTime<Utc>,
}

/// What using an email link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailConfirmation {
    /// A verification link: the account's address is now verified.
    Verified(User),
    /// An email-change link: the account now has the new (verified) address.
    Changed { user: User, previous: EmailAddress },
    /// No live token of an email purpose has this hash (unknown, used,
    /// expired, superseded), or the address it verifies is no longer the
    /// account's.
    Invalid,
    /// The new address of an email change belongs to another account by
    /// now; nothing changed and the token stays usable.
    Taken,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics ("sqlite", "mongodb").
    fn backend(&self) -> &'static str;

    /// How registration writes the user and the setting: `transaction`, or
    /// `fallback` (MongoDB without transactions); `None` while the backend
    /// has not decided yet (MongoDB still connecting). For the
    /// `tokengate_store_registration_mode` gauge.
    fn registration_mode(&self) -> Option<&'static str> {
        None
    }

    /// Answers when the backend is reachable and working.
    async fn ping(&self) -> StoreResult<()>;

    /// Releases connections at shutdown, after the last request, once the
    /// writes already started are done.
    async fn close(&self) {}

    /// Creates the user and the user's report setting: both or neither (a
    /// backend without transactions may leave a setting without its user,
    /// which is harmless, never a user without its setting). Ends within
    /// the backend's time budget, with `Unavailable` past it.
    async fn create_user(&self, new: &NewUser) -> StoreResult<()>;

    async fn find_credentials_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<UserCredentials>>;

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>>;

    /// Replaces the user's password hash by `new` only if it is still
    /// `expected` (a compare-and-swap, so a rehash never overwrites a
    /// password changed in between). True when it was replaced.
    async fn replace_password_hash(
        &self,
        user_id: &UserId,
        expected: &str,
        new: &str,
    ) -> StoreResult<bool>;

    /// The user's report setting. `None` only when the user does not exist:
    /// an existing user whose setting is missing (a registration cut short
    /// on a store without transactions, a setting deleted by hand) gets the
    /// default one (`MONTHLY`, enabled) written first, by an idempotent
    /// upsert, so no user is ever left without a setting; of concurrent
    /// repairs of one user exactly one setting results.
    async fn report_setting(&self, user_id: &UserId) -> StoreResult<Option<ReportSetting>>;

    /// Applies `patch` and returns the setting as it now is; a missing
    /// setting of an existing user is repaired first, as in
    /// [`report_setting`](Self::report_setting). `None` only when the user
    /// does not exist.
    async fn update_report_setting(
        &self,
        user_id: &UserId,
        patch: ReportSettingPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReportSetting>>;

    async fn create_session(&self, session: &Session) -> StoreResult<()>;

    async fn find_session(&self, id: &SessionId) -> StoreResult<Option<Session>>;

    /// The compare-and-swap at the heart of refresh: succeeds (true) only when
    /// the session's current token is `expected_jti`, it is not revoked and not
    /// expired at `now`; then the current token becomes the previous one,
    /// `new_jti` the current one, and `rotated_at`/`last_used_at`/`expires_at`
    /// are set. Of two racing rotations of one token, exactly one succeeds.
    async fn rotate_session(&self, rotation: &Rotation) -> StoreResult<bool>;

    /// The common case of a refresh in one step where the backend can: if
    /// session `session_id` belongs to `user_id`, is live at `now` and its
    /// current token is `expected_jti`, rotate it (as `rotate_session`, the
    /// expiry from [`CurrentRotation::expiry_for`]) and return it as it now
    /// is. `None` when any of that does not hold (the caller then reads the
    /// session and tells a grace-window replay from reuse). Of two racing
    /// calls for one token, exactly one gets the session.
    ///
    /// The default reads, then rotates (two round trips); SQLite overrides
    /// it with one `UPDATE ... RETURNING`.
    async fn rotate_current(&self, r: &CurrentRotation) -> StoreResult<Option<Session>> {
        let Some(session) = self.find_session(&r.session_id).await?.filter(|s| {
            s.user_id == r.user_id && s.is_live(r.now) && s.current_jti == r.expected_jti
        }) else {
            return Ok(None);
        };
        let rotation = Rotation {
            session_id: r.session_id.clone(),
            expected_jti: r.expected_jti.clone(),
            new_jti: r.new_jti.clone(),
            now: r.now,
            new_expires_at: r.expiry_for(session.created_at),
        };
        if !self.rotate_session(&rotation).await? {
            return Ok(None);
        }
        Ok(Some(Session {
            previous_jti: Some(rotation.expected_jti),
            rotated_at: Some(r.now),
            current_jti: rotation.new_jti,
            current_issued_at: r.now,
            last_used_at: r.now,
            expires_at: rotation.new_expires_at,
            ..session
        }))
    }

    /// Records that the session was used (the grace-window answer).
    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Revokes one session; with `owner`, only if it belongs to that user.
    /// True when a live session was revoked.
    async fn revoke_session(
        &self,
        id: &SessionId,
        owner: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Revokes every live session of the user; returns how many.
    async fn revoke_all_sessions(&self, user_id: &UserId, now: DateTime<Utc>) -> StoreResult<u64>;

    /// The user's live sessions, newest first.
    async fn list_sessions(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>>;

    /// Deletes sessions that expired or were revoked at or before `cutoff`;
    /// returns how many. Backends that also expire records on their own
    /// (MongoDB's TTL index) may report fewer.
    async fn purge_sessions(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;

    /// One step of a rate limit shared by every instance on this store:
    /// spends a request of `key`'s budget unless that would run past the
    /// window, atomically (two instances never both spend the last one).
    async fn spend_rate_limit(
        &self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> StoreResult<RateVerdict>;

    /// Gives back one request spent by `spend_rate_limit`.
    async fn refund_rate_limit(&self, key: &str, limit: RateLimit) -> StoreResult<()>;

    /// Deletes the counters whose budget is full again at `now`: they
    /// behave like absent ones. Backends that expire records on their own
    /// (MongoDB's TTL index) may report fewer.
    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Stores a one-time account token. Any other token of the same user
    /// and purpose is deleted in the same step: only the newest is valid.
    async fn issue_account_token(&self, token: &AccountToken) -> StoreResult<()>;

    /// The token with this hash and purpose if it is live at `now` (not
    /// used, not expired); it is not consumed.
    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>>;

    /// Replaces the password hash (compare-and-swap on `expected_hash`),
    /// revokes every session of the user but `keep_session` and deletes the
    /// user's password-reset tokens, all at once. False, with nothing
    /// changed, when the hash is no longer `expected_hash`.
    async fn change_password(&self, change: &PasswordChange) -> StoreResult<bool>;

    /// Uses a password-reset token: if it is live at `now`, it is marked
    /// used and, in the same step, the user's password hash becomes
    /// `new_hash`, the address the reset went to is marked verified (if it
    /// is still the account's), every session is revoked and every other
    /// reset token deleted. `None`, with nothing changed, for any token that
    /// is not live. Of two uses of one token, exactly one succeeds.
    async fn reset_password(
        &self,
        hash: &TokenHash,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>>;

    /// Uses an email-verification or email-change token (single use, as
    /// `reset_password`). An email change also deletes the user's other
    /// account tokens (links sent to the old address die).
    async fn confirm_email(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<EmailConfirmation>;

    /// Deletes the user with its report setting, sessions and account
    /// tokens: nothing of it stays reachable (a refresh token of a deleted
    /// user finds no session). False when there was no such user.
    async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool>;

    /// Deletes account tokens that expired or were used at or before
    /// `cutoff`; returns how many (TTL-expiring backends may report fewer).
    async fn purge_account_tokens(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;

    /// Every signing key (JWT access tokens under EdDSA), oldest generation
    /// first.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;

    /// Stores a new signing key unless its generation (or `kid`) is taken:
    /// of two instances racing to create the next key, exactly one wins
    /// (true); the other gets false and re-reads.
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<bool>;
}

/// Builds the configured store: MongoDB when `mongo_uri` is set, else the
/// embedded SQLite file. SQLite creates its schema now; MongoDB returns at
/// once and connects (and creates its indexes) in the background, answering
/// `Unavailable` until it has.
pub async fn connect(settings: &crate::settings::StoreSettings) -> StoreResult<SharedStore> {
    match &settings.mongo_uri {
        Some(_) => Ok(Arc::new(mongo::MongoStore::connect(settings).await?)),
        None => Ok(Arc::new(sqlite::SqliteStore::open(settings).await?)),
    }
}

/// A JWT signing key as the store keeps it. The private key is sealed by
/// `crate::auth::keys` (AES-256-GCM under the key-encryption key) before it
/// gets here, or, in the local profile without one, plain PKCS#8 marked so.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// 1, 2, ...: unique, so two instances never both add "the next" key.
    pub generation: i64,
    /// `EdDSA`.
    pub algorithm: String,
    /// The raw public key (32 bytes for Ed25519).
    pub public_key: Vec<u8>,
    /// The private key, sealed as `encryption` says.
    pub private_key: Vec<u8>,
    /// `A256GCM` or `none`.
    pub encryption: String,
    pub created_at: DateTime<Utc>,
    /// When it starts signing: one JWKS cache lifetime after it is published.
    pub activates_at: DateTime<Utc>,
}

/// Never the private key, even sealed.
impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("algorithm", &self.algorithm)
            .field("encryption", &self.encryption)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}
