//! Turning `MONGO_URI` into client options, without ever printing it.
//!
//! The URI may hold a password, so every message produced while connecting
//! goes through [`redact`] before it reaches an error or a log line.

use std::time::Duration;

use mongodb::options::{Acknowledgment, ClientOptions, ConnectionString, HostInfo, WriteConcern};

use super::errors::{Class, class_of, describe};
use crate::store::{StoreError, StoreResult};

/// The driver's `appName`, visible in the server's logs and `currentOp`.
const APP_NAME: &str = "tokengate";

/// Checks `MONGO_URI` without any I/O. A malformed URI is a configuration
/// error: start-up stops with a message naming it (and never echoing it).
pub(super) fn check_uri(uri: &str) -> StoreResult<ConnectionString> {
    ConnectionString::parse(uri).map_err(|e| {
        StoreError::internal(format!(
            "configuration error: MONGO_URI was refused: {}",
            redact(&describe(&e), uri)
        ))
    })
}

/// Whether building the client options needs the network: a
/// `mongodb+srv://` URI is resolved through DNS (SRV and TXT records).
pub(super) fn needs_dns(conn: &ConnectionString) -> bool {
    matches!(conn.host_info, HostInfo::DnsRecord(_))
}

/// Turns the URI into client options and applies the service's defaults
/// where the URI is silent: the short server-selection timeout (so a missing
/// server fails a request in seconds, not the driver's 30 s), the same bound
/// on opening a connection, and majority writes that wait for replication
/// at most `budget`. Options given in the URI win. Does I/O (DNS) only for a
/// `mongodb+srv://` URI.
pub(super) async fn client_options(
    uri: &str,
    selection_timeout: Duration,
    budget: Duration,
) -> StoreResult<ClientOptions> {
    let mut options = ClientOptions::parse(uri).await.map_err(|e| {
        let message = format!("MONGO_URI was refused: {}", redact(&describe(&e), uri));
        match class_of(&e) {
            // An SRV or TXT lookup that failed: the network, not the URI.
            Class::Unavailable => StoreError::unavailable(message),
            _ => StoreError::internal(format!("configuration error: {message}")),
        }
    })?;
    apply_defaults(&mut options, selection_timeout, budget);
    Ok(options)
}

pub(super) fn apply_defaults(options: &mut ClientOptions, timeout: Duration, budget: Duration) {
    options.server_selection_timeout.get_or_insert(timeout);
    options.connect_timeout.get_or_insert(timeout);
    options.app_name.get_or_insert_with(|| APP_NAME.to_owned());
    let concern = options
        .write_concern
        .get_or_insert_with(WriteConcern::default);
    concern.w.get_or_insert(Acknowledgment::Majority);
    concern
        .w_timeout
        .get_or_insert(budget.max(Duration::from_millis(1)));
}

/// Majority, waiting for replication at most `budget`: what registration's
/// transaction and the session compare-and-swap use whatever the URI says.
/// A write acknowledged by a primary alone can be rolled back after a
/// failover: a rotation that vanishes would make the next refresh look like
/// reuse, and a registration that vanishes would lose a user.
pub(super) fn majority(budget: Duration) -> WriteConcern {
    let mut concern = WriteConcern::majority();
    // wtimeout 0 would mean "wait for ever": at least a millisecond.
    concern.w_timeout = Some(budget.max(Duration::from_millis(1)));
    concern
}

/// The database to use: the URI's own (`mongodb://host/<db>`), else the
/// configured name.
pub(super) fn database_name(options: &ConnectionString, configured: &str) -> String {
    options
        .default_database
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| configured.to_owned())
}

/// Removes the URI's credentials (and the URI itself) from `text`.
pub(super) fn redact(text: &str, uri: &str) -> String {
    let mut secrets: Vec<String> = vec![uri.to_owned()];
    if let Some(userinfo) = userinfo(uri) {
        secrets.push(userinfo.to_owned());
        if let Some((_, password)) = userinfo.split_once(':') {
            secrets.push(password.to_owned());
            secrets.push(percent_decode(password));
        }
    }
    // Longest first, so a password inside the userinfo does not leave the
    // rest of it behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "<redacted>");
    }
    out
}

/// `user:password` of `mongodb://user:password@host/...`.
fn userinfo(uri: &str) -> Option<&str> {
    let (_, rest) = uri.split_once("://")?;
    // The host list ends at the path or the options; the last '@' before
    // that ends the credentials (an unescaped '@' in a password included).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => Some(&authority[..at]),
        // A '/' inside an unescaped password cuts the authority short; the
        // last '@' before the options is then the end of the credentials.
        None => {
            let before_options = rest.split('?').next().unwrap_or(rest);
            before_options.rfind('@').map(|at| &before_options[..at])
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_survive_redaction() {
        let uri = "mongodb://app:s3cr%40t@db1:27017,db2:27017/tokengate?replicaSet=rs0";
        let text = format!("failed for {uri}; auth app:s3cr%40t; password s3cr@t; s3cr%40t");
        let clean = redact(&text, uri);
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(!clean.contains("app:"), "{clean}");
    }

    #[test]
    fn unescaped_characters_in_the_password_are_handled() {
        let uri = "mongodb://app:pa/ss@word@db:27017/?tls=true";
        let clean = redact("bad password pa/ss@word", uri);
        assert!(!clean.contains("pa/ss@word"), "{clean}");
    }

    #[test]
    fn uris_without_credentials_leave_messages_alone() {
        let uri = "mongodb://localhost:27017";
        assert_eq!(
            redact("no server at localhost:27017", uri),
            "no server at localhost:27017"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2Fc"), "a@b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[tokio::test]
    async fn defaults_apply_only_where_the_uri_is_silent() {
        let quick = Duration::from_secs(2);
        let budget = Duration::from_secs(5);
        let o = client_options("mongodb://localhost:27017", quick, budget)
            .await
            .unwrap();
        assert_eq!(o.server_selection_timeout, Some(quick));
        assert_eq!(o.connect_timeout, Some(quick));
        assert_eq!(o.app_name.as_deref(), Some("tokengate"));
        let wc = o.write_concern.unwrap();
        assert_eq!(wc.w, Some(Acknowledgment::Majority));
        assert_eq!(wc.w_timeout, Some(budget));

        let o = client_options(
            "mongodb://localhost:27017/?serverSelectionTimeoutMS=500&appName=mine&w=1&wtimeoutMS=100",
            quick,
            budget,
        )
        .await
        .unwrap();
        assert_eq!(o.server_selection_timeout, Some(Duration::from_millis(500)));
        assert_eq!(o.app_name.as_deref(), Some("mine"));
        let wc = o.write_concern.unwrap();
        assert_eq!(wc.w, Some(Acknowledgment::Nodes(1)));
        assert_eq!(wc.w_timeout, Some(Duration::from_millis(100)));

        let o = client_options("mongodb://localhost:27017/?journal=true", quick, budget)
            .await
            .unwrap();
        let wc = o.write_concern.unwrap();
        assert_eq!(
            wc.w,
            Some(Acknowledgment::Majority),
            "journal alone names no w"
        );
        assert_eq!(wc.journal, Some(true));
    }

    #[tokio::test]
    async fn the_database_comes_from_the_uri_else_the_setting() {
        let o = check_uri("mongodb://localhost/app_db?replicaSet=rs0").unwrap();
        assert_eq!(database_name(&o, "tokengate"), "app_db");
        let o = check_uri("mongodb://localhost/?replicaSet=rs0").unwrap();
        assert_eq!(database_name(&o, "tokengate"), "tokengate");
        assert!(!needs_dns(&o));
        assert!(needs_dns(
            &check_uri("mongodb+srv://cluster0.example.net/").unwrap()
        ));
    }

    #[tokio::test]
    async fn a_refused_uri_does_not_echo_its_password() {
        let uri = "mongodb://app:hunter2hunter2@:27017/";
        let err = check_uri(uri).unwrap_err();
        let text = crate::telemetry::error_chain(&err);
        assert!(matches!(err, StoreError::Internal(_)), "{text}");
        assert!(text.contains("configuration error"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = client_options(uri, Duration::from_secs(1), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(!crate::telemetry::error_chain(&err).contains("hunter2"));
    }
}
