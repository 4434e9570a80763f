use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::MessageResponse;
use super::responses::{
    BadJson, CsrfRefused, NonEmptyNotJson, StoreUnavailable, TooLarge, Unauthenticated,
};
use crate::auth::ApiResult;
use crate::domain::{AuthUser, ClientInfo};
use crate::http::HttpState;
use crate::http::body::NoBody;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    description = "Revokes the current session (found from either cookie) and clears both cookies. \
        Idempotent: with no or dead cookies it still answers 200. No body needed.",
    responses(
        (status = 200, description = "Logged out; both cookies cleared", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, response = BadJson),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NonEmptyNotJson),
        (status = 503, response = StoreUnavailable),
    ),
    security((), ("refreshCookie" = []), ("accessCookie" = []))
)]
pub async fn logout(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    req: HttpRequest,
    _body: NoBody,
) -> ApiResult<HttpResponse> {
    let refresh = http.cookies.read_refresh(&req);
    let access = http.cookies.read_access(&req);
    state
        .auth
        .logout(&client, refresh.as_deref(), access.as_deref())
        .await?;
    let response = HttpResponse::Ok().json(MessageResponse::new("Logged out"));
    Ok(http.cookies.clear_both(response))
}

#[utoipa::path(
    post, path = "/api/auth/logout-all", tag = "auth",
    description = "Revokes every session of the user and clears this client's cookies. No body needed.",
    responses(
        (status = 200, description = "Every session revoked", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, response = BadJson),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NonEmptyNotJson),
        (status = 503, response = StoreUnavailable),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
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
    Ok(http.cookies.clear_both(response))
}
