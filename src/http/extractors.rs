//! What a handler can ask for besides the body: `AuthUser`, the verified
//! identity of a protected request, `ClientInfo`, who is asking, and
//! `AdmittedLogin`, a login body read only once bcrypt can take it. They
//! are built here and nowhere else; handlers never parse tokens or headers.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::HttpState;
use super::body::JsonObject;
use crate::auth::ApiError;
use crate::domain::{AuthUser, ClientInfo};
use crate::state::AppState;

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(client_info(req)))
    }
}

/// A login's JSON body, read only once the login is admitted to bcrypt.
/// An overloaded login is shed (503 + Retry-After, answered after a short
/// pause) before its body is read or parsed: a shed answer costs less than
/// the request it protects. Admission and body are one extractor because
/// actix polls a handler's extractors side by side: a separate admission
/// extractor that pauses would let the body be read meanwhile.
pub struct AdmittedLogin<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for AdmittedLogin<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (req, mut payload) = (req.clone(), payload.take());
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            state.auth.admit_login().await?;
            let body = JsonObject::<T>::from_request(&req, &mut payload).await?;
            Ok(AdmittedLogin(body.into_inner().0))
        })
    }
}

/// The access token of the `Authorization: Bearer` header or, without that
/// header, of the access cookie. A header, when present, is authoritative
/// (RFC 6750): a malformed or invalid one is refused even if a valid cookie
/// came along.
fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let (Some(state), Some(http)) = (
        req.app_data::<web::Data<AppState>>(),
        req.app_data::<web::Data<HttpState>>(),
    ) else {
        return Err(ApiError::internal(
            "AppState or HttpState is not registered",
        ));
    };
    let token = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            bearer(value).ok_or(ApiError::Unauthenticated("malformed Authorization header"))?
        }
        None => http
            .cookies
            .read_access(req)
            .ok_or(ApiError::Unauthenticated("no access token"))?,
    };
    let verified = state
        .auth
        .tokens()
        .verify_access(&token)
        .map_err(|_| ApiError::Unauthenticated("access token invalid or expired"))?;
    Ok(AuthUser {
        user_id: verified.user_id,
        session_id: verified.session_id,
    })
}

fn bearer(value: &header::HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Who is asking, for sessions and audit events: the client address (the
/// socket peer, or what trusted proxies say) and the user agent (cut to 512
/// characters).
pub fn client_info(req: &HttpRequest) -> ClientInfo {
    let peer = req.peer_addr().map(|a| a.ip());
    let ip = match req.app_data::<web::Data<HttpState>>() {
        Some(http) => http.proxies.client_ip(peer, req),
        None => peer,
    };
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    ClientInfo { ip, user_agent }
}
