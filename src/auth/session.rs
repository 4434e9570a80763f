//! The refresh-token session model.
//!
//! A login opens a session; its refresh token carries the session id (`sid`)
//! and a token id (`jti`). Every refresh rotates the `jti` with one atomic
//! compare-and-swap in the store. The token the last rotation replaced stays
//! acceptable for a short grace window, answered with the *same* current
//! token (re-signed from the stored claims), so racing tabs and retried
//! requests converge on one token. Any other old token is reuse: the whole
//! session is revoked.

use crate::domain::{AuthUser, ClientInfo, Session, SessionId, TokenId, UserId};
use crate::store::CurrentRotation;
use crate::telemetry::metrics::AuthEvent;

use super::limits::RefreshLimit;
use super::tokens::{Signed, TokenError};
use super::{ApiError, ApiResult, Auth};

/// The tokens a successful refresh sets.
#[derive(Debug)]
pub struct Refreshed {
    pub access: Signed,
    pub refresh: Signed,
}

/// How many times a refresh re-reads the session after losing a race.
/// Losing twice in a row needs two further rotations inside one request,
/// which only reuse produces.
const MAX_RACE_RETRIES: usize = 2;

impl Auth {
    /// Creates the session record for a new login and signs its first tokens.
    pub(super) async fn open_session(
        &self,
        user_id: &UserId,
        client: &ClientInfo,
    ) -> ApiResult<(Signed, Signed, SessionId)> {
        let now = crate::domain::now();
        // Everything that can fail is computed before the session is written.
        let expires_at = self.session_expiry(now, now)?;
        let session = Session::open(
            user_id.clone(),
            now,
            expires_at,
            client.user_agent.clone(),
            client.ip.map(|ip| ip.to_string()),
        );
        self.store.create_session(&session).await?;
        let access = self
            .tokens
            .issue_access(user_id, &session.id, now)
            .map_err(ApiError::internal)?;
        let refresh = self
            .tokens
            .sign_refresh(&session)
            .map_err(ApiError::internal)?;
        Ok((access, refresh, session.id))
    }

    /// The silent refresh. Every refusal is `RefreshRefused` (401, and the
    /// handler clears both cookies).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, client: &ClientInfo, token: Option<&str>) -> ApiResult<Refreshed> {
        match &self.limits.refresh_per_ip {
            RefreshLimit::Local(limiter) => {
                self.limit_ip(limiter, client, AuthEvent::RateLimited)?
            }
            RefreshLimit::Shared(limiter) => {
                self.limit_shared_ip(limiter, client, AuthEvent::RateLimited)
                    .await?
            }
        }
        let refused = |why: &'static str| {
            self.metrics.count(AuthEvent::RefreshRefused);
            ApiError::RefreshRefused(why)
        };
        let token = token.ok_or_else(|| refused("no refresh token"))?;
        let presented = self.tokens.verify_refresh(token).map_err(|e| match e {
            TokenError::Expired => refused("refresh token expired"),
            _ => refused("refresh token invalid"),
        })?;

        // The common case, in one store round trip where the backend can:
        // the presented token is the session's current one.
        let now = crate::domain::now();
        if let Some(rotated) = self
            .rotate_current(
                &presented.session_id,
                &presented.user_id,
                &presented.jti,
                now,
            )
            .await?
        {
            return self.refreshed(client, &rotated, now);
        }
        for _ in 0..=MAX_RACE_RETRIES {
            let now = crate::domain::now();
            let session = self
                .store
                .find_session(&presented.session_id)
                .await?
                .filter(|s| s.user_id == presented.user_id)
                .ok_or_else(|| refused("session not found"))?;
            if !session.is_live(now) {
                return Err(refused("session revoked or expired"));
            }

            if session.current_jti == presented.jti {
                if let Some(rotated) = self.rotate(&session, now).await? {
                    return self.refreshed(client, &rotated, now);
                }
                // Another request rotated this token first: read the session
                // again; our token is now the previous one.
                continue;
            }

            if self.within_grace(&session, &presented.jti, now) {
                self.store.touch_session(&session.id, now).await?;
                self.metrics.count(AuthEvent::RefreshGraceReplayed);
                return self.sign_pair(&session, now);
            }

            // Neither current nor the just-replaced token: reuse.
            self.store.revoke_session(&session.id, None, now).await?;
            self.audit(
                AuthEvent::ReuseDetected,
                Some(&session.user_id),
                Some(&session.id),
                client,
            );
            return Err(refused("refresh token reuse detected"));
        }
        Err(refused("refresh lost too many races"))
    }

    /// Replaces the current refresh token `expected` of session `id` of
    /// `user_id` by a new one (one compare-and-swap in the store): the
    /// rotated session, or `None` when the token is not current (another
    /// request rotated it first, or it is an old one) or the session is not
    /// live.
    async fn rotate_current(
        &self,
        id: &SessionId,
        user_id: &UserId,
        expected: &TokenId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<Option<Session>> {
        let rotation = CurrentRotation {
            session_id: id.clone(),
            user_id: user_id.clone(),
            expected_jti: expected.clone(),
            new_jti: TokenId::generate(),
            now,
            sliding_expires_at: self
                .tokens
                .refresh_expiry(now)
                .map_err(ApiError::internal)?,
            max_lifetime: self.max_session_lifetime,
        };
        Ok(self.store.rotate_current(&rotation).await?)
    }

    /// Rotates `session`'s current refresh token (see `rotate_current`).
    pub(super) async fn rotate(
        &self,
        session: &Session,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<Option<Session>> {
        self.rotate_current(&session.id, &session.user_id, &session.current_jti, now)
            .await
    }

    /// A successful rotation: audited, and its tokens signed.
    fn refreshed(
        &self,
        client: &ClientInfo,
        rotated: &Session,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<Refreshed> {
        self.audit(
            AuthEvent::Refreshed,
            Some(&rotated.user_id),
            Some(&rotated.id),
            client,
        );
        self.sign_pair(rotated, now)
    }

    /// When a refresh token issued at `now` for a session opened at
    /// `created_at` expires: the refresh lifetime slides with each rotation,
    /// but never past the session's maximum lifetime; then the user logs in
    /// again.
    fn session_expiry(
        &self,
        created_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<chrono::DateTime<chrono::Utc>> {
        let sliding = self
            .tokens
            .refresh_expiry(now)
            .map_err(ApiError::internal)?;
        let cap = crate::domain::after(created_at, self.max_session_lifetime)
            .ok_or_else(|| ApiError::internal("session lifetime out of range"))?;
        Ok(sliding.min(cap))
    }

    /// Whether `jti` is the token the last rotation replaced, presented
    /// within the grace period after that rotation.
    fn within_grace(
        &self,
        session: &Session,
        jti: &TokenId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let (Some(previous), Some(rotated_at)) = (&session.previous_jti, session.rotated_at) else {
            return false;
        };
        let grace = chrono::Duration::from_std(self.grace_period).unwrap_or(chrono::Duration::MAX);
        !self.grace_period.is_zero() && previous == jti && now - rotated_at <= grace
    }

    pub(super) fn sign_pair(
        &self,
        session: &Session,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<Refreshed> {
        Ok(Refreshed {
            access: self
                .tokens
                .issue_access(&session.user_id, &session.id, now)
                .map_err(ApiError::internal)?,
            refresh: self
                .tokens
                .sign_refresh(session)
                .map_err(ApiError::internal)?,
        })
    }

    /// Revokes the session named by either cookie, if any. Always succeeds
    /// from the caller's point of view: logout is idempotent.
    #[tracing::instrument(skip_all)]
    pub async fn logout(
        &self,
        client: &ClientInfo,
        refresh_token: Option<&str>,
        access_token: Option<&str>,
    ) -> ApiResult<()> {
        let from_refresh = refresh_token
            .and_then(|t| self.tokens.verify_refresh_ignoring_expiry(t).ok())
            .map(|t| (t.user_id, t.session_id));
        let from_access = || {
            access_token
                .and_then(|t| self.tokens.verify_access_ignoring_expiry(t).ok())
                .map(|t| (t.user_id, t.session_id))
        };
        let Some((user_id, session_id)) = from_refresh.or_else(from_access) else {
            return Ok(());
        };
        let now = crate::domain::now();
        if self
            .store
            .revoke_session(&session_id, Some(&user_id), now)
            .await?
        {
            self.audit(AuthEvent::Logout, Some(&user_id), Some(&session_id), client);
        }
        Ok(())
    }

    /// Revokes every session of the user; returns how many were live.
    #[tracing::instrument(skip_all)]
    pub async fn logout_all(&self, client: &ClientInfo, user: &AuthUser) -> ApiResult<u64> {
        let revoked = self
            .store
            .revoke_all_sessions(&user.user_id, crate::domain::now())
            .await?;
        self.audit(
            AuthEvent::LogoutAll,
            Some(&user.user_id),
            Some(&user.session_id),
            client,
        );
        Ok(revoked)
    }

    pub async fn sessions(&self, user: &AuthUser) -> ApiResult<Vec<Session>> {
        Ok(self
            .store
            .list_sessions(&user.user_id, crate::domain::now())
            .await?)
    }

    /// Revokes one of the user's own sessions; anything else is NotFound.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_session(
        &self,
        client: &ClientInfo,
        user: &AuthUser,
        raw_id: &str,
    ) -> ApiResult<()> {
        let id = SessionId::parse(raw_id).ok_or(ApiError::NotFound)?;
        let now = crate::domain::now();
        if !self
            .store
            .revoke_session(&id, Some(&user.user_id), now)
            .await?
        {
            return Err(ApiError::NotFound);
        }
        self.audit(
            AuthEvent::SessionRevoked,
            Some(&user.user_id),
            Some(&id),
            client,
        );
        Ok(())
    }
}
