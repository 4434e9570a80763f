//! How the values in the files and variables are read: each helper is a
//! `deserialize_with` that parses one kind of value, so a bad value fails
//! while the config crate still knows its key (the error then names it).
//!
//! Every variable arrives as a string (`PORT=8080` is `"8080"`); the files
//! may hold numbers or strings. The helpers accept both where it makes sense.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use humantime_serde::re::humantime;
use ipnet::IpNet;
use secrecy::SecretString;
use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use super::Origin;

/// Longest duration text accepted, and most digits in one number of it.
/// Far beyond any real setting, they keep humantime's arithmetic well below
/// `u64::MAX` seconds, where it can panic instead of failing (a carry into
/// the seconds in `Duration::new`): at most 3 terms of 10 digits, < 10^18 s.
const MAX_DURATION_CHARS: usize = 40;
const MAX_DURATION_DIGITS: usize = 10;

const DURATION_EXAMPLE: &str = "a duration like 900s, 15m or 7d";

/// `900s`, `15m`, `7d`, `250ms`, `1h 30m` (humantime's syntax), or a bare
/// number of seconds (`0`, `30`) as this service has always accepted.
pub(super) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(format!("{raw:?} is not {DURATION_EXAMPLE}"));
    }
    if s.len() > MAX_DURATION_CHARS || longest_digit_run(s) > MAX_DURATION_DIGITS {
        return Err(format!("{raw:?} is too long to be a useful duration"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // At most 10 digits: always fits.
        return s
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{raw:?} is not {DURATION_EXAMPLE}"));
    }
    humantime::parse_duration(s).map_err(|e| format!("{raw:?} is not {DURATION_EXAMPLE} ({e})"))
}

fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(DURATION_EXAMPLE)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    /// `shutdown_timeout = 30` in a file: seconds, like the bare `"30"`.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("{v} is negative; expected {DURATION_EXAMPLE}")))
    }
}

pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

pub(super) fn nonzero_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = duration(d)?;
    if value.is_zero() {
        return Err(de::Error::custom("must be longer than zero"));
    }
    Ok(value)
}

/// A number above zero (`0` is a mistake for every count and size here).
pub(super) fn positive<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialOrd,
{
    let value = T::deserialize(d)?;
    if value > T::default() {
        Ok(value)
    } else {
        Err(de::Error::custom("must be greater than zero"))
    }
}

/// A thread count where absent or `0` means "choose for me".
pub(super) fn zero_is_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Ok(Option::<usize>::deserialize(d)?.filter(|n| *n > 0))
}

/// Threads for bcrypt: absent or `0` means one per core.
pub(super) fn workers_or_cores<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(zero_is_none(d)?.unwrap_or_else(cores))
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A string with its surrounding whitespace removed, never empty.
pub(super) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(trimmed.to_owned())
}

pub(super) fn non_empty_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    non_empty(d).map(PathBuf::from)
}

/// An optional string where empty (`COOKIE_DOMAIN=`) means unset.
fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// `/api`: a path, without a trailing slash.
pub(super) fn base_path<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let trimmed = raw.trim().trim_end_matches('/');
    if !trimmed.starts_with('/') || trimmed.contains(['?', '#', ' ', '\\']) {
        return Err(de::Error::custom(format!(
            "{raw:?} is not a path like /api"
        )));
    }
    Ok(trimmed.to_owned())
}

/// The cookie `Domain` attribute: a bare host name, or unset.
pub(super) fn cookie_domain<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let domain = optional(d)?;
    if let Some(host) = &domain
        && host.contains(|c: char| {
            c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '/' | ':' | '=')
        })
    {
        return Err(de::Error::custom(format!("{host:?} is not a host name")));
    }
    Ok(domain)
}

/// `mongodb://` or `mongodb+srv://`, or unset. The value is never echoed:
/// it may hold a password.
pub(super) fn mongo_uri<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let uri = optional(d)?;
    if let Some(uri) = &uri
        && !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"))
    {
        return Err(de::Error::custom(
            "must start with mongodb:// or mongodb+srv://",
        ));
    }
    Ok(uri.map(SecretString::from))
}

/// A `tracing` filter (`info`, `warn,tokengate=debug`), checked now so that a
/// typo stops start-up instead of silently logging at another level.
pub(super) fn log_filter<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let filter = non_empty(d)?;
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| {
        de::Error::custom(format!(
            "{filter:?} is not a log filter like info or warn,tokengate=debug ({e})"
        ))
    })?;
    Ok(filter)
}

/// Allowed origins: one comma-separated string (as `FRONTEND_ORIGIN` is) or
/// a list; at least one.
pub(super) fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Origin>, D::Error> {
    let origins = d.deserialize_any(ListVisitor {
        parse: Origin::parse,
        what: "origins",
    })?;
    if origins.is_empty() {
        return Err(de::Error::custom("at least one origin is required"));
    }
    Ok(origins)
}

/// Trusted proxies: a comma-separated string (as `TRUSTED_PROXIES` is) or a
/// list, of CIDR ranges or bare addresses; may be empty.
pub(super) fn proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    d.deserialize_any(ListVisitor {
        parse: parse_proxy,
        what: "IP addresses or CIDR ranges",
    })
}

/// `10.0.0.0/8`, `fd00::/8`, or a bare address: itself alone (/32 or /128).
/// Parsed by ipnet, as its serde support does.
pub(super) fn parse_proxy(raw: &str) -> Result<IpNet, String> {
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))
}

struct ListVisitor<T> {
    parse: fn(&str) -> Result<T, String>,
    what: &'static str,
}

impl<T> ListVisitor<T> {
    fn item<E: de::Error>(&self, raw: &str) -> Result<Option<T>, E> {
        let item = raw.trim();
        if item.is_empty() {
            return Ok(None);
        }
        (self.parse)(item).map(Some).map_err(E::custom)
    }
}

impl<'de, T> Visitor<'de> for ListVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "comma-separated {}", self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        v.split(',')
            .filter_map(|raw| self.item(raw).transpose())
            .collect()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(raw) = seq.next_element::<String>()? {
            items.extend(self.item(&raw)?);
        }
        Ok(items)
    }
}

/// A secret where empty means unset (`JWT_SECRET_PREVIOUS=`). Never echoed.
pub(super) fn optional_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(optional(d)?.map(SecretString::from))
}

/// An SMTP server URL where empty means unset: `smtp://` or `smtps://`
/// with a host. A secret (it may hold credentials): errors never echo it.
pub(super) fn optional_smtp_url<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SecretString>, D::Error> {
    let Some(raw) = optional(d)? else {
        return Ok(None);
    };
    let well_formed = url::Url::parse(&raw)
        .is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some());
    if !well_formed {
        return Err(de::Error::custom(
            "must be smtp://host[:port] or smtps://host[:port] (credentials as user:password@host)",
        ));
    }
    Ok(Some(SecretString::from(raw)))
}

/// A mail transport where empty means unset.
pub(super) fn optional_mail_transport<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<super::sections::MailTransport>, D::Error> {
    optional(d)?
        .map(|raw| raw.parse().map_err(de::Error::custom))
        .transpose()
}

/// An http(s) URL where empty means unset; no query or fragment (links
/// append their own query).
pub(super) fn optional_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
    let Some(raw) = optional(d)? else {
        return Ok(None);
    };
    let url = url::Url::parse(&raw).map_err(|e| de::Error::custom(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(de::Error::custom(format!("{raw:?} is not an http(s) URL")));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(de::Error::custom(format!(
            "{raw:?} must have no query, fragment or credentials"
        )));
    }
    Ok(Some(url))
}

/// A file path where empty means unset.
pub(super) fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Ok(optional(d)?.map(PathBuf::from))
}

/// A period that may be turned off: `off`, empty or `0` mean none,
/// anything else is a duration (`30d`).
pub(super) fn optional_period<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let Some(raw) = optional(d)? else {
        return Ok(None);
    };
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let period = parse_duration(&raw).map_err(de::Error::custom)?;
    Ok(Some(period).filter(|p| !p.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_humantime_syntax() {
        for (raw, expected) in [
            ("900s", Duration::from_secs(900)),
            ("15m", Duration::from_secs(900)),
            ("7d", Duration::from_secs(604_800)),
            ("2h", Duration::from_secs(7_200)),
            ("250ms", Duration::from_millis(250)),
            ("1h 30m", Duration::from_secs(5_400)),
            (" 15m ", Duration::from_secs(900)),
            ("1.5h", Duration::from_secs(5_400)),
        ] {
            assert_eq!(parse_duration(raw), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn a_bare_number_is_seconds_and_zero_is_zero() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("00"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 30 "), Ok(Duration::from_secs(30)));
    }

    #[test]
    fn bad_durations_are_refused_with_the_value() {
        for bad in [
            "",
            " ",
            "m",
            "soon",
            "-5s",
            "+5s",
            "5 parsecs",
            "1e3s",
            "0x10s",
        ] {
            let message = parse_duration(bad).expect_err(bad);
            assert!(message.contains(&format!("{bad:?}")), "{message}");
        }
    }

    #[test]
    fn huge_durations_are_refused_never_a_panic() {
        for huge in [
            "99999999999999999999d",
            "18446744073709551615",
            "18446744073709551615s 1000ms",
            "584542046090y",
            "9999999999y 9999999999y 9999999999y 9999999999y",
            "1.99999999999999999999999s",
            &"9".repeat(10_000),
        ] {
            assert!(parse_duration(huge).is_err(), "{huge:?} was accepted");
        }
        // Big but representable: accepted here, bounded per setting later.
        assert_eq!(
            parse_duration("999999999d"),
            Ok(Duration::from_secs(999_999_999 * 86_400))
        );
    }

    #[test]
    fn proxies_are_ranges_or_single_addresses() {
        assert_eq!(
            parse_proxy("10.0.0.0/8").unwrap(),
            "10.0.0.0/8".parse::<IpNet>().unwrap()
        );
        assert_eq!(parse_proxy("10.1.2.3").unwrap().prefix_len(), 32);
        assert_eq!(parse_proxy("fd00::1").unwrap().prefix_len(), 128);
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0",
            "localhost",
            "10.0.0.1 /8",
            "*",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn comma_separated_lists_skip_blanks_and_trim() {
        let list = ListVisitor {
            parse: parse_proxy,
            what: "proxies",
        };
        let parsed: Vec<IpNet> = list
            .visit_str::<de::value::Error>(" 10.0.0.1 , ,192.168.0.0/16,")
            .unwrap();
        assert_eq!(parsed.len(), 2);
        let list = ListVisitor {
            parse: parse_proxy,
            what: "proxies",
        };
        assert!(
            list.visit_str::<de::value::Error>("10.0.0.1;10.0.0.2")
                .is_err()
        );
    }
}
