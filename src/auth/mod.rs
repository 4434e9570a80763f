//! Authentication rules: registration, login, the refresh-token session
//! model, logout and session management. No HTTP here: the handlers in
//! `http/` call these and shape the responses.

mod account;
mod error;
pub mod keys;
mod limits;
pub mod password;
pub mod rate_limit;
mod session;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{
    ClientInfo, EmailAddress, NewUser, Password, ReportSetting, User, UserCredentials, UserId,
    UserName,
};
use crate::settings::Settings;
use crate::store::SharedStore;
use crate::telemetry::metrics::{AuthEvent, Metrics};
use limits::{Limits, ip_limit_key};
use password::{HashError, PasswordHasher};
use rate_limit::RateLimiter;
use tokens::{Signed, TokenService};
use tracing::Instrument;

pub use account::PasswordChanged;
pub use error::{ApiError, ApiResult, BoxError, FieldError};
pub use session::Refreshed;

/// A validated registration.
#[derive(Debug)]
pub struct Registration {
    pub name: UserName,
    pub email: EmailAddress,
    pub password: Password,
}

/// What a successful login yields.
#[derive(Debug)]
pub struct LoggedIn {
    pub user: User,
    pub report_setting: ReportSetting,
    pub access: Signed,
    pub refresh: Signed,
}

pub struct Auth {
    store: SharedStore,
    tokens: TokenService,
    hasher: Arc<PasswordHasher>,
    limits: Limits,
    metrics: Arc<Metrics>,
    grace_period: Duration,
    /// No session outlives this, however often it is refreshed.
    max_session_lifetime: Duration,
    /// Refuse the login of an unverified address (`REQUIRE_VERIFIED_EMAIL`).
    require_verified_email: bool,
    /// The account flows' mail and tokens.
    mailing: Arc<account::Mailing>,
}

impl Auth {
    pub fn new(
        settings: &Settings,
        store: SharedStore,
        metrics: Arc<Metrics>,
        mailer: Arc<crate::mail::Mailer>,
    ) -> Self {
        let limits = Limits::new(
            &store,
            &settings.rate_limit,
            settings.accounts.mails_per_hour,
        );
        let mailing = Arc::new(account::Mailing::new(
            Arc::clone(&store),
            mailer,
            crate::mail::Templates::new(
                settings.frontend_url(),
                settings.accounts.password_reset_ttl,
                settings.accounts.email_verification_ttl,
            ),
            limits.mails_per_address.clone(),
        ));
        Self {
            limits,
            mailing,
            require_verified_email: settings.accounts.require_verified_email,
            store,
            tokens: TokenService::new(&settings.jwt),
            hasher: Arc::new(PasswordHasher::new(
                settings.passwords.bcrypt_cost,
                settings.passwords.workers,
                settings.passwords.queue,
                settings.passwords.max_queue_wait,
            )),
            metrics,
            grace_period: settings.jwt.refresh_grace_period,
            max_session_lifetime: settings.jwt.session_max_lifetime,
        }
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// Creates the user and the default report setting, both or neither.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        client: &ClientInfo,
        registration: Registration,
    ) -> ApiResult<(User, ReportSetting)> {
        self.limit_shared_ip(&self.limits.register_per_ip, client, AuthEvent::RateLimited)
            .await?;
        let password_hash = self
            .hasher
            .hash(&registration.password)
            .await
            .map_err(hash_error)?;
        let now = crate::domain::now();
        let user = User {
            id: UserId::generate(),
            name: registration.name,
            email: registration.email,
            profile_picture: None,
            email_verified: false,
            created_at: now,
            updated_at: now,
        };
        let report_setting = ReportSetting::default_for(user.id.clone());
        let new = NewUser {
            user,
            password_hash,
            report_setting,
        };
        self.store.create_user(&new).await?;
        self.audit(AuthEvent::Registered, Some(&new.user.id), None, client);
        self.after_registration(&new.user).await;
        Ok((new.user, new.report_setting))
    }

    /// Checks the credentials and opens a session. Unknown emails and wrong
    /// passwords are indistinguishable: same error, same bcrypt work.
    ///
    /// `previous_refresh` is the refresh cookie the browser still sent: when
    /// it is a valid token of the same user, that session is revoked, so a
    /// second login in one browser does not orphan the first session (its
    /// cookies are overwritten by this login's).
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        client: &ClientInfo,
        email: EmailAddress,
        password: &str,
        previous_refresh: Option<&str>,
    ) -> ApiResult<LoggedIn> {
        self.limit_shared_ip(
            &self.limits.login_per_ip,
            client,
            AuthEvent::LoginRateLimited,
        )
        .await?;
        let credentials = self.check_password(client, &email, password).await?;
        if self.require_verified_email && !credentials.user.email_verified {
            // Only now, with the password checked: a guesser learns nothing.
            self.audit(
                AuthEvent::LoginFailed,
                Some(&credentials.user.id),
                None,
                client,
            );
            return Err(ApiError::EmailNotVerified);
        }
        let user = credentials.user;
        let report_setting =
            self.store.report_setting(&user.id).await?.ok_or_else(|| {
                ApiError::internal(format!("user {} has no report setting", user.id))
            })?;
        let (access, refresh, session_id) = self.open_session(&user.id, client).await?;
        if let Some(previous) = previous_refresh
            .and_then(|t| self.tokens.verify_refresh(t).ok())
            .filter(|t| t.user_id == user.id && t.session_id != session_id)
        {
            let now = crate::domain::now();
            // The new session exists already: a failure here is logged, not
            // answered (the old session then ends at its own expiry).
            match self
                .store
                .revoke_session(&previous.session_id, Some(&user.id), now)
                .await
            {
                Ok(true) => self.audit(
                    AuthEvent::SessionRevoked,
                    Some(&user.id),
                    Some(&previous.session_id),
                    client,
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    error = %crate::telemetry::error_chain(&e),
                    "the session this login replaces could not be revoked"
                ),
            }
        }
        self.audit(
            AuthEvent::LoginSucceeded,
            Some(&user.id),
            Some(&session_id),
            client,
        );
        Ok(LoggedIn {
            user,
            report_setting,
            access,
            refresh,
        })
    }

    /// Checks `password` for `email`, as a login does: a failure is
    /// reserved first against the email's limits (of simultaneous guesses,
    /// only as many as the limits allow get to bcrypt) and kept if the
    /// password is wrong; unknown emails and wrong passwords are
    /// indistinguishable (same error, same bcrypt work). A matching hash of
    /// another cost is replaced in the background.
    async fn check_password(
        &self,
        client: &ClientInfo,
        email: &EmailAddress,
        password: &str,
    ) -> ApiResult<UserCredentials> {
        let reservation = match self.limits.reserve_failure(email, client).await {
            Ok(reservation) => reservation,
            Err(e) => {
                if let ApiError::RateLimited { .. } = e {
                    self.audit(AuthEvent::LoginRateLimited, None, None, client);
                }
                return Err(e);
            }
        };
        // Shed a check the bcrypt pool cannot take before any other work
        // (store read, ...) is spent on it. Same answer whoever the email is.
        self.admit_login().await?;
        let credentials = self.store.find_credentials_by_email(email).await?;
        // Passwords over bcrypt's limit can match nothing that registration
        // accepted; verify against the dummy hash to keep the timing.
        let usable = password.len() <= Password::MAX_BYTES;
        let hash = credentials
            .as_ref()
            .filter(|_| usable)
            .map(|c| c.password_hash.as_str());
        let matches = self.hasher.verify(password, hash).await.map_err(|e| {
            if matches!(e, HashError::Overloaded { .. }) {
                self.metrics.count(AuthEvent::LoginShed);
            }
            hash_error(e)
        })?;
        let credentials = match credentials {
            Some(c) if matches => c,
            other => {
                // The reserved failure stands.
                reservation.keep();
                let known = other.as_ref().map(|c| &c.user.id);
                self.audit(AuthEvent::LoginFailed, known, None, client);
                return Err(ApiError::InvalidCredentials);
            }
        };
        drop(reservation);
        if self.hasher.needs_rehash(&credentials.password_hash) {
            self.rehash(&credentials, password);
        }
        Ok(credentials)
    }

    /// Whether a login would be admitted to the bcrypt pool now; if not,
    /// 503 with the time the queue needs. The HTTP layer asks before it
    /// reads the body, so a shed login costs next to nothing.
    ///
    /// The refusal itself is paced: it is answered after `SHED_PACE`
    /// (250 ms, or the Retry-After if shorter), asleep on a timer. A client that does
    /// not back off would otherwise send thousands of logins a second, and
    /// answering them would take the CPU from the bcrypt threads (which run
    /// at a lower priority than the HTTP workers): successful logins fell
    /// to a quarter of the machine's bcrypt rate under 64 such clients.
    pub async fn admit_login(&self) -> ApiResult<()> {
        let Err(e) = self.hasher.admission() else {
            return Ok(());
        };
        self.metrics.count(AuthEvent::LoginShed);
        if let HashError::Overloaded { retry_after } = e {
            tokio::time::sleep(retry_after.min(SHED_PACE)).await;
        }
        Err(hash_error(e))
    }

    /// Rehashes a password that matched a hash of another cost, in the
    /// background (the login does not wait), and stores it only if the hash
    /// is still the one that matched: a password changed meanwhile wins. A
    /// pool too busy to take the job skips it; the next login tries again.
    fn rehash(&self, credentials: &UserCredentials, password: &str) {
        let Ok(password) = Password::parse(password.to_owned()) else {
            return; // matched, so registration accepted it; rules changed since
        };
        let (hasher, store) = (Arc::clone(&self.hasher), Arc::clone(&self.store));
        let (user_id, old) = (
            credentials.user.id.clone(),
            credentials.password_hash.clone(),
        );
        tokio::spawn(
            async move {
                let new = match hasher.hash(&password).await {
                    Ok(new) => new,
                    Err(e) => return tracing::debug!(error = %e, "rehash skipped"),
                };
                match store.replace_password_hash(&user_id, &old, &new).await {
                    Ok(true) => tracing::info!(user_id = user_id.as_str(), "password rehashed at the configured cost"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %crate::telemetry::error_chain(&e), "rehash not stored"),
                }
            }
            .instrument(tracing::Span::current()),
        );
    }

    /// Spends one request of the client IP's budget in this process;
    /// past it, audits `event` and answers 429.
    fn limit_ip(
        &self,
        limiter: &RateLimiter<IpAddr>,
        client: &ClientInfo,
        event: AuthEvent,
    ) -> ApiResult<()> {
        let Some(ip) = client.ip else { return Ok(()) };
        limiter
            .check(&rate_limit::ip_key(ip))
            .map_err(|limited| self.refused(event, client, limited.retry_after))
    }

    /// The same for a budget shared by every instance on the store.
    async fn limit_shared_ip(
        &self,
        limiter: &limits::SharedLimiter,
        client: &ClientInfo,
        event: AuthEvent,
    ) -> ApiResult<()> {
        let Some(ip) = client.ip else { return Ok(()) };
        match limiter.check(&ip_limit_key(ip)).await {
            Err(ApiError::RateLimited { retry_after }) => {
                Err(self.refused(event, client, retry_after))
            }
            other => other,
        }
    }

    fn refused(&self, event: AuthEvent, client: &ClientInfo, retry_after: Duration) -> ApiError {
        self.audit(event, None, None, client);
        ApiError::RateLimited { retry_after }
    }

    /// Counts the event and writes it to the audit log (target `audit`).
    /// Never a password, token or secret.
    pub fn audit(
        &self,
        event: AuthEvent,
        user_id: Option<&UserId>,
        session_id: Option<&crate::domain::SessionId>,
        client: &ClientInfo,
    ) {
        self.metrics.count(event);
        tracing::info!(
            target: "audit",
            event = event.as_str(),
            user_id = user_id.map(UserId::as_str),
            session_id = session_id.map(|s| s.as_str()),
            ip = client.ip.map(tracing::field::display),
            user_agent = client.user_agent.as_deref(),
            "audit event"
        );
    }
}

/// How long a shed login waits before its 503 is sent, at most: a client
/// that does not back off then sends a few logins a second, not thousands.
const SHED_PACE: Duration = Duration::from_millis(250);

fn hash_error(e: HashError) -> ApiError {
    match e {
        HashError::Overloaded { retry_after } => ApiError::Overloaded { retry_after },
        HashError::Failed(cause) => ApiError::internal(cause),
    }
}
