//! Creating a user and the user's report setting: both or neither.
//!
//! With a replica set or mongos, one transaction, run by our own retry loop
//! ([`run_transaction`]) rather than the driver's convenient API: that API
//! (`StartTransaction::and_run`/`and_run2`, driver `client/session/action.rs`)
//! retries `TransientTransactionError` for a fixed 120 s
//! (`MAX_CONVENIENT_TRANSACTION_TIME`, not configurable outside the driver's
//! own tests), and inside a transaction the driver labels every network and
//! server-selection error transient (`client/executor.rs`,
//! `add_labels_and_update_pin`), so with MongoDB away a registration would
//! hang for two minutes. Our loop retries the same errors the same way, but
//! only within the store's time budget.
//!
//! A standalone server has no transactions; there `fallback` writes the two
//! documents one after the other. Which path is used is decided when the
//! store connects, from the server's `hello` reply ([`decide`]), and revised
//! only if the server refuses a transaction at run time and a fresh `hello`
//! agrees.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{TransactionOptions, WriteConcern};
use mongodb::{ClientSession, Collection, Database};
use tokio::time::Instant;

use super::budget::{Cause, OutOfTime, remaining};
use super::documents::{ReportSettingDoc, UserDoc};
use super::errors::{classify, describe};
use crate::store::StoreError;
use crate::store::StoreResult;

/// How registration writes its two documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// One multi-document transaction (replica set or mongos).
    Transaction,
    /// The setting, then the user, with a compensating delete (standalone
    /// server).
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

/// The mode the deployment allows, and why (for the log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Verdict {
    pub mode: RegistrationMode,
    pub reason: String,
}

/// Wire version of MongoDB 4.0 (replica-set transactions) and 4.2 (sharded).
const WIRE_VERSION_4_0: i64 = 7;
const WIRE_VERSION_4_2: i64 = 8;

/// Reads the topology from a `hello` (or legacy `isMaster`) reply. `Err`
/// when the server cannot serve yet: a `--replSet` member that has not been
/// initiated answers `isreplicaset: true` and no `setName`; it is not a
/// standalone server, and deciding "fallback" from it would give up
/// transactions for the life of the process.
pub(super) fn decide(hello: &Document) -> Result<Verdict, String> {
    let wire = int(hello, "maxWireVersion");
    let sessions = !matches!(
        hello.get("logicalSessionTimeoutMinutes"),
        None | Some(Bson::Null)
    );
    let fallback = |reason: String| {
        Ok(Verdict {
            mode: RegistrationMode::Fallback,
            reason,
        })
    };
    if hello.get_str("msg").ok() == Some("isdbgrid") {
        if wire.is_some_and(|w| w < WIRE_VERSION_4_2) {
            return fallback(
                "mongos older than MongoDB 4.2 has no distributed transactions".into(),
            );
        }
        return Ok(Verdict {
            mode: RegistrationMode::Transaction,
            reason: "connected to mongos (a sharded cluster)".into(),
        });
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
        return Ok(Verdict {
            mode: RegistrationMode::Transaction,
            reason: format!("member of replica set {set_name:?}"),
        });
    }
    if hello.get_bool("isreplicaset").unwrap_or(false) {
        return Err(
            "the server was started with --replSet but the replica set is not initiated yet \
             (run rs.initiate())"
                .into(),
        );
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

/// What the retry loop needs to know about an error: the driver's labels.
pub(super) trait Labelled {
    /// `TransientTransactionError`: the whole transaction may be retried.
    fn transient(&self) -> bool;
    /// `UnknownTransactionCommitResult`: the commit may be retried.
    fn unknown_commit_result(&self) -> bool;
    /// A one-line account for logs and causes.
    fn describe(&self) -> String;
}

impl Labelled for Error {
    fn transient(&self) -> bool {
        self.contains_label(TRANSIENT_TRANSACTION_ERROR)
    }

    fn unknown_commit_result(&self) -> bool {
        self.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
    }

    fn describe(&self) -> String {
        describe(self)
    }
}

/// One transaction's steps, the seam of [`run_transaction`].
#[async_trait]
pub(super) trait TransactionSteps: Send {
    type Error: Labelled + Send;
    /// Starts a transaction whose commit may take at most `commit_budget`.
    async fn start(&mut self, commit_budget: Duration) -> Result<(), Self::Error>;
    /// The writes inside the transaction.
    async fn body(&mut self) -> Result<(), Self::Error>;
    async fn commit(&mut self) -> Result<(), Self::Error>;
    /// Best effort; an abort that fails leaves the server to abort.
    async fn abort(&mut self);
}

/// How a transaction failed.
#[derive(Debug)]
pub(super) enum TransactionFailure<E> {
    /// A failure that is not worth a retry, as the driver reported it.
    Failed(E),
    /// The budget ran out, retrying or waiting.
    OutOfTime(OutOfTime),
}

/// Backoff between whole-transaction retries: the driver's formula
/// (`compute_backoff` in `client/session/action.rs`: 5 ms × 1.5^n, at most
/// 500 ms, times a random jitter).
fn backoff(attempt: u32, jitter: f64) -> Duration {
    let ms = (5.0 * 1.5f64.powi(attempt.saturating_sub(1) as i32)).min(500.0);
    Duration::from_secs_f64(ms * jitter / 1000.0)
}

fn jitter() -> f64 {
    f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 255.0
}

/// The driver's convenient-transaction algorithm (start, body, commit;
/// retry the whole on `TransientTransactionError`, the commit on
/// `UnknownTransactionCommitResult`), bounded by `budget`: no retry starts
/// that its backoff would push past the budget, and each step is cut off at
/// the deadline (see `budget` for why that is safe; here, in addition,
/// nothing of an uncommitted transaction is ever visible, and a commit cut
/// off has landed or not, both documents or neither).
pub(super) async fn run_transaction<S: TransactionSteps>(
    steps: &mut S,
    budget: Duration,
) -> Result<(), TransactionFailure<S::Error>> {
    let deadline = Instant::now() + budget;
    let out_of_time = |last: Option<&S::Error>| {
        TransactionFailure::OutOfTime(OutOfTime {
            what: "the registration transaction",
            budget,
            last: last.map(|e| Cause(e.describe())),
        })
    };
    let mut attempt: u32 = 0;
    let mut last: Option<S::Error> = None;
    'transaction: loop {
        if attempt > 0 {
            let pause = backoff(attempt, jitter());
            if remaining(deadline) <= pause {
                return Err(out_of_time(last.as_ref()));
            }
            tokio::time::sleep(pause).await;
        }
        attempt += 1;
        let left = remaining(deadline);
        if left.is_zero() {
            return Err(out_of_time(last.as_ref()));
        }
        let step = steps.start(left);
        match tokio::time::timeout_at(deadline, step).await {
            Err(_) => return Err(out_of_time(last.as_ref())),
            Ok(Err(e)) => return Err(TransactionFailure::Failed(e)),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, steps.body()).await {
            Err(_) => return Err(out_of_time(last.as_ref())),
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // The abort gets what is left of the budget; if none is
                // left, dropping the session aborts in the background.
                let _ = tokio::time::timeout_at(deadline, steps.abort()).await;
                if e.transient() {
                    tracing::debug!(attempt, error = %e.describe(), "transient transaction error; retrying");
                    last = Some(e);
                    continue 'transaction;
                }
                return Err(TransactionFailure::Failed(e));
            }
        }
        loop {
            match tokio::time::timeout_at(deadline, steps.commit()).await {
                Err(_) => return Err(out_of_time(last.as_ref())),
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if e.unknown_commit_result() => {
                    // The driver retries such a commit at once; so do we,
                    // while time remains.
                    last = Some(e);
                    if remaining(deadline).is_zero() {
                        return Err(out_of_time(last.as_ref()));
                    }
                }
                Ok(Err(e)) if e.transient() => {
                    last = Some(e);
                    continue 'transaction;
                }
                Ok(Err(e)) => return Err(TransactionFailure::Failed(e)),
            }
        }
    }
}

/// The registration transaction on the real collections.
pub(super) struct MongoSteps<'a> {
    pub session: ClientSession,
    pub users: &'a Collection<UserDoc>,
    pub settings: &'a Collection<ReportSettingDoc>,
    pub user: &'a UserDoc,
    pub setting: &'a ReportSettingDoc,
    /// The write concern of the commit: majority, waiting at most the budget.
    pub write_concern: WriteConcern,
}

#[async_trait]
impl TransactionSteps for MongoSteps<'_> {
    type Error = Error;

    async fn start(&mut self, commit_budget: Duration) -> Result<(), Error> {
        // maxCommitTimeMS 0 would mean "no limit": at least a millisecond.
        let options = TransactionOptions::builder()
            .write_concern(self.write_concern.clone())
            .max_commit_time(commit_budget.max(Duration::from_millis(1)))
            .build();
        self.session.start_transaction().with_options(options).await
    }

    async fn body(&mut self) -> Result<(), Error> {
        self.users
            .insert_one(self.user)
            .session(&mut self.session)
            .await?;
        self.settings
            .insert_one(self.setting)
            .session(&mut self.session)
            .await?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), Error> {
        self.session.commit_transaction().await
    }

    async fn abort(&mut self) {
        // The driver may have aborted already (then this is refused, which
        // is fine): it alone knows the session's transaction state.
        let _ = self.session.abort_transaction().await;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    fn decide_ok(hello: &Document) -> Verdict {
        decide(hello).expect("a verdict")
    }

    #[test]
    fn an_uninitiated_replica_set_member_is_not_ready_not_standalone() {
        let why = decide(&doc! {
            "isWritablePrimary": false, "secondary": false, "isreplicaset": true,
            "maxWireVersion": 21, "ok": 1.0,
        })
        .unwrap_err();
        assert!(why.contains("rs.initiate"), "{why}");
    }

    /// A scripted error: which labels it carries.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fake {
        Transient,
        UnknownCommit,
        Fatal,
    }

    impl Labelled for Fake {
        fn transient(&self) -> bool {
            *self == Fake::Transient
        }
        fn unknown_commit_result(&self) -> bool {
            *self == Fake::UnknownCommit
        }
        fn describe(&self) -> String {
            format!("{self:?}")
        }
    }

    /// Steps whose outcomes are scripted; an empty script succeeds, and
    /// `body_forever`/`hang` make every body fail transiently or never end.
    #[derive(Default)]
    struct Script {
        body: VecDeque<Fake>,
        commit: VecDeque<Fake>,
        body_forever: Option<Fake>,
        hang: bool,
        calls: Vec<&'static str>,
    }

    #[async_trait]
    impl TransactionSteps for Script {
        type Error = Fake;
        async fn start(&mut self, commit_budget: Duration) -> Result<(), Fake> {
            assert!(!commit_budget.is_zero());
            self.calls.push("start");
            Ok(())
        }
        async fn body(&mut self) -> Result<(), Fake> {
            self.calls.push("body");
            if self.hang {
                std::future::pending::<()>().await;
            }
            match self.body.pop_front().or(self.body_forever) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        async fn commit(&mut self) -> Result<(), Fake> {
            self.calls.push("commit");
            self.commit.pop_front().map_or(Ok(()), Err)
        }
        async fn abort(&mut self) {
            self.calls.push("abort");
        }
    }

    const BUDGET: Duration = Duration::from_secs(5);

    /// The fault of issue #13: inside a transaction the driver labels a
    /// server-selection error transient, and MongoDB stays away. The driver's
    /// convenient API would retry for 120 s; ours stops within the budget.
    #[tokio::test(start_paused = true)]
    async fn a_transient_error_that_never_clears_ends_within_the_budget() {
        let mut steps = Script {
            body_forever: Some(Fake::Transient),
            ..Script::default()
        };
        let started = Instant::now();
        let outcome = run_transaction(&mut steps, BUDGET).await;
        let elapsed = started.elapsed();
        assert!(elapsed <= BUDGET, "took {elapsed:?}");
        match outcome {
            Err(TransactionFailure::OutOfTime(e)) => {
                assert_eq!(e.budget, BUDGET);
                assert_eq!(e.last.map(|c| c.0).as_deref(), Some("Transient"));
            }
            other => panic!("expected OutOfTime, got {other:?}"),
        }
        let attempts = steps.calls.iter().filter(|c| **c == "body").count();
        assert!(attempts > 10, "it did retry meanwhile: {attempts}");
        assert!(!steps.calls.contains(&"commit"));
        assert_eq!(
            steps.calls.iter().filter(|c| **c == "abort").count(),
            attempts,
            "every failed attempt was aborted"
        );
    }

    /// The fault the driver cannot bound at all: a connection that stops
    /// answering mid-command (no socket timeout in the locked driver).
    #[tokio::test(start_paused = true)]
    async fn a_step_that_never_answers_is_cut_off_at_the_budget() {
        let mut steps = Script {
            hang: true,
            ..Script::default()
        };
        let started = Instant::now();
        let outcome = run_transaction(&mut steps, BUDGET).await;
        assert_eq!(started.elapsed(), BUDGET);
        assert!(matches!(outcome, Err(TransactionFailure::OutOfTime(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_error_that_clears_is_retried_to_success() {
        let mut steps = Script {
            body: VecDeque::from([Fake::Transient, Fake::Transient]),
            commit: VecDeque::from([Fake::UnknownCommit, Fake::Transient]),
            ..Script::default()
        };
        run_transaction(&mut steps, BUDGET).await.unwrap();
        assert_eq!(
            steps.calls,
            [
                "start", "body", "abort", // transient
                "start", "body", "abort", // transient
                "start", "body", "commit", // unknown result: commit again
                "commit", // transient: the whole transaction again
                "start", "body", "commit",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_retried() {
        let mut steps = Script {
            body: VecDeque::from([Fake::Fatal]),
            ..Script::default()
        };
        let outcome = run_transaction(&mut steps, BUDGET).await;
        assert!(matches!(
            outcome,
            Err(TransactionFailure::Failed(Fake::Fatal))
        ));
        assert_eq!(steps.calls, ["start", "body", "abort"]);

        let mut steps = Script {
            commit: VecDeque::from([Fake::Fatal]),
            ..Script::default()
        };
        let outcome = run_transaction(&mut steps, BUDGET).await;
        assert!(matches!(
            outcome,
            Err(TransactionFailure::Failed(Fake::Fatal))
        ));
    }

    #[test]
    fn the_backoff_is_the_drivers() {
        assert_eq!(backoff(1, 1.0), Duration::from_millis(5));
        assert_eq!(backoff(2, 1.0), Duration::from_micros(7_500));
        assert_eq!(backoff(40, 1.0), Duration::from_millis(500));
        assert_eq!(backoff(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn a_replica_set_member_uses_transactions() {
        let v = decide_ok(&doc! {
            "isWritablePrimary": true, "setName": "rs0", "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
        });
        assert_eq!(v.mode, RegistrationMode::Transaction);
        assert!(v.reason.contains("rs0"), "{}", v.reason);
    }

    #[test]
    fn mongos_uses_transactions() {
        let v = decide_ok(&doc! {
            "isWritablePrimary": true, "msg": "isdbgrid", "maxWireVersion": 21,
            "logicalSessionTimeoutMinutes": 30, "ok": 1.0,
        });
        assert_eq!(v.mode, RegistrationMode::Transaction);
        assert!(v.reason.contains("mongos"));
    }

    #[test]
    fn a_standalone_server_falls_back_and_says_why() {
        let v = decide_ok(&doc! {
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
        assert_eq!(decide_ok(&old_replica_set).mode, RegistrationMode::Fallback);
        let old_mongos = doc! { "msg": "isdbgrid", "maxWireVersion": 7 };
        assert_eq!(decide_ok(&old_mongos).mode, RegistrationMode::Fallback);
        let no_sessions = doc! { "setName": "rs0", "maxWireVersion": 21 };
        assert_eq!(decide_ok(&no_sessions).mode, RegistrationMode::Fallback);
        let null_sessions = doc! {
            "setName": "rs0", "maxWireVersion": 21, "logicalSessionTimeoutMinutes": Bson::Null,
        };
        assert_eq!(decide_ok(&null_sessions).mode, RegistrationMode::Fallback);
    }

    #[test]
    fn other_msg_values_are_not_mongos() {
        let v = decide_ok(&doc! { "msg": "something", "maxWireVersion": 21 });
        assert_eq!(v.mode, RegistrationMode::Fallback);
    }

    #[test]
    fn mode_names() {
        assert_eq!(RegistrationMode::Transaction.as_str(), "transaction");
        assert_eq!(RegistrationMode::Fallback.as_str(), "fallback");
    }
}
