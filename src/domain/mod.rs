//! Domain types: values that can only hold valid data.
//!
//! Request bodies are parsed into these newtypes at the edge; the rest of the
//! service (auth rules, stores) only ever sees valid values.

mod account;
mod client;
mod email;
mod ids;
mod name;
mod password;
mod report;
mod session;
mod user;

pub use account::{AccountToken, AccountTokenSecret, TokenHash, TokenPurpose};
pub use client::ClientInfo;
pub use email::EmailAddress;
pub use ids::{ReportSettingId, SessionId, TokenId, UserId};
pub use name::UserName;
pub use password::Password;
pub use report::{Frequency, ReportSetting, ReportSettingPatch};
pub use session::{AuthUser, Session};
pub use user::{NewUser, User, UserCredentials};

/// The current time, truncated to milliseconds: the precision every store
/// keeps, so a value read back equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// `t` plus `d`, or `None` when the sum is past what a timestamp can hold:
/// every time computed on a request path goes through this, so no setting
/// or stored value can make a request panic.
pub fn after(
    t: chrono::DateTime<chrono::Utc>,
    d: std::time::Duration,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
}

/// Why a raw value was refused; the message is meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn after_never_overflows() {
        let t = now();
        assert_eq!(
            after(t, Duration::from_secs(60)),
            Some(t + chrono::Duration::seconds(60))
        );
        assert_eq!(after(t, Duration::from_secs(999_999_999 * 86_400)), None);
        assert_eq!(after(t, Duration::MAX), None);
        assert_eq!(
            after(
                chrono::DateTime::<chrono::Utc>::MAX_UTC,
                Duration::from_secs(1)
            ),
            None
        );
    }
}
