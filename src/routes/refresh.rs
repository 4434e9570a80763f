use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::dto::{RefreshResponse, rfc3339};
use super::{NoBody, clearing_cookies, with_tokens};
use crate::auth::ClientInfo;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    description = "The silent refresh: reads the refreshToken cookie, rotates it and sets both cookies. \
        No body needed (an empty body, or any JSON body, is accepted).",
    responses(
        (status = 200, description = "Rotated; both cookies set", body = RefreshResponse,
            headers(("Set-Cookie" = String, description = "New accessToken and refreshToken"))),
        (status = 400, description = "A body that is not valid JSON", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired, revoked or reused refresh token; both cookies cleared", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "A non-empty body that is not application/json", body = ErrorBody),
        (status = 429, description = "Too many requests from this IP", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("refreshCookie" = []))
)]
pub async fn refresh(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    _body: NoBody,
) -> HttpResponse {
    let token = state.cookies.read_refresh(&req);
    match state.auth.refresh(&client, token.as_deref()).await {
        Ok(refreshed) => {
            let expose = state.settings.jwt.expose_access_token;
            let body = RefreshResponse {
                message: "Token refreshed".into(),
                access_token: expose.then(|| refreshed.access.token.clone()),
                expires_at: rfc3339(refreshed.access.expires_at),
            };
            with_tokens(
                HttpResponse::Ok(),
                &state.cookies,
                refreshed.access.token,
                refreshed.refresh.token,
            )
            .json(body)
        }
        // A refused token is dead: tell the browser to drop both cookies.
        Err(e @ ApiError::RefreshRefused(_)) => {
            clearing_cookies(e.error_response(), &state.cookies)
        }
        Err(e) => e.error_response(),
    }
}
