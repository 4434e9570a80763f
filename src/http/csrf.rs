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

use super::HttpState;
use super::extractors::client_info;
use crate::auth::ApiError;
use crate::settings::Origin;
use crate::state::AppState;
use crate::telemetry::metrics::AuthEvent;

/// The origins the CORS and CSRF rules allow.
#[derive(Debug, Clone)]
pub struct AllowedOrigins {
    origins: Vec<Origin>,
    refuse_cross_site: bool,
}

impl AllowedOrigins {
    pub fn new(origins: Vec<Origin>, refuse_cross_site: bool) -> Self {
        Self {
            origins,
            refuse_cross_site,
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|o| o.as_str().eq_ignore_ascii_case(origin))
    }

    /// Whether a state-changing request may proceed; `Err` says why not.
    pub fn check(&self, headers: &header::HeaderMap) -> Result<(), &'static str> {
        if self.refuse_cross_site
            && headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err("cross-site request");
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            return match origin.to_str() {
                Ok(o) if self.allows(o) => Ok(()),
                _ => Err("origin not allowed"),
            };
        }
        match headers.get(header::REFERER).and_then(|r| r.to_str().ok()) {
            Some(referer) if Origin::of_url(referer).is_some_and(|o| self.allows(o.as_str())) => {
                Ok(())
            }
            Some(_) => Err("referer not allowed"),
            None => Err("missing Origin and Referer"),
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
        && let (Some(state), Some(http)) = (
            req.app_data::<web::Data<AppState>>(),
            req.app_data::<web::Data<HttpState>>(),
        )
        && http.cookies.present_in(req.headers())
        && let Err(why) = http.origins.check(req.headers())
    {
        tracing::warn!(reason = why, "cross-site request refused");
        let client = client_info(req.request());
        state
            .auth
            .audit(AuthEvent::CsrfRefused, None, None, &client);
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
        AllowedOrigins::new(vec![Origin::parse("http://localhost:5173").unwrap()], true)
    }

    fn verdict(headers: &[(&str, &str)]) -> Result<(), &'static str> {
        let mut req = TestRequest::default();
        for h in headers {
            req = req.insert_header(*h);
        }
        origins().check(req.to_http_request().headers())
    }

    #[test]
    fn origin_then_referer() {
        assert_eq!(verdict(&[("origin", "http://localhost:5173")]), Ok(()));
        assert!(verdict(&[("origin", "http://localhost:5174")]).is_err());
        assert!(verdict(&[("origin", "null")]).is_err());
        assert_eq!(
            verdict(&[("referer", "http://localhost:5173/app?x=1")]),
            Ok(())
        );
        assert_eq!(verdict(&[("referer", "http://localhost:5173")]), Ok(()));
        assert!(verdict(&[("referer", "http://localhost:5173.evil.com/")]).is_err());
        assert!(verdict(&[]).is_err());
        // An Origin decides even when the Referer would pass.
        assert!(
            verdict(&[
                ("origin", "http://evil.test"),
                ("referer", "http://localhost:5173/")
            ])
            .is_err()
        );
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        assert!(
            verdict(&[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "cross-site")
            ])
            .is_err()
        );
        assert_eq!(
            verdict(&[
                ("origin", "http://localhost:5173"),
                ("sec-fetch-site", "same-site")
            ]),
            Ok(())
        );
        let lenient =
            AllowedOrigins::new(vec![Origin::parse("http://localhost:5173").unwrap()], false);
        let req = TestRequest::default()
            .insert_header(("origin", "http://localhost:5173"))
            .insert_header(("sec-fetch-site", "cross-site"))
            .to_http_request();
        assert_eq!(lenient.check(req.headers()), Ok(()));
    }
}
