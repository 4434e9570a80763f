//! Registration without a transaction (a standalone server): write the
//! report setting, then the user. A setting without its user is harmless (no
//! one can log in to it, its user id is never reused, and readers of a
//! setting repair a missing one anyway); a user without a setting is the
//! state to avoid, so it can never be produced here, not even by a crash
//! between the two writes.
//!
//! If the user insert fails, what was written is undone as far as it is
//! known to be safe, all within the call's time budget:
//! - the server refused the user (a taken email, a write error): the setting
//!   is deleted again;
//! - the outcome is unknown (a network error, the budget ran out): the user
//!   may exist, or may still be written by a command in flight, so it is
//!   deleted (to keep the 503 honest and the email free) but the setting
//!   stays: deleting it could leave a user that lands late without one.
//!
//! The sequence runs against a small seam, [`RegistrationWrites`], so its
//! logic (what is undone, in which order, retried how, within which time,
//! which error is reported) is unit-tested here without a server; the
//! conformance suite checks the real thing on a standalone MongoDB.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::Collection;
use mongodb::bson::doc;
use mongodb::error::{Error, ErrorKind, Result as DriverResult, WriteFailure};
use tokio::time::Instant;

use super::budget::{Cause, OutOfTime, remaining};
use super::documents::{ReportSettingDoc, UserDoc, field};
use super::errors::{classify, describe};
use crate::store::StoreResult;

/// Delays between attempts of a compensating delete (three attempts), as
/// far as the budget allows.
pub(super) const COMPENSATION_BACKOFF: [Duration; 2] =
    [Duration::from_millis(100), Duration::from_millis(500)];

/// The four writes the fallback is made of.
#[async_trait]
pub(super) trait RegistrationWrites: Send + Sync {
    /// For log lines.
    fn user_id(&self) -> &str;
    async fn insert_user(&self) -> DriverResult<()>;
    async fn insert_setting(&self) -> DriverResult<()>;
    /// Deletes the setting this registration inserted, if it exists.
    async fn delete_setting(&self) -> DriverResult<()>;
    async fn delete_user(&self) -> DriverResult<()>;
}

/// The writes on the real collections.
pub(super) struct MongoWrites<'a> {
    pub users: &'a Collection<UserDoc>,
    pub settings: &'a Collection<ReportSettingDoc>,
    pub user: &'a UserDoc,
    pub setting: &'a ReportSettingDoc,
}

#[async_trait]
impl RegistrationWrites for MongoWrites<'_> {
    fn user_id(&self) -> &str {
        &self.user.id
    }

    async fn insert_user(&self) -> DriverResult<()> {
        self.users.insert_one(self.user).await.map(drop)
    }

    async fn insert_setting(&self) -> DriverResult<()> {
        self.settings.insert_one(self.setting).await.map(drop)
    }

    async fn delete_setting(&self) -> DriverResult<()> {
        // By the setting's own id: never another registration's setting.
        self.settings
            .delete_one(doc! { field::ID: &self.setting.id })
            .await
            .map(drop)
    }

    async fn delete_user(&self) -> DriverResult<()> {
        self.users
            .delete_one(doc! { field::ID: &self.user.id })
            .await
            .map(drop)
    }
}

/// Whether the server answered that it did not write: a write error (a
/// duplicate key, a validation failure) or a command error. A write-concern
/// error means the write happened; anything else (the network, a timeout)
/// leaves the outcome unknown.
fn refused(err: &Error) -> bool {
    matches!(
        err.kind.as_ref(),
        ErrorKind::Write(WriteFailure::WriteError(_)) | ErrorKind::Command(_)
    )
}

fn out_of_time(budget: Duration, last: Option<&Error>) -> crate::store::StoreError {
    OutOfTime {
        what: "the registration",
        budget,
        last: last.map(|e| Cause(describe(e))),
    }
    .into_store_error()
}

/// Writes the setting, then the user, within `budget`; undoes what is safe
/// to undo if the user insert fails (retried after each delay of `backoff`
/// while the budget lasts) and reports the insert's error.
pub(super) async fn register(
    writes: &dyn RegistrationWrites,
    backoff: &[Duration],
    budget: Duration,
) -> StoreResult<()> {
    let deadline = Instant::now() + budget;
    match tokio::time::timeout_at(deadline, writes.insert_setting()).await {
        // Nothing, or a setting alone, was written: harmless either way.
        Err(_) => return Err(out_of_time(budget, None)),
        Ok(Err(e)) => return Err(classify(&e)),
        Ok(Ok(())) => {}
    }
    let insert_error = match tokio::time::timeout_at(deadline, writes.insert_user()).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => Some(e),
        Err(_) => None,
    };
    let user_refused = insert_error.as_ref().is_some_and(refused);
    tracing::warn!(
        user_id = %writes.user_id(),
        error = %insert_error.as_ref().map_or_else(|| "out of time".to_owned(), describe),
        outcome = if user_refused { "refused" } else { "unknown" },
        "user insert failed; undoing the registration"
    );
    if user_refused {
        retry_within(writes, "delete_setting", backoff, deadline).await;
    } else if retry_within(writes, "delete_user", backoff, deadline).await {
        tracing::info!(
            user_id = %writes.user_id(),
            "the user is removed; its report setting stays (harmless) in case a late insert lands"
        );
    } else {
        tracing::warn!(
            user_id = %writes.user_id(),
            "could not remove the user within the time budget: it may exist, with its report \
             setting; the email stays taken"
        );
    }
    match insert_error {
        Some(e) => Err(classify(&e)),
        None => Err(out_of_time(budget, None)),
    }
}

/// Runs one compensating delete until it succeeds, the delays run out or
/// the deadline passes; true when it succeeded.
async fn retry_within(
    writes: &dyn RegistrationWrites,
    which: &'static str,
    backoff: &[Duration],
    deadline: Instant,
) -> bool {
    let mut delays = backoff.iter();
    loop {
        let attempt = match which {
            "delete_user" => writes.delete_user(),
            _ => writes.delete_setting(),
        };
        let failure = match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(())) => return true,
            Ok(Err(e)) => describe(&e),
            Err(_) => "out of time".to_owned(),
        };
        match delays.next() {
            Some(delay) if remaining(deadline) > *delay => tokio::time::sleep(*delay).await,
            _ => {
                tracing::warn!(user_id = %writes.user_id(), error = %failure, "{which} failed; giving up");
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use mongodb::bson::{self, doc};
    use mongodb::error::{Error, ErrorKind, WriteError, WriteFailure};

    use super::*;
    use crate::store::StoreError;

    /// A scripted stand-in for the four writes: each call takes the next
    /// outcome queued for that write (success when none is queued) and is
    /// recorded.
    #[derive(Default)]
    struct Script {
        calls: Mutex<Vec<&'static str>>,
        outcomes: Mutex<Vec<(&'static str, VecDeque<Outcome>)>>,
    }

    #[derive(Clone, Copy)]
    enum Outcome {
        DuplicateEmail,
        DuplicateSetting,
        Network,
        /// The server is gone: the call never answers.
        Hang,
    }

    fn error(outcome: Outcome) -> Error {
        let write = |message: &str| {
            let e: WriteError = bson::from_document(
                doc! { "code": 11000, "codeName": "DuplicateKey", "errmsg": message },
            )
            .unwrap();
            Error::from(ErrorKind::Write(WriteFailure::WriteError(e)))
        };
        match outcome {
            Outcome::DuplicateEmail => write(
                "E11000 duplicate key error collection: t.users index: users_email_unique dup key",
            ),
            Outcome::DuplicateSetting => write(
                "E11000 duplicate key error collection: t.reportSettings index: \
                 reportSettings_userId_unique dup key",
            ),
            Outcome::Network | Outcome::Hang => Error::from(ErrorKind::Io(Arc::new(
                std::io::ErrorKind::ConnectionReset.into(),
            ))),
        }
    }

    impl Script {
        fn failing(write: &'static str, outcomes: &[Outcome]) -> Self {
            let script = Script::default();
            script.then_failing(write, outcomes)
        }

        fn then_failing(self, write: &'static str, outcomes: &[Outcome]) -> Self {
            self.outcomes
                .lock()
                .unwrap()
                .push((write, outcomes.iter().copied().collect()));
            self
        }

        async fn call(&self, write: &'static str) -> DriverResult<()> {
            self.calls.lock().unwrap().push(write);
            let queued = {
                let mut outcomes = self.outcomes.lock().unwrap();
                outcomes
                    .iter_mut()
                    .find(|(w, _)| *w == write)
                    .and_then(|(_, q)| q.pop_front())
            };
            match queued {
                Some(Outcome::Hang) => std::future::pending().await,
                Some(outcome) => Err(error(outcome)),
                None => Ok(()),
            }
        }

        fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl RegistrationWrites for Script {
        fn user_id(&self) -> &str {
            "user-1"
        }
        async fn insert_user(&self) -> DriverResult<()> {
            self.call("insert_user").await
        }
        async fn insert_setting(&self) -> DriverResult<()> {
            self.call("insert_setting").await
        }
        async fn delete_setting(&self) -> DriverResult<()> {
            self.call("delete_setting").await
        }
        async fn delete_user(&self) -> DriverResult<()> {
            self.call("delete_user").await
        }
    }

    const NO_WAIT: [Duration; 2] = [Duration::ZERO, Duration::ZERO];
    const BUDGET: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn the_setting_first_then_the_user_and_nothing_else_when_all_goes_well() {
        let script = Script::default();
        register(&script, &NO_WAIT, BUDGET).await.unwrap();
        assert_eq!(script.calls(), ["insert_setting", "insert_user"]);
    }

    #[tokio::test]
    async fn a_taken_email_removes_the_setting_again() {
        let script = Script::failing("insert_user", &[Outcome::DuplicateEmail]);
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert!(
            matches!(result, Err(StoreError::DuplicateEmail)),
            "{result:?}"
        );
        assert_eq!(
            script.calls(),
            ["insert_setting", "insert_user", "delete_setting"]
        );
    }

    #[tokio::test]
    async fn a_refused_setting_stops_before_the_user_is_written() {
        let script = Script::failing("insert_setting", &[Outcome::DuplicateSetting]);
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        assert_eq!(script.calls(), ["insert_setting"]);
    }

    /// Issue #13: a network error on the user insert used to answer 503 with
    /// no compensation although the insert may have landed.
    #[tokio::test]
    async fn a_lost_user_insert_removes_the_user_and_keeps_the_setting() {
        let script = Script::failing("insert_user", &[Outcome::Network]);
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert_eq!(
            script.calls(),
            ["insert_setting", "insert_user", "delete_user"],
            "the setting is never deleted while the user may still land"
        );
    }

    /// Issue #13: the old compensation deleted the setting even when deleting
    /// the user failed.
    #[tokio::test]
    async fn a_user_that_cannot_be_removed_keeps_its_setting() {
        let script = Script::failing("insert_user", &[Outcome::Network])
            .then_failing("delete_user", &[Outcome::Network; 5]);
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        let calls = script.calls();
        assert!(!calls.contains(&"delete_setting"), "{calls:?}");
        assert_eq!(
            calls.iter().filter(|c| **c == "delete_user").count(),
            1 + NO_WAIT.len(),
            "one attempt plus one per delay"
        );
    }

    #[tokio::test]
    async fn the_setting_delete_is_retried_after_a_refused_user() {
        let script = Script::failing("insert_user", &[Outcome::DuplicateEmail])
            .then_failing("delete_setting", &[Outcome::Network]);
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert!(matches!(result, Err(StoreError::DuplicateEmail)));
        assert_eq!(
            script.calls(),
            [
                "insert_setting",
                "insert_user",
                "delete_setting",
                "delete_setting"
            ]
        );
    }

    /// Issue #13: a compensation after a vanished server took ~22 s; now the
    /// whole registration, compensation included, ends within the budget.
    #[tokio::test(start_paused = true)]
    async fn a_vanished_server_ends_the_whole_registration_within_the_budget() {
        let script = Script::failing("insert_user", &[Outcome::Hang])
            .then_failing("delete_user", &[Outcome::Hang; 3]);
        let started = Instant::now();
        let result = register(&script, &COMPENSATION_BACKOFF, BUDGET).await;
        assert_eq!(started.elapsed(), BUDGET);
        match result {
            Err(StoreError::Unavailable(cause)) => {
                assert!(cause.to_string().contains("time budget"), "{cause}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(!script.calls().contains(&"delete_setting"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_setting_insert_that_never_answers_is_unavailable_at_the_budget() {
        let script = Script::failing("insert_setting", &[Outcome::Hang]);
        let started = Instant::now();
        let result = register(&script, &NO_WAIT, BUDGET).await;
        assert_eq!(started.elapsed(), BUDGET);
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert_eq!(script.calls(), ["insert_setting"]);
    }

    #[test]
    fn only_a_server_answer_counts_as_refused() {
        assert!(refused(&error(Outcome::DuplicateEmail)));
        assert!(!refused(&error(Outcome::Network)));
        assert!(!refused(&Error::from(ErrorKind::Shutdown)));
    }

    #[test]
    fn production_retries_three_times_within_a_second() {
        let total: Duration = COMPENSATION_BACKOFF.iter().sum();
        assert_eq!(COMPENSATION_BACKOFF.len(), 2);
        assert!(total < Duration::from_secs(1));
    }
}
