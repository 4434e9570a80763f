//! The account lifecycle on MongoDB.
//!
//! Collection `accountTokens`: one document per user and purpose, `_id` =
//! `<userId>/<purpose>`, so issuing a token *replaces* the previous one of
//! that purpose in one atomic upsert ("only the newest is valid" needs no
//! transaction). `hash` is unique (the lookup), `expiresAt` has a TTL index.
//! A token is used by one `findOneAndUpdate` whose filter holds the whole
//! condition (`usedAt: null`, `expiresAt > now`): of two uses, one matches.
//!
//! The operations that touch several collections run as ordered single
//! writes, in the order that never leaves something usable that should not
//! be: sessions are revoked *before* the password changes, a used token is
//! given back if the write it was used for fails, and an account is taken
//! apart from its sessions inwards (sessions, tokens, setting, user, then
//! sessions once more for a login that raced the deletion).

use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, DateTime as BsonDateTime, Document, doc};
use mongodb::options::ReturnDocument;

use super::documents::{UserDoc, bson_time, field};
use super::{Handles, MongoStore};
use crate::domain::{AccountToken, EmailAddress, TokenHash, TokenPurpose, UserId};
use crate::store::{EmailConfirmation, PasswordChange, StoreError, StoreResult};

pub(super) const ACCOUNT_TOKENS: &str = "accountTokens";
pub(super) const HASH: &str = "hash";
pub(super) const PURPOSE: &str = "purpose";
pub(super) const USED_AT: &str = "usedAt";

fn time_of(d: &Document, key: &str) -> StoreResult<DateTime<Utc>> {
    let t: &BsonDateTime = d.get_datetime(key).map_err(StoreError::internal)?;
    DateTime::from_timestamp_millis(t.timestamp_millis())
        .ok_or_else(|| StoreError::internal(format!("account token {key} out of range")))
}

fn token_from(d: &Document) -> StoreResult<AccountToken> {
    let text = |key: &str| {
        d.get_str(key)
            .map(str::to_owned)
            .map_err(StoreError::internal)
    };
    Ok(AccountToken {
        hash: TokenHash::from_trusted(text(HASH)?),
        user_id: UserId::from_trusted(text(field::USER_ID)?),
        purpose: TokenPurpose::parse(&text(PURPOSE)?)
            .ok_or_else(|| StoreError::internal("unknown account token purpose"))?,
        email: EmailAddress::from_trusted(text(field::EMAIL)?),
        created_at: time_of(d, field::CREATED_AT)?,
        expires_at: time_of(d, field::EXPIRES_AT)?,
    })
}

fn live(mut filter: Document, now: DateTime<Utc>) -> Document {
    filter.insert(USED_AT, Bson::Null);
    filter.insert(field::EXPIRES_AT, doc! { "$gt": bson_time(now) });
    filter
}

impl MongoStore {
    fn tokens(h: &Handles) -> mongodb::Collection<Document> {
        h.db.collection(ACCOUNT_TOKENS)
    }

    pub(super) async fn insert_account_token(&self, t: &AccountToken) -> StoreResult<()> {
        let h = self.handles()?;
        let id = format!("{}/{}", t.user_id.as_str(), t.purpose.as_str());
        let replacement = doc! {
            "_id": &id,
            HASH: t.hash.as_str(),
            field::USER_ID: t.user_id.as_str(),
            PURPOSE: t.purpose.as_str(),
            field::EMAIL: t.email.as_str(),
            field::CREATED_AT: bson_time(t.created_at),
            field::EXPIRES_AT: bson_time(t.expires_at),
            USED_AT: Bson::Null,
        };
        self.call("issuing an account token", async {
            Self::tokens(h)
                .replace_one(doc! { "_id": &id }, replacement)
                .upsert(true)
                .await
                .map(drop)
                .map_err(StoreError::from)
        })
        .await
    }

    pub(super) async fn live_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>> {
        let h = self.handles()?;
        self.call("finding an account token", async {
            Self::tokens(h)
                .find_one(live(
                    doc! { HASH: hash.as_str(), PURPOSE: purpose.as_str() },
                    now,
                ))
                .max_time(self.shared.budget)
                .await?
                .as_ref()
                .map(token_from)
                .transpose()
        })
        .await
    }

    /// Marks the live token with `hash` and one of `purposes` used.
    async fn use_token(
        &self,
        h: &Handles,
        hash: &TokenHash,
        purposes: &[TokenPurpose],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>> {
        let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
        Self::tokens(h)
            .find_one_and_update(
                live(
                    doc! { HASH: hash.as_str(), PURPOSE: { "$in": purposes } },
                    now,
                ),
                doc! { "$set": { USED_AT: bson_time(now) } },
            )
            .return_document(ReturnDocument::After)
            .write_concern(super::connection::majority(self.shared.budget))
            .await?
            .as_ref()
            .map(token_from)
            .transpose()
    }

    /// Gives a used token back after the write it was used for failed.
    async fn unuse_token(&self, h: &Handles, hash: &TokenHash) {
        if let Err(e) = Self::tokens(h)
            .update_one(
                doc! { HASH: hash.as_str() },
                doc! { "$set": { USED_AT: Bson::Null } },
            )
            .await
        {
            tracing::warn!(error = %super::errors::describe(&e), "a used account token could not be given back");
        }
    }

    async fn revoke_sessions(
        h: &Handles,
        user_id: &UserId,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut filter = Self::live(doc! { field::USER_ID: user_id.as_str() }, now);
        if let Some(keep) = keep {
            filter.insert(field::ID, doc! { "$ne": keep });
        }
        h.sessions
            .update_many(
                filter,
                doc! { "$set": { field::REVOKED_AT: bson_time(now) } },
            )
            .await?;
        Ok(())
    }

    async fn delete_tokens(
        h: &Handles,
        user_id: &UserId,
        purpose: Option<TokenPurpose>,
        except: Option<&TokenHash>,
    ) -> StoreResult<()> {
        let mut filter = doc! { field::USER_ID: user_id.as_str() };
        if let Some(p) = purpose {
            filter.insert(PURPOSE, p.as_str());
        }
        if let Some(hash) = except {
            filter.insert(HASH, doc! { "$ne": hash.as_str() });
        }
        Self::tokens(h).delete_many(filter).await?;
        Ok(())
    }

    pub(super) async fn replace_password(&self, ch: &PasswordChange) -> StoreResult<bool> {
        let h = self.handles()?;
        self.call("changing a password", async {
            // Sessions first: if the password write then fails, nothing a
            // thief holds outlived the attempt.
            Self::revoke_sessions(h, &ch.user_id, Some(ch.keep_session.as_str()), ch.now).await?;
            Self::delete_tokens(h, &ch.user_id, Some(TokenPurpose::PasswordReset), None).await?;
            let result = h
                .users
                .update_one(
                    doc! { field::ID: ch.user_id.as_str(), field::PASSWORD_HASH: &ch.expected_hash },
                    doc! { "$set": {
                        field::PASSWORD_HASH: &ch.new_hash,
                        field::UPDATED_AT: bson_time(ch.now),
                    } },
                )
                .write_concern(super::connection::majority(self.shared.budget))
                .await?;
            Ok(result.matched_count == 1)
        })
        .await
    }

    pub(super) async fn use_reset_token(
        &self,
        hash: &TokenHash,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let h = self.handles()?;
        self.call("resetting a password", async {
            // Revoke before the token is used (a failure later then leaves
            // the account with fewer sessions, never with a thief's).
            let Some(peek) = self
                .live_account_token(hash, TokenPurpose::PasswordReset, now)
                .await?
            else {
                return Ok(None);
            };
            Self::revoke_sessions(h, &peek.user_id, None, now).await?;
            let Some(token) = self
                .use_token(h, hash, &[TokenPurpose::PasswordReset], now)
                .await?
            else {
                return Ok(None);
            };
            let written = h
                .users
                .update_one(
                    doc! { field::ID: token.user_id.as_str() },
                    vec![doc! { "$set": {
                        field::PASSWORD_HASH: new_hash,
                        field::UPDATED_AT: bson_time(now),
                        field::EMAIL_VERIFIED: { "$or": [
                            { "$eq": [format!("${}", field::EMAIL), token.email.as_str()] },
                            { "$eq": [format!("${}", field::EMAIL_VERIFIED), true] },
                        ] },
                    } }],
                )
                .write_concern(super::connection::majority(self.shared.budget))
                .await;
            if let Err(e) = written {
                self.unuse_token(h, hash).await;
                return Err(e.into());
            }
            Self::delete_tokens(
                h,
                &token.user_id,
                Some(TokenPurpose::PasswordReset),
                Some(hash),
            )
            .await?;
            Ok(Some(token.user_id))
        })
        .await
    }

    pub(super) async fn use_email_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<EmailConfirmation> {
        let h = self.handles()?;
        self.call("confirming an email address", async {
            let purposes = [TokenPurpose::EmailVerification, TokenPurpose::EmailChange];
            let Some(token) = self.use_token(h, hash, &purposes, now).await? else {
                return Ok(EmailConfirmation::Invalid);
            };
            let id = token.user_id.as_str();
            let Some(before) = h.users.find_one(doc! { field::ID: id }).await? else {
                return Ok(EmailConfirmation::Invalid);
            };
            let (filter, set) = match token.purpose {
                TokenPurpose::EmailChange => (
                    doc! { field::ID: id },
                    doc! {
                        field::EMAIL: token.email.as_str(),
                        field::EMAIL_VERIFIED: true,
                        field::UPDATED_AT: bson_time(now),
                    },
                ),
                _ => (
                    doc! { field::ID: id, field::EMAIL: token.email.as_str() },
                    doc! { field::EMAIL_VERIFIED: true, field::UPDATED_AT: bson_time(now) },
                ),
            };
            let updated = h
                .users
                .find_one_and_update(filter, doc! { "$set": set })
                .return_document(ReturnDocument::After)
                .write_concern(super::connection::majority(self.shared.budget))
                .await;
            let user = match updated.map_err(StoreError::from) {
                Ok(Some(user)) => UserDoc::into_user(user)?,
                // A verification of an address the account no longer has.
                Ok(None) => return Ok(EmailConfirmation::Invalid),
                Err(StoreError::DuplicateEmail) => {
                    self.unuse_token(h, hash).await;
                    return Ok(EmailConfirmation::Taken);
                }
                Err(e) => {
                    self.unuse_token(h, hash).await;
                    return Err(e);
                }
            };
            if token.purpose == TokenPurpose::EmailChange {
                Self::delete_tokens(h, &token.user_id, None, Some(hash)).await?;
                return Ok(EmailConfirmation::Changed {
                    user,
                    previous: EmailAddress::from_trusted(before.email),
                });
            }
            Ok(EmailConfirmation::Verified(user))
        })
        .await
    }

    pub(super) async fn remove_user(&self, user_id: &UserId) -> StoreResult<bool> {
        let h = self.handles()?;
        let id = user_id.as_str();
        self.call("deleting a user", async {
            h.sessions.delete_many(doc! { field::USER_ID: id }).await?;
            Self::tokens(h)
                .delete_many(doc! { field::USER_ID: id })
                .await?;
            h.report_settings
                .delete_many(doc! { field::USER_ID: id })
                .await?;
            let deleted = h
                .users
                .delete_one(doc! { field::ID: id })
                .write_concern(super::connection::majority(self.shared.budget))
                .await?;
            // A login that read the user before it was deleted may have
            // opened a session since.
            h.sessions.delete_many(doc! { field::USER_ID: id }).await?;
            Ok(deleted.deleted_count == 1)
        })
        .await
    }

    pub(super) async fn purge_tokens(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let h = self.handles()?;
        let cutoff = bson_time(cutoff);
        self.call("purging account tokens", async {
            let result = Self::tokens(h)
                .delete_many(doc! { "$or": [
                    { field::EXPIRES_AT: { "$lte": cutoff } },
                    { USED_AT: { "$lte": cutoff } },
                ] })
                .await?;
            Ok(result.deleted_count)
        })
        .await
    }
}
