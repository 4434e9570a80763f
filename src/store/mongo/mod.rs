//! The MongoDB store, on the official driver.
//!
//! One `Client` (a connection pool) is built at start-up and shared by every
//! worker. Collections: `users`, `reportSettings`, `sessions` (see
//! `documents` for their fields and `indexes` for their indexes).
//!
//! Registration is one transaction where the deployment allows it
//! (`registration`), else two inserts with a compensating delete
//! (`fallback`). The session compare-and-swap is a single `findOneAndUpdate`
//! whose filter holds the whole condition. Driver errors are sorted by
//! `errors`: duplicate email, unavailable (503), internal (500).

mod connection;
mod documents;
mod errors;
mod fallback;
mod indexes;
mod keys;
mod limits;
mod registration;

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection, Database};
use secrecy::ExposeSecret;

use self::documents::{
    REPORT_SETTINGS, ReportSettingDoc, SESSIONS, SessionDoc, USERS, UserDoc, bson_time, field,
};
pub use self::registration::RegistrationMode;
use super::{RateLimit, RateVerdict, Rotation, Store, StoreError, StoreResult};
use crate::domain::{
    EmailAddress, NewUser, ReportSetting, ReportSettingPatch, Session, SessionId, User,
    UserCredentials, UserId,
};
use crate::settings::StoreSettings;

pub struct MongoStore {
    client: Client,
    db: Database,
    users: Collection<UserDoc>,
    report_settings: Collection<ReportSettingDoc>,
    sessions: Collection<SessionDoc>,
    /// Whether registration uses a transaction; cleared (once, for good) if
    /// the server refuses one at run time.
    transactions: AtomicBool,
}

impl MongoStore {
    /// Connects to `settings.mongo_uri`, using the URI's database if it names
    /// one, else `settings.mongo_database`.
    pub async fn connect(settings: &StoreSettings) -> StoreResult<Self> {
        Self::open(settings, None).await
    }

    /// Like [`connect`](Self::connect), but always uses `database` (the
    /// conformance tests give every test its own).
    pub async fn connect_to_database(
        settings: &StoreSettings,
        database: &str,
    ) -> StoreResult<Self> {
        Self::open(settings, Some(database)).await
    }

    async fn open(settings: &StoreSettings, database: Option<&str>) -> StoreResult<Self> {
        let uri = settings
            .mongo_uri
            .as_ref()
            .ok_or_else(|| StoreError::internal("the MongoDB store needs MONGO_URI"))?
            .expose_secret();
        let options =
            connection::client_options(uri, settings.mongo_server_selection_timeout).await?;
        let database = match database {
            Some(name) => name.to_owned(),
            None => connection::database_name(&options, &settings.mongo_database),
        };
        let client = Client::with_options(options)
            .map_err(|e| StoreError::internal(connection::redact(&errors::describe(&e), uri)))?;
        let db = client.database(&database);
        let redacted = |e: StoreError| match e {
            StoreError::Unavailable(m) => {
                StoreError::unavailable(connection::redact(&m.to_string(), uri))
            }
            StoreError::Internal(m) => {
                StoreError::internal(connection::redact(&m.to_string(), uri))
            }
            other => other,
        };

        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| redacted(e.into()))?;
        let hello = registration::hello(&db).await.map_err(redacted)?;
        indexes::ensure(&db).await.map_err(redacted)?;

        let verdict = registration::decide(&hello);
        match verdict.mode {
            RegistrationMode::Transaction => tracing::info!(
                database = %database,
                registration = verdict.mode.as_str(),
                reason = %verdict.reason,
                "MongoDB store ready; registration writes the user and the report setting in one transaction"
            ),
            RegistrationMode::Fallback => tracing::warn!(
                database = %database,
                registration = verdict.mode.as_str(),
                reason = %verdict.reason,
                "MongoDB store ready without transactions; registration inserts the user and the \
                 report setting one after the other and deletes the user again if the second insert fails"
            ),
        }

        Ok(Self {
            users: db.collection(USERS),
            report_settings: db.collection(REPORT_SETTINGS),
            sessions: db.collection(SESSIONS),
            transactions: AtomicBool::new(verdict.mode == RegistrationMode::Transaction),
            client,
            db,
        })
    }

    /// How registration currently writes its two documents.
    pub fn registration_mode(&self) -> RegistrationMode {
        if self.transactions.load(Ordering::Relaxed) {
            RegistrationMode::Transaction
        } else {
            RegistrationMode::Fallback
        }
    }

    /// The database this store uses.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    /// The server refused a transaction although `hello` promised one: use
    /// the fallback from now on, and say so once.
    fn transactions_refused(&self, cause: &mongodb::error::Error) {
        if self.transactions.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = %errors::describe(cause),
                "MongoDB refused a transaction; registration falls back to plain writes with a \
                 compensating delete from now on"
            );
        }
    }

    /// The condition under which a session can still be used: not revoked,
    /// not expired at `now`.
    fn live(mut filter: Document, now: DateTime<Utc>) -> Document {
        filter.insert(field::REVOKED_AT, mongodb::bson::Bson::Null);
        filter.insert(field::EXPIRES_AT, doc! { "$gt": bson_time(now) });
        filter
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    /// Ends the driver's server sessions and closes its connections. After
    /// the HTTP server has stopped no operation is in flight; `immediate`
    /// keeps a forgotten cursor from holding shutdown up for ever.
    async fn close(&self) {
        self.client.clone().shutdown().immediate(true).await;
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(StoreError::from)
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let user = UserDoc::from_new(new);
        let setting = ReportSettingDoc::from_new(new);
        if self.transactions.load(Ordering::Relaxed) {
            let attempt = registration::in_transaction(
                &self.client,
                &self.users,
                &self.report_settings,
                &user,
                &setting,
            )
            .await;
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if errors::is_transactions_unsupported(&e) => self.transactions_refused(&e),
                Err(e) => return Err(errors::classify(&e)),
            }
        }
        let writes = fallback::MongoWrites {
            users: &self.users,
            settings: &self.report_settings,
            user: &user,
            setting: &setting,
        };
        fallback::register(&writes, &fallback::COMPENSATION_BACKOFF).await
    }

    async fn find_credentials_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<UserCredentials>> {
        self.users
            .find_one(doc! { field::EMAIL: email.as_str() })
            .await?
            .map(UserDoc::into_credentials)
            .transpose()
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.users
            .find_one(doc! { field::ID: id.as_str() })
            .await?
            .map(UserDoc::into_user)
            .transpose()
    }

    async fn replace_password_hash(
        &self,
        user_id: &UserId,
        expected: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! { field::ID: user_id.as_str(), field::PASSWORD_HASH: expected },
                doc! { "$set": { field::PASSWORD_HASH: new } },
            )
            .await?;
        Ok(result.modified_count == 1)
    }

    async fn report_setting(&self, user_id: &UserId) -> StoreResult<Option<ReportSetting>> {
        Ok(self
            .report_settings
            .find_one(doc! { field::USER_ID: user_id.as_str() })
            .await?
            .map(ReportSettingDoc::into_domain))
    }

    async fn update_report_setting(
        &self,
        user_id: &UserId,
        patch: ReportSettingPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReportSetting>> {
        let mut set = doc! { field::UPDATED_AT: bson_time(now) };
        if let Some(frequency) = patch.frequency {
            set.insert(field::FREQUENCY, frequency.as_str());
        }
        if let Some(is_enabled) = patch.is_enabled {
            set.insert(field::IS_ENABLED, is_enabled);
        }
        Ok(self
            .report_settings
            .find_one_and_update(
                doc! { field::USER_ID: user_id.as_str() },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .await?
            .map(ReportSettingDoc::into_domain))
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.sessions
            .insert_one(SessionDoc::from_domain(session))
            .await
            .map(drop)
            .map_err(StoreError::from)
    }

    async fn find_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        self.sessions
            .find_one(doc! { field::ID: id.as_str() })
            .await?
            .map(SessionDoc::into_domain)
            .transpose()
    }

    async fn rotate_session(&self, r: &Rotation) -> StoreResult<bool> {
        // The whole condition is in the filter, so the server applies the
        // check and the change as one atomic step: of two racing rotations
        // of one token, the second no longer matches.
        let filter = Self::live(
            doc! {
                field::ID: r.session_id.as_str(),
                field::CURRENT_JTI: r.expected_jti.as_str(),
            },
            r.now,
        );
        let now = bson_time(r.now);
        let update = doc! { "$set": {
            field::PREVIOUS_JTI: r.expected_jti.as_str(),
            field::ROTATED_AT: now,
            field::CURRENT_JTI: r.new_jti.as_str(),
            field::CURRENT_ISSUED_AT: now,
            field::LAST_USED_AT: now,
            field::EXPIRES_AT: bson_time(r.new_expires_at),
        } };
        // Only whether a document matched matters: project the id alone.
        let matched = self
            .sessions
            .clone_with_type::<Document>()
            .find_one_and_update(filter, update)
            .projection(doc! { field::ID: 1 })
            .await?;
        Ok(matched.is_some())
    }

    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        self.sessions
            .update_one(
                doc! { field::ID: id.as_str() },
                doc! { "$max": { field::LAST_USED_AT: bson_time(now) } },
            )
            .await
            .map(drop)
            .map_err(StoreError::from)
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        owner: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut filter = doc! { field::ID: id.as_str() };
        if let Some(owner) = owner {
            filter.insert(field::USER_ID, owner.as_str());
        }
        let result = self
            .sessions
            .update_one(
                Self::live(filter, now),
                doc! { "$set": { field::REVOKED_AT: bson_time(now) } },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    async fn revoke_all_sessions(&self, user_id: &UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .sessions
            .update_many(
                Self::live(doc! { field::USER_ID: user_id.as_str() }, now),
                doc! { "$set": { field::REVOKED_AT: bson_time(now) } },
            )
            .await?;
        Ok(result.modified_count)
    }

    async fn list_sessions(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let mut cursor = self
            .sessions
            .find(Self::live(doc! { field::USER_ID: user_id.as_str() }, now))
            .sort(doc! { field::CREATED_AT: -1, field::ID: 1 })
            .await?;
        let mut sessions = Vec::new();
        while cursor.advance().await? {
            let doc = cursor.deserialize_current()?;
            sessions.push(doc.into_domain()?);
        }
        Ok(sessions)
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
        let cutoff = bson_time(cutoff);
        let result = self
            .sessions
            .delete_many(doc! { "$or": [
                { field::EXPIRES_AT: { "$lte": cutoff } },
                { field::REVOKED_AT: { "$lte": cutoff } },
            ] })
            .await?;
        Ok(result.deleted_count)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<super::StoredSigningKey>> {
        self.all_signing_keys().await
    }

    async fn insert_signing_key(&self, key: &super::StoredSigningKey) -> StoreResult<bool> {
        self.add_signing_key(key).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::settings::Settings;

    fn settings_for(uri: &str) -> StoreSettings {
        let env = HashMap::from([("MONGO_URI".to_owned(), uri.to_owned())]);
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut store = Settings::load_from(&config, &env)
            .expect("settings load")
            .store;
        store.mongo_server_selection_timeout = Duration::from_millis(300);
        store
    }

    /// Nothing listens on port 9 of this host: the driver's own short
    /// server-selection timeout, not an outer one, ends the wait.
    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_fast_and_the_password_stays_secret() {
        let settings = settings_for("mongodb://app:pw-must-not-leak@127.0.0.1:9/tokengate");
        let started = Instant::now();
        let outcome = MongoStore::connect(&settings).await;
        let elapsed = started.elapsed();
        match outcome {
            Err(StoreError::Unavailable(message)) => {
                let message = crate::telemetry::error_chain(&*message);
                assert!(!message.contains("pw-must-not-leak"), "{message}");
            }
            Err(other) => panic!("expected Unavailable, got {other:?}"),
            Ok(_) => panic!("something answered on 127.0.0.1:9"),
        }
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    }
}
