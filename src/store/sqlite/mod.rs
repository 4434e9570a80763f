//! The embedded store: one SQLite file in WAL mode, so a fresh clone runs with
//! no database server.
//!
//! rusqlite is synchronous. Writes run one after the other on a connection
//! and thread of their own (`writer`). Reads that may take long run on
//! tokio's blocking pool with a connection from a small pool. Point reads by
//! key (a user, a session, a report setting) are different: they take a few
//! microseconds, less than handing them to another thread and back, which
//! dominated a protected request's cost. They run on the calling thread with
//! a reader connection that never waits (`busy_timeout` 0, `query_only`); in
//! WAL mode readers do not wait for writers anyway, and in the rare case a
//! read would have to wait (SQLITE_BUSY), or no reader is free, it goes to
//! the blocking pool like a write. Times are kept as Unix milliseconds.

mod accounts;
mod checkpoint;
mod keys;
mod limits;
mod pool;
mod rows;
mod schema;
mod writer;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::{
    CurrentRotation, EmailConfirmation, PasswordChange, RateLimit, RateVerdict, Rotation, Store,
    StoreError, StoreResult,
};
use crate::domain::{
    AccountToken, EmailAddress, Frequency, NewUser, ReportSetting, ReportSettingPatch, Session,
    SessionId, TokenHash, TokenId, TokenPurpose, User, UserCredentials, UserId,
};
use crate::settings::StoreSettings;
use checkpoint::Checkpointer;
use pool::{Lease, Pool, ReaderLease, is_busy, open_connections, open_reader};
use rows::{millis, report_setting_from, session_columns, session_from, user_columns, user_from};
use writer::Writer;

pub struct SqliteStore {
    /// Connections for reads that may take long, and busy point reads.
    pool: Arc<Pool>,
    /// Every write of this process goes through it.
    writer: Writer,
    /// Connections for point reads on the calling thread (see `read`).
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    pub async fn open(settings: &StoreSettings) -> StoreResult<Self> {
        let path = settings.sqlite_path.clone();
        let size = settings.sqlite_pool_size;
        let (mut conns, readers) = tokio::task::spawn_blocking(move || {
            let conns = open_connections(&path, size + 2)?;
            let readers = (0..size)
                .map(|_| open_reader(&path))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok::<_, StoreError>((conns, readers))
        })
        .await
        .map_err(StoreError::internal)??;
        let checkpointer = Checkpointer::start(conns.pop().expect("size + 2 connections"))?;
        let writer = Writer::start(
            conns.pop().expect("size + 2 connections"),
            Some(checkpointer),
        )?;
        tracing::info!(path = %settings.sqlite_path.display(), "using the embedded SQLite store");
        Ok(Self {
            pool: Arc::new(Pool::of(conns)),
            writer,
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
            done => Some(done.map_err(StoreError::from)),
        }
    }

    /// Runs a read that may take long with a pooled connection on the
    /// blocking pool.
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
            .map_err(StoreError::unavailable)?;
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let conn = pool
                .idle
                .lock()
                .map_err(|_| StoreError::internal("sqlite pool poisoned"))?
                .pop()
                .ok_or_else(|| StoreError::internal("sqlite pool empty despite a permit"))?;
            let mut lease = Lease {
                pool: &pool,
                conn: Some(conn),
            };
            let conn = lease.conn.as_mut().expect("lease holds a connection");
            f(conn).map_err(StoreError::from)
        })
        .await
        .map_err(StoreError::internal)?
    }

    /// Runs `f`, which may write, on the writer connection, in turn.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.writer.run(f).await
    }
}

const SELECT_REPORT_SETTING: &str =
    "SELECT id, user_id, frequency, is_enabled FROM report_settings WHERE user_id = ?1";

/// Writes the default report setting of `user_id` if the user exists and
/// has none: one idempotent statement, so concurrent repairs leave exactly
/// one setting (the unique `user_id` turns the others into no-ops). False
/// when the user does not exist.
fn repair_report_setting(c: &Connection, user_id: &str) -> rusqlite::Result<bool> {
    let defaults = ReportSetting::default_for(UserId::from_trusted(user_id.to_owned()));
    let inserted = c
        .prepare_cached(
            "INSERT INTO report_settings (id, user_id, frequency, is_enabled, updated_at)
             SELECT ?1, id, ?3, ?4, ?5 FROM users WHERE id = ?2
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            defaults.id.as_str(),
            user_id,
            defaults.frequency.as_str(),
            defaults.is_enabled,
            millis(crate::domain::now()),
        ])?;
    if inserted == 1 {
        tracing::warn!(
            user_id,
            "the user had no report setting; wrote the default one (MONTHLY, enabled)"
        );
        return Ok(true);
    }
    c.prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([user_id], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Sorts rusqlite's errors into the store's three kinds, keeping the
/// driver's error as the cause.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
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
                | ErrorCode::SystemIoFailure => return StoreError::unavailable(e),
                _ => {}
            }
        }
        StoreError::internal(e)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn registration_mode(&self) -> Option<&'static str> {
        Some("transaction")
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    /// Finishes the writes in the queue and closes the writer's connection,
    /// so nothing is cut off when the process exits.
    async fn close(&self) {
        self.writer.stop().await;
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let new = new.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let u = &new.user;
            tx.prepare_cached(
                "INSERT INTO users (id, name, email, password_hash, profile_picture, created_at, updated_at, email_verified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                u.id.as_str(),
                u.name.as_str(),
                u.email.as_str(),
                new.password_hash,
                u.profile_picture,
                millis(u.created_at),
                millis(u.updated_at),
                u.email_verified,
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
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                ", password_hash FROM users WHERE email = ?1"
            ))?
            .query_row([&email], |row| {
                Ok(UserCredentials {
                    user: user_from(row, 0)?,
                    password_hash: row.get(7)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let id = id.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = ?1"
            ))?
            .query_row([&id], |row| user_from(row, 0))
            .optional()
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        user_id: &UserId,
        expected: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let (id, expected, new) = (
            user_id.as_str().to_owned(),
            expected.to_owned(),
            new.to_owned(),
        );
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                )?
                .execute(params![id, expected, new])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn report_setting(&self, user_id: &UserId) -> StoreResult<Option<ReportSetting>> {
        let id = user_id.as_str().to_owned();
        let found = self
            .read(move |c| {
                c.prepare_cached(SELECT_REPORT_SETTING)?
                    .query_row([&id], report_setting_from)
                    .optional()
            })
            .await?;
        if found.is_some() {
            return Ok(found);
        }
        // Missing: write the default if the user exists, then read.
        let user_id = user_id.as_str().to_owned();
        self.write(move |c| {
            repair_report_setting(c, &user_id)?;
            c.prepare_cached(SELECT_REPORT_SETTING)?
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
        self.write(move |c| {
            let update = |c: &Connection| {
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
            };
            if let Some(updated) = update(c)? {
                return Ok(Some(updated));
            }
            if !repair_report_setting(c, &user_id)? {
                return Ok(None);
            }
            update(c)
        })
        .await
    }

    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let s = s.clone();
        self.write(move |c| {
            c.prepare_cached(concat!(
                "INSERT INTO sessions (",
                session_columns!(),
                ")
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
            c.prepare_cached(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions WHERE id = ?1"
            ))?
            .query_row([&id], session_from)
            .optional()
        })
        .await
    }

    async fn rotate_session(&self, r: &Rotation) -> StoreResult<bool> {
        let r = r.clone();
        self.write(move |c| {
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

    async fn rotate_current(&self, r: &CurrentRotation) -> StoreResult<Option<Session>> {
        let r = r.clone();
        let max_ms = i64::try_from(r.max_lifetime.as_millis()).unwrap_or(i64::MAX);
        self.write(move |c| {
            c.prepare_cached(concat!(
                "UPDATE sessions
                 SET previous_jti = current_jti, rotated_at = ?5,
                     current_jti = ?4, current_issued_at = ?5, last_used_at = ?5,
                     expires_at = MIN(?6, created_at + ?7)
                 WHERE id = ?1 AND user_id = ?2 AND current_jti = ?3
                   AND revoked_at IS NULL AND expires_at > ?5
                 RETURNING ",
                session_columns!()
            ))?
            .query_row(
                params![
                    r.session_id.as_str(),
                    r.user_id.as_str(),
                    r.expected_jti.as_str(),
                    r.new_jti.as_str(),
                    millis(r.now),
                    millis(r.sliding_expires_at),
                    max_ms,
                ],
                session_from,
            )
            .optional()
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.as_str().to_owned();
        self.write(move |c| {
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
        self.write(move |c| {
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
        self.write(move |c| {
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
            c.prepare_cached(concat!(
                "SELECT ",
                session_columns!(),
                " FROM sessions
                 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
                 ORDER BY created_at DESC, id"
            ))?
            .query_map(params![user_id, millis(now)], session_from)?
            .collect()
        })
        .await
    }

    async fn spend_rate_limit(
        &self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> StoreResult<RateVerdict> {
        self.spend(key, limit, now).await
    }

    async fn refund_rate_limit(&self, key: &str, limit: RateLimit) -> StoreResult<()> {
        self.refund(key, limit).await
    }

    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_limits(now).await
    }

    async fn purge_sessions(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |c| {
            let deleted = c
                .prepare_cached(schema::PURGE_SESSIONS)?
                .execute([millis(cutoff)])?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn issue_account_token(&self, token: &AccountToken) -> StoreResult<()> {
        self.insert_account_token(token).await
    }

    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>> {
        self.live_account_token(hash, purpose, now).await
    }

    async fn change_password(&self, change: &PasswordChange) -> StoreResult<bool> {
        self.replace_password(change).await
    }

    async fn reset_password(
        &self,
        hash: &TokenHash,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        self.use_reset_token(hash, new_hash, now).await
    }

    async fn confirm_email(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<EmailConfirmation> {
        self.use_email_token(hash, now).await
    }

    async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool> {
        self.remove_user(user_id).await
    }

    async fn purge_account_tokens(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_tokens(cutoff).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<super::StoredSigningKey>> {
        self.all_signing_keys().await
    }

    async fn insert_signing_key(&self, key: &super::StoredSigningKey) -> StoreResult<bool> {
        self.add_signing_key(key).await
    }
}
