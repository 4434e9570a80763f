//! The JSON shapes of the contract, shared by the handlers and the OpenAPI
//! document.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Session;
use crate::domain::{Frequency, ReportSetting, User};

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-23T11:30:00.000Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub email: String,
    /// Always present: `null` or a URL.
    #[schema(required = true)]
    pub profile_picture: Option<String>,
    /// Whether the user proved to read `email` (a verification link, or a
    /// reset link sent there).
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            name: u.name.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            profile_picture: u.profile_picture.clone(),
            email_verified: u.email_verified,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportSettingDto {
    #[serde(rename = "_id")]
    pub id: String,
    pub frequency: Frequency,
    pub is_enabled: bool,
}

impl From<&ReportSetting> for ReportSettingDto {
    fn from(r: &ReportSetting) -> Self {
        Self {
            id: r.id.to_string(),
            frequency: r.frequency,
            is_enabled: r.is_enabled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDto {
    /// The `sid` of the session's tokens.
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub user_agent: Option<String>,
    /// The client IP recorded at login.
    pub ip: Option<String>,
    /// Whether this is the session of the request's access token.
    pub current: bool,
}

impl SessionDto {
    pub fn new(s: &Session, current: bool) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.expires_at),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            current,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: String,
}

impl MessageResponse {
    pub fn new(message: &str) -> Self {
        Self {
            message: message.to_owned(),
        }
    }
}

// The fields are `Option`s so that a missing one is reported by name with
// the other field errors; the schema states what the handler requires.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 1 to 255 characters after trimming.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 255)]
    pub name: Option<String>,
    /// A valid address; stored trimmed and lowercased.
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Email)]
    pub email: Option<String>,
    /// At least 8 characters and at most 72 bytes of UTF-8 (bcrypt's limit;
    /// longer is refused, never truncated).
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 8, max_length = 72)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterData {
    pub user: UserDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisterResponse {
    pub message: String,
    pub data: RegisterData,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Email)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub message: String,
    pub user: UserDto,
    /// Also in the `accessToken` cookie; omitted when configured off.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub access_token: Option<String>,
    /// When the access token expires (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub report_setting: ReportSettingDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub access_token: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsResponse {
    pub message: String,
    pub sessions: Vec<SessionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentUserResponse {
    pub message: String,
    pub user: UserDto,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateReportSettingRequest {
    // Kept as text so that a wrong value is a field error, not a parse error.
    #[serde(default)]
    #[schema(value_type = Option<Frequency>)]
    pub frequency: Option<String>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportSettingResponse {
    pub message: String,
    pub report_setting: ReportSettingDto,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub current_password: Option<String>,
    /// The rules of registration's `password`.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 8, max_length = 72)]
    pub new_password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChangedResponse {
    pub message: String,
    pub user: UserDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub access_token: Option<String>,
    /// When the new access token expires (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Email)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordRequest {
    /// The `token` of the link's query string: 43 characters of base64url.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 43, max_length = 43)]
    pub token: Option<String>,
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 8, max_length = 72)]
    pub new_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    /// The `token` of the link's query string.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 43, max_length = 43)]
    pub token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyEmailResponse {
    pub message: String,
    pub user: UserDto,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEmailRequest {
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
    #[serde(default)]
    #[schema(required = true, value_type = String, format = Email)]
    pub new_email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub password: Option<String>,
}
