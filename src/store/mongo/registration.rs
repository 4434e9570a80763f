//! Creating a user and the user's report setting: both or neither.
//!
//! With a replica set or mongos, one transaction through the driver's
//! convenient API (which retries `TransientTransactionError`s). A standalone
//! server has no transactions; there `fallback` inserts the two documents one
//! after the other and, should the second insert fail, deletes the first
//! again (a compensating delete), so no user is ever left without a setting.
//!
//! Which path is used is decided at start-up from the server's `hello` reply
//! ([`decide`]), and revised if the server refuses a transaction at run time.

use mongodb::bson::{Bson, Document, doc};
use mongodb::{Client, Collection, Database};

use super::documents::{ReportSettingDoc, UserDoc};
use super::errors::classify;
use crate::store::StoreError;
use crate::store::StoreResult;

/// How registration writes its two documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// One multi-document transaction (replica set or mongos).
    Transaction,
    /// Two plain inserts and a compensating delete (standalone server).
    Fallback,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationMode::Transaction => "transaction",
            RegistrationMode::Fallback => "fallback",
        }
    }
}

/// The mode the deployment allows, and why (for the start-up log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub mode: RegistrationMode,
    pub reason: String,
}

/// Wire version of MongoDB 4.0 (replica-set transactions) and 4.2 (sharded).
const WIRE_VERSION_4_0: i64 = 7;
const WIRE_VERSION_4_2: i64 = 8;

/// Reads the topology from a `hello` (or legacy `isMaster`) reply.
pub(super) fn decide(hello: &Document) -> Verdict {
    let wire = int(hello, "maxWireVersion");
    let sessions = !matches!(
        hello.get("logicalSessionTimeoutMinutes"),
        None | Some(Bson::Null)
    );
    let fallback = |reason: String| Verdict {
        mode: RegistrationMode::Fallback,
        reason,
    };
    if hello.get_str("msg").ok() == Some("isdbgrid") {
        if wire.is_some_and(|w| w < WIRE_VERSION_4_2) {
            return fallback(
                "mongos older than MongoDB 4.2 has no distributed transactions".into(),
            );
        }
        return Verdict {
            mode: RegistrationMode::Transaction,
            reason: "connected to mongos (a sharded cluster)".into(),
        };
    }
    if let Ok(set_name) = hello.get_str("setName") {
        if wire.is_some_and(|w| w < WIRE_VERSION_4_0) {
            return fallback(format!(
                "replica set {set_name:?} runs a MongoDB older than 4.0 (no transactions)"
            ));
        }
        if !sessions {
            return fallback(format!(
                "replica set {set_name:?} does not support sessions"
            ));
        }
        return Verdict {
            mode: RegistrationMode::Transaction,
            reason: format!("member of replica set {set_name:?}"),
        };
    }
    fallback(
        "standalone server (hello reports no replica set name and no mongos); transactions \
         need a replica set, a single-node one will do"
            .into(),
    )
}

fn int(doc: &Document, key: &str) -> Option<i64> {
    match doc.get(key)? {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) => Some(*v as i64),
        _ => None,
    }
}

/// CommandNotFound: a server too old for `hello`.
const COMMAND_NOT_FOUND: i32 = 59;

/// Asks the server what it is.
pub(super) async fn hello(db: &Database) -> StoreResult<Document> {
    match db.run_command(doc! { "hello": 1 }).await {
        Ok(reply) => Ok(reply),
        Err(e) if super::errors::facts(&e).code == Some(COMMAND_NOT_FOUND) => db
            .run_command(doc! { "isMaster": 1 })
            .await
            .map_err(StoreError::from),
        Err(e) => Err(classify(&e)),
    }
}

/// The two inserts in one transaction. The driver error is returned as is,
/// so the caller can tell a refused transaction from other failures.
///
/// `and_run` with an owned context rather than `and_run2`: an async closure
/// borrowing these values trips rustc's "`Send` is not general enough" bug
/// (rust-lang/rust#96865) under `async_trait`. The clones are cheap
/// (collections are handles).
pub(super) async fn in_transaction(
    client: &Client,
    users: &Collection<UserDoc>,
    settings: &Collection<ReportSettingDoc>,
    user: &UserDoc,
    setting: &ReportSettingDoc,
) -> mongodb::error::Result<()> {
    let mut session = client.start_session().await?;
    let context = (
        users.clone(),
        settings.clone(),
        user.clone(),
        setting.clone(),
    );
    session
        .start_transaction()
        .and_run(context, |s, (users, settings, user, setting)| {
            Box::pin(async move {
                users.insert_one(&*user).session(&mut *s).await?;
                settings.insert_one(&*setting).session(&mut *s).await?;
                Ok(())
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_set_member_uses_transactions() {
        let v = decide(&doc! {
            "isWritablePrimary": true, "setName": "rs0", "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
        });
        assert_eq!(v.mode, RegistrationMode::Transaction);
        assert!(v.reason.contains("rs0"), "{}", v.reason);
    }

    #[test]
    fn mongos_uses_transactions() {
        let v = decide(&doc! {
            "isWritablePrimary": true, "msg": "isdbgrid", "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
        });
        assert_eq!(v.mode, RegistrationMode::Transaction);
        assert!(v.reason.contains("mongos"));
    }

    #[test]
    fn a_standalone_server_falls_back_and_says_why() {
        let v = decide(&doc! {
            "isWritablePrimary": true, "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
        });
        assert_eq!(v.mode, RegistrationMode::Fallback);
        assert!(v.reason.contains("standalone"), "{}", v.reason);
        assert!(v.reason.contains("replica set"), "{}", v.reason);
    }

    #[test]
    fn old_or_sessionless_deployments_fall_back() {
        let old_replica_set = doc! {
            "setName": "rs0", "maxWireVersion": 6_i64, "logicalSessionTimeoutMinutes": 30,
        };
        assert_eq!(decide(&old_replica_set).mode, RegistrationMode::Fallback);
        let old_mongos = doc! { "msg": "isdbgrid", "maxWireVersion": 7 };
        assert_eq!(decide(&old_mongos).mode, RegistrationMode::Fallback);
        let no_sessions = doc! { "setName": "rs0", "maxWireVersion": 21 };
        assert_eq!(decide(&no_sessions).mode, RegistrationMode::Fallback);
        let null_sessions = doc! {
            "setName": "rs0", "maxWireVersion": 21, "logicalSessionTimeoutMinutes": Bson::Null,
        };
        assert_eq!(decide(&null_sessions).mode, RegistrationMode::Fallback);
    }

    #[test]
    fn other_msg_values_are_not_mongos() {
        let v = decide(&doc! { "msg": "something", "maxWireVersion": 21 });
        assert_eq!(v.mode, RegistrationMode::Fallback);
    }

    #[test]
    fn mode_names() {
        assert_eq!(RegistrationMode::Transaction.as_str(), "transaction");
        assert_eq!(RegistrationMode::Fallback.as_str(), "fallback");
    }
}
