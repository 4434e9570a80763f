//! JWT signing keys on SQLite. The unique `generation` column decides a race
//! between instances adding the next key: `INSERT ... ON CONFLICT DO NOTHING`
//! changes no row for the loser.

use rusqlite::params;

use super::SqliteStore;
use super::rows::{millis, time_at};
use crate::store::{StoreResult, StoredSigningKey};

impl SqliteStore {
    pub(super) async fn all_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.run(|c| {
            let mut statement = c.prepare_cached(
                "SELECT kid, generation, algorithm, public_key, private_key, encryption,
                        created_at, activates_at
                 FROM signing_keys ORDER BY generation",
            )?;
            let rows = statement.query_map([], |r| {
                Ok(StoredSigningKey {
                    kid: r.get(0)?,
                    generation: r.get(1)?,
                    algorithm: r.get(2)?,
                    public_key: r.get(3)?,
                    private_key: r.get(4)?,
                    encryption: r.get(5)?,
                    created_at: time_at(r, 6)?,
                    activates_at: time_at(r, 7)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    pub(super) async fn add_signing_key(&self, key: &StoredSigningKey) -> StoreResult<bool> {
        let key = key.clone();
        self.write(move |c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO signing_keys (kid, generation, algorithm, public_key,
                         private_key, encryption, created_at, activates_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    key.kid,
                    key.generation,
                    key.algorithm,
                    key.public_key,
                    key.private_key,
                    key.encryption,
                    millis(key.created_at),
                    millis(key.activates_at),
                ])?;
            Ok(inserted == 1)
        })
        .await
    }
}
