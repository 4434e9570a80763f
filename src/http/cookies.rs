//! Every auth cookie is built, read and cleared here, so their names, paths
//! and attributes cannot drift apart.

use actix_web::cookie::{Cookie, SameSite as CookieSameSite};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::settings::{SameSite, Settings};

pub const ACCESS_COOKIE: &str = "accessToken";
pub const REFRESH_COOKIE: &str = "refreshToken";

#[derive(Debug, Clone)]
pub struct AuthCookies {
    access_name: String,
    refresh_name: String,
    refresh_path: String,
    secure: bool,
    same_site: CookieSameSite,
    domain: Option<String>,
    access_max_age: time::Duration,
    refresh_max_age: time::Duration,
}

impl AuthCookies {
    pub fn new(settings: &Settings) -> Self {
        let c = &settings.cookies;
        // `__Host-` requires Secure, Path=/ and no Domain; `__Secure-` only Secure.
        let (access_prefix, refresh_prefix) = match (c.name_prefix, c.domain.is_some()) {
            (false, _) => ("", ""),
            (true, false) => ("__Host-", "__Secure-"),
            (true, true) => ("__Secure-", "__Secure-"),
        };
        if !c.secure {
            tracing::warn!(
                "auth cookies are sent without the Secure attribute: fine for local development over http, never for production"
            );
        }
        Self {
            access_name: format!("{access_prefix}{ACCESS_COOKIE}"),
            refresh_name: format!("{refresh_prefix}{REFRESH_COOKIE}"),
            refresh_path: format!("{}/auth", settings.server.base_path),
            // SameSite=None is only accepted with Secure (checked in settings).
            secure: c.secure || c.same_site == SameSite::None,
            same_site: match c.same_site {
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::None => CookieSameSite::None,
            },
            domain: c.domain.clone(),
            access_max_age: max_age(settings.jwt.access_ttl),
            refresh_max_age: max_age(settings.jwt.refresh_ttl),
        }
    }

    pub fn access_name(&self) -> &str {
        &self.access_name
    }

    pub fn refresh_name(&self) -> &str {
        &self.refresh_name
    }

    pub fn access(&self, token: String) -> Cookie<'static> {
        self.build(
            self.access_name.clone(),
            token,
            "/".into(),
            self.access_max_age,
        )
    }

    pub fn refresh(&self, token: String) -> Cookie<'static> {
        self.build(
            self.refresh_name.clone(),
            token,
            self.refresh_path.clone(),
            self.refresh_max_age,
        )
    }

    /// Both cookies, emptied with `Max-Age=0` and the same Path and Domain
    /// they were set with, so the browser really drops them.
    pub fn cleared(&self) -> [Cookie<'static>; 2] {
        [
            self.build(
                self.access_name.clone(),
                String::new(),
                "/".into(),
                time::Duration::ZERO,
            ),
            self.build(
                self.refresh_name.clone(),
                String::new(),
                self.refresh_path.clone(),
                time::Duration::ZERO,
            ),
        ]
    }

    pub fn read_access(&self, req: &HttpRequest) -> Option<String> {
        non_empty(req.cookie(&self.access_name))
    }

    pub fn read_refresh(&self, req: &HttpRequest) -> Option<String> {
        non_empty(req.cookie(&self.refresh_name))
    }

    /// Whether the request carries either auth cookie (the CSRF rule's
    /// trigger), judged from the raw header so even an empty cookie counts.
    pub fn present_in(&self, headers: &actix_web::http::header::HeaderMap) -> bool {
        headers
            .get_all(actix_web::http::header::COOKIE)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.trim()))
            .any(|name| name == self.access_name || name == self.refresh_name)
    }

    /// Adds both auth cookies, freshly set, to a response.
    pub fn set_both(
        &self,
        mut response: HttpResponseBuilder,
        access: String,
        refresh: String,
    ) -> HttpResponseBuilder {
        response
            .cookie(self.access(access))
            .cookie(self.refresh(refresh));
        response
    }

    /// Adds both auth cookies, cleared, to a response.
    pub fn clear_both(&self, mut response: HttpResponse) -> HttpResponse {
        for cookie in self.cleared() {
            // Adding a well-formed cookie cannot fail.
            let _ = response.add_cookie(&cookie);
        }
        response
    }

    fn build(
        &self,
        name: String,
        value: String,
        path: String,
        max_age: time::Duration,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, value)
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(max_age)
            .finish();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

fn max_age(ttl: std::time::Duration) -> time::Duration {
    time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX)
}

fn non_empty(cookie: Option<Cookie<'static>>) -> Option<String> {
    cookie
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            &env,
        )
        .unwrap()
    }

    #[test]
    fn defaults_match_the_contract() {
        let cookies = AuthCookies::new(&settings(&[]));
        let access = cookies.access("a".into()).to_string();
        assert_eq!(
            access,
            "accessToken=a; HttpOnly; SameSite=Lax; Path=/; Max-Age=900"
        );
        let refresh = cookies.refresh("r".into()).to_string();
        assert_eq!(
            refresh,
            "refreshToken=r; HttpOnly; SameSite=Lax; Path=/api/auth; Max-Age=604800"
        );
    }

    #[test]
    fn prefixes_secure_and_domain() {
        let cookies = AuthCookies::new(&settings(&[
            ("COOKIE_SECURE", "true"),
            ("APP_COOKIES__NAME_PREFIX", "true"),
        ]));
        assert_eq!(cookies.access_name(), "__Host-accessToken");
        assert_eq!(cookies.refresh_name(), "__Secure-refreshToken");
        assert!(cookies.access("a".into()).to_string().contains("; Secure"));

        let cookies = AuthCookies::new(&settings(&[
            ("COOKIE_SECURE", "true"),
            ("COOKIE_SAMESITE", "None"),
            ("COOKIE_DOMAIN", "example.com"),
            ("APP_COOKIES__NAME_PREFIX", "true"),
        ]));
        assert_eq!(cookies.access_name(), "__Secure-accessToken");
        let cleared = cookies.cleared().map(|c| c.to_string());
        assert!(cleared[0].contains("SameSite=None") && cleared[0].contains("Domain=example.com"));
        assert!(cleared[1].contains("Path=/api/auth") && cleared[1].contains("Max-Age=0"));
    }
}
