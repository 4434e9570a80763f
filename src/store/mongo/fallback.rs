//! Registration without a transaction (a standalone server): insert the
//! user, insert the setting, and if the second insert fails, delete what was
//! written, so no user is ever left without a setting.
//!
//! The sequence runs against a small seam, [`RegistrationWrites`], so its
//! logic (what is undone, in which order, retried how, which error is
//! reported) is unit-tested here without a server; the conformance suite
//! checks the real thing on a standalone MongoDB by making the second
//! insert fail.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::Collection;
use mongodb::bson::doc;
use mongodb::error::Result as DriverResult;

use super::documents::{ReportSettingDoc, UserDoc, field};
use super::errors::{classify, describe};
use crate::store::StoreResult;

/// Delays between attempts of the compensating delete (three attempts).
pub(super) const COMPENSATION_BACKOFF: [Duration; 2] =
    [Duration::from_millis(100), Duration::from_millis(500)];

/// The four writes the fallback is made of.
#[async_trait]
pub(super) trait RegistrationWrites: Send + Sync {
    /// For log lines.
    fn user_id(&self) -> &str;
    async fn insert_user(&self) -> DriverResult<()>;
    async fn insert_setting(&self) -> DriverResult<()>;
    /// Deletes the setting this registration inserted, if it exists (an
    /// insert whose answer was lost may have been applied).
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

/// Insert the user, insert the setting; if the second insert fails, undo
/// (retried after each delay of `backoff`) and report the insert's error.
pub(super) async fn register(
    writes: &dyn RegistrationWrites,
    backoff: &[Duration],
) -> StoreResult<()> {
    // A duplicate email fails here, before anything was written.
    writes.insert_user().await.map_err(|e| classify(&e))?;
    let Err(insert_error) = writes.insert_setting().await else {
        return Ok(());
    };
    tracing::warn!(
        user_id = %writes.user_id(),
        error = %describe(&insert_error),
        "report setting insert failed; removing the new user again"
    );
    compensate(writes, backoff).await;
    Err(classify(&insert_error))
}

/// Deletes the user, then the setting: best effort, each retried until it
/// succeeds or the delays run out. The user goes first because a user
/// without a setting is the state to avoid; a setting without its user is
/// harmless (no one can log in to it, and its user id is never reused).
async fn compensate(writes: &dyn RegistrationWrites, backoff: &[Duration]) {
    let mut user_gone = false;
    let mut setting_gone = false;
    let mut delays = backoff.iter();
    loop {
        let mut failure = None;
        if !user_gone {
            match writes.delete_user().await {
                Ok(()) => user_gone = true,
                Err(e) => failure = Some(e),
            }
        }
        if !setting_gone {
            match writes.delete_setting().await {
                Ok(()) => setting_gone = true,
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let Some(e) = failure else {
            return;
        };
        match delays.next() {
            Some(delay) => tokio::time::sleep(*delay).await,
            None if !user_gone => {
                tracing::error!(
                    user_id = %writes.user_id(),
                    error = %describe(&e),
                    "compensating delete failed: the user is left without a report setting; \
                     delete the user document by hand"
                );
                return;
            }
            None => {
                tracing::warn!(
                    user_id = %writes.user_id(),
                    error = %describe(&e),
                    "the new user was removed, but its report setting may remain (harmless)"
                );
                return;
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
            Outcome::Network => Error::from(ErrorKind::Io(Arc::new(
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

        fn call(&self, write: &'static str) -> DriverResult<()> {
            self.calls.lock().unwrap().push(write);
            let mut outcomes = self.outcomes.lock().unwrap();
            let queued = outcomes
                .iter_mut()
                .find(|(w, _)| *w == write)
                .and_then(|(_, q)| q.pop_front());
            match queued {
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
            self.call("insert_user")
        }
        async fn insert_setting(&self) -> DriverResult<()> {
            self.call("insert_setting")
        }
        async fn delete_setting(&self) -> DriverResult<()> {
            self.call("delete_setting")
        }
        async fn delete_user(&self) -> DriverResult<()> {
            self.call("delete_user")
        }
    }

    const NO_WAIT: [Duration; 2] = [Duration::ZERO, Duration::ZERO];

    #[tokio::test]
    async fn both_inserts_and_nothing_else_when_all_goes_well() {
        let script = Script::default();
        register(&script, &NO_WAIT).await.unwrap();
        assert_eq!(script.calls(), ["insert_user", "insert_setting"]);
    }

    #[tokio::test]
    async fn a_taken_email_stops_before_anything_is_written() {
        let script = Script::failing("insert_user", &[Outcome::DuplicateEmail]);
        let result = register(&script, &NO_WAIT).await;
        assert!(
            matches!(result, Err(StoreError::DuplicateEmail)),
            "{result:?}"
        );
        assert_eq!(script.calls(), ["insert_user"]);
    }

    #[tokio::test]
    async fn a_refused_second_insert_removes_the_user_then_the_setting() {
        let script = Script::failing("insert_setting", &[Outcome::DuplicateSetting]);
        let result = register(&script, &NO_WAIT).await;
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        assert_eq!(
            script.calls(),
            [
                "insert_user",
                "insert_setting",
                "delete_user",
                "delete_setting"
            ]
        );
    }

    #[tokio::test]
    async fn a_lost_second_insert_is_unavailable_and_still_undone() {
        let script = Script::failing("insert_setting", &[Outcome::Network]);
        let result = register(&script, &NO_WAIT).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert_eq!(
            script.calls(),
            [
                "insert_user",
                "insert_setting",
                "delete_user",
                "delete_setting"
            ]
        );
    }

    #[tokio::test]
    async fn the_compensation_is_retried_until_the_user_is_gone() {
        let script = Script::failing("insert_setting", &[Outcome::DuplicateSetting])
            .then_failing("delete_user", &[Outcome::Network, Outcome::Network]);
        let result = register(&script, &NO_WAIT).await;
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        assert_eq!(
            script.calls(),
            [
                "insert_user",
                "insert_setting",
                "delete_user",
                "delete_setting",
                "delete_user",
                "delete_user",
            ]
        );
    }

    #[tokio::test]
    async fn a_compensation_that_keeps_failing_gives_up_and_reports_the_insert_error() {
        let script = Script::failing("insert_setting", &[Outcome::DuplicateSetting])
            .then_failing("delete_user", &[Outcome::Network; 5]);
        let result = register(&script, &NO_WAIT).await;
        // The caller learns why registration failed, not why the cleanup did.
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
        let count = |write| script.calls().iter().filter(|c| **c == write).count();
        assert_eq!(
            count("delete_user"),
            1 + NO_WAIT.len(),
            "one attempt plus one per delay"
        );
        assert_eq!(
            count("delete_setting"),
            1,
            "a write that succeeded is not repeated"
        );
    }

    #[test]
    fn production_retries_three_times_within_a_second() {
        let total: Duration = COMPENSATION_BACKOFF.iter().sum();
        assert_eq!(COMPENSATION_BACKOFF.len(), 2);
        assert!(total < Duration::from_secs(1));
    }
}
