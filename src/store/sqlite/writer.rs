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
//!
//! **Group commit.** The writes already queued when the thread takes the
//! next one share one `BEGIN IMMEDIATE ... COMMIT` (at most
//! [`MOST_PER_COMMIT`]): most of a write's cost is its commit (the WAL
//! frames, the WAL-index and its locks), and writes that touch the same
//! pages write them once. Nothing waits for company: a write alone in the
//! queue commits alone. Each write runs inside a savepoint of its own, so
//! a failing or panicking write undoes only its own changes, and every
//! caller hears back only after the commit, with the commit's error if it
//! failed. A write that needs several statements to stand or fall together
//! takes a savepoint (`Connection::savepoint`), never `BEGIN`: it always
//! runs inside the group's transaction.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::Checkpointer;
use crate::store::{StoreError, StoreResult};

/// Most writes in one transaction: bounds how long the first of them waits
/// for the commit behind the others.
const MOST_PER_COMMIT: usize = 64;

/// A queued write: runs inside the group's transaction, then answers its
/// caller once the group's commit has succeeded or failed.
trait Job: Send {
    /// Runs the write (once); on failure, the error, for the group.
    fn run(&mut self, conn: &mut Connection) -> Result<(), rusqlite::Error>;
    /// Answers the caller; `committed` is the group's outcome.
    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>);
}

struct Pending<F, T> {
    write: Option<F>,
    outcome: Option<StoreResult<T>>,
    caller: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for Pending<F, T>
where
    T: Send,
    F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &mut Connection) -> Result<(), rusqlite::Error> {
        let Some(write) = self.write.take() else {
            return Ok(());
        };
        // A panicking write fails its caller, not the writer.
        let (outcome, failed) = match catch_unwind(AssertUnwindSafe(|| write(conn))) {
            Ok(Ok(value)) => (Ok(value), Ok(())),
            Ok(Err(e)) => {
                let copy = copy_error(&e);
                (Err(StoreError::from(e)), Err(copy))
            }
            Err(_panic) => (
                Err(StoreError::internal("a SQLite write panicked")),
                Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("a write panicked".into()),
                )),
            ),
        };
        self.outcome = Some(outcome);
        failed
    }

    fn answer(self: Box<Self>, committed: Result<(), &rusqlite::Error>) {
        let outcome = match (self.outcome, committed) {
            // Its own failure, whatever became of the others.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            // Ran, but its changes were not committed; or never ran.
            (Some(Ok(_)) | None, Err(e)) => Err(StoreError::from(copy_error(e))),
            (None, Ok(())) => Err(StoreError::internal("a SQLite write was skipped")),
        };
        let _ = self.caller.send(outcome);
    }
}

/// rusqlite's errors are not `Clone`; SQLite's own keep their code (what
/// `StoreError::from` classifies by), others their text.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}

enum Message {
    Run(Box<dyn Job>),
    /// Close the connection and end, once the writes before are done.
    Stop(oneshot::Sender<()>),
}

pub(super) struct Writer {
    jobs: mpsc::Sender<Message>,
}

impl Writer {
    /// Starts the thread; it ends, closing the connection, at [`stop`] or
    /// when the `Writer` is dropped, once the queued writes are done. With a
    /// checkpointer, the writer's connection leaves checkpoints to it.
    ///
    /// [`stop`]: Writer::stop
    pub(super) fn start(
        mut conn: Connection,
        checkpointer: Option<Checkpointer>,
    ) -> StoreResult<Self> {
        if checkpointer.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        }
        let (jobs, queue) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("tokengate-sqlite-writer".into())
            .spawn(move || {
                let stopped = serve(&mut conn, &queue, checkpointer.as_ref());
                drop(conn);
                drop(checkpointer); // its last checkpoint, before the caller hears
                if let Some(stopped) = stopped {
                    let _ = stopped.send(());
                }
            })
            .map_err(StoreError::internal)?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the writer connection, after the writes queued before it;
    /// answers once its transaction has committed.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (caller, answer) = oneshot::channel();
        let job = Box::new(Pending {
            write: Some(f),
            outcome: None,
            caller,
        });
        self.jobs
            .send(Message::Run(job))
            .map_err(|_| StoreError::unavailable("the SQLite writer has stopped"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("the SQLite writer has stopped")))
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

/// Takes the writes as they come, each with those queued behind it, until
/// a stop (returned) or until every `Writer` is gone.
fn serve(
    conn: &mut Connection,
    queue: &mpsc::Receiver<Message>,
    checkpointer: Option<&Checkpointer>,
) -> Option<oneshot::Sender<()>> {
    let mut group = Vec::with_capacity(MOST_PER_COMMIT);
    loop {
        let mut stop = match queue.recv() {
            Ok(Message::Run(job)) => {
                group.push(job);
                None
            }
            Ok(Message::Stop(stopped)) => return Some(stopped),
            Err(mpsc::RecvError) => return None,
        };
        while stop.is_none() && group.len() < MOST_PER_COMMIT {
            match queue.try_recv() {
                Ok(Message::Run(job)) => group.push(job),
                Ok(Message::Stop(stopped)) => stop = Some(stopped),
                Err(_) => break,
            }
        }
        commit(conn, &mut group);
        if let Some(checkpointer) = checkpointer {
            checkpointer.due();
        }
        if stop.is_some() {
            return stop;
        }
    }
}

/// Runs `group` in one transaction, a savepoint each, and answers each
/// write once the commit has succeeded or failed.
fn commit(conn: &mut Connection, group: &mut Vec<Box<dyn Job>>) {
    let committed = run_all(conn, group);
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for job in group.drain(..) {
        job.answer(committed.as_ref().map(|_| ()));
    }
}

fn run_all(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> rusqlite::Result<()> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    for job in group {
        conn.prepare_cached("SAVEPOINT tokengate_write")?
            .execute([])?;
        if let Err(e) = job.run(conn) {
            if conn.is_autocommit() {
                // SQLite rolled the whole transaction back (a full disk, an
                // I/O error): the writes before this one are gone too.
                return Err(e);
            }
            conn.prepare_cached("ROLLBACK TO tokengate_write")?
                .execute([])?;
        }
        conn.prepare_cached("RELEASE tokengate_write")?
            .execute([])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> std::sync::Arc<Writer> {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        std::sync::Arc::new(Writer::start(conn, None).unwrap())
    }

    #[tokio::test]
    async fn writes_run_in_the_order_asked_and_answer_their_own_caller() {
        let writer = writer();
        // All queued behind a held write: several groups' worth.
        let (release, held) = hold(&writer).await;
        let mut asked = Vec::new();
        for n in 0..200 {
            asked.push(
                send(&writer, move |c| {
                    c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    c.query_row("SELECT max(n) + 1, count(*) FROM t", [], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                    })
                })
                .await,
            );
        }
        release.send(()).unwrap();
        held.await.unwrap().unwrap();
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

    /// A file the test can read from a second connection (what others see
    /// is what was committed); removed when dropped.
    struct TempDb(std::path::PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "tokengate-writer-{name}-{}-{:?}.sqlite",
                std::process::id(),
                std::thread::current().id()
            ));
            let db = Self(path);
            db.remove();
            db
        }
        fn open(&self) -> Connection {
            let conn = Connection::open(&self.0).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                .unwrap();
            conn
        }
        /// A connection, after `schema` has run on it.
        fn open_with(&self, schema: &str) -> Connection {
            let conn = self.open();
            conn.execute_batch(schema).unwrap();
            conn
        }
        fn committed(&self) -> Vec<i64> {
            let conn = self.open();
            let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        }
        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.remove();
        }
    }

    type Answer<T> = tokio::task::JoinHandle<StoreResult<T>>;

    /// Sends `write` now, from a task of its own (so that writes sent one
    /// after the other queue up behind a held writer).
    async fn send<T, F>(writer: &std::sync::Arc<Writer>, write: F) -> Answer<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let writer = std::sync::Arc::clone(writer);
        let task = tokio::spawn(async move { writer.run(write).await });
        tokio::task::yield_now().await; // the task sends before the next one
        task
    }

    /// Keeps the writer busy (once it has started this write, alone in its
    /// transaction) until the returned sender is used or dropped, so the
    /// writes sent meanwhile are queued together.
    async fn hold(writer: &std::sync::Arc<Writer>) -> (std::sync::mpsc::Sender<()>, Answer<()>) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let held = send(writer, move |_| {
            let _ = started.send(());
            wait.recv().ok();
            Ok(())
        })
        .await;
        running.await.unwrap();
        (release, held)
    }

    #[tokio::test]
    async fn writes_queued_together_commit_together_and_a_failing_one_undoes_only_its_own() {
        let db = TempDb::new("group");
        let conn = db.open_with("CREATE TABLE t (n INTEGER NOT NULL)");
        let writer = std::sync::Arc::new(Writer::start(conn, None).unwrap());
        let (release, held) = hold(&writer).await;

        let one = send(&writer, |c| c.execute("INSERT INTO t (n) VALUES (1)", [])).await;
        let two = send(&writer, |c| {
            c.execute("INSERT INTO t (n) VALUES (2)", [])?;
            c.execute("INSERT INTO t (n) VALUES (NULL)", []) // fails: 2 goes too
        })
        .await;
        let three = send(&writer, |c| -> rusqlite::Result<()> {
            c.execute("INSERT INTO t (n) VALUES (3)", [])?;
            panic!("boom")
        })
        .await;
        let path = db.0.clone();
        let four = send(&writer, move |c| {
            c.execute("INSERT INTO t (n) VALUES (4)", [])?;
            // Another connection does not see 1 yet: one transaction.
            let outside: i64 =
                Connection::open(&path)?.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
            let inside: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
            Ok((outside, inside))
        })
        .await;
        release.send(()).unwrap();

        held.await.unwrap().unwrap();
        assert_eq!(one.await.unwrap().unwrap(), 1);
        let two = two.await.unwrap();
        assert!(matches!(two, Err(StoreError::Internal(_))), "{two:?}");
        let three = three.await.unwrap();
        assert!(matches!(three, Err(StoreError::Internal(_))), "{three:?}");
        assert_eq!(four.await.unwrap().unwrap(), (0, 2));
        assert_eq!(db.committed(), vec![1, 4]);
    }

    /// Sends a write, then `breaking`, then another write, all queued
    /// together: every one of them fails, nothing of them is stored, and the
    /// writer goes on with the next write.
    async fn a_group_broken_by(name: &str, schema: &str, breaking: &'static str) {
        let db = TempDb::new(name);
        let conn = db.open_with("CREATE TABLE t (n INTEGER NOT NULL)");
        conn.execute_batch(schema).unwrap();
        let writer = std::sync::Arc::new(Writer::start(conn, None).unwrap());
        let (release, held) = hold(&writer).await;
        let before = send(&writer, |c| c.execute("INSERT INTO t (n) VALUES (1)", [])).await;
        let broken = send(&writer, move |c| c.execute(breaking, [])).await;
        let after = send(&writer, |c| c.execute("INSERT INTO t (n) VALUES (3)", [])).await;
        release.send(()).unwrap();

        held.await.unwrap().unwrap();
        for (write, answer) in [("before", before), ("breaking", broken), ("after", after)] {
            let answer = answer.await.unwrap();
            assert!(
                matches!(answer, Err(StoreError::Internal(_))),
                "{write}: {answer:?}"
            );
        }
        assert_eq!(db.committed(), Vec::<i64>::new());
        writer
            .run(|c| c.execute("INSERT INTO t (n) VALUES (4)", []))
            .await
            .unwrap();
        assert_eq!(db.committed(), vec![4]);
    }

    #[tokio::test]
    async fn a_group_whose_commit_fails_answers_every_write_with_the_error() {
        // The insert succeeds as a statement; its foreign key is checked at COMMIT.
        a_group_broken_by(
            "commit",
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            "INSERT INTO child (parent) VALUES (99)",
        )
        .await;
    }

    #[tokio::test]
    async fn a_write_that_makes_sqlite_roll_back_everything_fails_the_whole_group() {
        a_group_broken_by(
            "rollback",
            "CREATE TABLE doomed (n INTEGER);
             CREATE TRIGGER doom BEFORE INSERT ON doomed BEGIN SELECT RAISE(ROLLBACK, 'all gone'); END;",
            "INSERT INTO doomed (n) VALUES (1)",
        )
        .await;
    }

    fn file_bytes(path: impl AsRef<std::path::Path>) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// Issue 17: a write whose last step is a row (`UPDATE ... RETURNING`
    /// read with `query_row`) commits without SQLite's checkpoint hook,
    /// which runs only when a statement finishes. With nothing but such
    /// writes (refreshes) the WAL grew by every write: 512 MB in 6 s.
    #[tokio::test]
    async fn writes_that_return_rows_still_let_the_wal_be_checkpointed() {
        let db = TempDb::new("returning");
        let conn = db.open_with(
            "CREATE TABLE t (n INTEGER NOT NULL, pad BLOB); INSERT INTO t VALUES (0, NULL);",
        );
        let writer = Writer::start(conn, None).unwrap();
        const WRITES: i64 = 3_000; // a page each at least: three auto-checkpoints' worth
        for n in 1..=WRITES {
            let now = writer
                .run(|c| {
                    c.query_row(
                        "UPDATE t SET n = n + 1, pad = randomblob(3000) RETURNING n",
                        [],
                        |r| r.get::<_, i64>(0),
                    )
                })
                .await
                .unwrap();
            assert_eq!(now, n);
        }
        let wal = file_bytes(format!("{}-wal", db.0.display()));
        assert!(
            wal < 2_000 * 4_096,
            "the WAL holds {wal} bytes after {WRITES} one-page writes: never checkpointed"
        );
    }

    #[tokio::test]
    async fn with_a_checkpointer_the_pages_reach_the_database_file_without_the_writer() {
        let db = TempDb::new("checkpointer");
        let conn = db.open_with("CREATE TABLE t (n INTEGER NOT NULL, pad BLOB)");
        let checkpointer = Checkpointer::start(db.open()).unwrap();
        let writer = Writer::start(conn, Some(checkpointer)).unwrap();
        let own: i64 = writer
            .run(|c| c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(own, 0, "the writer leaves checkpoints to the checkpointer");

        for n in 0..300 {
            writer
                .run(move |c| c.execute("INSERT INTO t VALUES (?1, randomblob(3000))", [n]))
                .await
                .unwrap();
        }
        // 300 rows of 3,000 bytes: at least 900 KB once copied. The bound
        // only keeps a broken checkpointer from hanging the test.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while file_bytes(&db.0) < 900_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file still holds {} bytes",
                file_bytes(&db.0)
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        // Stopping copies the rest: the file alone has every row.
        writer
            .run(|c| c.execute("INSERT INTO t VALUES (300, randomblob(3000))", []))
            .await
            .unwrap();
        writer.stop().await;
        let rows: i64 = db
            .open()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 301);
        assert!(file_bytes(&db.0) >= 903_000, "{} bytes", file_bytes(&db.0));
    }

    #[tokio::test]
    async fn stop_lets_the_queued_writes_finish_and_refuses_later_ones() {
        let writer = writer();
        // The writes and then the stop are queued behind a held write, so
        // the writer takes the stop in the same sweep as the writes.
        let (release, held) = hold(&writer).await;
        let mut queued = Vec::new();
        for n in 0..50 {
            queued.push(
                send(&writer, move |c| {
                    c.execute("INSERT INTO t (n) VALUES (?1)", [n])
                })
                .await,
            );
        }
        let stopping = {
            let writer = std::sync::Arc::clone(&writer);
            tokio::spawn(async move { writer.stop().await })
        };
        tokio::task::yield_now().await; // the stop is queued
        release.send(()).unwrap();
        stopping.await.unwrap();
        held.await.unwrap().unwrap();
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
