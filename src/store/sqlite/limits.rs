//! Shared rate limits on SQLite: GCRA as one conditional upsert, so several
//! processes on one database file spend one budget.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::rows::millis;
use crate::store::{RateLimit, RateVerdict, StoreResult};

impl SqliteStore {
    pub(super) async fn spend(
        &self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> StoreResult<RateVerdict> {
        let ((interval, window), key, now) = (limit.millis(), key.to_owned(), millis(now));
        self.write(move |c| {
            // Insert a fresh key, or move its arrival time on by one
            // interval only while that stays within the window: the WHERE
            // makes the check and the spend one atomic statement.
            let spent: Option<i64> = c
                .prepare_cached(
                    "INSERT INTO rate_limits (key, tat) VALUES (?1, ?2 + ?3)
                     ON CONFLICT (key) DO UPDATE SET tat = MAX(tat, ?2) + ?3
                       WHERE MAX(tat, ?2) + ?3 - ?2 <= ?4
                     RETURNING tat",
                )?
                .query_row(params![key, now, interval, window], |r| r.get(0))
                .optional()?;
            if spent.is_some() {
                return Ok(RateVerdict::Allowed);
            }
            let tat: i64 = c
                .prepare_cached("SELECT tat FROM rate_limits WHERE key = ?1")?
                .query_row([&key], |r| r.get(0))?;
            Ok(limit.limited(tat, now))
        })
        .await
    }

    pub(super) async fn refund(&self, key: &str, limit: RateLimit) -> StoreResult<()> {
        let (key, (interval, _)) = (key.to_owned(), limit.millis());
        self.write(move |c| {
            c.prepare_cached("UPDATE rate_limits SET tat = tat - ?2 WHERE key = ?1")?
                .execute(params![key, interval])
                .map(drop)
        })
        .await
    }

    pub(super) async fn purge_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = millis(now);
        self.write(move |c| {
            let deleted = c
                .prepare_cached(super::schema::PURGE_RATE_LIMITS)?
                .execute([now])?;
            Ok(deleted as u64)
        })
        .await
    }
}
