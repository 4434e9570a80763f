//! The account lifecycle on SQLite: one-time tokens, password change and
//! reset, email confirmation and account deletion. Every operation that
//! changes more than one row is one savepoint (all or nothing, inside the
//! writer's IMMEDIATE transaction), and a token is used by a conditional
//! UPDATE (`used_at IS NULL AND expires_at > now`), so of two uses of one
//! token exactly one changes a row.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::rows::{millis, time_at, user_columns, user_from};
use crate::domain::{AccountToken, EmailAddress, TokenHash, TokenPurpose, User, UserId};
use crate::store::{EmailConfirmation, PasswordChange, StoreError, StoreResult};

/// The columns `token_from` reads, in its order.
macro_rules! token_columns {
    () => {
        "hash, user_id, purpose, email, created_at, expires_at"
    };
}

fn token_from(row: &Row<'_>) -> rusqlite::Result<AccountToken> {
    let purpose: String = row.get(2)?;
    Ok(AccountToken {
        hash: TokenHash::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        purpose: TokenPurpose::parse(&purpose)
            .ok_or_else(|| super::rows::bad_column(2, "unknown token purpose"))?,
        email: EmailAddress::from_trusted(row.get(3)?),
        created_at: time_at(row, 4)?,
        expires_at: time_at(row, 5)?,
    })
}

/// Marks the live token of one of `purposes` used and returns it.
fn use_token(
    c: &Connection,
    hash: &str,
    purposes: &[TokenPurpose],
    now: i64,
) -> rusqlite::Result<Option<AccountToken>> {
    let token = c
        .prepare_cached(concat!(
            "UPDATE account_tokens SET used_at = ?2
             WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING ",
            token_columns!()
        ))?
        .query_row(params![hash, now], token_from)
        .optional()?;
    Ok(token.filter(|t| purposes.contains(&t.purpose)))
}

fn revoke_sessions(
    c: &Connection,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "UPDATE sessions SET revoked_at = ?2
         WHERE user_id = ?1 AND (?3 IS NULL OR id <> ?3)
           AND revoked_at IS NULL AND expires_at > ?2",
    )?
    .execute(params![user_id, now, keep])
}

fn delete_tokens(
    c: &Connection,
    user_id: &str,
    purpose: Option<TokenPurpose>,
    except: Option<&str>,
) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "DELETE FROM account_tokens
         WHERE user_id = ?1 AND (?2 IS NULL OR purpose = ?2) AND (?3 IS NULL OR hash <> ?3)",
    )?
    .execute(params![user_id, purpose.map(TokenPurpose::as_str), except])
}

fn user(c: &Connection, user_id: &str) -> rusqlite::Result<User> {
    c.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id = ?1"
    ))?
    .query_row([user_id], |row| user_from(row, 0))
}

impl SqliteStore {
    pub(super) async fn insert_account_token(&self, token: &AccountToken) -> StoreResult<()> {
        let t = token.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            delete_tokens(&tx, t.user_id.as_str(), Some(t.purpose), None)?;
            tx.prepare_cached(concat!(
                "INSERT INTO account_tokens (",
                token_columns!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                t.hash.as_str(),
                t.user_id.as_str(),
                t.purpose.as_str(),
                t.email.as_str(),
                millis(t.created_at),
                millis(t.expires_at),
            ])?;
            tx.commit()
        })
        .await
    }

    pub(super) async fn live_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>> {
        let hash = hash.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(concat!(
                "SELECT ",
                token_columns!(),
                " FROM account_tokens
                 WHERE hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3"
            ))?
            .query_row(params![hash, purpose.as_str(), millis(now)], token_from)
            .optional()
        })
        .await
    }

    pub(super) async fn replace_password(&self, change: &PasswordChange) -> StoreResult<bool> {
        let ch = change.clone();
        self.write(move |c| {
            let tx = c.savepoint()?;
            let id = ch.user_id.as_str();
            let changed = tx
                .prepare_cached(
                    "UPDATE users SET password_hash = ?3, updated_at = ?4
                     WHERE id = ?1 AND password_hash = ?2",
                )?
                .execute(params![id, ch.expected_hash, ch.new_hash, millis(ch.now)])?;
            if changed != 1 {
                return Ok(false);
            }
            revoke_sessions(&tx, id, Some(ch.keep_session.as_str()), millis(ch.now))?;
            delete_tokens(&tx, id, Some(TokenPurpose::PasswordReset), None)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn use_reset_token(
        &self,
        hash: &TokenHash,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        let (hash, new_hash, now) = (hash.as_str().to_owned(), new_hash.to_owned(), millis(now));
        self.write(move |c| {
            let tx = c.savepoint()?;
            let Some(token) = use_token(&tx, &hash, &[TokenPurpose::PasswordReset], now)? else {
                return Ok(None); // dropped: rolled back
            };
            let id = token.user_id.as_str();
            tx.prepare_cached(
                "UPDATE users SET password_hash = ?2, updated_at = ?3,
                     email_verified = CASE WHEN email = ?4 THEN 1 ELSE email_verified END
                 WHERE id = ?1",
            )?
            .execute(params![id, new_hash, now, token.email.as_str()])?;
            revoke_sessions(&tx, id, None, now)?;
            delete_tokens(&tx, id, Some(TokenPurpose::PasswordReset), Some(&hash))?;
            tx.commit()?;
            Ok(Some(token.user_id))
        })
        .await
    }

    pub(super) async fn use_email_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<EmailConfirmation> {
        let (hash, now) = (hash.as_str().to_owned(), millis(now));
        self.write(move |c| {
            let tx = c.savepoint()?;
            let purposes = [TokenPurpose::EmailVerification, TokenPurpose::EmailChange];
            let Some(token) = use_token(&tx, &hash, &purposes, now)? else {
                return Ok(Ok(EmailConfirmation::Invalid));
            };
            let id = token.user_id.as_str();
            let before = user(&tx, id)?;
            let confirmation = match token.purpose {
                TokenPurpose::EmailChange => {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE users SET email = ?2, email_verified = 1, updated_at = ?3
                                 WHERE id = ?1",
                        )?
                        .execute(params![id, token.email.as_str(), now]);
                    match changed.map_err(StoreError::from) {
                        Ok(_) => {}
                        // Rolled back: the token stays usable.
                        Err(StoreError::DuplicateEmail) => {
                            return Ok(Ok(EmailConfirmation::Taken));
                        }
                        Err(e) => return Ok(Err(e)),
                    }
                    delete_tokens(&tx, id, None, Some(&hash))?;
                    EmailConfirmation::Changed {
                        user: user(&tx, id)?,
                        previous: before.email,
                    }
                }
                _ if before.email != token.email => EmailConfirmation::Invalid,
                _ => {
                    tx.prepare_cached(
                        "UPDATE users SET email_verified = 1, updated_at = ?2
                             WHERE id = ?1 AND email_verified = 0",
                    )?
                    .execute(params![id, now])?;
                    EmailConfirmation::Verified(user(&tx, id)?)
                }
            };
            tx.commit()?;
            Ok(Ok(confirmation))
        })
        .await?
    }

    pub(super) async fn remove_user(&self, user_id: &UserId) -> StoreResult<bool> {
        let id = user_id.as_str().to_owned();
        self.write(move |c| {
            let tx = c.savepoint()?;
            // The foreign keys cascade too; said here so the order is plain.
            delete_tokens(&tx, &id, None, None)?;
            tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
                .execute([&id])?;
            tx.prepare_cached("DELETE FROM report_settings WHERE user_id = ?1")?
                .execute([&id])?;
            let deleted = tx
                .prepare_cached("DELETE FROM users WHERE id = ?1")?
                .execute([&id])?;
            tx.commit()?;
            Ok(deleted == 1)
        })
        .await
    }

    pub(super) async fn purge_tokens(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |c| {
            let deleted = c
                .prepare_cached(super::schema::PURGE_ACCOUNT_TOKENS)?
                .execute([millis(cutoff)])?;
            Ok(deleted as u64)
        })
        .await
    }
}
