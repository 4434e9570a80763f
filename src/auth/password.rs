//! bcrypt on its own small thread pool, never on the async executor.
//!
//! The pool has one thread per core (configurable) and a bounded queue. When
//! the queue is full a job is refused at once (`Overloaded`), so a login flood
//! is shed with 503 instead of queueing for seconds, while requests that need
//! no bcrypt keep their latency. The threads run at a lower scheduling
//! priority than the HTTP workers for the same reason.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tracing::Span;

use crate::domain::Password;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The queue is full: try again shortly.
    #[error("password hashing is overloaded")]
    Overloaded,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    cost: u32,
    /// A well-formed hash at the configured cost that matches no password:
    /// unknown emails are verified against it so they take as long as known
    /// ones.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Starts `workers` threads with room for `queue` waiting jobs.
    pub fn new(cost: u32, workers: usize, queue: usize) -> Self {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(queue);
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..workers.max(1) {
            let inbox = Arc::clone(&inbox);
            std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || worker(&inbox))
                .expect("cannot start a bcrypt thread");
        }
        Self {
            jobs,
            cost,
            dummy_hash: dummy_hash(cost).into(),
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost).map_err(|e| HashError::Failed(e.to_string())))
            .await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user), checks
    /// it against the dummy hash and answers false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.to_owned();
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        self.run(move || {
            // A malformed stored hash is a failure to log, not a match.
            let matches =
                bcrypt::verify(password, &hash).map_err(|e| HashError::Failed(e.to_string()))?;
            Ok(matches && known)
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let span = Span::current();
        let job: Job = Box::new(move || {
            let _entered = span.enter();
            let _ = tx.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed("bcrypt pool stopped".into()));
            }
        }
        rx.await
            .map_err(|_| HashError::Failed("bcrypt job dropped".into()))
    }
}

fn worker(inbox: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = {
            let Ok(inbox) = inbox.lock() else { return };
            match inbox.recv() {
                Ok(job) => job,
                Err(_) => return, // the hasher was dropped
            }
        };
        // A panicking job must not take the thread with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Lets the HTTP workers win the CPU from bcrypt under a login flood.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread (Linux: tid 0 = this thread)
    // has no memory-safety preconditions; failure leaves the priority as is.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 5);
    }
}

/// Builds a valid-looking bcrypt hash at `cost` without paying for it: hash at
/// the minimum cost, then write the wanted cost into the prefix. Verifying
/// against it costs the full `cost` and never matches.
fn dummy_hash(cost: u32) -> String {
    let cheap = bcrypt::hash("tokengate dummy password", bcrypt::DEFAULT_COST.min(4))
        .expect("bcrypt at cost 4 cannot fail");
    // "$2b$04$<salt+hash>"
    format!("$2b${cost:02}${}", &cheap[7..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw.into()).unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(4, 1, 4);
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_never_match_and_pay_the_full_cost() {
        let hasher = PasswordHasher::new(8, 1, 4);
        assert!(
            !hasher
                .verify("tokengate dummy password", None)
                .await
                .unwrap()
        );
        // The dummy hash parses as a cost-8 hash, so verifying against it runs
        // the full 2^8 rounds like a real user's hash.
        let parts: bcrypt::HashParts = hasher.dummy_hash.parse().unwrap();
        assert_eq!(parts.get_cost(), 8);
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        // One thread, room for one waiting job.
        let hasher = PasswordHasher::new(4, 1, 1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        hasher
            .jobs
            .try_send(Box::new(move || {
                let _ = hold.recv();
            }))
            .unwrap();
        // Once the thread holds that job, one more fits in the queue.
        while hasher.jobs.try_send(Box::new(|| {})).is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(
            hasher.verify("whatever1", None).await,
            Err(HashError::Overloaded)
        );
        release.send(()).unwrap();
        // Once the thread has drained the queue, jobs are accepted again.
        let mut answer = hasher.verify("whatever1", None).await;
        while answer == Err(HashError::Overloaded) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            answer = hasher.verify("whatever1", None).await;
        }
        assert_eq!(answer, Ok(false));
    }
}
