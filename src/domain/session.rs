use chrono::{DateTime, Utc};

use super::{SessionId, TokenId, UserId};

/// One login session: the family of refresh tokens issued since a login.
///
/// The current refresh token's claims are fully determined by the record
/// (`sub` = `user_id`, `sid` = `id`, `jti` = `current_jti`, `iat` =
/// `current_issued_at`, `exp` = `expires_at`), so it can be re-signed
/// byte-for-byte during the grace window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub current_jti: TokenId,
    pub current_issued_at: DateTime<Utc>,
    /// The token the last rotation replaced, and when that happened.
    pub previous_jti: Option<TokenId>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    /// A new login's session: a fresh id and first token id, issued at `now`.
    pub fn open(
        user_id: UserId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        user_agent: Option<String>,
        ip: Option<String>,
    ) -> Self {
        Self {
            id: SessionId::generate(),
            user_id,
            current_jti: TokenId::generate(),
            current_issued_at: now,
            previous_jti: None,
            rotated_at: None,
            created_at: now,
            last_used_at: now,
            expires_at,
            user_agent,
            ip,
            revoked_at: None,
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// The verified identity of a request: whose access token it carried, and
/// of which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
}
