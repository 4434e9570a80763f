//! Sorting the driver's errors into the store's three kinds.
//!
//! Two steps: [`facts`] reads what matters out of a driver error (its broad
//! kind, the server's code and message, its labels), and [`decide`] turns
//! those facts into a [`Class`]. `decide` is a pure function, so every rule
//! is unit-tested without a server (the driver does not let code outside it
//! build most error kinds, nor attach labels).
//!
//! Messages never carry the connection string: server errors do not contain
//! it, and start-up errors go through `connection::redact`.

use mongodb::error::{Error, ErrorKind, WriteFailure};

use super::indexes::USERS_EMAIL_UNIQUE;
use crate::store::StoreError;

/// Duplicate key. 11001 and 12582 are the codes older servers and mongos used.
const DUPLICATE_KEY_CODES: [i32; 3] = [11000, 11001, 12582];

/// IllegalOperation: on a standalone server, "Transaction numbers are only
/// allowed on a replica set member or mongos".
const ILLEGAL_OPERATION: i32 = 20;

/// The driver's own refusal (`ErrorKind::Transaction`) when the topology it
/// monitors cannot run transactions (`client/session/action.rs` in the
/// driver). Its other `Transaction` errors ("transaction already in
/// progress", "read preference in a transaction must be primary", ...) are
/// misuse, not a verdict on the deployment.
const DRIVER_NO_TRANSACTIONS: &str = "not supported by this deployment";

/// Server codes that mean "not now": the node is unreachable, shutting down,
/// stepping down or not (yet) primary. A retry after a moment may succeed.
const UNAVAILABLE_CODES: [i32; 15] = [
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired: the server gave up within our time budget
    64,    // WriteConcernFailed: majority not reached within wtimeout
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
    10058, // LegacyNotPrimary
];

/// Labels the driver or server put on errors that are worth retrying later.
const RETRY_LABELS: [&str; 3] = [
    "TransientTransactionError",
    "RetryableWriteError",
    "SystemOverloadedError",
];

/// What an error is, as far as the store cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// A duplicate key on the users' email index: the 409 of the contract.
    DuplicateEmail,
    /// The deployment refused a transaction (a standalone server).
    TransactionsUnsupported,
    /// MongoDB refused the credentials: a configuration error (500, and a
    /// log line that says so), not an outage.
    Misconfigured,
    /// The server cannot be reached or cannot serve right now: 503.
    Unavailable,
    /// Anything else: 500.
    Internal,
}

/// The broad kind of a driver error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// No server could be selected, the network failed, the pool was cleared,
    /// DNS failed, the client was shut down.
    Connectivity,
    /// The server refused the credentials (the driver reports a failed
    /// SASL conversation as `ErrorKind::Authentication`).
    Authentication,
    /// The driver's `ErrorKind::Transaction`: a transaction it refused or a
    /// misuse of its transaction API (the message tells which).
    Transaction,
    /// The driver found that the server does not support sessions.
    SessionsRefused,
    /// The server answered with an error (a command or write error).
    Server,
    /// Anything else (serialisation, invalid arguments, ...).
    Other,
}

/// What [`decide`] needs to know about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts<'a> {
    pub origin: Origin,
    pub code: Option<i32>,
    pub message: &'a str,
    pub labels: Vec<&'a str>,
}

pub(super) fn facts(err: &Error) -> Facts<'_> {
    let labels = err.labels().iter().map(String::as_str).collect();
    let (origin, code, message) = match err.kind.as_ref() {
        ErrorKind::ServerSelection { message, .. }
        | ErrorKind::ConnectionPoolCleared { message, .. }
        | ErrorKind::DnsResolve { message, .. } => (Origin::Connectivity, None, message.as_str()),
        ErrorKind::Authentication { message, .. } => {
            (Origin::Authentication, None, message.as_str())
        }
        ErrorKind::Io(_) | ErrorKind::Shutdown => (Origin::Connectivity, None, ""),
        ErrorKind::Transaction { message, .. } => (Origin::Transaction, None, message.as_str()),
        ErrorKind::SessionsNotSupported => (Origin::SessionsRefused, None, ""),
        ErrorKind::Command(e) => (Origin::Server, Some(e.code), e.message.as_str()),
        ErrorKind::Write(WriteFailure::WriteError(e)) => {
            (Origin::Server, Some(e.code), e.message.as_str())
        }
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => {
            (Origin::Server, Some(e.code), e.message.as_str())
        }
        ErrorKind::InsertMany(e) => match e.write_errors.as_ref().and_then(|w| w.first()) {
            Some(w) => (Origin::Server, Some(w.code), w.message.as_str()),
            None => match &e.write_concern_error {
                Some(wc) => (Origin::Server, Some(wc.code), wc.message.as_str()),
                None => (Origin::Other, None, ""),
            },
        },
        _ => (Origin::Other, None, ""),
    };
    Facts {
        origin,
        code,
        message,
        labels,
    }
}

pub(super) fn decide(f: &Facts<'_>) -> Class {
    match f.origin {
        Origin::Connectivity => return Class::Unavailable,
        Origin::Authentication => return Class::Misconfigured,
        Origin::SessionsRefused => return Class::TransactionsUnsupported,
        Origin::Transaction if f.message.contains(DRIVER_NO_TRANSACTIONS) => {
            return Class::TransactionsUnsupported;
        }
        Origin::Transaction => return Class::Internal,
        Origin::Server | Origin::Other => {}
    }
    if let Some(code) = f.code {
        if DUPLICATE_KEY_CODES.contains(&code) {
            // Only the users' email index is the contract's 409; a duplicate
            // anywhere else (an id, a second report setting) is a bug.
            return if names_index(f.message, USERS_EMAIL_UNIQUE) {
                Class::DuplicateEmail
            } else {
                Class::Internal
            };
        }
        if code == ILLEGAL_OPERATION && refers_to_transactions(f.message) {
            return Class::TransactionsUnsupported;
        }
        if UNAVAILABLE_CODES.contains(&code) {
            return Class::Unavailable;
        }
    }
    if f.labels.iter().any(|l| RETRY_LABELS.contains(l)) {
        return Class::Unavailable;
    }
    Class::Internal
}

/// The server's duplicate-key message names the index:
/// `E11000 duplicate key error collection: db.users index: users_email_unique dup key: {..}`.
fn names_index(message: &str, index: &str) -> bool {
    message
        .split("index: ")
        .skip(1)
        .any(|rest| rest.split_whitespace().next() == Some(index))
}

/// Code 20 is IllegalOperation in general; only its transaction message
/// ("Transaction numbers are only allowed on a replica set member or
/// mongos") is a verdict on the deployment.
fn refers_to_transactions(message: &str) -> bool {
    message.to_ascii_lowercase().contains("transaction")
}

/// Whether `err` is a duplicate key on the index named `index`.
pub(super) fn is_duplicate_on(err: &Error, index: &str) -> bool {
    let f = facts(err);
    f.code.is_some_and(|c| DUPLICATE_KEY_CODES.contains(&c)) && names_index(f.message, index)
}

pub(super) fn class_of(err: &Error) -> Class {
    decide(&facts(err))
}

/// Whether the deployment refused a transaction, so registration should fall
/// back to plain writes.
pub(super) fn is_transactions_unsupported(err: &Error) -> bool {
    class_of(err) == Class::TransactionsUnsupported
}

/// The store error for a driver error.
pub(super) fn classify(err: &Error) -> StoreError {
    match class_of(err) {
        Class::DuplicateEmail => StoreError::DuplicateEmail,
        Class::Unavailable => StoreError::unavailable(describe(err)),
        Class::Misconfigured => {
            let message = misconfigured(err);
            log_misconfiguration(&message);
            StoreError::internal(message)
        }
        Class::TransactionsUnsupported | Class::Internal => StoreError::internal(describe(err)),
    }
}

/// The message of a refused authentication: what to fix, then the driver's
/// account (which never holds the password).
pub(super) fn misconfigured(err: &Error) -> String {
    format!(
        "configuration error: MongoDB refused the credentials in MONGO_URI (fix the user, \
         password or authSource): {}",
        describe(err)
    )
}

/// Logs a refused authentication at run time, at most once a minute: it
/// is the operator's to fix, and every request would repeat it.
fn log_misconfiguration(message: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(error = %message, "MongoDB store misconfigured: requests answer 500 and /health/ready 503 until it is fixed");
    }
}

/// Lets `?` turn a driver error into a store error. The cause kept is
/// `describe`'s one-line account (kind, code, server message), never the
/// driver's raw server response.
impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        classify(&err)
    }
}

/// A one-line account of a driver error for logs: kind, code and server
/// message, without the driver's raw server response.
pub(super) fn describe(err: &Error) -> String {
    let f = facts(err);
    let mut text = match err.kind.as_ref() {
        ErrorKind::Command(e) => format!(
            "mongodb command error {} ({}): {}",
            e.code, e.code_name, e.message
        ),
        ErrorKind::Write(WriteFailure::WriteError(e)) => format!(
            "mongodb write error {} ({}): {}",
            e.code,
            e.code_name.as_deref().unwrap_or("?"),
            e.message
        ),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => format!(
            "mongodb write concern error {} ({}): {}",
            e.code, e.code_name, e.message
        ),
        ErrorKind::InsertMany(_) => format!(
            "mongodb insert error {}: {}",
            f.code.unwrap_or_default(),
            f.message
        ),
        ErrorKind::ServerSelection { message, .. } => {
            format!("no MongoDB server available: {message}")
        }
        other => format!("mongodb: {other}"),
    };
    if !f.labels.is_empty() {
        let mut labels = f.labels.clone();
        labels.sort_unstable();
        text.push_str(&format!(" [labels: {}]", labels.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mongodb::bson::{self, doc};
    use mongodb::error::{CommandError, InsertManyError, WriteError};

    use super::*;

    const DUP_EMAIL: &str = "E11000 duplicate key error collection: tokengate.users index: \
                             users_email_unique dup key: { email: \"ada@example.com\" }";
    const DUP_SETTING: &str = "E11000 duplicate key error collection: tokengate.reportSettings \
                               index: reportSettings_userId_unique dup key: { userId: \"x\" }";
    const DUP_ID: &str = "E11000 duplicate key error collection: tokengate.users index: _id_ \
                          dup key: { _id: \"x\" }";
    const NO_TXN: &str = "Transaction numbers are only allowed on a replica set member or mongos";

    fn server(code: i32, message: &str) -> Facts<'_> {
        Facts {
            origin: Origin::Server,
            code: Some(code),
            message,
            labels: vec![],
        }
    }

    fn command_error(code: i32, name: &str, message: &str) -> Error {
        let e: CommandError =
            bson::from_document(doc! { "code": code, "codeName": name, "errmsg": message })
                .unwrap();
        Error::from(ErrorKind::Command(e))
    }

    fn write_error(code: i32, message: &str) -> Error {
        let e: WriteError = bson::from_document(
            doc! { "code": code, "codeName": "DuplicateKey", "errmsg": message },
        )
        .unwrap();
        Error::from(ErrorKind::Write(WriteFailure::WriteError(e)))
    }

    #[test]
    fn duplicate_email_from_an_insert_write_error() {
        let err = write_error(11000, DUP_EMAIL);
        assert_eq!(class_of(&err), Class::DuplicateEmail);
        assert!(matches!(classify(&err), StoreError::DuplicateEmail));
    }

    #[test]
    fn duplicate_email_from_a_find_and_modify_command_error() {
        let err = command_error(11000, "DuplicateKey", DUP_EMAIL);
        assert!(matches!(classify(&err), StoreError::DuplicateEmail));
    }

    #[test]
    fn duplicate_email_from_insert_many() {
        let e: InsertManyError = bson::from_document(doc! {
            "writeErrors": [ { "index": 0, "code": 11000, "errmsg": DUP_EMAIL } ]
        })
        .unwrap();
        let err = Error::from(ErrorKind::InsertMany(e));
        assert!(matches!(classify(&err), StoreError::DuplicateEmail));
    }

    #[test]
    fn other_duplicates_are_internal() {
        for message in [DUP_SETTING, DUP_ID, "E11000 duplicate key error", ""] {
            assert_eq!(
                decide(&server(11000, message)),
                Class::Internal,
                "{message}"
            );
        }
        assert!(matches!(
            classify(&write_error(11000, DUP_SETTING)),
            StoreError::Internal(_)
        ));
    }

    #[test]
    fn legacy_duplicate_codes_count_too() {
        assert_eq!(decide(&server(11001, DUP_EMAIL)), Class::DuplicateEmail);
        assert_eq!(decide(&server(12582, DUP_EMAIL)), Class::DuplicateEmail);
    }

    #[test]
    fn index_name_must_match_exactly() {
        assert!(names_index(DUP_EMAIL, USERS_EMAIL_UNIQUE));
        assert!(!names_index(
            "E11000 ... index: users_email_unique_v2 dup key: {}",
            USERS_EMAIL_UNIQUE
        ));
        assert!(!names_index("users_email_unique", USERS_EMAIL_UNIQUE));
    }

    #[test]
    fn code_20_about_transactions_means_no_transactions() {
        let err = command_error(20, "IllegalOperation", NO_TXN);
        assert!(is_transactions_unsupported(&err));
        assert_eq!(
            decide(&server(20, "")),
            Class::Internal,
            "code 20 without its transaction message is not a topology verdict"
        );
        assert_eq!(
            decide(&server(20, "something unrelated")),
            Class::Internal,
            "code 20 for another reason is not a topology verdict"
        );
    }

    #[test]
    fn the_driver_refusing_a_session_means_no_transactions() {
        let err = Error::from(ErrorKind::SessionsNotSupported);
        assert!(is_transactions_unsupported(&err));
        let refused = Facts {
            origin: Origin::Transaction,
            code: None,
            message: "Transactions are not supported by this deployment",
            labels: vec![],
        };
        assert_eq!(decide(&refused), Class::TransactionsUnsupported);
    }

    /// The driver's other `Transaction` errors (client/session/action.rs,
    /// client/executor.rs) are misuse: never a reason to give up
    /// transactions for the life of the process.
    #[test]
    fn other_driver_transaction_errors_are_internal() {
        for message in [
            "transaction already in progress",
            "Transactions are not supported in snapshot sessions",
            "transactions do not support unacknowledged write concerns",
            "read preference in a transaction must be primary",
            "no transaction started",
            "Cannot call commitTransaction after calling abortTransaction",
        ] {
            let f = Facts {
                origin: Origin::Transaction,
                code: None,
                message,
                labels: vec![],
            };
            assert_eq!(decide(&f), Class::Internal, "{message}");
        }
    }

    #[test]
    fn refused_credentials_are_a_configuration_error_not_an_outage() {
        let f = Facts {
            origin: Origin::Authentication,
            code: None,
            message: "SCRAM failure: Authentication failed.",
            labels: vec![],
        };
        assert_eq!(decide(&f), Class::Misconfigured);
    }

    #[test]
    fn time_limits_and_write_concern_timeouts_are_unavailable() {
        assert_eq!(
            decide(&server(50, "operation exceeded time limit")),
            Class::Unavailable
        );
        assert_eq!(
            decide(&server(64, "waiting for replication timed out")),
            Class::Unavailable
        );
    }

    #[test]
    fn connectivity_failures_are_unavailable() {
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            let err = Error::from(ErrorKind::Io(Arc::new(kind.into())));
            assert!(
                matches!(classify(&err), StoreError::Unavailable(_)),
                "{kind:?}"
            );
        }
        assert!(matches!(
            classify(&Error::from(ErrorKind::Shutdown)),
            StoreError::Unavailable(_)
        ));
        let selection = Facts {
            origin: Origin::Connectivity,
            code: None,
            message: "Server selection timeout: No available servers",
            labels: vec![],
        };
        assert_eq!(decide(&selection), Class::Unavailable);
    }

    #[test]
    fn not_primary_and_shutdown_codes_are_unavailable() {
        for code in [10107, 13435, 11600, 11602, 91, 189, 6, 89, 9001] {
            assert_eq!(decide(&server(code, "")), Class::Unavailable, "{code}");
            assert!(matches!(
                classify(&command_error(code, "X", "")),
                StoreError::Unavailable(_)
            ));
        }
    }

    #[test]
    fn retryable_labels_are_unavailable() {
        for label in RETRY_LABELS {
            let f = Facts {
                origin: Origin::Server,
                code: Some(112),
                message: "WriteConflict",
                labels: vec![label],
            };
            assert_eq!(decide(&f), Class::Unavailable, "{label}");
        }
    }

    #[test]
    fn everything_else_is_internal() {
        assert_eq!(decide(&server(2, "BadValue")), Class::Internal);
        assert_eq!(
            decide(&server(121, "Document failed validation")),
            Class::Internal
        );
        let other = Facts {
            origin: Origin::Other,
            code: None,
            message: "",
            labels: vec![],
        };
        assert_eq!(decide(&other), Class::Internal);
        let de = bson::from_document::<CommandError>(doc! { "code": "not a number" }).unwrap_err();
        let err = Error::from(ErrorKind::BsonDeserialization(de));
        assert!(matches!(classify(&err), StoreError::Internal(_)));
    }

    #[test]
    fn descriptions_name_the_code_and_not_the_raw_response() {
        let text = describe(&command_error(10107, "NotWritablePrimary", "not primary"));
        assert_eq!(
            text,
            "mongodb command error 10107 (NotWritablePrimary): not primary"
        );
    }
}
