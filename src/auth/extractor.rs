//! `AuthUser`: the verified identity of a protected request, from the
//! `Authorization: Bearer` header or the access-token cookie. Handlers take
//! it as an argument and never parse tokens themselves.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use crate::domain::{SessionId, UserId};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    // An Authorization header, when present, must be a valid Bearer token;
    // otherwise the cookie is used.
    let token = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            bearer(value).ok_or(ApiError::Unauthenticated("malformed Authorization header"))?
        }
        None => state
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
