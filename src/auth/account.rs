//! The account lifecycle: change and reset a password, verify and change
//! an email address, delete an account.
//!
//! Links carry one-time tokens (`domain::AccountTokenSecret`); the store
//! keeps only their hashes, uses each once and honours only the newest of a
//! purpose. Mail leaves through `mail::Mailer` in the background: no answer
//! waits for, or reveals, delivery.
//!
//! "Forgot password" answers the same whether or not the address has an
//! account, in the same time: everything that depends on the address (the
//! lookup, the token, the mail, the per-address mail limit) happens in a
//! task after the answer is decided.

use std::sync::Arc;

use crate::domain::{
    AccountToken, AccountTokenSecret, AuthUser, ClientInfo, EmailAddress, Password, TokenPurpose,
    User,
};
use crate::mail::{Mail, Mailer, Templates};
use crate::store::{EmailConfirmation, PasswordChange, SharedStore};
use crate::telemetry::metrics::AuthEvent;

use super::limits::SharedLimiter;
use super::{ApiError, ApiResult, Auth, Refreshed, hash_error};

/// What the account flows need beyond `Auth`'s own parts, shared with the
/// background tasks that send mail.
pub(super) struct Mailing {
    store: SharedStore,
    mailer: Arc<Mailer>,
    templates: Templates,
    per_address: SharedLimiter,
}

impl Mailing {
    pub fn new(
        store: SharedStore,
        mailer: Arc<Mailer>,
        templates: Templates,
        per_address: SharedLimiter,
    ) -> Self {
        Self {
            store,
            mailer,
            templates,
            per_address,
        }
    }

    /// Stores a new token of `purpose` for `user`, sent to `to`; returns the
    /// secret for the link.
    async fn issue(
        &self,
        user: &User,
        purpose: TokenPurpose,
        to: &EmailAddress,
    ) -> ApiResult<AccountTokenSecret> {
        let secret = AccountTokenSecret::generate()
            .map_err(|_| ApiError::internal("the system random generator failed"))?;
        let now = crate::domain::now();
        let expires_at = crate::domain::after(now, self.templates.lifetime(purpose))
            .ok_or_else(|| ApiError::internal("token lifetime out of range"))?;
        self.store
            .issue_account_token(&AccountToken {
                hash: secret.hash(),
                user_id: user.id.clone(),
                purpose,
                email: to.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(secret)
    }

    fn send(&self, mail: Mail) {
        self.mailer.dispatch(mail);
    }

    /// Spends one mail of `address`'s hourly budget (429 past it).
    async fn limit(&self, address: &EmailAddress) -> ApiResult<()> {
        self.per_address.check(address.as_str()).await
    }

    /// A verification link to the user's address.
    async fn send_verification(&self, user: &User) -> ApiResult<()> {
        let secret = self
            .issue(user, TokenPurpose::EmailVerification, &user.email)
            .await?;
        self.send(self.templates.email_verification(&user.email, &secret));
        Ok(())
    }

    /// The forgot-password work for `email`, whoever it belongs to: nothing
    /// is answered from here, so nothing here can tell an address apart.
    async fn send_reset(&self, email: &EmailAddress) -> ApiResult<()> {
        if let Err(e) = self.limit(email).await {
            tracing::info!("password reset mail not sent: this address had its mails for the hour");
            return Err(e);
        }
        let Some(credentials) = self.store.find_credentials_by_email(email).await? else {
            return Ok(());
        };
        let user = credentials.user;
        let secret = self
            .issue(&user, TokenPurpose::PasswordReset, &user.email)
            .await?;
        self.send(self.templates.password_reset(&user.email, &secret));
        Ok(())
    }
}

/// A changed password, and the caller's rotated session.
#[derive(Debug)]
pub struct PasswordChanged {
    pub user: User,
    pub tokens: Refreshed,
}

impl Auth {
    /// The user behind an access token, which may have been deleted since
    /// the token was issued.
    async fn account_of(&self, caller: &AuthUser) -> ApiResult<User> {
        self.store
            .find_user(&caller.user_id)
            .await?
            .ok_or(ApiError::Unauthenticated("the user no longer exists"))
    }

    /// Checks the caller's password again (a failure counts against the
    /// email's login limit); `wrong` is the 401's message.
    async fn reconfirm(
        &self,
        client: &ClientInfo,
        user: &User,
        password: &str,
        wrong: &'static str,
    ) -> ApiResult<String> {
        match self.check_password(client, &user.email, password).await {
            Ok(credentials) if credentials.user.id == user.id => Ok(credentials.password_hash),
            Ok(_) | Err(ApiError::InvalidCredentials) => Err(ApiError::WrongPassword(wrong)),
            Err(e) => Err(e),
        }
    }

    /// Audits what a logged-in caller did to their account.
    fn audit_caller(&self, event: AuthEvent, user: &User, caller: &AuthUser, client: &ClientInfo) {
        self.audit(event, Some(&user.id), Some(&caller.session_id), client);
    }

    /// Sends the verification link of a new registration (best effort: the
    /// user can ask for another).
    pub(super) async fn after_registration(&self, user: &User) {
        match self.mailing.send_verification(user).await {
            Ok(()) => self.metrics.count(AuthEvent::EmailVerificationSent),
            Err(e) => tracing::warn!(
                error = %crate::telemetry::error_chain(&e),
                "the verification link of a new registration was not sent"
            ),
        }
    }

    /// Changes the caller's password: every other session is revoked, the
    /// caller's rotates (an in-flight refresh of the old token lands in the
    /// grace window and gets the same new pair), reset links die, and a
    /// notice is mailed.
    #[tracing::instrument(skip_all)]
    pub async fn change_password(
        &self,
        client: &ClientInfo,
        caller: &AuthUser,
        current: &str,
        new: Password,
    ) -> ApiResult<PasswordChanged> {
        let user = self.account_of(caller).await?;
        const WRONG: &str = "Current password is incorrect";
        let expected_hash = self.reconfirm(client, &user, current, WRONG).await?;
        let new_hash = self.hasher.hash(&new).await.map_err(hash_error)?;
        let now = crate::domain::now();
        let change = PasswordChange {
            user_id: user.id.clone(),
            expected_hash,
            new_hash,
            keep_session: caller.session_id.clone(),
            now,
        };
        if !self.store.change_password(&change).await? {
            // Changed by another request since we checked: the password we
            // were given is no longer the current one.
            return Err(ApiError::WrongPassword(WRONG));
        }
        let tokens = self.rotate_or_open(&user, caller, client).await?;
        self.audit_caller(AuthEvent::PasswordChanged, &user, caller, client);
        self.mailing
            .send(self.mailing.templates.password_changed(&user.email));
        Ok(PasswordChanged { user, tokens })
    }

    /// The caller's session with a fresh refresh token, or a new session if
    /// it is gone (a Bearer caller whose session was revoked meanwhile).
    async fn rotate_or_open(
        &self,
        user: &User,
        caller: &AuthUser,
        client: &ClientInfo,
    ) -> ApiResult<Refreshed> {
        let now = crate::domain::now();
        if let Some(session) = self
            .store
            .find_session(&caller.session_id)
            .await?
            .filter(|s| s.user_id == user.id && s.is_live(now))
            && let Some(rotated) = self.rotate(&session, now).await?
        {
            return self.sign_pair(&rotated, now);
        }
        let (access, refresh, _) = self.open_session(&user.id, client).await?;
        Ok(Refreshed { access, refresh })
    }

    /// Mails a reset link if the address has an account. Answers the same,
    /// at once, either way (see the module's note).
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(&self, client: &ClientInfo, email: EmailAddress) -> ApiResult<()> {
        self.limit_shared_ip(&self.limits.accounts_per_ip, client, AuthEvent::RateLimited)
            .await?;
        self.audit(AuthEvent::PasswordResetRequested, None, None, client);
        let mailing = Arc::clone(&self.mailing);
        tokio::spawn(async move {
            match mailing.send_reset(&email).await {
                Ok(()) | Err(ApiError::RateLimited { .. }) => {}
                Err(e) => tracing::warn!(
                    error = %crate::telemetry::error_chain(&e),
                    "a password reset link was not sent"
                ),
            }
        });
        Ok(())
    }

    /// Sets a new password with a reset link's token: every session ends,
    /// the address the link went to counts as verified.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        client: &ClientInfo,
        token: &str,
        new: Password,
    ) -> ApiResult<()> {
        self.limit_shared_ip(&self.limits.accounts_per_ip, client, AuthEvent::RateLimited)
            .await?;
        let secret = AccountTokenSecret::parse(token).ok_or(ApiError::InvalidAccountToken)?;
        let hash = secret.hash();
        // A dead token is refused before any bcrypt work is spent on it.
        if self
            .store
            .find_account_token(&hash, TokenPurpose::PasswordReset, crate::domain::now())
            .await?
            .is_none()
        {
            return Err(ApiError::InvalidAccountToken);
        }
        let new_hash = self.hasher.hash(&new).await.map_err(hash_error)?;
        let user_id = self
            .store
            .reset_password(&hash, &new_hash, crate::domain::now())
            .await?
            .ok_or(ApiError::InvalidAccountToken)?;
        self.audit(AuthEvent::PasswordReset, Some(&user_id), None, client);
        if let Some(user) = self.store.find_user(&user_id).await? {
            self.mailing
                .send(self.mailing.templates.password_changed(&user.email));
        }
        Ok(())
    }

    /// Uses a verification or email-change link.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(&self, client: &ClientInfo, token: &str) -> ApiResult<User> {
        self.limit_shared_ip(&self.limits.accounts_per_ip, client, AuthEvent::RateLimited)
            .await?;
        let secret = AccountTokenSecret::parse(token).ok_or(ApiError::InvalidAccountToken)?;
        match self
            .store
            .confirm_email(&secret.hash(), crate::domain::now())
            .await?
        {
            EmailConfirmation::Verified(user) => {
                self.audit(AuthEvent::EmailVerified, Some(&user.id), None, client);
                Ok(user)
            }
            EmailConfirmation::Changed { user, .. } => {
                self.audit(AuthEvent::EmailChanged, Some(&user.id), None, client);
                Ok(user)
            }
            EmailConfirmation::Invalid => Err(ApiError::InvalidAccountToken),
            EmailConfirmation::Taken => Err(ApiError::EmailTaken),
        }
    }

    /// Sends the caller another verification link.
    #[tracing::instrument(skip_all)]
    pub async fn resend_verification(
        &self,
        client: &ClientInfo,
        caller: &AuthUser,
    ) -> ApiResult<()> {
        let user = self.account_of(caller).await?;
        if user.email_verified {
            return Err(ApiError::AlreadyVerified);
        }
        self.mailing.limit(&user.email).await?;
        self.mailing.send_verification(&user).await?;
        self.audit_caller(AuthEvent::EmailVerificationSent, &user, caller, client);
        Ok(())
    }

    /// Starts an email change: a link to the new address (the change happens
    /// when it is used), a notice to the old one.
    #[tracing::instrument(skip_all)]
    pub async fn request_email_change(
        &self,
        client: &ClientInfo,
        caller: &AuthUser,
        password: &str,
        new_email: EmailAddress,
    ) -> ApiResult<()> {
        let user = self.account_of(caller).await?;
        if new_email == user.email {
            return Err(ApiError::Validation(vec![super::FieldError::new(
                "newEmail",
                "New email must differ from the current one",
            )]));
        }
        self.reconfirm(client, &user, password, "Password is incorrect")
            .await?;
        if self
            .store
            .find_credentials_by_email(&new_email)
            .await?
            .is_some()
        {
            return Err(ApiError::EmailTaken);
        }
        self.mailing.limit(&user.email).await?;
        let secret = self
            .mailing
            .issue(&user, TokenPurpose::EmailChange, &new_email)
            .await?;
        self.mailing
            .send(self.mailing.templates.email_change(&new_email, &secret));
        self.mailing.send(
            self.mailing
                .templates
                .email_change_notice(&user.email, &new_email),
        );
        self.audit_caller(AuthEvent::EmailChangeRequested, &user, caller, client);
        Ok(())
    }

    /// Deletes the caller's account and everything of it.
    #[tracing::instrument(skip_all)]
    pub async fn delete_account(
        &self,
        client: &ClientInfo,
        caller: &AuthUser,
        password: &str,
    ) -> ApiResult<()> {
        let user = self.account_of(caller).await?;
        self.reconfirm(client, &user, password, "Password is incorrect")
            .await?;
        self.store.delete_user(&user.id).await?;
        self.audit_caller(AuthEvent::AccountDeleted, &user, caller, client);
        Ok(())
    }
}
