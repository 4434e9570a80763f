//! `GET /auth/cookie-check`: which of this browser's auth cookies reach the
//! API, so an SPA (or its developer) can tell "the cookies are dropped on the
//! way" (page and API on different sites under SameSite cookies, a missing
//! `COOKIE_DOMAIN`, Secure cookies over http) from "not logged in". Answers
//! presence only: no token, no identifier, never a 401.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::HttpState;

/// Which cookies arrived with the request (non-empty), and their names.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CookieCheckResponse {
    /// The access-token cookie arrived.
    pub access_cookie: bool,
    /// The refresh-token cookie arrived (its Path is `<base>/auth`, so it
    /// does reach this endpoint).
    pub refresh_cookie: bool,
    /// The session-hint cookie arrived.
    pub session_hint: bool,
    /// The names the API uses (they carry a `__Host-`/`__Secure-` prefix
    /// when configured).
    #[schema(example = json!({"access": "accessToken", "refresh": "refreshToken", "hint": "tokengateSession"}))]
    pub names: CookieNames,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CookieNames {
    pub access: String,
    pub refresh: String,
    pub hint: String,
}

#[utoipa::path(
    get, path = "/api/auth/cookie-check", tag = "auth",
    description = "Reports which of the access, refresh and session-hint cookies arrived with this request: \
        presence only, no values. Always 200. An SPA that just logged in and sees `accessCookie: false` \
        has its cookies dropped by the browser (typically page and API on different sites, e.g. \
        `localhost` vs `127.0.0.1`, under SameSite=Lax).",
    responses(
        (status = 200, description = "Which cookies arrived", body = CookieCheckResponse),
    ),
    security((), ("accessCookie" = []), ("refreshCookie" = []))
)]
pub async fn cookie_check(http: web::Data<HttpState>, req: HttpRequest) -> HttpResponse {
    let (access_cookie, refresh_cookie, session_hint) = http.cookies.arrived(&req);
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CookieCheckResponse {
            access_cookie,
            refresh_cookie,
            session_hint,
            names: CookieNames {
                access: http.cookies.access_name().to_owned(),
                refresh: http.cookies.refresh_name().to_owned(),
                hint: http.cookies.hint_name().to_owned(),
            },
        })
}
