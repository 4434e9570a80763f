//! JWT signing keys on MongoDB: collection `signingKeys`, `_id` = `kid`, a
//! unique index on `generation` (see `indexes`): of two instances inserting
//! the next generation, one gets a duplicate-key error and reports false.

use chrono::{DateTime, Utc};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime as BsonDateTime, Document, doc};

use super::MongoStore;
use super::documents::bson_time;
use crate::store::{StoreError, StoreResult, StoredSigningKey};

pub(super) const SIGNING_KEYS: &str = "signingKeys";
pub(super) const GENERATION: &str = "generation";

const DUPLICATE_KEY: i32 = 11000;

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

fn bytes_of(d: &Document, key: &str) -> StoreResult<Vec<u8>> {
    d.get_binary_generic(key)
        .cloned()
        .map_err(StoreError::internal)
}

fn time_of(d: &Document, key: &str) -> StoreResult<DateTime<Utc>> {
    let t: &BsonDateTime = d.get_datetime(key).map_err(StoreError::internal)?;
    DateTime::from_timestamp_millis(t.timestamp_millis())
        .ok_or_else(|| StoreError::internal(format!("signing key {key} out of range")))
}

fn from_doc(d: &Document) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: d.get_str("_id").map_err(StoreError::internal)?.to_owned(),
        generation: d.get_i64(GENERATION).map_err(StoreError::internal)?,
        algorithm: d
            .get_str("algorithm")
            .map_err(StoreError::internal)?
            .to_owned(),
        public_key: bytes_of(d, "publicKey")?,
        private_key: bytes_of(d, "privateKey")?,
        encryption: d
            .get_str("encryption")
            .map_err(StoreError::internal)?
            .to_owned(),
        created_at: time_of(d, "createdAt")?,
        activates_at: time_of(d, "activatesAt")?,
    })
}

impl MongoStore {
    pub(super) async fn all_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let h = self.handles()?;
        self.call("reading the signing keys", async {
            let mut cursor =
                h.db.collection::<Document>(SIGNING_KEYS)
                    .find(doc! {})
                    .sort(doc! { GENERATION: 1 })
                    .max_time(self.shared.budget)
                    .await?;
            let mut keys = Vec::new();
            while cursor.advance().await? {
                keys.push(from_doc(&cursor.deserialize_current()?)?);
            }
            Ok(keys)
        })
        .await
    }

    pub(super) async fn add_signing_key(&self, key: &StoredSigningKey) -> StoreResult<bool> {
        let h = self.handles()?;
        let document = doc! {
            "_id": &key.kid,
            GENERATION: key.generation,
            "algorithm": &key.algorithm,
            "publicKey": binary(&key.public_key),
            "privateKey": binary(&key.private_key),
            "encryption": &key.encryption,
            "createdAt": bson_time(key.created_at),
            "activatesAt": bson_time(key.activates_at),
        };
        self.call("adding a signing key", async {
            // Majority: a key a failover rolls back could have signed tokens
            // no instance can verify any more.
            match h
                .db
                .collection::<Document>(SIGNING_KEYS)
                .insert_one(document)
                .write_concern(super::connection::majority(self.shared.budget))
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if super::errors::facts(&e).code == Some(DUPLICATE_KEY) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}
