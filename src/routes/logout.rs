use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::MessageResponse;
use super::{NoBody, clearing_cookies};
use crate::auth::{AuthUser, ClientInfo};
use crate::error::{ApiResult, ErrorBody};
use crate::startup::AppState;

#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    description = "Revokes the current session (found from either cookie) and clears both cookies. \
        Idempotent: with no or dead cookies it still answers 200. No body needed.",
    responses(
        (status = 200, description = "Logged out; both cookies cleared", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, description = "A body that is not valid JSON", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "A non-empty body that is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security((), ("refreshCookie" = []), ("accessCookie" = []))
)]
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientInfo,
    req: HttpRequest,
    _body: NoBody,
) -> ApiResult<HttpResponse> {
    let refresh = state.cookies.read_refresh(&req);
    let access = state.cookies.read_access(&req);
    state
        .auth
        .logout(&client, refresh.as_deref(), access.as_deref())
        .await?;
    let response = HttpResponse::Ok().json(MessageResponse::new("Logged out"));
    Ok(clearing_cookies(response, &state.cookies))
}

#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    description = "Revokes every session of the user and clears this client's cookies. No body needed.",
    responses(
        (status = 200, description = "Every session revoked", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, description = "A body that is not valid JSON", body = ErrorBody),
        (status = 401, description = "No valid access token (cookie or Bearer)", body = ErrorBody),
        (status = 403, description = "An auth cookie came without an allowed Origin (CSRF rule)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "A non-empty body that is not application/json", body = ErrorBody),
        (status = 503, description = "Store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    client: ClientInfo,
    user: AuthUser,
    _body: NoBody,
) -> ApiResult<HttpResponse> {
    let revoked = state.auth.logout_all(&client, &user).await?;
    let message = format!(
        "Logged out of {revoked} session{}",
        if revoked == 1 { "" } else { "s" }
    );
    let response = HttpResponse::Ok().json(MessageResponse { message });
    Ok(clearing_cookies(response, &state.cookies))
}
