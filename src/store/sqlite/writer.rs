//! The writer: one connection on a thread of its own that runs this
//! process's writes one after the other, in the order they were asked for.
//!
//! SQLite lets one writer in at a time anyway. Several pooled connections
//! contending for that lock sleep in SQLite's busy handler (1, 2, 5 ms...),
//! and each drops its page cache whenever another one wrote since its last
//! transaction, so every write re-read its pages. A queue in the process is
//! fair and prompt, the one connection keeps its cache, and writes that
//! arrive together run back to back without a hand-off to another thread
//! in between (issue 17: refresh spent a fifth of its time re-reading pages
//! and sleeping on the lock). Other processes on the same file still meet
//! this one at SQLite's lock, with its busy timeout.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Run(Job),
    /// Close the connection and end, once the writes before are done.
    Stop(oneshot::Sender<()>),
}

pub(super) struct Writer {
    jobs: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the thread; it ends, closing the connection, at [`stop`] or
    /// when the `Writer` is dropped, once the queued writes are done.
    ///
    /// [`stop`]: Writer::stop
    pub(super) fn start(mut conn: Connection) -> StoreResult<Self> {
        let (jobs, queue) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("tokengate-sqlite-writer".into())
            .spawn(move || {
                for message in queue {
                    match message {
                        Message::Run(job) => job(&mut conn),
                        Message::Stop(stopped) => {
                            drop(conn);
                            let _ = stopped.send(());
                            return;
                        }
                    }
                }
            })
            .map_err(StoreError::internal)?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the writer connection, after the writes queued before it.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // A panicking write fails its caller, not the writer.
            let outcome = catch_unwind(AssertUnwindSafe(|| f(conn)));
            let _ = done.send(outcome);
        });
        self.jobs
            .send(Message::Run(job))
            .map_err(|_| StoreError::unavailable("the SQLite writer has stopped"))?;
        match answer.await {
            Ok(Ok(result)) => result.map_err(StoreError::from),
            Ok(Err(_panic)) => Err(StoreError::internal("a SQLite write panicked")),
            Err(_) => Err(StoreError::unavailable("the SQLite writer has stopped")),
        }
    }

    /// Lets the writes already asked for finish, then closes the connection.
    /// Writes asked for afterwards fail as `Unavailable`.
    pub(super) async fn stop(&self) {
        let (stopped, done) = oneshot::channel();
        if self.jobs.send(Message::Stop(stopped)).is_ok() {
            let _ = done.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        Writer::start(conn).unwrap()
    }

    #[tokio::test]
    async fn writes_run_in_the_order_asked_and_answer_their_own_caller() {
        let writer = std::sync::Arc::new(writer());
        // On this single-threaded runtime the tasks send their writes in
        // the order they were spawned, all before the first answer.
        let asked: Vec<_> = (0..200)
            .map(|n| {
                let writer = std::sync::Arc::clone(&writer);
                tokio::spawn(async move {
                    writer
                        .run(move |c| {
                            c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                            c.query_row("SELECT max(n) + 1, count(*) FROM t", [], |r| {
                                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                            })
                        })
                        .await
                })
            })
            .collect();
        for (n, task) in asked.into_iter().enumerate() {
            let (max_plus_one, count) = task.await.unwrap().unwrap();
            let n = n as i64 + 1;
            assert_eq!(
                (max_plus_one, count),
                (n, n),
                "each write saw exactly the writes before it"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_or_panicking_write_fails_only_its_caller() {
        let writer = writer();
        let failed = writer
            .run(|c| c.execute("INSERT INTO t (n) VALUES (NULL)", []))
            .await;
        assert!(matches!(failed, Err(StoreError::Internal(_))), "{failed:?}");
        let panicked = writer
            .run(|_| -> rusqlite::Result<()> { panic!("boom") })
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Internal(_))),
            "{panicked:?}"
        );
        let n = writer
            .run(|c| {
                c.execute("INSERT INTO t (n) VALUES (1)", [])?;
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn stop_lets_the_queued_writes_finish_and_refuses_later_ones() {
        let writer = std::sync::Arc::new(writer());
        let queued: Vec<_> = (0..50)
            .map(|n| {
                let writer = std::sync::Arc::clone(&writer);
                tokio::spawn(async move {
                    writer
                        .run(move |c| c.execute("INSERT INTO t (n) VALUES (?1)", [n]))
                        .await
                })
            })
            .collect();
        // The spawned tasks send their writes before this one's stop.
        tokio::task::yield_now().await;
        writer.stop().await;
        for task in queued {
            assert_eq!(task.await.unwrap().unwrap(), 1);
        }
        let after = writer
            .run(|c| c.execute("INSERT INTO t (n) VALUES (1)", []))
            .await;
        assert!(
            matches!(after, Err(StoreError::Unavailable(_))),
            "{after:?}"
        );
        // Stopping twice is harmless.
        writer.stop().await;
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_stop_the_writes_after_it() {
        let writer = writer();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let slow = writer.run(move |c| {
            wait.recv().ok();
            c.execute("INSERT INTO t (n) VALUES (1)", [])
        });
        // The caller gives up (a timeout, a closed connection).
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), slow).await;
        assert!(gave_up.is_err());
        release.send(()).unwrap();
        let n = writer
            .run(|c| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .await
            .unwrap();
        assert_eq!(n, 1, "the abandoned write still ran, once, before the next");
    }
}
