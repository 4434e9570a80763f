//! Every auth cookie is built, read and cleared here, so their names, paths
//! and attributes cannot drift apart.

use actix_web::cookie::{Cookie, SameSite as CookieSameSite};
use actix_web::http::header::{COOKIE, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::auth::tokens::Signed;
use crate::settings::{SameSite, Settings};

pub const ACCESS_COOKIE: &str = "accessToken";
pub const REFRESH_COOKIE: &str = "refreshToken";
/// The session hint: readable by page JS (not HttpOnly), no secret and no
/// identifier, only `<access exp>.<refresh exp>` in Unix seconds, so an SPA
/// can tell "is there a session, is its access token still fresh?" without
/// a request that fails.
pub const SESSION_HINT_COOKIE: &str = "tokengateSession";

#[derive(Debug, Clone)]
pub struct AuthCookies {
    access_name: String,
    refresh_name: String,
    hint_name: String,
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
            // Same prefix as the access cookie: same Path `/` and Domain.
            hint_name: format!("{access_prefix}{SESSION_HINT_COOKIE}"),
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

    pub fn hint_name(&self) -> &str {
        &self.hint_name
    }

    /// The session hint for a pair of tokens: `<access exp>.<refresh exp>`,
    /// Unix seconds. Not HttpOnly; otherwise the access cookie's attributes
    /// (Path `/`, SameSite, Secure, Domain); lives as long as the refresh
    /// cookie.
    pub fn hint(
        &self,
        access_expires: chrono::DateTime<chrono::Utc>,
        refresh_expires: chrono::DateTime<chrono::Utc>,
        max_age: time::Duration,
    ) -> Cookie<'static> {
        let mut cookie = self.build(
            self.hint_name.clone(),
            format!(
                "{}.{}",
                access_expires.timestamp(),
                refresh_expires.timestamp()
            ),
            "/".into(),
            max_age,
        );
        cookie.set_http_only(false);
        cookie
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

    /// Both auth cookies and the session hint, emptied with `Max-Age=0` and
    /// the same Path and Domain they were set with, so the browser really
    /// drops them.
    pub fn cleared(&self) -> [Cookie<'static>; 3] {
        let mut hint = self.build(
            self.hint_name.clone(),
            String::new(),
            "/".into(),
            time::Duration::ZERO,
        );
        hint.set_http_only(false);
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
            hint,
        ]
    }

    /// The access token the request's cookies carry, if any.
    pub fn read_access(&self, req: &HttpRequest) -> Option<String> {
        self.read(req.headers()).access
    }

    /// The refresh token the request's cookies carry, if any.
    pub fn read_refresh(&self, req: &HttpRequest) -> Option<String> {
        self.read(req.headers()).refresh
    }

    /// Which of the access, refresh and hint cookies arrived (non-empty),
    /// for the cookie check. Values are not returned.
    pub fn arrived(&self, req: &HttpRequest) -> (bool, bool, bool) {
        let found = self.read(req.headers());
        let hint = req
            .cookie(&self.hint_name)
            .is_some_and(|c| !c.value().is_empty());
        (found.access.is_some(), found.refresh.is_some(), hint)
    }

    /// Whether the request may carry an auth cookie: the CSRF rule's
    /// trigger. Judged by the very parse that authenticates; even an empty
    /// auth cookie counts, and so does a Cookie header this parse cannot
    /// read (fail closed).
    pub fn present_in(&self, headers: &HeaderMap) -> bool {
        let found = self.read(headers);
        found.named || found.unreadable
    }

    /// The one parse of the Cookie headers for both tokens. Names are
    /// matched byte for byte: no percent-decoding, no case folding, so
    /// `accessTok%65n` is not `accessToken`. Values are taken as sent (a
    /// token is plain base64url and dots). The first pair with a name wins,
    /// as browsers send the most specific cookie first.
    fn read(&self, headers: &HeaderMap) -> Found {
        let mut found = Found::default();
        for header in headers.get_all(COOKIE) {
            let bytes = header.as_bytes();
            // Cookie headers are visible ASCII (RFC 6265); anything else is
            // a header some other parser might read differently.
            if !bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
                found.unreadable = true;
                continue;
            }
            // All ASCII, so this cannot fail.
            let Ok(text) = std::str::from_utf8(bytes) else {
                found.unreadable = true;
                continue;
            };
            for pair in text.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let (name, value) = (name.trim(), value.trim());
                let slot = if name == self.access_name {
                    &mut found.access
                } else if name == self.refresh_name {
                    &mut found.refresh
                } else {
                    continue;
                };
                found.named = true;
                if slot.is_none() && !value.is_empty() {
                    *slot = Some(value.to_owned());
                }
            }
        }
        found
    }

    /// Adds both auth cookies and the session hint, freshly set, to a
    /// response. The refresh cookie (and the hint) lives as long as its
    /// token: less than the refresh lifetime when the session nears its
    /// maximum lifetime.
    pub fn set_both(
        &self,
        mut response: HttpResponseBuilder,
        access: Signed,
        refresh: Signed,
    ) -> HttpResponseBuilder {
        // Whole seconds, rounded up: the token's `exp` is whole seconds too.
        let left = (refresh.expires_at - crate::domain::now()).to_std().map_or(
            time::Duration::ZERO,
            |d| {
                max_age(std::time::Duration::from_secs(
                    d.as_secs() + u64::from(d.subsec_nanos() > 0),
                ))
            },
        );
        let left = left.min(self.refresh_max_age);
        let hint = self.hint(access.expires_at, refresh.expires_at, left);
        let refresh = self.build(
            self.refresh_name.clone(),
            refresh.token,
            self.refresh_path.clone(),
            left,
        );
        // The refresh cookie last: tools that keep only the last header of a
        // name (wrk, in scripts/bench.sh) find the token they must send next.
        response
            .cookie(self.access(access.token))
            .cookie(hint)
            .cookie(refresh);
        response
    }

    /// Adds both auth cookies and the session hint, cleared, to a response.
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

/// What the Cookie headers say about the auth cookies.
#[derive(Debug, Default)]
struct Found {
    access: Option<String>,
    refresh: Option<String>,
    /// An auth cookie's name appeared, even with an empty value.
    named: bool,
    /// A Cookie header was not plain visible ASCII.
    unreadable: bool,
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

    fn headers(cookies: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(
                COOKIE,
                actix_web::http::header::HeaderValue::from_bytes(c).unwrap(),
            );
        }
        map
    }

    #[test]
    fn names_are_matched_exactly_and_values_taken_as_sent() {
        let cookies = AuthCookies::new(&settings(&[]));
        let found = cookies.read(&headers(&[b"a=1; accessToken=tok.en-_1; refreshToken=r"]));
        assert_eq!(found.access.as_deref(), Some("tok.en-_1"));
        assert_eq!(found.refresh.as_deref(), Some("r"));
        for odd in [
            &b"accessTok%65n=x"[..],
            b"AccessToken=x",
            b"accesstoken=x",
            b" accessToken2=x",
            b"xaccessToken=x",
        ] {
            let found = cookies.read(&headers(&[odd]));
            assert_eq!(found.access, None, "{}", String::from_utf8_lossy(odd));
            assert!(!cookies.present_in(&headers(&[odd])));
        }
        // Duplicates: the first one wins; the second header counts too.
        let found = cookies.read(&headers(&[b"accessToken=first; accessToken=second"]));
        assert_eq!(found.access.as_deref(), Some("first"));
        let found = cookies.read(&headers(&[b"x=1", b"accessToken=in-second-header"]));
        assert_eq!(found.access.as_deref(), Some("in-second-header"));
    }

    #[test]
    fn presence_fails_closed() {
        let cookies = AuthCookies::new(&settings(&[]));
        // An empty auth cookie still triggers the CSRF rule.
        assert!(cookies.present_in(&headers(&[b"accessToken="])));
        // A header this parse cannot read counts as carrying one.
        assert!(cookies.present_in(&headers(&["junk=\u{e9}".as_bytes()])));
        assert!(cookies.present_in(&headers(&[b"accessToken=t; junk=\xe9"])));
        assert!(cookies.present_in(&headers(&[b"x=a\tb"])));
        // No auth cookie at all: no trigger.
        assert!(!cookies.present_in(&headers(&[b"theme=dark; lang=en"])));
        assert!(!cookies.present_in(&HeaderMap::new()));
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
        // The hint shares the access cookie's prefix, Path, SameSite, Secure
        // and Domain, and is the one cookie page JS may read.
        assert!(cleared[2].starts_with("__Secure-tokengateSession=;"));
        assert!(cleared[2].contains("Domain=example.com") && cleared[2].contains("Path=/"));
        assert!(cleared[2].contains("SameSite=None") && cleared[2].contains("; Secure"));
        assert!(!cleared[2].contains("HttpOnly"));
    }

    #[test]
    fn the_hint_carries_two_expiries_and_no_secret() {
        let cookies = AuthCookies::new(&settings(&[]));
        let at = |s| chrono::DateTime::from_timestamp(s, 0).unwrap();
        let hint = cookies
            .hint(
                at(1_700_000_900),
                at(1_700_604_800),
                time::Duration::seconds(604_800),
            )
            .to_string();
        assert_eq!(
            hint,
            "tokengateSession=1700000900.1700604800; SameSite=Lax; Path=/; Max-Age=604800"
        );
        let cleared = cookies.cleared()[2].to_string();
        assert_eq!(
            cleared,
            "tokengateSession=; SameSite=Lax; Path=/; Max-Age=0"
        );
    }
}
