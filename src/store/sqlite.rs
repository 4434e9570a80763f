//! The embedded store: one SQLite file in WAL mode, so a fresh clone runs with
//! no database server.
//!
//! rusqlite is synchronous. Writes and anything that may take long run on
//! tokio's blocking pool with a connection from a small pool. Point reads by
//! key (a user, a session, a report setting) are different: they take a few
//! microseconds, less than handing them to another thread and back, which
//! dominated a protected request's cost. They run on the calling thread with
//! a reader connection that never waits (`busy_timeout` 0, `query_only`); in
//! WAL mode readers do not wait for writers anyway, and in the rare case a
//! read would have to wait (SQLITE_BUSY), or no reader is free, it goes to
//! the blocking pool like a write. Times are kept as Unix milliseconds.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use tokio::sync::Semaphore;

use super::{Rotation, Session, Store, StoreError, StoreResult};
use crate::domain::{
    EmailAddress, Frequency, NewUser, ReportSetting, ReportSettingId, ReportSettingPatch,
    SessionId, TokenId, User, UserCredentials, UserId, UserName,
};
use crate::settings::StoreSettings;

/// Bumped with every schema change; `migrate` brings older files up to date.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS users (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    profile_picture TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS report_settings (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    frequency  TEXT NOT NULL CHECK (frequency IN ('DAILY', 'WEEKLY', 'MONTHLY')),
    is_enabled INTEGER NOT NULL CHECK (is_enabled IN (0, 1)),
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id                TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    current_jti       TEXT NOT NULL,
    current_issued_at INTEGER NOT NULL,
    previous_jti      TEXT,
    rotated_at        INTEGER,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    user_agent        TEXT,
    ip                TEXT,
    revoked_at        INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
";

const SESSION_COLUMNS: &str = "id, user_id, current_jti, current_issued_at, previous_jti, rotated_at, \
     created_at, last_used_at, expires_at, user_agent, ip, revoked_at";

pub struct SqliteStore {
    pool: Arc<Pool>,
    /// Connections for point reads on the calling thread (see `read`).
    readers: Mutex<Vec<Connection>>,
}

/// A fixed set of connections. The semaphore guarantees that a task holding
/// a permit finds a connection in `idle`.
struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
}

/// Puts the connection back even if the query panicked.
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
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
struct ReaderLease<'a> {
    readers: &'a Mutex<Vec<Connection>>,
    conn: Option<Connection>,
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

impl SqliteStore {
    pub async fn open(settings: &StoreSettings) -> StoreResult<Self> {
        let path = settings.sqlite_path.clone();
        let size = settings.sqlite_pool_size;
        let (conns, readers) = tokio::task::spawn_blocking(move || {
            let conns = open_connections(&path, size)?;
            let readers = (0..size)
                .map(|_| open_reader(&path))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok::<_, StoreError>((conns, readers))
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite open task failed: {e}")))??;
        tracing::info!(path = %settings.sqlite_path.display(), "using the embedded SQLite store");
        Ok(Self {
            pool: Arc::new(Pool {
                permits: Semaphore::new(conns.len()),
                idle: Mutex::new(conns),
            }),
            readers: Mutex::new(readers),
        })
    }

    /// Runs a point read (a lookup by key, at most one row) on the calling
    /// thread when a reader connection is free and the read needs no wait;
    /// otherwise on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if let Some(done) = self.read_here(&f) {
            return done;
        }
        self.run(move |c| f(c)).await
    }

    /// `None` when no reader is free or the read would have had to wait.
    fn read_here<T>(
        &self,
        f: &impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Option<StoreResult<T>> {
        let conn = self.readers.lock().ok()?.pop()?;
        let lease = ReaderLease {
            readers: &self.readers,
            conn: Some(conn),
        };
        match f(lease.conn.as_ref().expect("lease holds a connection")) {
            Err(e) if is_busy(&e) => None,
            done => Some(done.map_err(classify)),
        }
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .pool
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("sqlite pool closed".into()))?;
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .idle
                .lock()
                .map_err(|_| StoreError::Internal("sqlite pool poisoned".into()))?
                .pop()
                .ok_or_else(|| StoreError::Internal("sqlite pool empty despite a permit".into()))?;
            let mut lease = Lease {
                pool: &pool,
                conn: Some(conn),
            };
            let conn = lease.conn.as_mut().expect("lease holds a connection");
            f(conn).map_err(classify)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("sqlite task failed: {e}")))?
    }
}

fn open_connections(path: &Path, size: usize) -> StoreResult<Vec<Connection>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let mut first = open_one(path)?;
    first
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(classify)?;
    migrate(&mut first).map_err(classify)?;
    let mut conns = vec![first];
    for _ in 1..size {
        conns.push(open_one(path)?);
    }
    Ok(conns)
}

fn open_one(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(classify)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .map_err(classify)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// A connection for reads on the calling thread: it refuses writes and never
/// waits for a lock (a busy read is retried on the blocking pool instead).
fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path).map_err(classify)?;
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(classify)?;
    conn.execute_batch("PRAGMA query_only = ON;")
        .map_err(classify)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if matches!(err.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}

/// Sorts rusqlite's errors into the store's three kinds.
fn classify(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, msg) = &e {
        let message = msg.as_deref().unwrap_or("");
        match err.code {
            ErrorCode::ConstraintViolation if message.contains("users.email") => {
                return StoreError::DuplicateEmail;
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure => return StoreError::Unavailable(e.to_string()),
            _ => {}
        }
    }
    StoreError::Internal(e.to_string())
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_column(idx, "timestamp out of range"))
}

fn optional_time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = row.get(idx)?;
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_column(idx, "timestamp out of range"))
    })
    .transpose()
}

fn bad_column(idx: usize, why: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        rusqlite::types::Type::Integer,
        why.to_owned().into(),
    )
}

/// Reads `id, name, email, profile_picture, created_at, updated_at` from
/// column `first` on.
fn user_from(row: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_trusted(row.get(first)?),
        name: UserName::from_trusted(row.get(first + 1)?),
        email: EmailAddress::from_trusted(row.get(first + 2)?),
        profile_picture: row.get(first + 3)?,
        created_at: time_at(row, first + 4)?,
        updated_at: time_at(row, first + 5)?,
    })
}

fn report_setting_from(row: &Row<'_>) -> rusqlite::Result<ReportSetting> {
    let frequency: String = row.get(2)?;
    Ok(ReportSetting {
        id: ReportSettingId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        frequency: Frequency::parse(&frequency)
            .ok_or_else(|| bad_column(2, "unknown frequency"))?,
        is_enabled: row.get(3)?,
    })
}

fn session_from(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        current_jti: TokenId::from_trusted(row.get(2)?),
        current_issued_at: time_at(row, 3)?,
        previous_jti: row.get::<_, Option<String>>(4)?.map(TokenId::from_trusted),
        rotated_at: optional_time_at(row, 5)?,
        created_at: time_at(row, 6)?,
        last_used_at: time_at(row, 7)?,
        expires_at: time_at(row, 8)?,
        user_agent: row.get(9)?,
        ip: row.get(10)?,
        revoked_at: optional_time_at(row, 11)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let new = new.clone();
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let u = &new.user;
            tx.prepare_cached(
                "INSERT INTO users (id, name, email, password_hash, profile_picture, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                u.id.as_str(),
                u.name.as_str(),
                u.email.as_str(),
                new.password_hash,
                u.profile_picture,
                millis(u.created_at),
                millis(u.updated_at),
            ])?;
            let r = &new.report_setting;
            tx.prepare_cached(
                "INSERT INTO report_settings (id, user_id, frequency, is_enabled, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                r.id.as_str(),
                r.user_id.as_str(),
                r.frequency.as_str(),
                r.is_enabled,
                millis(u.created_at),
            ])?;
            tx.commit()
        })
        .await
    }

    async fn find_credentials_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<UserCredentials>> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, name, email, profile_picture, created_at, updated_at, password_hash
                 FROM users WHERE email = ?1",
            )?
            .query_row([&email], |row| {
                Ok(UserCredentials {
                    user: user_from(row, 0)?,
                    password_hash: row.get(6)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let id = id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, name, email, profile_picture, created_at, updated_at
                 FROM users WHERE id = ?1",
            )?
            .query_row([&id], |row| user_from(row, 0))
            .optional()
        })
        .await
    }

    async fn report_setting(&self, user_id: &UserId) -> StoreResult<Option<ReportSetting>> {
        let user_id = user_id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id, user_id, frequency, is_enabled FROM report_settings WHERE user_id = ?1",
            )?
            .query_row([&user_id], report_setting_from)
            .optional()
        })
        .await
    }

    async fn update_report_setting(
        &self,
        user_id: &UserId,
        patch: ReportSettingPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReportSetting>> {
        let user_id = user_id.as_str().to_owned();
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE report_settings
                 SET frequency = COALESCE(?2, frequency),
                     is_enabled = COALESCE(?3, is_enabled),
                     updated_at = ?4
                 WHERE user_id = ?1
                 RETURNING id, user_id, frequency, is_enabled",
            )?
            .query_row(
                params![
                    user_id,
                    patch.frequency.map(Frequency::as_str),
                    patch.is_enabled,
                    millis(now)
                ],
                report_setting_from,
            )
            .optional()
        })
        .await
    }

    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let s = s.clone();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO sessions ({SESSION_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?
            .execute(params![
                s.id.as_str(),
                s.user_id.as_str(),
                s.current_jti.as_str(),
                millis(s.current_issued_at),
                s.previous_jti.as_ref().map(TokenId::as_str),
                s.rotated_at.map(millis),
                millis(s.created_at),
                millis(s.last_used_at),
                millis(s.expires_at),
                s.user_agent,
                s.ip,
                s.revoked_at.map(millis),
            ])
            .map(drop)
        })
        .await
    }

    async fn find_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        let id = id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))?
            .query_row([&id], session_from)
            .optional()
        })
        .await
    }

    async fn rotate_session(&self, r: &Rotation) -> StoreResult<bool> {
        let r = r.clone();
        self.run(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE sessions
                     SET previous_jti = current_jti, rotated_at = ?4,
                         current_jti = ?3, current_issued_at = ?4,
                         last_used_at = ?4, expires_at = ?5
                     WHERE id = ?1 AND current_jti = ?2
                       AND revoked_at IS NULL AND expires_at > ?4",
                )?
                .execute(params![
                    r.session_id.as_str(),
                    r.expected_jti.as_str(),
                    r.new_jti.as_str(),
                    millis(r.now),
                    millis(r.new_expires_at),
                ])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.as_str().to_owned();
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE sessions SET last_used_at = MAX(last_used_at, ?2) WHERE id = ?1",
            )?
            .execute(params![id, millis(now)])
            .map(drop)
        })
        .await
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        owner: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        let owner = owner.map(|o| o.as_str().to_owned());
        self.run(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?3
                     WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)
                       AND revoked_at IS NULL AND expires_at > ?3",
                )?
                .execute(params![id, owner, millis(now)])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn revoke_all_sessions(&self, user_id: &UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        let user_id = user_id.as_str().to_owned();
        self.run(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?2
                     WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                )?
                .execute(params![user_id, millis(now)])?;
            Ok(changed as u64)
        })
        .await
    }

    async fn list_sessions(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let user_id = user_id.as_str().to_owned();
        self.run(move |c| {
            c.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions
                 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
                 ORDER BY created_at DESC, id"
            ))?
            .query_map(params![user_id, millis(now)], session_from)?
            .collect()
        })
        .await
    }

    async fn purge_sessions(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.run(move |c| {
            let deleted = c
                .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1 OR revoked_at <= ?1")?
                .execute([millis(cutoff)])?;
            Ok(deleted as u64)
        })
        .await
    }
}
