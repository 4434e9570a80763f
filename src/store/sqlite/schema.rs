//! The schema, versioned with SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// Bumped with every schema change; `migrate` brings older files up to date.
pub(super) const SCHEMA_VERSION: i64 = 5;

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

/// Shared rate limits: one theoretical arrival time (Unix ms) per key. A
/// key whose time has passed is an empty bucket, and is purged.
const SCHEMA_V2: &str = "
CREATE TABLE IF NOT EXISTS rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    tat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_limits_by_tat ON rate_limits (tat);
";

/// JWT signing keys: `generation` is unique, so of two instances adding
/// the next key one insert loses. Times are Unix ms.
const SCHEMA_V3: &str = "
CREATE TABLE IF NOT EXISTS signing_keys (
    kid          TEXT PRIMARY KEY NOT NULL,
    generation   INTEGER NOT NULL UNIQUE,
    algorithm    TEXT NOT NULL,
    public_key   BLOB NOT NULL,
    private_key  BLOB NOT NULL,
    encryption   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    activates_at INTEGER NOT NULL
);
";

/// The account lifecycle: users' verified flag and one-time tokens (only
/// their SHA-256 is stored). Times are Unix ms.
const SCHEMA_V4: &str = "
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0
    CHECK (email_verified IN (0, 1));
CREATE TABLE IF NOT EXISTS account_tokens (
    hash       TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL
        CHECK (purpose IN ('password_reset', 'email_verification', 'email_change')),
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS account_tokens_by_user ON account_tokens (user_id, purpose);
CREATE INDEX IF NOT EXISTS account_tokens_by_expiry ON account_tokens (expires_at);
";

/// The purges' own indexes. Each purge deletes rows past one of two times
/// (`a <= ? OR b <= ?`): SQLite answers that from indexes only when both
/// columns have one; otherwise it reads the whole table, on the writer,
/// while every write waits (0.25 s for 1,000,000 sessions). Partial: the
/// rows without the time (live sessions, unused tokens) are not in them.
const SCHEMA_V5: &str = "
CREATE INDEX IF NOT EXISTS sessions_by_revocation ON sessions (revoked_at)
    WHERE revoked_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS account_tokens_by_use ON account_tokens (used_at)
    WHERE used_at IS NOT NULL;
";

/// Deletes expired and revoked sessions (?1: the cutoff, Unix ms).
pub(super) const PURGE_SESSIONS: &str =
    "DELETE FROM sessions WHERE expires_at <= ?1 OR revoked_at <= ?1";
/// Deletes rate-limit keys whose budget is full again (?1: now, Unix ms).
pub(super) const PURGE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE tat <= ?1";
/// Deletes expired and used account tokens (?1: the cutoff, Unix ms).
pub(super) const PURGE_ACCOUNT_TOKENS: &str =
    "DELETE FROM account_tokens WHERE expires_at <= ?1 OR used_at <= ?1";

pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version < 1 {
        tx.execute_batch(SCHEMA_V1)?;
    }
    if version < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if version < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    if version < 4 {
        tx.execute_batch(SCHEMA_V4)?;
    }
    if version < 5 {
        tx.execute_batch(SCHEMA_V5)?;
    }
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let details = stmt.query_map([1_i64], |r| r.get::<_, String>(3)).unwrap();
        details.map(Result::unwrap).collect()
    }

    #[test]
    fn no_purge_reads_a_whole_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        for sql in [PURGE_SESSIONS, PURGE_RATE_LIMITS, PURGE_ACCOUNT_TOKENS] {
            let plan = plan(&conn, sql);
            assert!(!plan.is_empty(), "{sql}: no plan");
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN")),
                "{sql} reads a whole table: {plan:?}"
            );
        }
    }

    #[test]
    fn a_file_of_every_older_version_is_brought_up_to_date() {
        let older = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5];
        for version in 1..SCHEMA_VERSION {
            let mut conn = Connection::open_in_memory().unwrap();
            for step in &older[..version as usize] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", version).unwrap();
            conn.execute(
                "INSERT INTO users (id, name, email, password_hash, created_at, updated_at) \
                 VALUES ('u', 'U', 'u@example.com', 'h', 0, 0)",
                [],
            )
            .unwrap();

            migrate(&mut conn).unwrap();
            migrate(&mut conn).unwrap(); // and again: nothing left to do

            let now: i64 = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(now, SCHEMA_VERSION, "from version {version}");
            let email: String = conn
                .query_row("SELECT email FROM users WHERE id = 'u'", [], |r| r.get(0))
                .unwrap();
            assert_eq!(email, "u@example.com", "from version {version}");
            let revocation_index: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sessions_by_revocation'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(revocation_index, 1, "from version {version}");
        }
    }
}
