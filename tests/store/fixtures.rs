//! Builders for the values the tests store.

use chrono::{DateTime, TimeDelta, Utc};
use tokengate::domain::Session;
use tokengate::domain::{EmailAddress, NewUser, ReportSetting, TokenId, User, UserId, UserName};
use tokengate::store::{Rotation, SharedStore};
use uuid::Uuid;

pub fn now() -> DateTime<Utc> {
    tokengate::domain::now()
}

pub fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// An address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).expect("a valid email")
}

/// A new user with `raw_email` (parsed, so trimmed and lowercased) and the
/// default report setting.
pub fn new_user(raw_email: &str) -> NewUser {
    let id = UserId::generate();
    let at = now();
    NewUser {
        user: User {
            id: id.clone(),
            name: UserName::parse("Ada Lovelace").expect("a valid name"),
            email: email(raw_email),
            profile_picture: None,
            email_verified: false,
            created_at: at,
            updated_at: at,
        },
        // A bcrypt-shaped string; the store never looks inside.
        password_hash: "$2b$04$C6UzMDM.H6dfI/f/IKxGhu8xKFgWuD0xH5RZ0mDsqHc3bW4Gq5Tvu".into(),
        report_setting: ReportSetting::default_for(id),
    }
}

/// Registers a new user with a unique email.
pub async fn registered(store: &SharedStore) -> NewUser {
    let new = new_user(&unique_email());
    store.create_user(&new).await.expect("create a user");
    new
}

/// A live session of `user_id`, created at `created_at`, expiring at
/// `expires_at`.
pub fn session(user_id: &UserId, created_at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Session {
    Session::open(
        user_id.clone(),
        created_at,
        expires_at,
        Some("Mozilla/5.0 (conformance)".into()),
        Some("192.0.2.10".into()),
    )
}

/// A session created now that lives for seven days, stored.
pub async fn stored_session(store: &SharedStore, user_id: &UserId) -> Session {
    let at = now();
    let s = session(user_id, at, at + days(7));
    store.create_session(&s).await.expect("create a session");
    s
}

/// Rotating `s`'s current token at `at`.
pub fn rotation(s: &Session, at: DateTime<Utc>) -> Rotation {
    Rotation {
        session_id: s.id.clone(),
        expected_jti: s.current_jti.clone(),
        new_jti: TokenId::generate(),
        now: at,
        new_expires_at: at + days(7),
    }
}

pub async fn find(store: &SharedStore, s: &Session) -> Session {
    store
        .find_session(&s.id)
        .await
        .expect("find a session")
        .expect("the session exists")
}
