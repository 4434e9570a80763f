//! The MongoDB store, on the official driver.
//!
//! One `Client` (a connection pool) shared by every worker. Collections:
//! `users`, `reportSettings`, `sessions` (see `documents` for their fields
//! and `indexes` for their indexes).
//!
//! Start-up never waits for the server: [`MongoStore::connect`] checks the
//! URI and builds the client (no I/O, except DNS for `mongodb+srv://`, which
//! then moves to the background too), and a background task (`connector`)
//! pings, asks `hello` which registration mode the deployment allows, and
//! creates the indexes, retrying with backoff. Until it has, every call
//! answers `Unavailable` (503, and `/health/ready` 503); a configuration
//! error it finds (refused credentials, data that breaks a unique index)
//! answers `Internal` (500) with a log line that says what to fix.
//!
//! Every call has a time budget (`store.operation_timeout`, see `budget`).
//! Registration is one transaction where the deployment allows it
//! (`registration`), else the setting then the user with a compensating
//! delete (`fallback`). Readers of a report setting repair a missing one.
//! The session compare-and-swap is a single `findOneAndUpdate` whose filter
//! holds the whole condition, written with majority. Driver errors are
//! sorted by `errors`: duplicate email, unavailable (503), internal (500).

mod accounts;
mod budget;
mod connection;
mod connector;
mod documents;
mod errors;
mod fallback;
mod indexes;
mod keys;
mod limits;
mod registration;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Client, Collection, Database};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use tokio::time::Instant;

use self::budget::{bounded, remaining};
use self::documents::{
    REPORT_SETTINGS, ReportSettingDoc, SESSIONS, SessionDoc, USERS, UserDoc, bson_time, field,
};
pub use self::registration::RegistrationMode;
use self::registration::{TransactionFailure, run_transaction};
use super::{
    EmailConfirmation, PasswordChange, RateLimit, RateVerdict, Rotation, Store, StoreError,
    StoreResult,
};
use crate::domain::{
    AccountToken, EmailAddress, NewUser, ReportSetting, ReportSettingPatch, Session, SessionId,
    TokenHash, TokenPurpose, User, UserCredentials, UserId,
};
use crate::settings::StoreSettings;

pub struct MongoStore {
    shared: Arc<Shared>,
    /// The background task that connects; aborted at close and on drop.
    connector: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the store and its connector share.
struct Shared {
    uri: SecretString,
    database: String,
    selection_timeout: Duration,
    /// The time budget of one call.
    budget: Duration,
    /// The client and collections, once built.
    handles: OnceLock<Handles>,
    /// Set once, when the connector has finished; the fast path of every call.
    ready: AtomicBool,
    /// Where the connector is, for callers that wait and for error messages.
    phase: watch::Sender<Phase>,
    /// How registration writes: [`MODE_UNDECIDED`] until the connector has
    /// asked the server, then transaction or fallback.
    mode: AtomicU8,
}

const MODE_UNDECIDED: u8 = 0;
const MODE_TRANSACTION: u8 = 1;
const MODE_FALLBACK: u8 = 2;

fn mode_code(mode: RegistrationMode) -> u8 {
    match mode {
        RegistrationMode::Transaction => MODE_TRANSACTION,
        RegistrationMode::Fallback => MODE_FALLBACK,
    }
}

#[derive(Clone)]
struct Handles {
    client: Client,
    db: Database,
    users: Collection<UserDoc>,
    report_settings: Collection<ReportSettingDoc>,
    sessions: Collection<SessionDoc>,
}

impl Handles {
    fn new(client: Client, database: &str) -> Self {
        let db = client.database(database);
        Self {
            users: db.collection(USERS),
            report_settings: db.collection(REPORT_SETTINGS),
            sessions: db.collection(SESSIONS),
            client,
            db,
        }
    }
}

/// Where the connector is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Not connected yet; the last failure (redacted), if any.
    Connecting(Option<String>),
    /// A failure only an operator can fix (redacted); the connector keeps
    /// trying, in case it is fixed on the server's side.
    Misconfigured(String),
    Ready,
}

/// The store before its connector has finished.
#[derive(Debug, thiserror::Error)]
#[error("the MongoDB store is not ready yet (still connecting{})", .0.as_deref().map(|e| format!("; last failure: {e}")).unwrap_or_default())]
struct NotReady(Option<String>);

impl MongoStore {
    /// Builds the store for `settings.mongo_uri` (using the URI's database if
    /// it names one, else `settings.mongo_database`) and returns at once; a
    /// background task connects. Fails only on a configuration error found
    /// without I/O (a malformed URI, an invalid option).
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
            .clone()
            .ok_or_else(|| StoreError::internal("the MongoDB store needs MONGO_URI"))?;
        let conn = connection::check_uri(uri.expose_secret())?;
        let database = match database {
            Some(name) => name.to_owned(),
            None => connection::database_name(&conn, &settings.mongo_database),
        };
        let shared = Arc::new(Shared {
            uri,
            database,
            selection_timeout: settings.mongo_server_selection_timeout,
            budget: settings.operation_timeout,
            handles: OnceLock::new(),
            ready: AtomicBool::new(false),
            phase: watch::Sender::new(Phase::Connecting(None)),
            mode: AtomicU8::new(MODE_UNDECIDED),
        });
        // Without SRV, building the client does no I/O: a bad option is
        // found here and stops start-up. With SRV the connector resolves it.
        if !connection::needs_dns(&conn) {
            shared.build_client().await?;
        }
        let connector = tokio::spawn(connector::run(Arc::clone(&shared)));
        Ok(Self {
            shared,
            connector: Mutex::new(Some(connector)),
        })
    }

    /// Waits until the store is ready, at most `timeout`: `Ok` when it is,
    /// the configuration error if the connector found one, else
    /// `Unavailable` with the last failure.
    pub async fn wait_ready(&self, timeout: Duration) -> StoreResult<()> {
        let mut phase = self.shared.phase.subscribe();
        let settled = tokio::time::timeout(
            timeout,
            phase.wait_for(|p| matches!(p, Phase::Ready | Phase::Misconfigured(_))),
        )
        .await;
        if settled.is_err() {
            return self.shared.handles().map(drop);
        }
        self.shared.handles().map(drop)
    }

    /// How registration currently writes its two documents; `None` until
    /// the store has asked the server.
    pub fn registration_mode(&self) -> Option<RegistrationMode> {
        self.shared.registration_mode()
    }

    /// The database this store uses.
    pub fn database_name(&self) -> &str {
        &self.shared.database
    }

    fn handles(&self) -> StoreResult<&Handles> {
        self.shared.handles()
    }

    /// Runs `call` within the store's time budget.
    async fn call<T>(
        &self,
        what: &'static str,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        bounded(what, self.shared.budget, call).await
    }

    /// The server refused a transaction: ask `hello` again, and switch to
    /// the fallback only if it confirms that transactions are impossible
    /// here. Ok when the fallback may be used now.
    async fn transactions_refused(
        &self,
        h: &Handles,
        cause: &mongodb::error::Error,
        deadline: Instant,
    ) -> StoreResult<()> {
        let hello = tokio::time::timeout_at(deadline, registration::hello(&h.db))
            .await
            .map_err(|_| {
                StoreError::unavailable(budget::OutOfTime {
                    what: "hello after a refused transaction",
                    budget: self.shared.budget,
                    last: Some(budget::Cause(errors::describe(cause))),
                })
            })??;
        match registration::decide(&hello) {
            Ok(v) if v.mode == RegistrationMode::Fallback => {
                let before = self.shared.mode.swap(MODE_FALLBACK, Ordering::Relaxed);
                if before != MODE_FALLBACK {
                    tracing::warn!(
                        error = %errors::describe(cause),
                        reason = %v.reason,
                        registration = "fallback",
                        "MongoDB refused a transaction and hello confirms the deployment has none; \
                         registration writes the report setting, then the user, from now on"
                    );
                }
                Ok(())
            }
            Ok(v) => Err(StoreError::unavailable(format!(
                "MongoDB refused a transaction ({}) although hello reports {}; registration keeps \
                 using transactions",
                errors::describe(cause),
                v.reason
            ))),
            Err(not_ready) => Err(StoreError::unavailable(not_ready)),
        }
    }

    /// The condition under which a session can still be used: not revoked,
    /// not expired at `now`.
    fn live(mut filter: Document, now: DateTime<Utc>) -> Document {
        filter.insert(field::REVOKED_AT, mongodb::bson::Bson::Null);
        filter.insert(field::EXPIRES_AT, doc! { "$gt": bson_time(now) });
        filter
    }

    /// Writes the default setting of `user_id` if the user exists and has
    /// none (an idempotent upsert; of concurrent repairs one inserts, the
    /// unique index turns the others into no-ops). False when the user does
    /// not exist.
    async fn repair_report_setting(
        &self,
        h: &Handles,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let user = h
            .users
            .clone_with_type::<Document>()
            .find_one(doc! { field::ID: user_id.as_str() })
            .projection(doc! { field::ID: 1 })
            .max_time(self.shared.budget)
            .await?;
        if user.is_none() {
            return Ok(false);
        }
        let mut defaults = mongodb::bson::to_document(&ReportSettingDoc::default_for(user_id, now))
            .map_err(StoreError::internal)?;
        defaults.remove(field::USER_ID);
        let upsert = h
            .report_settings
            .update_one(
                doc! { field::USER_ID: user_id.as_str() },
                doc! { "$setOnInsert": defaults },
            )
            .upsert(true)
            .await;
        match upsert {
            Ok(result) if result.upserted_id.is_some() => tracing::warn!(
                user_id = %user_id,
                "the user had no report setting; wrote the default one (MONTHLY, enabled)"
            ),
            Ok(_) => {}
            // A concurrent repair inserted it first.
            Err(e) if errors::is_duplicate_on(&e, indexes::REPORT_SETTINGS_USER_UNIQUE) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(true)
    }

    async fn find_report_setting(
        &self,
        h: &Handles,
        user_id: &UserId,
    ) -> StoreResult<Option<ReportSetting>> {
        Ok(h.report_settings
            .find_one(doc! { field::USER_ID: user_id.as_str() })
            .max_time(self.shared.budget)
            .await?
            .map(ReportSettingDoc::into_domain))
    }

    async fn apply_report_patch(
        &self,
        h: &Handles,
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
        Ok(h.report_settings
            .find_one_and_update(
                doc! { field::USER_ID: user_id.as_str() },
                doc! { "$set": set },
            )
            .return_document(ReturnDocument::After)
            .max_time(self.shared.budget)
            .await?
            .map(ReportSettingDoc::into_domain))
    }
}

impl Shared {
    fn uri(&self) -> &str {
        self.uri.expose_secret()
    }

    /// Builds the client (once). Does I/O only for a `mongodb+srv://` URI.
    async fn build_client(&self) -> StoreResult<&Handles> {
        if let Some(h) = self.handles.get() {
            return Ok(h);
        }
        let options =
            connection::client_options(self.uri(), self.selection_timeout, self.budget).await?;
        let client = Client::with_options(options).map_err(|e| {
            StoreError::internal(format!(
                "configuration error: {}",
                connection::redact(&errors::describe(&e), self.uri())
            ))
        })?;
        Ok(self
            .handles
            .get_or_init(|| Handles::new(client, &self.database)))
    }

    fn handles(&self) -> StoreResult<&Handles> {
        if self.ready.load(Ordering::Acquire)
            && let Some(h) = self.handles.get()
        {
            return Ok(h);
        }
        match &*self.phase.borrow() {
            Phase::Ready => self
                .handles
                .get()
                .ok_or_else(|| StoreError::internal("MongoDB store ready without a client")),
            Phase::Connecting(last) => Err(StoreError::unavailable(NotReady(last.clone()))),
            Phase::Misconfigured(why) => Err(StoreError::internal(why.clone())),
        }
    }

    fn registration_mode(&self) -> Option<RegistrationMode> {
        match self.mode.load(Ordering::Relaxed) {
            MODE_TRANSACTION => Some(RegistrationMode::Transaction),
            MODE_FALLBACK => Some(RegistrationMode::Fallback),
            _ => None,
        }
    }

    /// A store error with the URI's credentials removed from every message
    /// of its chain (the chain becomes one message).
    fn redacted(&self, e: StoreError) -> StoreError {
        let clean = |cause: &super::BoxError| {
            connection::redact(&crate::telemetry::error_chain(&**cause), self.uri())
        };
        match e {
            StoreError::Unavailable(cause) => StoreError::unavailable(clean(&cause)),
            StoreError::Internal(cause) => StoreError::internal(clean(&cause)),
            other => other,
        }
    }
}

impl Drop for MongoStore {
    fn drop(&mut self) {
        if let Some(task) = self.connector.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    fn registration_mode(&self) -> Option<&'static str> {
        self.shared
            .registration_mode()
            .map(RegistrationMode::as_str)
    }

    /// Stops the connector, ends the driver's server sessions and closes its
    /// connections. After the HTTP server has stopped no operation is in
    /// flight; `immediate` keeps a forgotten cursor from holding shutdown up
    /// for ever.
    async fn close(&self) {
        if let Some(task) = self.connector.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
        if let Some(h) = self.shared.handles.get() {
            h.client.clone().shutdown().immediate(true).await;
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        let h = self.handles()?;
        self.call("a ping", async {
            h.db.run_command(doc! { "ping": 1 })
                .await
                .map(drop)
                .map_err(StoreError::from)
        })
        .await
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let h = self.handles()?;
        let budget = self.shared.budget;
        let deadline = Instant::now() + budget;
        let user = UserDoc::from_new(new);
        let setting = ReportSettingDoc::from_new(new);
        if self.shared.registration_mode() == Some(RegistrationMode::Transaction) {
            let session = bounded("starting a session", budget, async {
                h.client.start_session().await.map_err(StoreError::from)
            })
            .await?;
            let mut steps = registration::MongoSteps {
                session,
                users: &h.users,
                settings: &h.report_settings,
                user: &user,
                setting: &setting,
                write_concern: connection::majority(budget),
            };
            match run_transaction(&mut steps, remaining(deadline)).await {
                Ok(()) => return Ok(()),
                Err(TransactionFailure::OutOfTime(e)) => return Err(e.into_store_error()),
                Err(TransactionFailure::Failed(e)) if errors::is_transactions_unsupported(&e) => {
                    self.transactions_refused(h, &e, deadline).await?;
                }
                Err(TransactionFailure::Failed(e)) => return Err(errors::classify(&e)),
            }
        }
        let writes = fallback::MongoWrites {
            users: &h.users,
            settings: &h.report_settings,
            user: &user,
            setting: &setting,
        };
        fallback::register(
            &writes,
            &fallback::COMPENSATION_BACKOFF,
            remaining(deadline),
        )
        .await
    }

    async fn find_credentials_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<UserCredentials>> {
        let h = self.handles()?;
        self.call("finding a user by email", async {
            h.users
                .find_one(doc! { field::EMAIL: email.as_str() })
                .max_time(self.shared.budget)
                .await?
                .map(UserDoc::into_credentials)
                .transpose()
        })
        .await
    }

    async fn find_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        let h = self.handles()?;
        self.call("finding a user", async {
            h.users
                .find_one(doc! { field::ID: id.as_str() })
                .max_time(self.shared.budget)
                .await?
                .map(UserDoc::into_user)
                .transpose()
        })
        .await
    }

    async fn replace_password_hash(
        &self,
        user_id: &UserId,
        expected: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let h = self.handles()?;
        self.call("replacing a password hash", async {
            let result = h
                .users
                .update_one(
                    doc! { field::ID: user_id.as_str(), field::PASSWORD_HASH: expected },
                    doc! { "$set": { field::PASSWORD_HASH: new } },
                )
                .await?;
            Ok(result.modified_count == 1)
        })
        .await
    }

    async fn report_setting(&self, user_id: &UserId) -> StoreResult<Option<ReportSetting>> {
        let h = self.handles()?;
        self.call("reading a report setting", async {
            if let Some(found) = self.find_report_setting(h, user_id).await? {
                return Ok(Some(found));
            }
            if !self
                .repair_report_setting(h, user_id, crate::domain::now())
                .await?
            {
                return Ok(None);
            }
            self.find_report_setting(h, user_id).await
        })
        .await
    }

    async fn update_report_setting(
        &self,
        user_id: &UserId,
        patch: ReportSettingPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ReportSetting>> {
        let h = self.handles()?;
        self.call("updating a report setting", async {
            if let Some(updated) = self.apply_report_patch(h, user_id, patch, now).await? {
                return Ok(Some(updated));
            }
            if !self.repair_report_setting(h, user_id, now).await? {
                return Ok(None);
            }
            self.apply_report_patch(h, user_id, patch, now).await
        })
        .await
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let h = self.handles()?;
        self.call("creating a session", async {
            h.sessions
                .insert_one(SessionDoc::from_domain(session))
                .await
                .map(drop)
                .map_err(StoreError::from)
        })
        .await
    }

    async fn find_session(&self, id: &SessionId) -> StoreResult<Option<Session>> {
        let h = self.handles()?;
        self.call("finding a session", async {
            h.sessions
                .find_one(doc! { field::ID: id.as_str() })
                .max_time(self.shared.budget)
                .await?
                .map(SessionDoc::into_domain)
                .transpose()
        })
        .await
    }

    async fn rotate_session(&self, r: &Rotation) -> StoreResult<bool> {
        let h = self.handles()?;
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
        self.call("rotating a session", async {
            // Only whether a document matched matters: project the id alone.
            // Majority: a rotation a failover rolls back would make the
            // next refresh with the new token look like reuse.
            let matched = h
                .sessions
                .clone_with_type::<Document>()
                .find_one_and_update(filter, update)
                .projection(doc! { field::ID: 1 })
                .write_concern(connection::majority(self.shared.budget))
                .max_time(self.shared.budget)
                .await?;
            Ok(matched.is_some())
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        let h = self.handles()?;
        self.call("touching a session", async {
            h.sessions
                .update_one(
                    doc! { field::ID: id.as_str() },
                    doc! { "$max": { field::LAST_USED_AT: bson_time(now) } },
                )
                .await
                .map(drop)
                .map_err(StoreError::from)
        })
        .await
    }

    async fn revoke_session(
        &self,
        id: &SessionId,
        owner: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let h = self.handles()?;
        let mut filter = doc! { field::ID: id.as_str() };
        if let Some(owner) = owner {
            filter.insert(field::USER_ID, owner.as_str());
        }
        self.call("revoking a session", async {
            let result = h
                .sessions
                .update_one(
                    Self::live(filter, now),
                    doc! { "$set": { field::REVOKED_AT: bson_time(now) } },
                )
                .await?;
            Ok(result.matched_count == 1)
        })
        .await
    }

    async fn revoke_all_sessions(&self, user_id: &UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        let h = self.handles()?;
        self.call("revoking all sessions", async {
            let result = h
                .sessions
                .update_many(
                    Self::live(doc! { field::USER_ID: user_id.as_str() }, now),
                    doc! { "$set": { field::REVOKED_AT: bson_time(now) } },
                )
                .await?;
            Ok(result.modified_count)
        })
        .await
    }

    async fn list_sessions(
        &self,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        let h = self.handles()?;
        self.call("listing sessions", async {
            let mut cursor = h
                .sessions
                .find(Self::live(doc! { field::USER_ID: user_id.as_str() }, now))
                .sort(doc! { field::CREATED_AT: -1, field::ID: 1 })
                .max_time(self.shared.budget)
                .await?;
            let mut sessions = Vec::new();
            while cursor.advance().await? {
                let doc = cursor.deserialize_current()?;
                sessions.push(doc.into_domain()?);
            }
            Ok(sessions)
        })
        .await
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

    async fn issue_account_token(&self, token: &AccountToken) -> StoreResult<()> {
        self.insert_account_token(token).await
    }

    async fn find_account_token(
        &self,
        hash: &TokenHash,
        purpose: TokenPurpose,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AccountToken>> {
        self.live_account_token(hash, purpose, now).await
    }

    async fn change_password(&self, change: &PasswordChange) -> StoreResult<bool> {
        self.replace_password(change).await
    }

    async fn reset_password(
        &self,
        hash: &TokenHash,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<UserId>> {
        self.use_reset_token(hash, new_hash, now).await
    }

    async fn confirm_email(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<EmailConfirmation> {
        self.use_email_token(hash, now).await
    }

    async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool> {
        self.remove_user(user_id).await
    }

    async fn purge_account_tokens(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.purge_tokens(cutoff).await
    }

    async fn purge_sessions(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let h = self.handles()?;
        let cutoff = bson_time(cutoff);
        self.call("purging sessions", async {
            let result = h
                .sessions
                .delete_many(doc! { "$or": [
                    { field::EXPIRES_AT: { "$lte": cutoff } },
                    { field::REVOKED_AT: { "$lte": cutoff } },
                ] })
                .await?;
            Ok(result.deleted_count)
        })
        .await
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
    use crate::domain::{EmailAddress, ReportSetting, UserName};
    use crate::settings::Settings;

    fn settings_for(uri: &str) -> StoreSettings {
        let env = HashMap::from([("MONGO_URI".to_owned(), uri.to_owned())]);
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut store = Settings::load_from(&config, &env)
            .expect("settings load")
            .store;
        store.mongo_server_selection_timeout = Duration::from_millis(300);
        store.operation_timeout = Duration::from_secs(2);
        store
    }

    /// Nothing listens on port 9 of this host.
    const NOBODY: &str = "mongodb://app:pw-must-not-leak@127.0.0.1:9/tokengate";

    fn secret_free(e: &StoreError) -> String {
        let text = crate::telemetry::error_chain(e);
        assert!(!text.contains("pw-must-not-leak"), "{text}");
        text
    }

    /// Issue #13, point 4: no MongoDB at boot no longer stops the process.
    /// The store is built at once; calls answer Unavailable (503) quickly,
    /// by the driver's own short server-selection timeout, and never leak
    /// the password.
    #[tokio::test]
    async fn without_a_server_the_store_starts_and_answers_unavailable() {
        let settings = settings_for(NOBODY);
        let started = Instant::now();
        let store = MongoStore::connect(&settings)
            .await
            .expect("connect returns at once");
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(store.registration_mode(), None);
        assert_eq!(Store::registration_mode(&store), None);

        match store.ping().await {
            Err(e @ StoreError::Unavailable(_)) => {
                let text = secret_free(&e);
                assert!(text.contains("not ready"), "{text}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let user = crate::domain::User {
            id: UserId::generate(),
            name: UserName::parse("Ada").unwrap(),
            email: EmailAddress::parse("ada@example.com").unwrap(),
            profile_picture: None,
            email_verified: false,
            created_at: crate::domain::now(),
            updated_at: crate::domain::now(),
        };
        let new = NewUser {
            report_setting: ReportSetting::default_for(user.id.clone()),
            user,
            password_hash: "x".into(),
        };
        assert!(matches!(
            store.create_user(&new).await,
            Err(StoreError::Unavailable(_))
        ));

        // The connector's failures reach the callers, redacted.
        let started = Instant::now();
        match store.wait_ready(Duration::from_secs(3)).await {
            Err(e @ StoreError::Unavailable(_)) => {
                let text = secret_free(&e);
                assert!(text.contains("last failure"), "{text}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(4));
        store.close().await;
    }

    /// A malformed URI is a configuration error found without I/O: start-up
    /// stops, naming it, without echoing the password.
    #[tokio::test]
    async fn a_malformed_uri_stops_start_up() {
        let settings =
            settings_for("mongodb://app:pw-must-not-leak@127.0.0.1:9/?w=banana&wtimeoutMS=x");
        match MongoStore::connect(&settings).await {
            Err(e @ StoreError::Internal(_)) => {
                let text = secret_free(&e);
                assert!(text.contains("configuration error"), "{text}");
            }
            Err(other) => panic!("expected Internal, got {other:?}"),
            Ok(_) => panic!("a malformed URI was accepted"),
        }
    }

    #[test]
    fn not_ready_says_why() {
        assert_eq!(
            NotReady(None).to_string(),
            "the MongoDB store is not ready yet (still connecting)"
        );
        assert!(
            NotReady(Some("no server".into()))
                .to_string()
                .ends_with("; last failure: no server)")
        );
    }
}
