//! Web origins (`scheme://host[:port]`), parsed once by the `url` crate for
//! both the configured origins and the CSRF check's `Referer`, so the two can
//! never disagree on what an origin is.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use url::{Host, Url};

/// An http or https origin in its ASCII serialisation, as a browser sends it
/// in the `Origin` header: lowercase scheme and host, punycode for non-ASCII
/// names, no default port (`https://app.example.com`, `http://[::1]:8080`).
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct Origin(String);

impl Origin {
    /// A configured origin: exactly `http(s)://host[:port]`. No path (not
    /// even `/`), query, fragment, user info, wildcard or whitespace; an
    /// empty port or a trailing dot on the host is refused too.
    pub fn parse(raw: &str) -> Result<Origin, String> {
        let bad = |why: &str| {
            format!(
                "{raw:?} is not an origin like https://app.example.com or \
                 http://localhost:5173 ({why})"
            )
        };
        let (scheme, authority) = raw
            .split_once("://")
            .ok_or_else(|| bad("it must start with http:// or https://"))?;
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(bad("only http and https origins exist for a browser app"));
        }
        // The URL parser would quietly drop or rewrite these; an origin has
        // none of them, so their presence means the value is not one.
        if let Some(c) = authority.chars().find(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '/' | '\\' | '?' | '#' | '@' | '*' | '%')
        }) {
            return Err(bad(&format!(
                "{c:?} cannot appear in an origin: no path, query, user or wildcard"
            )));
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err(bad("the host is missing"));
        }
        if authority.ends_with(':') {
            return Err(bad("the port is empty"));
        }
        let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
        if let Some(Host::Domain(name)) = url.host()
            && name.ends_with('.')
        {
            return Err(bad(
                "a trailing dot names another origin than the one browsers send",
            ));
        }
        Self::of_parsed(&url).ok_or_else(|| bad("it has no host"))
    }

    /// The origin of any http or https URL, as in a `Referer` header:
    /// `http://localhost:5173/app?x=1` gives `http://localhost:5173`.
    pub fn of_url(raw: &str) -> Option<Origin> {
        Self::of_parsed(&Url::parse(raw).ok()?)
    }

    fn of_parsed(url: &Url) -> Option<Origin> {
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        match url.origin() {
            origin @ url::Origin::Tuple(..) => Some(Origin(origin.ascii_serialization())),
            url::Origin::Opaque(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// `localhost`, `127.0.0.0/8` or `[::1]`: a browser treats these as
    /// secure contexts even over http, and nobody else can reach them.
    pub fn is_loopback(&self) -> bool {
        let Ok(url) = Url::parse(&self.0) else {
            return false;
        };
        match url.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
            None => false,
        }
    }
}

impl FromStr for Origin {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        Origin::parse(raw)
    }
}

impl TryFrom<String> for Origin {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Origin::parse(&raw)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Like the string, so log lines show `["https://app.example.com"]`.
impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Origin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        Origin::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
            .to_string()
    }

    fn refused(raw: &str) {
        assert!(Origin::parse(raw).is_err(), "{raw:?} was accepted");
    }

    #[test]
    fn origins_with_ports_and_ipv6() {
        assert_eq!(parsed("http://localhost:5173"), "http://localhost:5173");
        assert_eq!(parsed("https://app.example.com"), "https://app.example.com");
        assert_eq!(parsed("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(parsed("http://[::1]"), "http://[::1]");
        assert_eq!(parsed("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        refused("http://localhost:99999");
        refused("http://localhost:");
        refused("http://localhost:x");
        refused("http://localhost:-1");
        refused("ftp://example.com");
        refused("https://user@example.com");
        refused("https://user:pw@example.com");
        refused("https://@example.com");
        refused("http://[::1");
        refused("http://[fe80::1%25eth0]");
    }

    #[test]
    fn nothing_but_scheme_host_and_port() {
        for raw in [
            "localhost:5173",
            "//localhost:5173",
            "http://localhost:5173/",
            "http://localhost:5173/app",
            "http://localhost:5173?x",
            "http://localhost:5173#x",
            "http://localhost:5173\\",
            "http://",
            "http://:8080",
            "*",
            "https://*.example.com",
            "http://local host",
            "http://localhost:5173 ",
            "http://local\thost",
            "http://localhost\n",
            "null",
            "",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "blob:https://app.example.com/uuid",
            "http://app.example.com.",
            "http://%6cocalhost",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn the_serialisation_is_what_browsers_send() {
        // Lowercased scheme and host, as in the Origin header.
        assert_eq!(parsed("HTTPS://App.Example.COM"), "https://app.example.com");
        // A default port is no port.
        assert_eq!(
            parsed("https://app.example.com:443"),
            "https://app.example.com"
        );
        assert_eq!(parsed("http://localhost:80"), "http://localhost");
        assert_eq!(parsed("https://localhost:80"), "https://localhost:80");
        // Non-ASCII names are punycode, as browsers serialise them.
        assert_eq!(
            parsed("https://bücher.example"),
            "https://xn--bcher-kva.example"
        );
        // Other spellings of an address are the address.
        assert_eq!(parsed("http://[0:0::1]:8080"), "http://[::1]:8080");
        assert_eq!(parsed("http://0x7f.1:5173"), "http://127.0.0.1:5173");
    }

    #[test]
    fn of_url_takes_the_origin_of_a_referer() {
        let of = |raw: &str| Origin::of_url(raw).map(|o| o.to_string());
        assert_eq!(
            of("http://localhost:5173/app?x=1").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(
            of("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(
            of("HTTP://LOCALHOST:5173/#top").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(
            of("https://app.example.com:443/x").as_deref(),
            Some("https://app.example.com")
        );
        // Look-alikes give their own origin, never the allowed one.
        assert_eq!(of("http://localhost:5173.evil.com/"), None);
        assert_eq!(
            of("http://localhost.evil.com:5173/").as_deref(),
            Some("http://localhost.evil.com:5173")
        );
        assert_eq!(
            of("http://localhost:5173@evil.com/").as_deref(),
            Some("http://evil.com")
        );
        assert_eq!(
            of("http://evil.com/http://localhost:5173").as_deref(),
            Some("http://evil.com")
        );
        assert_eq!(of("http://localhost:5173./"), None);
        assert_eq!(
            of("http://localhost.:5173/").as_deref(),
            Some("http://localhost.:5173")
        );
        for none in [
            "",
            "null",
            "/relative",
            "about:blank",
            "file:///x",
            "data:,x",
        ] {
            assert_eq!(of(none), None, "{none:?}");
        }
    }

    #[test]
    fn https_and_loopback() {
        assert!(Origin::parse("https://app.example.com").unwrap().is_https());
        assert!(!Origin::parse("http://app.example.com").unwrap().is_https());
        for loopback in [
            "http://localhost:5173",
            "http://LOCALHOST",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:5173",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(Origin::parse(loopback).unwrap().is_loopback(), "{loopback}");
        }
        for remote in [
            "http://localhost.evil.com",
            "http://app.localhost.example",
            "http://128.0.0.1",
            "http://0.0.0.0",
            "http://[::]",
            "http://10.0.0.1",
            "http://[::2]",
        ] {
            assert!(!Origin::parse(remote).unwrap().is_loopback(), "{remote}");
        }
    }

    #[test]
    fn equal_origins_are_equal_values() {
        assert_eq!(
            Origin::parse("HTTPS://App.Example.com:443").unwrap(),
            Origin::parse("https://app.example.com").unwrap()
        );
        assert_eq!(
            Origin::of_url("https://app.example.com/login").unwrap(),
            Origin::parse("https://app.example.com").unwrap()
        );
        assert_ne!(
            Origin::parse("http://app.example.com").unwrap(),
            Origin::parse("https://app.example.com").unwrap()
        );
        assert_eq!(
            format!("{:?}", Origin::parse("http://localhost:5173").unwrap()),
            "\"http://localhost:5173\""
        );
    }
}
