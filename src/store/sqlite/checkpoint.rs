//! The checkpointer: a thread with a connection of its own that copies
//! committed pages from the WAL into the database file, so the writer never
//! waits for it.
//!
//! SQLite checkpoints in the connection that commits, once the WAL holds
//! 1,000 pages: the writer then copies pages and waits for two `fsync`s
//! while every queued write waits behind it (refresh p99 went from 2 to
//! 15-50 ms once the writer checkpointed). A PASSIVE checkpoint from
//! another connection takes no write lock, so here it runs beside the
//! writes: soon after a commit, at most once per [`PAUSE`]. What it cannot
//! copy yet (a reader still uses an older snapshot) it copies next time.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreError, StoreResult};

/// Least time between two checkpoints: they stay a small share of the
/// work, and the WAL grows by at most what is committed in between.
const PAUSE: Duration = Duration::from_millis(50);

#[derive(Default)]
struct State {
    /// Committed since the last checkpoint began.
    due: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(conn: Connection) -> StoreResult<Self> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("tokengate-sqlite-checkpoint".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&conn, &shared)
            })
            .map_err(StoreError::internal)?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Something was committed.
    pub(super) fn due(&self) {
        if let Ok(mut state) = self.shared.state.lock()
            && !state.due
        {
            state.due = true;
            self.shared.wake.notify_one();
        }
    }

    /// Copies what is left, closes the connection and ends the thread (on
    /// drop).
    fn stop(&mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &Connection, shared: &Shared) {
    let mut failing = false;
    loop {
        let Ok(mut state) = shared.state.lock() else {
            return;
        };
        while !state.due && !state.stop {
            let Ok(woken) = shared.wake.wait(state) else {
                return;
            };
            state = woken;
        }
        let stop = state.stop;
        state.due = false;
        drop(state);

        match checkpoint(conn) {
            Ok(()) => failing = false,
            // Once per failing stretch, not once per commit.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "SQLite checkpoint failed; the WAL grows until one succeeds");
            }
            Err(_) => {}
        }
        if stop {
            return;
        }
        // The pause, cut short by a stop.
        if let Ok(state) = shared.state.lock() {
            let _ = shared.wake.wait_timeout_while(state, PAUSE, |s| !s.stop);
        }
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    // (busy, frames in the WAL, frames copied); PASSIVE never waits.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
