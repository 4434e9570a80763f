//! The CSRF rule: a state-changing request (POST, PUT, PATCH, DELETE) that
//! carries an auth cookie must come from an allowed origin, judged by
//! `Origin` or, failing that, `Referer`. With SameSite Lax or Strict cookies
//! the SPA is always same-site with the API, so `Sec-Fetch-Site: cross-site`
//! is refused as well. Requests authenticated by a Bearer header alone carry
//! no ambient credentials and are exempt.
//!
//! It runs as middleware, before anything reads the body, and its 403 touches
//! nothing: no session, no cookie.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::error::ApiError;
use crate::metrics::AuthEvent;
use crate::settings::Origin;
use crate::startup::AppState;

/// The origins the CORS and CSRF rules allow.
#[derive(Debug, Clone)]
pub struct AllowedOrigins {
    origins: Vec<String>,
    refuse_cross_site: bool,
}

impl AllowedOrigins {
    pub fn new(origins: Vec<String>, refuse_cross_site: bool) -> Self {
        Self {
            origins,
            refuse_cross_site,
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    pub fn list(&self) -> &[String] {
        &self.origins
    }

    /// Why the request must be refused, if it must.
    pub fn verdict(&self, headers: &header::HeaderMap) -> Option<&'static str> {
        if self.refuse_cross_site
            && headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Some("cross-site request");
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            return match origin.to_str() {
                Ok(o) if self.allows(o) => None,
                _ => Some("origin not allowed"),
            };
        }
        match headers.get(header::REFERER).and_then(|r| r.to_str().ok()) {
            Some(referer) if Origin::of_url(referer).is_some_and(|o| self.allows(o.as_str())) => {
                None
            }
            Some(_) => Some("referer not allowed"),
            None => Some("missing Origin and Referer"),
        }
    }
}

fn state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if state_changing(req.method())
        && let Some(state) = req.app_data::<web::Data<AppState>>()
        && state.cookies.present_in(req.headers())
        && let Some(why) = state.origins.verdict(req.headers())
    {
        tracing::warn!(reason = why, "cross-site request refused");
        let client = crate::client_ip::client_info(req.request());
        state
            .auth
            .audit(AuthEvent::csrf_refused, None, None, &client);
        let response = ApiError::Forbidden(why).error_response();
        return Ok(req.into_response(response));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn origins() -> AllowedOrigins {
        AllowedOrigins::new(vec!["http://localhost:5173".into()], true)
    }

    fn verdict(headers: &[(&str, &str)]) -> Option<&'static str> {
        let mut req = TestRequest::default();
        for h in headers {
            req = req.insert_header(*h);
        }
        origins().verdict(req.to_http_request().headers())
    }

    #[test]
    fn origin_then_referer() {
        assert_eq!(verdict(&[("origin", "http://localhost:5173")]), None);
        assert!(verdict(&[("origin", "http://localhost:5174")]).is_some());
        assert!(verdict(&[("origin", "null")]).is_some());
        assert_eq!(
            verdict(&[("referer", "http://localhost:5173/app?x=1")]),
            None
        );
        assert_eq!(verdict(&[("referer", "http://localhost:5173")]), None);
        assert!(verdict(&[("referer", "http://localhost:5173.evil.com/")]).is_some());
        assert!(verdict(&[]).is_some());
        // An Origin decides even when the Referer would pass.
        assert!(
            verdict(&[
                ("origin", "http://evil.test"),
                ("referer", "http://localhost:5173/")
            ])
            .is_some()
        );
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        assert!(
            verdict(&[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "cross-site")
            ])
            .is_some()
        );
        assert_eq!(
            verdict(&[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "same-site")
            ]),
            None
        );
        let lenient = AllowedOrigins::new(vec!["http://localhost:5173".into()], false);
        let req = TestRequest::default()
            .insert_header(("origin", "http://localhost:5173"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert_eq!(lenient.verdict(req.headers()), None);
    }
}
