//! The indexes the store relies on, created idempotently at start-up.
//!
//! `createIndexes` with a name and definition that already exist is a no-op,
//! so every start runs it. An index of the same name with another definition
//! makes start-up fail with a message naming it (an operator decides, the
//! service never drops an index).

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

use super::documents::{REPORT_SETTINGS, SESSIONS, USERS, field};
use super::errors::{classify, describe};
use crate::store::{StoreError, StoreResult};

/// The unique email index; its name is how a duplicate-key error is
/// recognised as "email taken".
pub(super) const USERS_EMAIL_UNIQUE: &str = "users_email_unique";
pub(super) const REPORT_SETTINGS_USER_UNIQUE: &str = "reportSettings_userId_unique";
pub(super) const SESSIONS_EXPIRY_TTL: &str = "sessions_expiresAt_ttl";
pub(super) const SESSIONS_BY_USER: &str = "sessions_userId_createdAt";
pub(super) const SESSIONS_BY_REVOCATION: &str = "sessions_revokedAt";
pub(super) const RATE_LIMITS_TTL: &str = "rateLimits_expiresAt_ttl";
pub(super) const SIGNING_KEYS_GENERATION_UNIQUE: &str = "signingKeys_generation_unique";
pub(super) const ACCOUNT_TOKENS_HASH_UNIQUE: &str = "accountTokens_hash_unique";
pub(super) const ACCOUNT_TOKENS_EXPIRY_TTL: &str = "accountTokens_expiresAt_ttl";
pub(super) const ACCOUNT_TOKENS_BY_USE: &str = "accountTokens_usedAt";

/// IndexOptionsConflict, IndexKeySpecsConflict: same name or keys, other options.
const INDEX_CONFLICT_CODES: [i32; 2] = [85, 86];

/// DuplicateKey: building a unique index over data that breaks it.
const DUPLICATE_KEY: i32 = 11000;

/// One index: where it lives and what it is.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct IndexSpec {
    pub collection: &'static str,
    pub name: &'static str,
    pub keys: Document,
    pub unique: bool,
    /// For a TTL index: how long after the indexed date a document is removed.
    pub expire_after: Option<Duration>,
}

impl IndexSpec {
    pub fn model(&self) -> IndexModel {
        let mut options = IndexOptions::builder().name(self.name.to_owned()).build();
        if self.unique {
            options.unique = Some(true);
        }
        options.expire_after = self.expire_after;
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(options)
            .build()
    }
}

/// Every index, in creation order.
pub(super) fn definitions() -> Vec<IndexSpec> {
    vec![
        // Emails are stored trimmed and lowercased (`EmailAddress`), so a
        // plain unique index makes uniqueness case-insensitive.
        IndexSpec {
            collection: USERS,
            name: USERS_EMAIL_UNIQUE,
            keys: doc! { field::EMAIL: 1 },
            unique: true,
            expire_after: None,
        },
        // Exactly one setting per user; also what `report_setting` looks up.
        IndexSpec {
            collection: REPORT_SETTINGS,
            name: REPORT_SETTINGS_USER_UNIQUE,
            keys: doc! { field::USER_ID: 1 },
            unique: true,
            expire_after: None,
        },
        // The server removes a session once it has expired (the monitor runs
        // about once a minute); the purge job removes revoked ones. Also
        // serves the purge's and the rotation's `expiresAt` conditions.
        IndexSpec {
            collection: SESSIONS,
            name: SESSIONS_EXPIRY_TTL,
            keys: doc! { field::EXPIRES_AT: 1 },
            unique: false,
            expire_after: Some(Duration::ZERO),
        },
        // `list_sessions` (newest first) and `revoke_all_sessions`.
        IndexSpec {
            collection: SESSIONS,
            name: SESSIONS_BY_USER,
            keys: doc! { field::USER_ID: 1, field::CREATED_AT: -1 },
            unique: false,
            expire_after: None,
        },
        // The purge's `revokedAt <= cutoff` branch.
        IndexSpec {
            collection: SESSIONS,
            name: SESSIONS_BY_REVOCATION,
            keys: doc! { field::REVOKED_AT: 1 },
            unique: false,
            expire_after: None,
        },
        // A rate-limit counter whose budget is full again is removed by the
        // server (the shared limits stay bounded without a purge).
        IndexSpec {
            collection: super::limits::RATE_LIMITS,
            name: RATE_LIMITS_TTL,
            keys: doc! { super::limits::EXPIRES_AT: 1 },
            unique: false,
            expire_after: Some(Duration::ZERO),
        },
        // One key per generation: of two instances adding the next signing
        // key, one insert fails and that instance re-reads.
        IndexSpec {
            collection: super::keys::SIGNING_KEYS,
            name: SIGNING_KEYS_GENERATION_UNIQUE,
            keys: doc! { super::keys::GENERATION: 1 },
            unique: true,
            expire_after: None,
        },
        // Links are looked up by the token's hash; two tokens never share one.
        IndexSpec {
            collection: super::accounts::ACCOUNT_TOKENS,
            name: ACCOUNT_TOKENS_HASH_UNIQUE,
            keys: doc! { super::accounts::HASH: 1 },
            unique: true,
            expire_after: None,
        },
        // The server removes a token once it has expired.
        IndexSpec {
            collection: super::accounts::ACCOUNT_TOKENS,
            name: ACCOUNT_TOKENS_EXPIRY_TTL,
            keys: doc! { field::EXPIRES_AT: 1 },
            unique: false,
            expire_after: Some(Duration::ZERO),
        },
        // The purge's `usedAt <= cutoff` branch: without it, the `$or`
        // reads the whole collection.
        IndexSpec {
            collection: super::accounts::ACCOUNT_TOKENS,
            name: ACCOUNT_TOKENS_BY_USE,
            keys: doc! { super::accounts::USED_AT: 1 },
            unique: false,
            expire_after: None,
        },
    ]
}

/// Creates every index that does not exist yet.
pub(super) async fn ensure(db: &Database) -> StoreResult<()> {
    for spec in definitions() {
        db.collection::<Document>(spec.collection)
            .create_index(spec.model())
            .await
            .map_err(|e| build_failure(&spec, super::errors::facts(&e).code, &e))?;
    }
    Ok(())
}

/// Why an index could not be built. A duplicate key here is existing data
/// that breaks a unique index, never "duplicate email" (the 409 of a
/// registration): an operator has to clean the data.
fn build_failure(spec: &IndexSpec, code: Option<i32>, e: &mongodb::error::Error) -> StoreError {
    match code {
        Some(c) if INDEX_CONFLICT_CODES.contains(&c) => StoreError::internal(format!(
            "index {} on {} exists with another definition; drop it so the service can create \
             its own ({})",
            spec.name,
            spec.collection,
            describe(e)
        )),
        Some(DUPLICATE_KEY) => StoreError::internal(format!(
            "existing duplicate {} in `{}`; clean them or drop the index {} ({})",
            duplicates_of(spec),
            spec.collection,
            spec.name,
            describe(e)
        )),
        _ => classify(e),
    }
}

/// What a duplicate is, in words, for the unique indexes.
fn duplicates_of(spec: &IndexSpec) -> &'static str {
    match spec.name {
        USERS_EMAIL_UNIQUE => "emails",
        REPORT_SETTINGS_USER_UNIQUE => "report settings of one user",
        ACCOUNT_TOKENS_HASH_UNIQUE => "account token hashes",
        _ => "keys",
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{self, Bson};

    use super::*;

    fn spec(name: &str) -> IndexSpec {
        definitions()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no index {name}"))
    }

    /// The createIndexes entry the driver sends for a spec.
    fn wire(spec: &IndexSpec) -> Document {
        bson::to_document(&spec.model()).unwrap()
    }

    #[test]
    fn names_are_unique_and_explicit() {
        let defs = definitions();
        let mut names: Vec<_> = defs.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), defs.len());
        for s in &defs {
            assert_eq!(wire(s).get_str("name").unwrap(), s.name);
        }
    }

    #[test]
    fn email_is_unique_on_users() {
        let s = spec(USERS_EMAIL_UNIQUE);
        assert_eq!(s.collection, "users");
        let w = wire(&s);
        assert_eq!(w.get_document("key").unwrap(), &doc! { "email": 1 });
        assert!(w.get_bool("unique").unwrap());
        assert!(w.get("expireAfterSeconds").is_none());
    }

    #[test]
    fn user_id_is_unique_on_report_settings() {
        let s = spec(REPORT_SETTINGS_USER_UNIQUE);
        assert_eq!(s.collection, "reportSettings");
        let w = wire(&s);
        assert_eq!(w.get_document("key").unwrap(), &doc! { "userId": 1 });
        assert!(w.get_bool("unique").unwrap());
    }

    #[test]
    fn sessions_expire_at_their_expiry_date() {
        let s = spec(SESSIONS_EXPIRY_TTL);
        assert_eq!(s.collection, "sessions");
        let w = wire(&s);
        assert_eq!(w.get_document("key").unwrap(), &doc! { "expiresAt": 1 });
        assert!(matches!(
            w.get("expireAfterSeconds"),
            Some(Bson::Int32(0) | Bson::Int64(0))
        ));
        assert!(w.get("unique").is_none());
    }

    /// Both branches of each purge's `$or` have an index, or the purge
    /// reads the whole collection.
    #[test]
    fn session_listing_and_both_branches_of_each_purge_have_an_index() {
        let by_user = wire(&spec(SESSIONS_BY_USER));
        assert_eq!(
            by_user.get_document("key").unwrap(),
            &doc! { "userId": 1, "createdAt": -1 }
        );
        assert!(by_user.get("unique").is_none());
        let by_revocation = wire(&spec(SESSIONS_BY_REVOCATION));
        assert_eq!(
            by_revocation.get_document("key").unwrap(),
            &doc! { "revokedAt": 1 }
        );
        let tokens_by_use = spec(ACCOUNT_TOKENS_BY_USE);
        assert_eq!(tokens_by_use.collection, "accountTokens");
        assert_eq!(
            wire(&tokens_by_use).get_document("key").unwrap(),
            &doc! { "usedAt": 1 }
        );
    }

    /// Issue #13: an index build over duplicate emails said "duplicate
    /// email", the registration's 409.
    #[test]
    fn an_index_build_over_duplicates_says_what_to_clean() {
        let dup: mongodb::error::CommandError = bson::from_document(doc! {
            "code": 11000, "codeName": "DuplicateKey",
            "errmsg": "Index build failed: E11000 duplicate key error collection: t.users \
                       index: users_email_unique dup key: { email: \"a@example.com\" }",
        })
        .unwrap();
        let e = mongodb::error::Error::from(mongodb::error::ErrorKind::Command(dup));
        let err = build_failure(&spec(USERS_EMAIL_UNIQUE), Some(11000), &e);
        match err {
            StoreError::Internal(cause) => {
                let text = cause.to_string();
                assert!(
                    text.starts_with(
                        "existing duplicate emails in `users`; clean them or drop the index"
                    ),
                    "{text}"
                );
            }
            other => panic!("expected Internal, got {other:?}"),
        }
        let e = mongodb::error::Error::from(mongodb::error::ErrorKind::Shutdown);
        assert!(matches!(
            build_failure(&spec(USERS_EMAIL_UNIQUE), None, &e),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn rate_limit_counters_expire_when_their_budget_is_full_again() {
        let ttl = wire(&spec(RATE_LIMITS_TTL));
        assert_eq!(ttl.get_document("key").unwrap(), &doc! { "expiresAt": 1 });
        assert_eq!(ttl.get("expireAfterSeconds"), Some(&Bson::Int32(0)));
    }

    #[test]
    fn only_the_intended_indexes_are_unique_or_ttl() {
        for s in definitions() {
            let unique = [
                USERS_EMAIL_UNIQUE,
                REPORT_SETTINGS_USER_UNIQUE,
                SIGNING_KEYS_GENERATION_UNIQUE,
                ACCOUNT_TOKENS_HASH_UNIQUE,
            ]
            .contains(&s.name);
            assert_eq!(s.unique, unique, "{}", s.name);
            assert_eq!(
                s.expire_after.is_some(),
                [
                    SESSIONS_EXPIRY_TTL,
                    RATE_LIMITS_TTL,
                    ACCOUNT_TOKENS_EXPIRY_TTL
                ]
                .contains(&s.name),
                "{}",
                s.name
            );
        }
    }
}
