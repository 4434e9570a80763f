//! The time budget of a store call (`store.operation_timeout`,
//! `STORE_TIMEOUT`): past it the answer is "unavailable" (503 with
//! Retry-After), never a hang.
//!
//! The driver's own bounds come first: a short server-selection and connect
//! timeout (`connection`), `maxTimeMS` on reads and find-and-modify, a
//! `wtimeout` on majority writes, `maxCommitTimeMS` and our own retry loop
//! for the registration transaction (`registration`). They do not cover
//! everything: the locked driver (3.6) has no client-side operation timeout
//! (no `timeoutMS`, and it refuses `socketTimeoutMS`), so a connection that
//! stops answering mid-command would hold a call for as long as TCP lets
//! it. [`bounded`] is the backstop, a `tokio::time::timeout` around the
//! whole call.
//!
//! Why dropping a driver future there is safe:
//! - the driver closes, rather than reuses, a connection whose command was
//!   cut off (`cmap/worker.rs`, `check_in`: `conn.is_executing()` →
//!   `ConnectionClosedReason::Dropped`), so no later call reads a stale reply;
//! - every write the store makes is a single-document write (atomic on the
//!   server), an idempotent multi-document update (revoke all, purge), or a
//!   transaction; a cut-off write has either happened or not, exactly as
//!   when its reply is lost on the network, which the callers already treat
//!   as "unknown outcome" (503, retry);
//! - a dropped `ClientSession` whose transaction is in progress is aborted
//!   by the driver in the background (`client/session.rs`, `Drop for
//!   ClientSession`); uncommitted writes are never visible, and the server
//!   aborts a forgotten transaction after `transactionLifetimeLimitSeconds`
//!   anyway.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::{StoreError, StoreResult};

/// A call's budget ran out.
#[derive(Debug, thiserror::Error)]
#[error("MongoDB did not finish {what} within the store's time budget ({budget:?}, STORE_TIMEOUT)")]
pub(super) struct OutOfTime {
    pub what: &'static str,
    pub budget: Duration,
    /// The last failure seen before time ran out, if any (a retried
    /// transient error, say).
    #[source]
    pub last: Option<Cause>,
}

/// A driver error as `errors::describe` tells it (kind, code, message; never
/// the raw server response), kept as a cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Cause(pub String);

impl OutOfTime {
    pub fn into_store_error(self) -> StoreError {
        StoreError::unavailable(self)
    }
}

/// Runs `call`, answering `Unavailable` once `budget` has passed. See the
/// module documentation for why cutting a driver call short is safe.
pub(super) async fn bounded<T>(
    what: &'static str,
    budget: Duration,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    match tokio::time::timeout(budget, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(OutOfTime {
            what,
            budget,
            last: None,
        }
        .into_store_error()),
    }
}

/// The time left until `deadline` (zero once it has passed).
pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_is_unavailable_at_the_budget() {
        let budget = Duration::from_secs(5);
        let started = Instant::now();
        let outcome: StoreResult<()> = bounded("a test call", budget, std::future::pending()).await;
        assert_eq!(started.elapsed(), budget);
        match outcome {
            Err(StoreError::Unavailable(cause)) => {
                let text = cause.to_string();
                assert!(text.contains("a test call"), "{text}");
                assert!(text.contains("STORE_TIMEOUT"), "{text}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_within_the_budget_passes_through() {
        let outcome = bounded("a test call", Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            Err::<(), _>(StoreError::DuplicateEmail)
        })
        .await;
        assert!(matches!(outcome, Err(StoreError::DuplicateEmail)));
    }
}
