use chrono::{DateTime, Utc};

use super::{EmailAddress, ReportSetting, UserId, UserName};

/// A registered user, as the API shows it (never with a password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: UserName,
    pub email: EmailAddress,
    pub profile_picture: Option<String>,
    /// Whether the user proved to read `email` (a verification link, or a
    /// password reset sent there).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user together with the bcrypt hash to verify a login against.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

/// Everything a store needs to create a user and the user's default report
/// setting in one go.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: String,
    pub report_setting: ReportSetting,
}
