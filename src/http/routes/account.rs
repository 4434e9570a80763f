//! The account lifecycle: change and reset a password, verify and change an
//! email address, delete an account. Each handler parses the body into
//! domain values and calls `auth`; the rules live there.

use actix_web::{HttpResponse, web};

use super::dto::{
    ChangeEmailRequest, ChangePasswordRequest, DeleteAccountRequest, ForgotPasswordRequest,
    MessageResponse, PasswordChangedResponse, ResetPasswordRequest, VerifyEmailRequest,
    VerifyEmailResponse, rfc3339,
};
use super::responses::{
    CsrfRefused, IpRateLimited, NonEmptyNotJson, NotJson, StoreUnavailable, TooLarge,
    Unauthenticated,
};
use crate::auth::ApiResult;
use crate::domain::{AuthUser, ClientInfo, EmailAddress, ParseError, Password};
use crate::http::HttpState;
use crate::http::body::{Fields, JsonObject, NoBody, entered_password};
use crate::http::error::ErrorBody;
use crate::state::AppState;

/// A link's token as sent: required; its form is checked by `auth` (a
/// malformed token is as invalid as an unknown one: one answer).
fn token(t: String) -> Result<String, ParseError> {
    Ok(t)
}

#[utoipa::path(
    post, path = "/api/auth/password/change", tag = "account",
    description = "Changes the caller's password. Every other session of the user is revoked, the caller's \
        session rotates (new cookies), outstanding reset links die, and a notice is mailed. A wrong current \
        password counts as a failed login for the email's limit.",
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; new cookies for the caller's session", body = PasswordChangedResponse,
            headers(("Set-Cookie" = String, description = "accessToken and refreshToken (HttpOnly), tokengateSession"))),
        (status = 400, description = "`newPassword` invalid (`errors`), a field missing, or a malformed body", body = ErrorBody),
        (status = 401, description = "No valid access token, or `Current password is incorrect`", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, description = "Too many failed attempts for this email", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Overloaded or store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn change_password(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    user: AuthUser,
    body: JsonObject<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner().0;
    let mut fields = Fields::default();
    let current = fields.parse("currentPassword", body.current_password, entered_password);
    let new = fields.parse("newPassword", body.new_password, Password::parse);
    let (current, new) = fields.finish(current.zip(new))?;
    let changed = state
        .auth
        .change_password(&client, &user, &current, new)
        .await?;
    let expose = state.settings.jwt.expose_access_token;
    let response = PasswordChangedResponse {
        message: "Password changed".into(),
        user: (&changed.user).into(),
        access_token: expose.then(|| changed.tokens.access.token.clone()),
        expires_at: rfc3339(changed.tokens.access.expires_at),
    };
    Ok(http
        .cookies
        .set_both(
            HttpResponse::Ok(),
            changed.tokens.access,
            changed.tokens.refresh,
        )
        .json(response))
}

#[utoipa::path(
    post, path = "/api/auth/password/forgot", tag = "account",
    description = "Mails a reset link (`{FRONTEND_URL}/reset-password?token=…`, valid 30 minutes by default) \
        if the address has an account. Always the same 200, in the same time, whether or not it has: \
        nothing here tells who is registered. At most RATE_LIMIT_MAILS_PER_HOUR mails per address \
        per hour (beyond, nothing is sent and the answer is the same).",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 200, description = "Accepted (whether or not the address has an account)", body = MessageResponse),
        (status = 400, description = "`email` missing or invalid, or a malformed body", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, response = IpRateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn forgot_password(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: JsonObject<ForgotPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let mut fields = Fields::default();
    let email = fields.parse("email", body.into_inner().0.email, |e| {
        EmailAddress::parse(&e)
    });
    let email = fields.finish(email)?;
    state.auth.forgot_password(&client, email).await?;
    Ok(HttpResponse::Ok().json(MessageResponse::new(
        "If an account exists for that email, a password reset link has been sent",
    )))
}

#[utoipa::path(
    post, path = "/api/auth/password/reset", tag = "account",
    description = "Sets a new password with the token of a reset link. The token works once, for its \
        lifetime, and only the newest one of a user. Success revokes every session of the user, marks \
        the address verified, mails a notice and clears this client's cookies.",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password reset; every session revoked; cookies cleared", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, description = "`Invalid or expired token` (unknown, used, expired or superseded), \
            `newPassword` invalid (`errors`), or a malformed body", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, response = IpRateLimited),
        (status = 503, description = "Overloaded or store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn reset_password(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    body: JsonObject<ResetPasswordRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner().0;
    let mut fields = Fields::default();
    let token = fields.parse("token", body.token, token);
    let new = fields.parse("newPassword", body.new_password, Password::parse);
    let (token, new) = fields.finish(token.zip(new))?;
    state.auth.reset_password(&client, &token, new).await?;
    let response = HttpResponse::Ok().json(MessageResponse::new("Password has been reset"));
    Ok(http.cookies.clear_both(response))
}

#[utoipa::path(
    post, path = "/api/auth/email/verify", tag = "account",
    description = "Uses the token of a verification link (the address becomes verified) or of an \
        email-change link (the account's address becomes the new one, verified). No login needed. \
        Single use.",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified, or changed", body = VerifyEmailResponse),
        (status = 400, description = "`Invalid or expired token`, or a malformed body", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 409, description = "The new address of an email change was registered by someone else meanwhile", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, response = IpRateLimited),
        (status = 503, response = StoreUnavailable),
    )
)]
pub async fn verify_email(
    state: web::Data<AppState>,
    client: ClientInfo,
    body: JsonObject<VerifyEmailRequest>,
) -> ApiResult<HttpResponse> {
    let mut fields = Fields::default();
    let token = fields.parse("token", body.into_inner().0.token, token);
    let token = fields.finish(token)?;
    let user = state.auth.verify_email(&client, &token).await?;
    Ok(HttpResponse::Ok().json(VerifyEmailResponse {
        message: "Email verified".into(),
        user: (&user).into(),
    }))
}

#[utoipa::path(
    post, path = "/api/auth/email/verify/resend", tag = "account",
    description = "Mails the caller a new verification link (the previous one stops working). No body needed.",
    responses(
        (status = 200, description = "Sent", body = MessageResponse),
        (status = 400, description = "`Email is already verified`, or a malformed body", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NonEmptyNotJson),
        (status = 429, description = "This address had its mails for the hour", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, response = StoreUnavailable),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn resend_verification(
    state: web::Data<AppState>,
    client: ClientInfo,
    user: AuthUser,
    _body: NoBody,
) -> ApiResult<HttpResponse> {
    state.auth.resend_verification(&client, &user).await?;
    Ok(HttpResponse::Ok().json(MessageResponse::new("Verification email sent")))
}

#[utoipa::path(
    post, path = "/api/auth/email/change", tag = "account",
    description = "Starts an email change: mails a link to the new address (the address changes only when \
        it is used, through POST /api/auth/email/verify) and a notice to the current one.",
    request_body = ChangeEmailRequest,
    responses(
        (status = 200, description = "Confirmation link sent to the new address", body = MessageResponse),
        (status = 400, description = "`newEmail` invalid or the current address (`errors`), a field missing, or a malformed body", body = ErrorBody),
        (status = 401, description = "No valid access token, or `Password is incorrect`", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 409, description = "The new address is registered already", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, description = "Too many failed passwords, or this address had its mails for the hour", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Overloaded or store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn change_email(
    state: web::Data<AppState>,
    client: ClientInfo,
    user: AuthUser,
    body: JsonObject<ChangeEmailRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner().0;
    let mut fields = Fields::default();
    let password = fields.parse("password", body.password, entered_password);
    let new_email = fields.parse("newEmail", body.new_email, |e| EmailAddress::parse(&e));
    let (password, new_email) = fields.finish(password.zip(new_email))?;
    state
        .auth
        .request_email_change(&client, &user, &password, new_email)
        .await?;
    Ok(HttpResponse::Ok().json(MessageResponse::new(
        "Check your new address for a confirmation link",
    )))
}

#[utoipa::path(
    delete, path = "/api/user", tag = "account",
    description = "Deletes the caller's account: the user, its report setting, its sessions and its \
        tokens. Clears both cookies. The address can register again afterwards.",
    request_body = DeleteAccountRequest,
    responses(
        (status = 200, description = "Deleted; cookies cleared", body = MessageResponse,
            headers(("Set-Cookie" = String, description = "Both cookies cleared (Max-Age=0)"))),
        (status = 400, description = "`password` missing, or a malformed body", body = ErrorBody),
        (status = 401, description = "No valid access token, or `Password is incorrect`", body = ErrorBody),
        (status = 403, response = CsrfRefused),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 429, description = "Too many failed passwords for this email", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Overloaded or store unavailable; retry shortly", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("accessCookie" = []), ("bearer" = []))
)]
pub async fn delete_account(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
    client: ClientInfo,
    user: AuthUser,
    body: JsonObject<DeleteAccountRequest>,
) -> ApiResult<HttpResponse> {
    let mut fields = Fields::default();
    let password = fields.parse("password", body.into_inner().0.password, entered_password);
    let password = fields.finish(password)?;
    state.auth.delete_account(&client, &user, &password).await?;
    let response = HttpResponse::Ok().json(MessageResponse::new("Account deleted"));
    Ok(http.cookies.clear_both(response))
}
