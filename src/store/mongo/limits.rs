//! Shared rate limits on MongoDB: GCRA as one `findOneAndUpdate` with an
//! update pipeline (upsert), so every instance spends one budget. Each
//! counter carries `expiresAt` (= its arrival time) for a TTL index: the
//! server removes counters whose budget is full again.

use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use super::{MongoStore, connection};
use crate::store::{RateLimit, RateVerdict, StoreError, StoreResult};

pub(super) const RATE_LIMITS: &str = "rateLimits";
const TAT: &str = "tat";
const ALLOWED: &str = "allowed";
pub(super) const EXPIRES_AT: &str = "expiresAt";

/// The update pipeline of one GCRA step: `allowed` says whether the request
/// fits; only then does `tat` move on by one interval.
fn spend_pipeline(now: i64, interval: i64, window: i64) -> Vec<Document> {
    let next = doc! { "$add": [ { "$max": [ { "$ifNull": [ format!("${TAT}"), now ] }, now ] }, interval ] };
    vec![
        doc! { "$set": { ALLOWED: { "$lte": [ { "$subtract": [ next.clone(), now ] }, window ] } } },
        doc! { "$set": { TAT: { "$cond": [ format!("${ALLOWED}"), next, { "$ifNull": [ format!("${TAT}"), now ] } ] } } },
        doc! { "$set": { EXPIRES_AT: { "$toDate": format!("${TAT}") } } },
    ]
}

impl MongoStore {
    pub(super) async fn spend(
        &self,
        key: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> StoreResult<RateVerdict> {
        let h = self.handles()?;
        let ((interval, window), now) = (limit.millis(), now.timestamp_millis());
        self.call("spending a rate limit", async {
            // Majority: a spend a failover rolls back would hand the budget
            // out twice.
            let counter =
                h.db.collection::<Document>(RATE_LIMITS)
                    .find_one_and_update(doc! { "_id": key }, spend_pipeline(now, interval, window))
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .write_concern(connection::majority(self.shared.budget))
                    .max_time(self.shared.budget)
                    .await?
                    .ok_or_else(|| StoreError::internal("an upsert returned no document"))?;
            if counter.get_bool(ALLOWED).map_err(StoreError::internal)? {
                return Ok(RateVerdict::Allowed);
            }
            let tat = counter.get_i64(TAT).map_err(StoreError::internal)?;
            Ok(limit.limited(tat, now))
        })
        .await
    }

    pub(super) async fn refund(&self, key: &str, limit: RateLimit) -> StoreResult<()> {
        let h = self.handles()?;
        self.call("refunding a rate limit", async {
            h.db.collection::<Document>(RATE_LIMITS)
                .update_one(
                    doc! { "_id": key },
                    doc! { "$inc": { TAT: -limit.millis().0 } },
                )
                .await
                .map(drop)
                .map_err(StoreError::from)
        })
        .await
    }

    pub(super) async fn purge_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let h = self.handles()?;
        self.call("purging rate limits", async {
            let result =
                h.db.collection::<Document>(RATE_LIMITS)
                    .delete_many(doc! { TAT: { "$lte": now.timestamp_millis() } })
                    .await?;
            Ok(result.deleted_count)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_moves_tat_only_when_the_request_fits() {
        let stages = spend_pipeline(1_000, 90_000, 900_000);
        assert_eq!(stages.len(), 3);
        let allowed = stages[0].get_document("$set").unwrap();
        assert!(allowed.contains_key(ALLOWED));
        let tat = stages[1]
            .get_document("$set")
            .unwrap()
            .get_document(TAT)
            .unwrap();
        // $cond: [allowed, next, old-or-now]
        let cond = tat.get_array("$cond").unwrap();
        assert_eq!(cond[0].as_str(), Some("$allowed"));
        assert_eq!(cond.len(), 3);
        let expires = stages[2].get_document("$set").unwrap();
        assert!(expires.contains_key(EXPIRES_AT));
    }
}
