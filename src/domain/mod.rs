//! Domain types: values that can only hold valid data.
//!
//! Request bodies are parsed into these newtypes at the edge; the rest of the
//! service (auth rules, stores) only ever sees valid values.

mod client;
mod email;
mod ids;
mod name;
mod password;
mod report;
mod session;
mod user;

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

/// Why a raw value was refused; the message is meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
