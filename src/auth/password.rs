//! bcrypt on its own small thread pool, never on the async executor.
//!
//! The pool has one thread per core (configurable). Jobs are admitted by
//! their expected wait, not by count: a job is queued while the jobs ahead
//! of it would keep it waiting at most `max_wait` at the pace bcrypt has
//! lately run (the user waits for bcrypt anyway), and refused at once
//! (`Overloaded`, with the time the queue needs to drain) only beyond that.
//! The queue's count bound is a memory guard only. A job that waited far
//! longer than expected anyway (bcrypt slowed down after it was accepted) is
//! refused when its turn comes. The threads run at a lower scheduling
//! priority than the HTTP workers, so requests that need no bcrypt keep
//! their latency during a login burst.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::Span;

use crate::domain::Password;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// The expected wait is past the bound: try again after this long.
    #[error("password hashing is overloaded")]
    Overloaded { retry_after: Duration },
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// Jobs accepted and not yet finished, and how long a job takes lately.
#[derive(Default)]
struct Load {
    pending: AtomicUsize,
    /// Moving average of a job's wall-clock time in microseconds; 0 until
    /// the first job finishes.
    job_micros: AtomicU64,
}

impl Load {
    /// How long a job accepted now would wait for one of `workers` threads:
    /// the jobs ahead of it and one running job must finish first; at worst
    /// (every running job just started) that takes one job time per
    /// `workers` of them, rounded up.
    fn expected_wait(&self, workers: usize) -> Duration {
        let pending = self.pending.load(Ordering::Relaxed);
        if pending < workers {
            return Duration::ZERO; // a thread is free
        }
        let rounds = (pending + 1 - workers).div_ceil(workers) as u64;
        Duration::from_micros(rounds.saturating_mul(self.job_micros.load(Ordering::Relaxed)))
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
    /// The longest a job may expect to wait for a thread.
    max_wait: Duration,
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
    /// Starts `workers` threads that admit jobs expected to wait at most
    /// `max_wait`, with room for `queue` waiting jobs at most.
    pub fn new(cost: u32, workers: usize, queue: usize, max_wait: Duration) -> Self {
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
            max_wait,
            capacity: workers + queue,
            load: Arc::default(),
            cost,
            dummy_hash: dummy_hash(cost).into(),
        }
    }

    /// Whether a job submitted now would be admitted; if not, how long
    /// until the queue has drained enough. Callers shed work early with it,
    /// before doing anything else for a request that cannot be served.
    pub fn admission(&self) -> Result<(), HashError> {
        let wait = self.load.expected_wait(self.workers);
        let full = self.load.pending.load(Ordering::Relaxed) >= self.capacity;
        if full || wait > self.max_wait {
            return Err(HashError::Overloaded {
                retry_after: wait
                    .saturating_sub(self.max_wait)
                    .max(Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        self.run(move || bcrypt::hash(password, cost).map_err(|e| HashError::Failed(e.to_string())))
            .await?
    }

    /// Checks `password` against `hash`; with no hash (unknown user), checks
    /// it against the dummy hash and answers false, taking the same time.
    /// A hash made at a lower cost than today's (before `BCRYPT_COST` was
    /// raised) is checked and then padded with the dummy hash, so an old
    /// account answers no faster than an unknown email.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.to_owned();
        let known = hash.is_some();
        let pad = self.must_pad(hash);
        let hash: Arc<str> = hash.map_or_else(|| Arc::clone(&self.dummy_hash), Arc::from);
        let dummy = Arc::clone(&self.dummy_hash);
        self.run(move || {
            // A malformed stored hash is a failure to log, not a match.
            let matches =
                bcrypt::verify(&password, &hash).map_err(|e| HashError::Failed(e.to_string()))?;
            if pad {
                let _ = bcrypt::verify(&password, &dummy);
            }
            Ok(matches && known)
        })
        .await?
    }

    /// Whether verifying against `hash` must be padded to today's cost.
    fn must_pad(&self, hash: Option<&str>) -> bool {
        hash.is_some_and(|h| cost_of(h).is_some_and(|c| c < self.cost))
    }

    /// Whether `hash` was made at another cost than today's: a successful
    /// login then rehashes the password, so the stored population converges
    /// on the configured cost.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        cost_of(hash).is_some_and(|c| c != self.cost)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.admission()?;
        let (tx, rx) = oneshot::channel();
        let span = Span::current();
        self.load.pending.fetch_add(1, Ordering::Relaxed);
        let finished = Finished(Arc::clone(&self.load));
        let queued = Instant::now();
        // Twice the bound: the estimate is a moving average, so a job may
        // run somewhat late; one that waited this long means bcrypt slowed
        // down after it was accepted, and running it now helps nobody.
        let give_up = self.max_wait.saturating_mul(2);
        let job: Job = Box::new(move || {
            if queued.elapsed() > give_up {
                drop(finished);
                let _ = tx.send(Err(HashError::Overloaded {
                    retry_after: Duration::from_secs(1),
                }));
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
            Err(TrySendError::Full(_)) => {
                return Err(HashError::Overloaded {
                    retry_after: Duration::from_secs(1),
                });
            }
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

/// The cost a bcrypt hash was made with.
fn cost_of(hash: &str) -> Option<u32> {
    hash.parse::<bcrypt::HashParts>().ok().map(|p| p.get_cost())
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

    /// The default bound in tests that do not test it.
    const WAIT: Duration = Duration::from_millis(500);

    fn overloaded<T: std::fmt::Debug>(r: &Result<T, HashError>) -> bool {
        matches!(r, Err(HashError::Overloaded { .. }))
    }

    fn password(raw: &str) -> Password {
        Password::parse(raw.into()).unwrap()
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(4, 1, 4, WAIT);
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn old_cheaper_hashes_are_padded_and_marked_for_rehash() {
        let old = PasswordHasher::new(4, 1, 4, WAIT);
        let hash = old.hash(&password("correct horse")).await.unwrap();
        let hasher = PasswordHasher::new(10, 1, 4, WAIT);
        assert!(hasher.needs_rehash(&hash));
        assert!(!old.needs_rehash(&hash));
        assert!(!hasher.needs_rehash("not a bcrypt hash"));
        // Checking it is padded with the dummy's cost-10 verification, so an
        // old account answers no faster than an unknown email; today's
        // hashes, unknown users and a higher old cost need no padding.
        assert!(hasher.must_pad(Some(&hash)));
        assert!(!hasher.must_pad(None));
        assert!(!old.must_pad(Some(&hash)));
        let dearer = PasswordHasher::new(4, 1, 4, WAIT);
        assert!(!dearer.must_pad(Some(&hasher.dummy_hash)));
        // Right and wrong passwords still verify as such.
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_never_match_and_pay_the_full_cost() {
        let hasher = PasswordHasher::new(8, 1, 4, WAIT);
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
        let hasher = PasswordHasher::new(4, 1, 1, WAIT);
        let release = hold_a_thread(&hasher);
        // Once the thread holds that job, one more fits in the queue.
        while hasher.jobs.try_send(Box::new(|| {})).is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(overloaded(&hasher.verify("whatever1", None).await));
        release.send(()).unwrap();
        // Once the thread has drained the queue, jobs are accepted again.
        let mut answer = hasher.verify("whatever1", None).await;
        while overloaded(&answer) {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            answer = hasher.verify("whatever1", None).await;
        }
        assert_eq!(answer, Ok(false));
    }

    #[tokio::test]
    async fn the_count_bound_still_guards_memory() {
        let hasher = PasswordHasher::new(4, 1, 1, WAIT);
        assert!(hasher.admission().is_ok());
        hasher.load.pending.store(1, Ordering::Relaxed);
        assert!(
            hasher.admission().is_ok(),
            "one thread busy, the queue slot free"
        );
        hasher.load.pending.store(2, Ordering::Relaxed);
        assert!(overloaded(&hasher.admission()));
        assert!(overloaded(&hasher.verify("whatever1", None).await));
        hasher.load.pending.store(0, Ordering::Relaxed);
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
    }

    #[tokio::test]
    async fn logins_are_admitted_by_expected_wait_not_by_count() {
        // A bound of 5 s and bcrypt at 1 ms a job: thousands may queue.
        let hasher = PasswordHasher::new(4, 2, 4096, Duration::from_secs(5));
        hasher.load.job_micros.store(1_000, Ordering::Relaxed);
        for pending in [0, 1, 2, 64, 1000, 4000] {
            hasher.load.pending.store(pending, Ordering::Relaxed);
            assert!(hasher.admission().is_ok(), "{pending} pending");
        }
        // Past the memory guard, refused whatever the wait.
        hasher.load.pending.store(4098, Ordering::Relaxed);
        assert!(overloaded(&hasher.admission()));
        // At 400 ms a job on two threads: two running and 24 queued is a
        // wait of 12.5 rounds → 13 × 400 ms = 5.2 s: refused, and told to
        // come back when the queue has drained below the bound.
        hasher.load.job_micros.store(400_000, Ordering::Relaxed);
        hasher.load.pending.store(24, Ordering::Relaxed);
        assert_eq!(hasher.load.expected_wait(2), Duration::from_millis(4_800));
        assert!(hasher.admission().is_ok());
        hasher.load.pending.store(26, Ordering::Relaxed);
        assert_eq!(hasher.load.expected_wait(2), Duration::from_millis(5_200));
        assert_eq!(
            hasher.admission(),
            Err(HashError::Overloaded {
                retry_after: Duration::from_secs(1)
            })
        );
        // A long queue: Retry-After grows with it.
        hasher.load.pending.store(101, Ordering::Relaxed);
        assert_eq!(
            hasher.admission(),
            Err(HashError::Overloaded {
                retry_after: Duration::from_secs(20) - Duration::from_secs(5)
            })
        );
        // Refused before queueing: nothing was added.
        assert!(overloaded(&hasher.verify("whatever1", None).await));
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 101);
        // With the threads free again, jobs run, and their own (fast) time
        // becomes the new pace.
        hasher.load.pending.store(0, Ordering::Relaxed);
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 0);
        assert!(hasher.load.job_micros.load(Ordering::Relaxed) < 400_000);
    }

    #[tokio::test]
    async fn a_job_that_waited_too_long_is_refused_when_its_turn_comes() {
        let hasher = PasswordHasher::new(4, 1, 16, WAIT);
        // Hold the one thread for longer than twice the bound; a job
        // accepted meanwhile (the pace is unknown yet, so it is accepted) is
        // refused.
        let release = hold_a_thread(&hasher);
        let late = hasher.verify("whatever1", None);
        let releaser = async {
            tokio::time::sleep(2 * WAIT + Duration::from_millis(100)).await;
            release.send(()).unwrap();
        };
        let (answer, ()) = tokio::join!(late, releaser);
        assert!(overloaded(&answer));
        assert_eq!(hasher.load.pending.load(Ordering::Relaxed), 0);
        // The next one runs.
        assert_eq!(hasher.verify("whatever1", None).await, Ok(false));
    }
}
