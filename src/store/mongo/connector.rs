//! Connecting in the background, so the service starts without its
//! database and recovers without a restart.
//!
//! Each attempt builds the client if it does not exist yet (the DNS lookups
//! of a `mongodb+srv://` URI), pings, asks `hello` which registration mode
//! the deployment allows, and creates the indexes. A failed attempt is
//! logged once and retried after the next delay of [`BACKOFF`] (the last one
//! repeats). A failure that is the network's leaves the store "connecting"
//! (calls answer 503); one only an operator can fix (refused credentials,
//! duplicates under a unique index, an index defined otherwise) makes it
//! "misconfigured" (calls answer 500, the log says what to fix) until an
//! attempt succeeds; the connector keeps trying in both cases, so a fix on
//! the server's side is picked up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mongodb::bson::doc;

use super::budget::bounded;
use super::registration::{self, RegistrationMode, Verdict};
use super::{Phase, Shared, indexes, mode_code};
use crate::store::{StoreError, StoreResult};

/// Delays between attempts; the last one repeats.
pub(super) const BACKOFF: [Duration; 7] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

/// Building an index over an existing collection can take much longer than
/// a request's budget; the server finishes a build it has started even if
/// we stop waiting, and a retry waits for that build.
const INDEX_BUILD_LIMIT: Duration = Duration::from_secs(600);

pub(super) async fn run(shared: Arc<Shared>) {
    for attempt in 1u32.. {
        let delay = BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)];
        match connect_once(&shared).await {
            Ok(verdict) => {
                ready(&shared, &verdict, attempt);
                return;
            }
            Err(StoreError::Internal(why)) => {
                let why = why.to_string();
                tracing::error!(
                    database = %shared.database,
                    attempt,
                    retry_in = ?delay,
                    error = %why,
                    "MongoDB store misconfigured: requests answer 500 and /health/ready 503 until \
                     this is fixed"
                );
                shared.phase.send_replace(Phase::Misconfigured(why));
            }
            Err(e) => {
                let why = crate::telemetry::error_chain(&e);
                tracing::warn!(
                    database = %shared.database,
                    attempt,
                    retry_in = ?delay,
                    error = %why,
                    "MongoDB is not reachable yet; requests answer 503 until it is"
                );
                // A configuration error stays the verdict until an attempt
                // succeeds: after refused credentials the driver may report
                // the next attempt as a mere selection failure, and an
                // operator must not be told "outage" for a wrong password.
                shared.phase.send_if_modified(|phase| match phase {
                    Phase::Misconfigured(_) => false,
                    _ => {
                        *phase = Phase::Connecting(Some(why));
                        true
                    }
                });
            }
        }
        tokio::time::sleep(delay).await;
    }
}

/// One attempt; errors come back redacted.
async fn connect_once(shared: &Shared) -> StoreResult<Verdict> {
    attempt(shared).await.map_err(|e| shared.redacted(e))
}

async fn attempt(shared: &Shared) -> StoreResult<Verdict> {
    let h = shared.build_client().await?;
    let budget = shared.budget;
    bounded("the start-up ping", budget, async {
        h.db.run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(StoreError::from)
    })
    .await?;
    let hello = bounded("hello", budget, registration::hello(&h.db)).await?;
    let verdict = registration::decide(&hello).map_err(StoreError::unavailable)?;
    bounded(
        "creating the indexes",
        INDEX_BUILD_LIMIT,
        indexes::ensure(&h.db),
    )
    .await?;
    Ok(verdict)
}

fn ready(shared: &Shared, verdict: &Verdict, attempt: u32) {
    shared
        .mode
        .store(mode_code(verdict.mode), Ordering::Relaxed);
    shared.ready.store(true, Ordering::Release);
    shared.phase.send_replace(Phase::Ready);
    match verdict.mode {
        RegistrationMode::Transaction => tracing::info!(
            database = %shared.database,
            attempt,
            registration = verdict.mode.as_str(),
            reason = %verdict.reason,
            "MongoDB store ready; registration writes the user and the report setting in one transaction"
        ),
        RegistrationMode::Fallback => tracing::warn!(
            database = %shared.database,
            attempt,
            registration = verdict.mode.as_str(),
            reason = %verdict.reason,
            "MongoDB store ready without transactions; registration writes the report setting, \
             then the user, and removes what it can if the second write fails"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_to_a_ceiling() {
        assert!(BACKOFF.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BACKOFF.last(), Some(&Duration::from_secs(15)));
    }
}
