use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::dto::{RefreshResponse, rfc3339};
use super::responses::{
    BadJson, CsrfRefused, IpRateLimited, NonEmptyNotJson, StoreUnavailable, TooLarge,
};
use crate::auth::ApiError;
use crate::domain::ClientInfo;
use crate::http::HttpState;
use crate::http::body::NoBody;
use crate::http::error::ErrorBody;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    description = "The silent refresh: reads the refreshToken cookie, rotates it and sets both cookies. \
        No body needed (an empty body, or any JSON body, is accepted).",
    responses(
        (status = 200, description = "Rotated; both cookies set", body = RefreshResponse,
            headers(("Set-Cookie" = String, description = "New accessToken and refreshToken"))),
        (status = 400, response = BadJson),
        (status = 401, description = "Missing, invalid, expired, revoked or reused refresh token; both cookies cleared", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NonEmptyNotJson),
        (status = 429, response = IpRateLimited),
        (status = 503, response = StoreUnavailable),
    ),
    security(("refreshCookie" = []))
)]
pub async fn refresh(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    req: HttpRequest,
    _body: NoBody,
) -> HttpResponse {
    let token = http.cookies.read_refresh(&req);
    match state.auth.refresh(&client, token.as_deref()).await {
        Ok(refreshed) => {
            let expose = state.settings.jwt.expose_access_token;
            let body = RefreshResponse {
                message: "Token refreshed".into(),
                access_token: expose.then(|| refreshed.access.token.clone()),
                expires_at: rfc3339(refreshed.access.expires_at),
            };
            http.cookies
                .set_both(HttpResponse::Ok(), refreshed.access, refreshed.refresh)
                .json(body)
        }
        // A refused token is dead: tell the browser to drop both cookies.
        Err(e @ ApiError::RefreshRefused(_)) => http.cookies.clear_both(e.error_response()),
        Err(e) => e.error_response(),
    }
}
