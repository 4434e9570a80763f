//! `ApiError` mapped to status + JSON body, in this one place.
//!
//! Internal causes are logged with their whole chain (and the request id, by
//! the request span) and never shown: a 500 or 503 body says nothing of what
//! failed.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::{ApiError, FieldError};
use crate::telemetry::error_chain;

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// What the client is told: never the cause of a 500 or 503.
fn public_message(e: &ApiError) -> String {
    match e {
        ApiError::Validation(_) => "Validation failed".into(),
        ApiError::BadRequest(m) => m.clone(),
        ApiError::UnsupportedMediaType => "Content-Type must be application/json".into(),
        ApiError::PayloadTooLarge => "Request body is too large".into(),
        ApiError::InvalidCredentials => "Invalid email or password".into(),
        ApiError::WrongPassword(message) => (*message).into(),
        ApiError::EmailNotVerified => "Email not verified".into(),
        ApiError::InvalidAccountToken => "Invalid or expired token".into(),
        ApiError::AlreadyVerified => "Email is already verified".into(),
        ApiError::Unauthenticated(_) => "Authentication required".into(),
        ApiError::RefreshRefused(_) => "Session expired, please log in again".into(),
        ApiError::Forbidden(why) => format!("Forbidden: {why}"),
        ApiError::NotFound => "Not found".into(),
        ApiError::EmailTaken => "Email is already registered".into(),
        ApiError::RateLimited { .. } => "Too many requests, please try again later".into(),
        ApiError::Overloaded { .. } | ApiError::Unavailable(_) => {
            "Service temporarily unavailable, please try again shortly".into()
        }
        ApiError::Internal(_) => "Internal server error".into(),
    }
}

fn field_errors(e: &ApiError) -> Option<Vec<FieldError>> {
    match e {
        ApiError::Validation(errors) => Some(errors.clone()),
        ApiError::EmailTaken => Some(vec![FieldError::new(
            "email",
            "Email is already registered",
        )]),
        _ => None,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::BadRequest(_)
            | ApiError::InvalidAccountToken
            | ApiError::AlreadyVerified => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidCredentials
            | ApiError::WrongPassword(_)
            | ApiError::Unauthenticated(_)
            | ApiError::RefreshRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::EmailNotVerified => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::EmailTaken => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(_) => {
                tracing::error!(error.cause = %error_chain(self), "internal error")
            }
            ApiError::Unavailable(_) => {
                tracing::warn!(error.cause = %error_chain(self), "store unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        let retry_after = match self {
            ApiError::RateLimited { retry_after } | ApiError::Overloaded { retry_after } => {
                Some(*retry_after)
            }
            ApiError::Unavailable(_) => Some(Duration::from_secs(5)),
            _ => None,
        };
        if let Some(after) = retry_after {
            // Whole seconds, rounded up, at least 1.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs.max(1))));
        }
        if let ApiError::Unauthenticated(_) = self {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorBody {
            message: public_message(self),
            errors: field_errors(self),
        })
    }
}

/// The JSON 404 for unknown routes (the app's default service) and hidden
/// pages.
pub fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}

/// Turns the JSON extractor's failures into the contract's statuses and body
/// shape (registered with `JsonConfig::error_handler`).
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge,
        E::Deserialize(e) if e.is_data() => ApiError::BadRequest(format!(
            "Request body does not match the expected shape: {}",
            strip_position(e)
        )),
        E::Deserialize(_) => ApiError::BadRequest("Request body is not valid JSON".into()),
        E::Payload(actix_web::error::PayloadError::Overflow) => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest("Request body could not be read".into()),
    };
    api.into()
}

/// serde_json's message without the "at line 1 column 9" suffix.
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> serde_json::Value {
        let bytes = to_bytes(e.error_response().into_body()).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[actix_web::test]
    async fn internal_errors_say_nothing_of_their_cause() {
        let body = body_of(ApiError::internal("disk I/O error at /var/db")).await;
        assert_eq!(
            body,
            serde_json::json!({ "message": "Internal server error" })
        );
        let body =
            body_of(StoreError::Unavailable("connection refused 10.0.0.3".into()).into()).await;
        assert!(!body.to_string().contains("10.0.0.3"));
    }

    #[test]
    fn the_log_line_of_a_failure_names_every_cause() {
        let io = std::io::Error::other("disk I/O error at /var/db");
        let e = ApiError::from(StoreError::internal(io));
        assert_eq!(
            error_chain(&e),
            "internal error: store failure: disk I/O error at /var/db"
        );
    }

    #[actix_web::test]
    async fn retry_after_is_whole_seconds_rounded_up() {
        let r = ApiError::RateLimited {
            retry_after: Duration::from_millis(1500),
        }
        .error_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }

    #[actix_web::test]
    async fn duplicate_email_names_the_field() {
        let body = body_of(StoreError::DuplicateEmail.into()).await;
        assert_eq!(body["errors"][0]["field"], "email");
    }
}
