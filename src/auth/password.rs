//! bcrypt on its own small thread pool, never on the async executor.
//!
//! The pool has one thread per core (configurable) and a bounded queue. A
//! job is refused at once (`Overloaded`) when the queue is full, or when the
//! jobs ahead of it could keep it waiting longer than `MAX_WAIT` at the pace
//! bcrypt has lately run; a job that waited that long anyway (bcrypt slowed
//! down after it was accepted) is refused when its turn comes. So a login
//! flood is shed with 503 instead of queueing for seconds, even when the
//! flood itself slows bcrypt down, while requests that need no bcrypt keep
//! their latency. The threads run at a lower scheduling priority than the
//! HTTP workers for the same reason.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The longest a job may expect to wait for a thread before it starts. The
/// queue bound (a count) caps memory; this caps the wait when bcrypt runs
/// slower than usual, e.g. when a flood of requests takes CPU from it.
pub const MAX_WAIT: Duration = Duration::from_millis(500);

/// Jobs accepted and not yet finished, and how long a job takes lately.
#[derive(Default)]
struct Load {
    pending: AtomicUsize,
    /// Moving average of a job's wall-clock time in microseconds; 0 until
    /// the first job finishes.
    job_micros: AtomicU64,
}

impl Load {
    /// Whether a job accepted now might wait longer than `MAX_WAIT` for one
    /// of `workers` threads. Before it starts, the jobs queued ahead of it and
    /// one running job must finish; at worst (every running job just started)
    /// that takes one job time per `workers` of them, rounded up.
    fn wait_too_long(&self, workers: usize) -> bool {
        let pending = self.pending.load(Ordering::Relaxed);
        if pending < workers {
            return false; // a thread is free
        }
        let rounds = (pending + 1 - workers).div_ceil(workers) as u64;
        rounds * self.job_micros.load(Ordering::Relaxed) > MAX_WAIT.as_micros() as u64
    }

    fn record(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u64::MAX >> 4)) as u64;
        let old = self.job_micros.load(Ordering::Relaxed);
        // Weight 1/4 for the newest job: follows a slowdown within a few jobs.
        let new = if old == 0 {
            sample
        } else {
            (old * 3 + sample) / 4
        };
        self.job_micros.store(new, Ordering::Relaxed);
    }
}

/// Counts a job as finished when dropped, even if the job panicked.
struct Finished(Arc<Load>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    workers: usize,
    /// Jobs the pool holds at most: one per thread plus the queue.
    capacity: usize,
    load: Arc<Load>,
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
        let workers = workers.max(1);
        for i in 0..workers {
            let inbox = Arc::clone(&inbox);
            std::thread::Builder::new()
                .name(format!("bcrypt-{i}"))
                .spawn(move || worker(&inbox))
                .expect("cannot start a bcrypt thread");
        }
        Self {
            jobs,
            workers,
            capacity: workers + queue,
            load: Arc::default(),
            cost,
            dummy_hash: dummy_hash(cost).into(),
        }
    }

    /// Whether a job submitted now would be refused as `Overloaded`: callers
    /// shed work early with it, before doing anything else for a request
    /// that cannot be served.
    pub fn saturated(&self) -> bool {
        self.load.pending.load(Ordering::Relaxed) >= self.capacity
            || self.load.wait_too_long(self.workers)
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
        if self.saturated() {
            return Err(HashError::Overloaded);
        }
        let (tx, rx) = oneshot::channel();
        let span = Span::current();
        self.load.pending.fetch_add(1, Ordering::Relaxed);
        let finished = Finished(Arc::clone(&self.load));
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            // bcrypt slowed down after this job was accepted (the estimate
            // cannot foresee a flood's first seconds): refuse it now rather
            // than run it late.
            if queued.elapsed() > MAX_WAIT {
                drop(finished);
                let _ = tx.send(Err(HashError::Overloaded));
                return;
            }
            let _entered = span.enter();
            let started = Instant::now();
            let result = f();
            finished.0.record(started.elapsed());
            drop(finished);
            let _ = tx.send(Ok(result));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            // The refused job is dropped here, and its `Finished` with it.
            Err(TrySendError::Full(_)) => return Err(HashError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(HashError::Failed("bcrypt pool stopped".into()));
            }
        }
        rx.await
            .map_err(|_| HashError::Failed("bcrypt job dropped".into()))?
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

    /// Queues a job that keeps its thread busy until the returned sender
    /// sends (or is dropped).
    fn hold_a_thread(hasher: &PasswordHasher) -> std::sync::mpsc::Sender<()> {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        hasher
            .jobs
            .try_send(Box::new(move || {
                let _ = hold.recv();
            }))
            .unwrap();
        release
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        // One thread, room for one waiting job.
        let hasher = PasswordHasher::new(4, 1, 1);
        let release = hold_a_thread(&hasher);
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

    #[tokio::test]
    async fn saturated_when_every_thread_and_queue_slot_is_taken() {
        let hasher = PasswordHasher::new(4, 1, 1);
        assert!(!hasher.saturated());
        hasher.load.pending.store(1, Ordering::Relaxed);
        assert!(!hasher.saturated(), "one thread busy, the queue slot free");
        hasher.load.pending.store(2, Ordering::Relaxed);
        assert!(hasher.saturated());
        assert_eq!(
            hasher.verify("whatever1", None).await,
            Err(HashError::Overloaded)
        );
        hasher.load.pending.store(0, Ordering::Relaxed);
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
    }

    #[tokio::test]
    async fn a_job_that_would_wait_too_long_is_refused_at_once() {
        // Plenty of queue room, but bcrypt has lately taken 400 ms a job.
        let hasher = PasswordHasher::new(4, 1, 16);
        hasher.load.job_micros.store(400_000, Ordering::Relaxed);
        // A free thread: no wait.
        assert!(!hasher.load.wait_too_long(1));
        // One job running: the next one waits 400 ms at worst. Fine.
        hasher.load.pending.store(1, Ordering::Relaxed);
        assert!(!hasher.load.wait_too_long(1));
        // Two threads, two running, one queued: the next one waits until
        // two jobs finish, one round of 400 ms at worst. Fine. One more
        // queued makes two rounds: refused.
        hasher.load.pending.store(3, Ordering::Relaxed);
        assert!(!hasher.load.wait_too_long(2));
        hasher.load.pending.store(4, Ordering::Relaxed);
        assert!(hasher.load.wait_too_long(2));
        // At 250 ms a job, two rounds fit in the bound, three do not.
        hasher.load.job_micros.store(250_000, Ordering::Relaxed);
        hasher.load.pending.store(5, Ordering::Relaxed);
        assert!(!hasher.load.wait_too_long(2));
        hasher.load.pending.store(6, Ordering::Relaxed);
        assert!(hasher.load.wait_too_long(2));
        // One thread, one running, one queued: 800 ms. Refused at once.
        hasher.load.job_micros.store(400_000, Ordering::Relaxed);
        hasher.load.pending.store(2, Ordering::Relaxed);
        assert_eq!(
            hasher.verify("whatever1", None).await,
            Err(HashError::Overloaded)
        );
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 2);
        // With the thread free again, jobs run, and their own (fast) time
        // becomes the new pace.
        hasher.load.pending.store(0, Ordering::Relaxed);
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 0);
        assert!(hasher.load.job_micros.load(Ordering::Relaxed) < 400_000);
    }

    #[tokio::test]
    async fn a_job_that_waited_too_long_is_refused_when_its_turn_comes() {
        let hasher = PasswordHasher::new(4, 1, 16);
        // Hold the one thread for longer than MAX_WAIT; a job accepted
        // meanwhile (the pace is unknown yet, so it is accepted) is refused.
        let release = hold_a_thread(&hasher);
        let late = hasher.verify("whatever1", None);
        let releaser = async {
            tokio::time::sleep(MAX_WAIT + Duration::from_millis(100)).await;
            release.send(()).unwrap();
        };
        let (answer, ()) = tokio::join!(late, releaser);
        assert_eq!(answer, Err(HashError::Overloaded));
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 0);
        // The next one runs.
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
    }
}
