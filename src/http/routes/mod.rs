//! The route table and one file per endpoint: thin handlers that parse the
//! request into domain values, call `auth`/the store, and shape the answer.

mod account;
mod cookie_check;
mod current_user;
mod dto;
mod health;
mod jwks;
mod login;
mod logout;
mod metrics;
pub mod openapi;
mod refresh;
mod register;
mod report_setting;
mod responses;
mod sessions;

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use super::error::ErrorBody;

/// Where a route is mounted: under the configured base path (`/api` by
/// default) or at the root (the operational endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mount {
    Api,
    Root,
}

/// One entry of the route table.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub mount: Mount,
    /// Relative to the mount, in actix syntax (`{id}`, which OpenAPI shares).
    pub path: &'static str,
}

impl RouteSpec {
    /// The full path the route answers on with the given base path.
    pub fn full_path(&self, base_path: &str) -> String {
        match self.mount {
            Mount::Api => format!("{base_path}{}", self.path),
            Mount::Root => self.path.to_owned(),
        }
    }
}

/// The metric and log label of each route: its full pattern
/// (`/api/auth/sessions/{id}`), as a `&'static str` made once, so a request
/// is labelled without an allocation.
pub struct RouteLabels {
    by_pattern: std::collections::HashMap<&'static str, &'static str>,
}

/// One leaked copy per distinct pattern in the process (a handful; tests
/// build many apps with the same table).
fn intern(pattern: String) -> &'static str {
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<&'static str>>> =
        std::sync::Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen = seen.get_or_insert_with(Default::default);
    if let Some(known) = seen.get(pattern.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(pattern.into_boxed_str());
    seen.insert(leaked);
    leaked
}

impl RouteLabels {
    pub fn new(base_path: &str) -> Self {
        let by_pattern = route_table()
            .iter()
            .map(|r| intern(r.full_path(base_path)))
            .map(|p| (p, p))
            .collect();
        Self { by_pattern }
    }

    /// The label of the route that answered `req`: a path without
    /// parameters is its own pattern (found without asking the router);
    /// others ask the router; anything else is `unmatched`.
    pub fn of(&self, req: &actix_web::HttpRequest) -> &'static str {
        if let Some(label) = self.by_pattern.get(req.path()) {
            return label;
        }
        req.match_pattern()
            .and_then(|p| self.by_pattern.get(p.as_str()).copied())
            .unwrap_or("unmatched")
    }
}

/// The methods a path answers, for the `Allow` header: `GET, PUT`.
fn allowed_methods(table: &[RouteSpec], mount: Mount, path: &str) -> String {
    table
        .iter()
        .filter(|s| s.mount == mount && s.path == path)
        .map(|s| s.method.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A known path asked with a method it does not answer.
fn method_not_allowed(allow: &str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(ErrorBody {
            message: "Method not allowed".into(),
            errors: None,
        })
}

/// The one route table: each line both registers the handler with actix
/// (`configure`) and lists the route (`route_table`), so the OpenAPI
/// completeness test compares the document with exactly what is served.
macro_rules! route_table {
    ($($mount:ident $method:ident $path:literal => $handler:path;)*) => {
        /// Every route of the table, registered on `cfg`: the API routes in
        /// one scope under `base_path`, the operational ones at the root.
        pub fn configure(base_path: &str) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
            move |cfg| {
                let mut api = web::scope(base_path);
                $(route_table!(@add cfg api $mount $method $path $handler);)*
                // Behind them, one resource per path answers any other
                // method with 405 and the methods it does allow.
                let table = route_table();
                let mut seen = std::collections::HashSet::new();
                for spec in &table {
                    if !seen.insert((spec.mount, spec.path)) {
                        continue;
                    }
                    let allow = allowed_methods(&table, spec.mount, spec.path);
                    let resource = web::resource(spec.path)
                        .to(move || std::future::ready(method_not_allowed(&allow)));
                    match spec.mount {
                        Mount::Api => api = api.service(resource),
                        Mount::Root => {
                            cfg.service(resource);
                        }
                    }
                }
                cfg.service(api);
            }
        }

        /// What `configure` registers, in the same order.
        pub fn route_table() -> Vec<RouteSpec> {
            vec![$(RouteSpec {
                method: Method::$method,
                mount: Mount::$mount,
                path: $path,
            }),*]
        }
    };
    (@add $cfg:ident $api:ident Api $method:ident $path:literal $handler:path) => {
        $api = $api.route($path, web::method(Method::$method).to($handler));
    };
    (@add $cfg:ident $api:ident Root $method:ident $path:literal $handler:path) => {
        $cfg.route($path, web::method(Method::$method).to($handler));
    };
}

route_table! {
    Api POST "/auth/register" => register::register;
    Api POST "/auth/login" => login::login;
    Api POST "/auth/refresh" => refresh::refresh;
    Api POST "/auth/logout" => logout::logout;
    Api POST "/auth/logout-all" => logout::logout_all;
    Api GET "/auth/cookie-check" => cookie_check::cookie_check;
    Api POST "/auth/password/change" => account::change_password;
    Api POST "/auth/password/forgot" => account::forgot_password;
    Api POST "/auth/password/reset" => account::reset_password;
    Api POST "/auth/email/verify" => account::verify_email;
    Api POST "/auth/email/verify/resend" => account::resend_verification;
    Api POST "/auth/email/change" => account::change_email;
    Api GET "/auth/sessions" => sessions::list;
    Api DELETE "/auth/sessions/{id}" => sessions::revoke;
    Api GET "/user/current-user" => current_user::current_user;
    Api DELETE "/user" => account::delete_account;
    Api GET "/report/setting" => report_setting::get;
    Api PUT "/report/setting" => report_setting::update;
    Api GET "/openapi.json" => openapi::document;
    Api GET "/docs" => openapi::docs_page;
    Root GET "/health/live" => health::live;
    Root GET "/health/ready" => health::ready;
    Root GET "/metrics" => metrics::metrics;
    Root GET "/.well-known/jwks.json" => jwks::jwks;
}
