use actix_web::{HttpRequest, HttpResponse, web};

use super::dto::{LoginRequest, LoginResponse, rfc3339};
use super::responses::{CsrfRefused, NotJson, TooLarge};
use crate::auth::ApiResult;
use crate::domain::ClientInfo;
use crate::domain::EmailAddress;
use crate::http::HttpState;
use crate::http::body::{Fields, entered_password};
use crate::http::error::ErrorBody;
use crate::http::extractors::AdmittedLogin;
use crate::state::AppState;

#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the accessToken and refreshToken cookies and the tokengateSession hint. \
            A valid refresh cookie of the same user that arrived with the login is revoked (that browser's previous session).", body = LoginResponse,
            headers(("Set-Cookie" = String, description = "accessToken and refreshToken (HttpOnly), tokengateSession (readable hint, no secret)"))),
        (status = 400, description = "Malformed body or missing fields", body = ErrorBody),
        (status = 401, description = "Invalid email or password (same answer for both)", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, description = "Too many attempts for this email or from this IP", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Overloaded (the password hashing queue would keep this login waiting too long; Retry-After says when it will have drained) or store unavailable", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    req: HttpRequest,
    // Read only once bcrypt can take this login: a shed login never is.
    body: AdmittedLogin<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.0;
    let mut fields = Fields::default();
    let email = fields.parse("email", body.email, |e| EmailAddress::parse(&e));
    let password = fields.parse("password", body.password, entered_password);
    let (email, password) = fields.finish(email.zip(password))?;

    let previous = http.cookies.read_refresh(&req);
    let logged_in = state
        .auth
        .login(&client, email, &password, previous.as_deref())
        .await?;
    let expose = state.settings.jwt.expose_access_token;
    let response = LoginResponse {
        message: "User logged in successfully".into(),
        user: (&logged_in.user).into(),
        access_token: expose.then(|| logged_in.access.token.clone()),
        expires_at: rfc3339(logged_in.access.expires_at),
        report_setting: (&logged_in.report_setting).into(),
    };
    Ok(http
        .cookies
        .set_both(HttpResponse::Ok(), logged_in.access, logged_in.refresh)
        .json(response))
}
