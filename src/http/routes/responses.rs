//! The error responses many routes share, declared once for the OpenAPI
//! document (`(status = 503, response = StoreUnavailable)` in a path) and
//! listed once as components.

#![allow(dead_code)] // The types only describe responses; nothing builds them.

use utoipa::ToResponse;

use crate::http::error::ErrorBody;

#[derive(ToResponse)]
#[response(description = "A body that is not valid JSON")]
pub struct BadJson(ErrorBody);

#[derive(ToResponse)]
#[response(description = "No valid access token (cookie or Bearer)")]
pub struct Unauthenticated(ErrorBody);

#[derive(ToResponse)]
#[response(description = "An auth cookie came without an allowed Origin (CSRF rule)")]
pub struct CsrfRefused(ErrorBody);

#[derive(ToResponse)]
#[response(description = "Body over the size limit")]
pub struct TooLarge(ErrorBody);

#[derive(ToResponse)]
#[response(description = "Body is not application/json")]
pub struct NotJson(ErrorBody);

#[derive(ToResponse)]
#[response(description = "A non-empty body that is not application/json")]
pub struct NonEmptyNotJson(ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "Too many requests from this IP",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct IpRateLimited(ErrorBody);

#[derive(ToResponse)]
#[response(
    description = "Store unavailable; retry shortly",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct StoreUnavailable(ErrorBody);
