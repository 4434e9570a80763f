//! Everything of actix-web: the route table and its handlers, extractors,
//! the CSRF and CORS rules, the request middleware, cookies, the client's
//! address and the mapping of `ApiError` to responses. The rules themselves
//! live in `auth`; nothing below this module knows HTTP.

pub mod body;
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod extractors;
pub mod middleware;
pub mod routes;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, Error, web};

use crate::settings::{SameSite, Settings};
use crate::state::AppState;
use client_ip::TrustedProxies;
use cookies::AuthCookies;
use csrf::AllowedOrigins;

/// The HTTP layer's own parts, built once from the settings and shared by
/// every worker beside `AppState`.
pub struct HttpState {
    pub cookies: AuthCookies,
    pub origins: AllowedOrigins,
    pub proxies: TrustedProxies,
    /// The OpenAPI document for the configured base path.
    pub openapi: utoipa::openapi::OpenApi,
    /// The request log's and metrics' route labels.
    pub routes: routes::RouteLabels,
}

impl HttpState {
    pub fn new(settings: &Settings) -> Self {
        Self {
            cookies: AuthCookies::new(settings),
            origins: AllowedOrigins::new(
                settings.cors.frontend_origins.clone(),
                settings.cookies.same_site != SameSite::None,
            ),
            proxies: TrustedProxies::new(settings.rate_limit.trusted_proxies.clone()),
            openapi: routes::openapi::document_for(&settings.server.base_path),
            routes: routes::RouteLabels::new(&settings.server.base_path),
        }
    }
}

/// The whole application for one worker: state, body limits, the route
/// table, the JSON 404, and the middleware from the outside in: request
/// observation, CORS preflights, CORS, CSRF.
pub fn app(
    state: web::Data<AppState>,
    http: web::Data<HttpState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let settings = std::sync::Arc::clone(&state.settings);
    App::new()
        .app_data(state)
        .app_data(http)
        .app_data(
            web::JsonConfig::default()
                .limit(settings.server.body_limit_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::new(settings.server.body_limit_bytes))
        .configure(routes::configure(&settings.server.base_path))
        .default_service(web::to(|| async { error::not_found() }))
        .wrap(from_fn(csrf::guard))
        .wrap(cors::policy(&settings.cors.frontend_origins))
        .wrap(from_fn(cors::preflight))
        .wrap(from_fn(middleware::observe))
}
