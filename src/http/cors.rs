//! CORS: exactly the configured origins, with credentials, never `*`.
//!
//! A request from any other origin is not rejected (the browser enforces
//! CORS; the CSRF guard decides what state-changing requests may do); it just
//! gets no CORS headers. Preflights that the policy refuses are answered
//! without CORS headers too, instead of actix-cors's plain-text 400.

use actix_cors::Cors;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use super::HttpState;
use super::middleware::REQUEST_ID;
use crate::auth::ApiError;

/// The CORS policy for the configured origins.
pub fn policy(origins: &[crate::settings::Origin]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| {
            cors.allowed_origin(origin.as_str())
        })
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(600)
}

/// Runs outside the CORS middleware. A preflight from an origin that is not
/// allowed gets 204 with no CORS headers (the browser then refuses the real
/// request); one from an allowed origin that asks for a method or header the
/// policy does not allow gets the JSON error shape.
pub async fn preflight(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let is_preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        && req.headers().contains_key(header::ORIGIN);
    if !is_preflight {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let allowed = match (
        req.app_data::<web::Data<HttpState>>(),
        req.headers().get(header::ORIGIN),
    ) {
        (Some(http), Some(origin)) => origin.to_str().is_ok_and(|o| http.origins.allows(o)),
        _ => false,
    };
    if !allowed {
        let response = HttpResponse::NoContent()
            .insert_header((header::VARY, HeaderValue::from_static("Origin")))
            .finish();
        return Ok(req.into_response(response));
    }
    let res = next.call(req).await?.map_into_boxed_body();
    if res.status().is_client_error() {
        let mut refused = ApiError::Forbidden("preflight request not allowed").error_response();
        refused
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return Ok(res.into_response(refused));
    }
    Ok(res)
}
