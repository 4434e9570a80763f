//! The schema, versioned with SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// Bumped with every schema change; `migrate` brings older files up to date.
pub(super) const SCHEMA_VERSION: i64 = 4;

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
    if version < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}
