//! The OpenAPI 3 document, generated from the handlers' annotations and the
//! DTO types, and an interactive page for it (local profile).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto::*;
use super::responses::*;
use super::{
    account, cookie_check, current_user, health, jwks, login, logout, metrics, refresh, register,
    report_setting, sessions,
};
use crate::auth::FieldError;
use crate::domain::Frequency;
use crate::http::HttpState;
use crate::http::cookies::{ACCESS_COOKIE, REFRESH_COOKIE};
use crate::http::error::ErrorBody;
use crate::state::AppState;

/// The paths are written with the default `/api` base; `document_for`
/// rewrites them for another base path.
pub const DOCUMENTED_BASE: &str = "/api";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokengate",
        description = "Cookie-based JWT authentication for browser single-page apps. \
            Both tokens travel in HttpOnly cookies; state-changing requests that carry \
            a cookie must come from an allowed Origin.",
    ),
    paths(
        register::register,
        login::login,
        refresh::refresh,
        logout::logout,
        logout::logout_all,
        cookie_check::cookie_check,
        account::change_password,
        account::forgot_password,
        account::reset_password,
        account::verify_email,
        account::resend_verification,
        account::change_email,
        account::delete_account,
        sessions::list,
        sessions::revoke,
        current_user::current_user,
        report_setting::get,
        report_setting::update,
        health::live,
        health::ready,
        metrics::metrics,
        jwks::jwks,
        document,
        docs_page,
    ),
    components(
        responses(
            BadJson, Unauthenticated, CsrfRefused, TooLarge, NotJson, NonEmptyNotJson,
            IpRateLimited, StoreUnavailable,
        ),
        schemas(
        ErrorBody, FieldError, UserDto, ReportSettingDto, SessionDto, MessageResponse,
        RegisterRequest, RegisterResponse, RegisterData, LoginRequest, LoginResponse,
        RefreshResponse, SessionsResponse, CurrentUserResponse, UpdateReportSettingRequest,
        ReportSettingResponse, Frequency, ChangePasswordRequest, PasswordChangedResponse,
        ForgotPasswordRequest, ResetPasswordRequest, VerifyEmailRequest, VerifyEmailResponse,
        ChangeEmailRequest, DeleteAccountRequest,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Registration, login and the refresh-token session"),
        (name = "sessions", description = "The user's login sessions"),
        (name = "account", description = "Password change and reset, email verification and change, account deletion"),
        (name = "user"), (name = "report"), (name = "operations"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "accessCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(ACCESS_COOKIE))),
        );
        components.add_security_scheme(
            "refreshCookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(REFRESH_COOKIE))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document with its API paths under `base_path`.
pub fn document_for(base_path: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    if base_path != DOCUMENTED_BASE {
        let paths = std::mem::take(&mut doc.paths.paths);
        doc.paths.paths = paths
            .into_iter()
            .map(|(path, item)| match path.strip_prefix(DOCUMENTED_BASE) {
                Some(rest) => (format!("{base_path}{rest}"), item),
                None => (path, item),
            })
            .collect();
    }
    doc
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1)", content_type = "application/json")))]
pub async fn document(http: web::Data<HttpState>) -> HttpResponse {
    let (access, refresh) = (http.cookies.access_name(), http.cookies.refresh_name());
    if (access, refresh) == (ACCESS_COOKIE, REFRESH_COOKIE) {
        return HttpResponse::Ok().json(&http.openapi);
    }
    // Prefixed cookie names (`__Host-accessToken`...): say so in the document.
    let mut doc = http.openapi.clone();
    cookie_names(&mut doc, access, refresh);
    HttpResponse::Ok().json(doc)
}

/// Renames the cookies of the cookie security schemes.
fn cookie_names(doc: &mut utoipa::openapi::OpenApi, access: &str, refresh: &str) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for (scheme, name) in [("accessCookie", access), ("refreshCookie", refresh)] {
        components.add_security_scheme(
            scheme,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(name))),
        );
    }
}

/// A Redoc page for the document; served in the local profile only
/// (`server.api_docs`).
#[utoipa::path(get, path = "/api/docs", tag = "operations",
    responses(
        (status = 200, description = "An interactive page for this document (local profile)", content_type = "text/html", body = String),
        (status = 404, description = "Docs page turned off (`server.api_docs`, off in production)", body = ErrorBody),
    ))]
pub async fn docs_page(state: web::Data<AppState>) -> HttpResponse {
    if !state.settings.server.api_docs {
        return crate::http::error::not_found();
    }
    let spec = format!("{}/openapi.json", state.settings.server.base_path);
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            r#"<!doctype html>
<html><head><meta charset="utf-8"><title>tokengate API</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="{spec}"></redoc>
<script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
</body></html>"#
        ))
}
