//! The HTTP surface: one route table, one file per endpoint, thin handlers.

mod current_user;
pub mod dto;
mod health;
mod login;
mod logout;
mod metrics;
pub mod openapi;
mod refresh;
mod register;
mod report_setting;
mod sessions;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder, web};

use crate::auth::ClientInfo;
use crate::auth::cookies::AuthCookies;
use crate::client_ip::ClientIp;
use crate::domain::ParseError;
use crate::error::{ApiError, FieldError};

/// Every route, under the configured base path (`/api` by default), plus the
/// operational endpoints at the root. Used by start-up and by the OpenAPI
/// completeness test alike.
pub fn configure(base_path: &str) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.service(
            web::scope(base_path)
                .route("/auth/register", web::post().to(register::register))
                .route("/auth/login", web::post().to(login::login))
                .route("/auth/refresh", web::post().to(refresh::refresh))
                .route("/auth/logout", web::post().to(logout::logout))
                .route("/auth/logout-all", web::post().to(logout::logout_all))
                .route("/auth/sessions", web::get().to(sessions::list))
                .route("/auth/sessions/{id}", web::delete().to(sessions::revoke))
                .route(
                    "/user/current-user",
                    web::get().to(current_user::current_user),
                )
                .route("/report/setting", web::get().to(report_setting::get))
                .route("/report/setting", web::put().to(report_setting::update))
                .route("/openapi.json", web::get().to(openapi::document))
                .route("/docs", web::get().to(openapi::docs_page)),
        )
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(metrics::metrics));
    }
}

/// Collects field errors while parsing a request body into domain values.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// Parses a required field, recording why it is missing or invalid.
    pub fn parse<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        let Some(value) = value else {
            self.0
                .push(FieldError::new(field, format!("{field} is required")));
            return None;
        };
        parser(value)
            .map_err(|e| self.0.push(FieldError::new(field, e.0)))
            .ok()
    }

    /// Parses a field that may be left out.
    pub fn optional<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        value.and_then(|v| {
            parser(v)
                .map_err(|e| self.0.push(FieldError::new(field, e.0)))
                .ok()
        })
    }

    /// The parsed values when every field was valid, else every field error.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, ApiError> {
        match values {
            Some(values) if self.0.is_empty() => Ok(values),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ip = ClientIp::from_request(req, payload)
            .into_inner()
            .map(|c| c.0)
            .unwrap_or(None);
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        std::future::ready(Ok(ClientInfo { ip, user_agent }))
    }
}

/// For endpoints that need no body (refresh, logout, ...): an empty body
/// with or without a Content-Type is fine, and so is any JSON body; a
/// non-empty body of another type is 415, malformed JSON 400.
pub(crate) struct NoBody;

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes
                .await
                .map_err(|e| match e.as_response_error().status_code() {
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest("Request body could not be read".into()),
                })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(NoBody);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .map_err(|_| ApiError::BadRequest("Request body is not valid JSON".into()))?;
            Ok(NoBody)
        })
    }
}

/// Adds both auth cookies, freshly set, to a response.
pub(crate) fn with_tokens(
    mut response: HttpResponseBuilder,
    cookies: &AuthCookies,
    access: String,
    refresh: String,
) -> HttpResponseBuilder {
    response
        .cookie(cookies.access(access))
        .cookie(cookies.refresh(refresh));
    response
}

/// Adds both auth cookies, cleared, to a response.
pub(crate) fn clearing_cookies(mut response: HttpResponse, cookies: &AuthCookies) -> HttpResponse {
    for cookie in cookies.cleared() {
        // Adding a well-formed cookie cannot fail.
        let _ = response.add_cookie(&cookie);
    }
    response
}
