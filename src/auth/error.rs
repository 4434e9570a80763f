//! The one error type of the service's rules, and what each kind means.
//! Knows nothing of HTTP: `http::error` maps each kind to a status and the
//! JSON body, in one place.
//!
//! Internal causes are kept as a `#[source]` chain so the log line of a 500
//! says why; they are never shown to the client.

use std::time::Duration;

use crate::store::StoreError;

/// Any error, boxed, as the cause of an internal failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One field's validation failure.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A logged-in user's password, asked again, was wrong (the message
    /// says which password).
    #[error("wrong password")]
    WrongPassword(&'static str),
    /// REQUIRE_VERIFIED_EMAIL and the address is not verified.
    #[error("email not verified")]
    EmailNotVerified,
    /// A reset, verification or email-change token that is unknown, used,
    /// expired or superseded: one answer for all.
    #[error("invalid account token")]
    InvalidAccountToken,
    #[error("email already verified")]
    AlreadyVerified,
    /// No, or no valid, access token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// The refresh token was missing, invalid, expired, revoked or reused.
    #[error("refresh refused: {0}")]
    RefreshRefused(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("email taken")]
    EmailTaken,
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    /// Too much work queued (the bcrypt pool); retry shortly.
    #[error("overloaded")]
    Overloaded { retry_after: Duration },
    /// The store cannot be reached right now.
    #[error("store unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

pub type ApiResult<T, E = ApiError> = Result<T, E>;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateEmail => ApiError::EmailTaken,
            e @ StoreError::Unavailable(_) => ApiError::Unavailable(e),
            e @ StoreError::Internal(_) => ApiError::Internal(Box::new(e)),
        }
    }
}

impl ApiError {
    /// An internal failure with its cause (an error, or a message).
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        ApiError::Internal(cause.into())
    }
}
