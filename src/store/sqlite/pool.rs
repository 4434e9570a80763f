//! Connections: a small pool for writes on tokio's blocking pool, and
//! never-waiting readers for point reads on the calling thread.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, ErrorCode};
use tokio::sync::Semaphore;

use super::schema::migrate;
use crate::store::{StoreError, StoreResult};

/// A fixed set of connections. The semaphore guarantees that a task holding
/// a permit finds a connection in `idle`.
pub(super) struct Pool {
    pub(super) idle: Mutex<Vec<Connection>>,
    pub(super) permits: Semaphore,
}

impl Pool {
    pub(super) fn of(conns: Vec<Connection>) -> Self {
        Self {
            permits: Semaphore::new(conns.len()),
            idle: Mutex::new(conns),
        }
    }
}

/// Puts the connection back even if the query panicked.
pub(super) struct Lease<'a> {
    pub(super) pool: &'a Pool,
    pub(super) conn: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(conn);
        }
    }
}

/// Puts a reader connection back, even if the read panicked.
pub(super) struct ReaderLease<'a> {
    pub(super) readers: &'a Mutex<Vec<Connection>>,
    pub(super) conn: Option<Connection>,
}

impl Drop for ReaderLease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Ok(mut idle) = self.readers.lock()
        {
            idle.push(conn);
        }
    }
}

pub(super) fn open_connections(path: &Path, size: usize) -> StoreResult<Vec<Connection>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let mut first = open_one(path)?;
    first.pragma_update(None, "journal_mode", "WAL")?;
    migrate(&mut first)?;
    let mut conns = vec![first];
    for _ in 1..size {
        conns.push(open_one(path)?);
    }
    Ok(conns)
}

fn open_one(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A connection for reads on the calling thread: it refuses writes and never
/// waits for a lock (a busy read is retried on the blocking pool instead).
pub(super) fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if matches!(err.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}
