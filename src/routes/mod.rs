//! The HTTP surface: one route table, one file per endpoint, thin handlers.

mod current_user;
pub mod dto;
mod health;
mod login;
mod logout;
mod metrics;
pub mod openapi;
mod refresh;
mod register;
mod report_setting;
mod sessions;

use std::fmt;
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder, web};

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::auth::ClientInfo;
use crate::auth::cookies::AuthCookies;
use crate::client_ip::client_info;
use crate::domain::ParseError;
use crate::error::{ApiError, ErrorBody, FieldError};

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
    Api GET "/auth/sessions" => sessions::list;
    Api DELETE "/auth/sessions/{id}" => sessions::revoke;
    Api GET "/user/current-user" => current_user::current_user;
    Api GET "/report/setting" => report_setting::get;
    Api PUT "/report/setting" => report_setting::update;
    Api GET "/openapi.json" => openapi::document;
    Api GET "/docs" => openapi::docs_page;
    Root GET "/health/live" => health::live;
    Root GET "/health/ready" => health::ready;
    Root GET "/metrics" => metrics::metrics;
}

/// A JSON request body: `web::Json<Object<T>>` reads `T` from a JSON
/// object only. serde's derived structs also accept an array of the field
/// values (`["DAILY", true]`), which no client of this API means: such a
/// body is a 400 like any other body of the wrong shape.
pub(crate) type JsonObject<T> = web::Json<Object<T>>;

pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// Collects field errors while parsing a request body into domain values.
#[derive(Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// Parses a required field, recording why it is missing or invalid.
    pub fn parse<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        let Some(value) = value else {
            self.0
                .push(FieldError::new(field, format!("{field} is required")));
            return None;
        };
        parser(value)
            .map_err(|e| self.0.push(FieldError::new(field, e.0)))
            .ok()
    }

    /// Parses a field that may be left out.
    pub fn optional<T, U>(
        &mut self,
        field: &str,
        value: Option<T>,
        parser: impl FnOnce(T) -> Result<U, ParseError>,
    ) -> Option<U> {
        value.and_then(|v| {
            parser(v)
                .map_err(|e| self.0.push(FieldError::new(field, e.0)))
                .ok()
        })
    }

    /// The parsed values when every field was valid, else every field error.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, ApiError> {
        match values {
            Some(values) if self.0.is_empty() => Ok(values),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

impl FromRequest for ClientInfo {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(client_info(req)))
    }
}

/// For endpoints that need no body (refresh, logout, ...): an empty body
/// with or without a Content-Type is fine, and so is any JSON body; a
/// non-empty body of another type is 415, malformed JSON 400.
pub(crate) struct NoBody;

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = bytes
                .await
                .map_err(|e| match e.as_response_error().status_code() {
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest("Request body could not be read".into()),
                })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(NoBody);
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .map_err(|_| ApiError::BadRequest("Request body is not valid JSON".into()))?;
            Ok(NoBody)
        })
    }
}

/// Adds both auth cookies, freshly set, to a response.
pub(crate) fn with_tokens(
    mut response: HttpResponseBuilder,
    cookies: &AuthCookies,
    access: String,
    refresh: String,
) -> HttpResponseBuilder {
    response
        .cookie(cookies.access(access))
        .cookie(cookies.refresh(refresh));
    response
}

/// Adds both auth cookies, cleared, to a response.
pub(crate) fn clearing_cookies(mut response: HttpResponse, cookies: &AuthCookies) -> HttpResponse {
    for cookie in cookies.cleared() {
        // Adding a well-formed cookie cannot fail.
        let _ = response.add_cookie(&cookie);
    }
    response
}
