//! The typed sections, read straight from the files and variables by derive
//! (each value parsed by its type or a `de` helper), then checked for the
//! rules that span several values or depend on the profile.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use humantime_serde::re::humantime::format_duration;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{DEVELOPMENT_SECRETS, MIN_SECRET_BYTES, Origin, Profile, SettingsError, de, invalid};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// An access token cannot be revoked: it lives on after a logout for its
/// whole lifetime, so at most a day.
const MAX_ACCESS_TTL: Duration = DAY;
const MAX_REFRESH_TTL: Duration = Duration::from_secs(365 * 86_400);
const MAX_SESSION_LIFETIME: Duration = MAX_REFRESH_TTL;
/// The grace window only absorbs concurrent refreshes from one browser.
const MAX_GRACE_PERIOD: Duration = MINUTE;
const MAX_LEEWAY: Duration = Duration::from_secs(5);
const MAX_QUEUE_WAIT: Duration = MINUTE;
/// A store call's budget stays well under a reverse proxy's timeout
/// (commonly 60 s), so the client gets our 503, not the proxy's 504.
const MAX_STORE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

/// How access tokens are signed: `HS256` (a shared secret, the default) or
/// `EdDSA` (Ed25519 keys, public ones served as a JWKS so other services can
/// verify without being able to sign). Refresh tokens are always HS256: only
/// tokengate reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum JwtAlgorithm {
    Hs256,
    EdDsa,
}

impl JwtAlgorithm {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }
}

/// Any case: `HS256`, `EdDSA` (or `Ed25519`).
impl FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "hs256" => Ok(JwtAlgorithm::Hs256),
            "eddsa" | "ed25519" => Ok(JwtAlgorithm::EdDsa),
            _ => Err(format!("{raw:?} is not HS256 or EdDSA")),
        }
    }
}

impl TryFrom<String> for JwtAlgorithm {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.parse()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Any case, surrounding whitespace ignored: `Lax`, `lax`, ` LAX `.
impl FromStr for SameSite {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(format!("{raw:?} is not Strict, Lax or None")),
        }
    }
}

/// Any case: `pretty` (or `text`) and `json`.
impl FromStr for LogFormat {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{raw:?} is not pretty or json")),
        }
    }
}

impl TryFrom<String> for SameSite {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.parse()
    }
}

impl TryFrom<String> for LogFormat {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.parse()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(deserialize_with = "de::non_empty")]
    pub host: String,
    pub port: u16,
    /// Where the API lives, `/api` by default.
    #[serde(deserialize_with = "de::base_path")]
    pub base_path: String,
    #[serde(deserialize_with = "de::positive")]
    pub body_limit_bytes: usize,
    #[serde(default, deserialize_with = "de::zero_is_none")]
    pub workers: Option<usize>,
    /// How long in-flight requests may take to finish at shutdown.
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_timeout: Duration,
    /// Serve the interactive API docs page at `<base>/docs`.
    pub api_docs: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub refresh_secret: SecretString,
    #[serde(rename = "expires_in", deserialize_with = "de::nonzero_duration")]
    pub access_ttl: Duration,
    #[serde(
        rename = "refresh_expires_in",
        deserialize_with = "de::nonzero_duration"
    )]
    pub refresh_ttl: Duration,
    /// The longest a session lives, however often it is refreshed: rotation
    /// slides the refresh expiry, never past creation + this.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub session_max_lifetime: Duration,
    #[serde(deserialize_with = "de::non_empty")]
    pub issuer: String,
    #[serde(deserialize_with = "de::non_empty")]
    pub audience: String,
    /// Clock skew allowed when checking `exp` (at most 5 s).
    #[serde(deserialize_with = "de::duration")]
    pub leeway: Duration,
    /// How long the immediately previous refresh token is still answered
    /// after a rotation; zero turns the grace window off.
    #[serde(deserialize_with = "de::duration")]
    pub refresh_grace_period: Duration,
    /// Whether login and refresh also return the access token in the body.
    pub expose_access_token: bool,
    /// How access tokens are signed (`JWT_ALGORITHM`).
    pub algorithm: JwtAlgorithm,
    /// Earlier secrets still accepted for verification while new tokens use
    /// the current one (rotation without logging anyone out).
    #[serde(default, deserialize_with = "de::optional_secret")]
    pub secret_previous: Option<SecretString>,
    #[serde(default, deserialize_with = "de::optional_secret")]
    pub refresh_secret_previous: Option<SecretString>,
    /// `Cache-Control: max-age` of the JWKS; a new key is published at
    /// least this long (plus `key_refresh_interval`) before it signs.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub jwks_max_age: Duration,
    /// How often an instance reloads the signing keys from the store.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub key_refresh_interval: Duration,
    /// A new Ed25519 key this often; `off` (the default): only on demand.
    #[serde(default, deserialize_with = "de::optional_period")]
    pub key_rotation: Option<Duration>,
    /// 32 bytes, base64: encrypts the private keys kept in the store.
    #[serde(default, deserialize_with = "de::optional_secret")]
    pub key_encryption_key: Option<SecretString>,
    /// A PKCS#8 Ed25519 private key (PEM) managed by the deployer; then no
    /// keys are generated or kept in the store.
    #[serde(default, deserialize_with = "de::optional_path")]
    pub private_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieSettings {
    pub secure: bool,
    pub same_site: SameSite,
    #[serde(default, deserialize_with = "de::cookie_domain")]
    pub domain: Option<String>,
    /// Use the `__Host-` (access) and `__Secure-` (refresh) name prefixes.
    pub name_prefix: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins allowed to call with credentials (`cors.frontend_origin`,
    /// comma-separated).
    #[serde(rename = "frontend_origin", deserialize_with = "de::origins")]
    pub frontend_origins: Vec<Origin>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    #[serde(default, deserialize_with = "de::mongo_uri")]
    pub mongo_uri: Option<SecretString>,
    #[serde(deserialize_with = "de::non_empty")]
    pub mongo_database: String,
    #[serde(deserialize_with = "de::duration")]
    pub mongo_server_selection_timeout: Duration,
    /// The time budget of one store call (`STORE_TIMEOUT`): past it the
    /// call answers "unavailable" (503) instead of waiting on.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub operation_timeout: Duration,
    #[serde(deserialize_with = "de::non_empty_path")]
    pub sqlite_path: PathBuf,
    #[serde(deserialize_with = "de::positive")]
    pub sqlite_pool_size: usize,
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub session_purge_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    /// Threads that run bcrypt; default: the machine's cores.
    #[serde(default = "de::cores", deserialize_with = "de::workers_or_cores")]
    pub workers: usize,
    /// bcrypt jobs that may wait for a thread: a memory bound only; how long
    /// a login may wait is `max_queue_wait`.
    pub queue: usize,
    /// A login waits for a bcrypt thread while its expected wait is within
    /// this; beyond it the login is shed with 503.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub max_queue_wait: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub window: Duration,
    /// Requests per client IP per window on login, register and refresh.
    #[serde(deserialize_with = "de::positive")]
    pub per_ip: u32,
    /// Failed logins per (email, client network) per window.
    #[serde(deserialize_with = "de::positive")]
    pub login_failures: u32,
    /// Failed logins per email per window across all networks: the ceiling
    /// for a guesser spread over many addresses.
    #[serde(deserialize_with = "de::positive")]
    pub login_failures_per_email: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "de::proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// The most keys a limiter tracks at once; its memory bound.
    #[serde(deserialize_with = "de::positive")]
    pub max_keys: usize,
    /// Keep refresh's per-IP budget in the store, shared by every instance,
    /// instead of in each process (a store write per refresh).
    pub shared_refresh_limit: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    #[serde(deserialize_with = "de::log_filter")]
    pub filter: String,
}

/// `Err` naming `key` unless `value <= max`.
fn at_most(key: &str, value: Duration, max: Duration) -> Result<(), SettingsError> {
    if value > max {
        return Err(invalid(
            key,
            format!(
                "must be at most {}, not {}",
                format_duration(max),
                format_duration(value)
            ),
        ));
    }
    Ok(())
}

impl JwtSettings {
    pub fn secret_bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }

    pub fn refresh_secret_bytes(&self) -> &[u8] {
        self.refresh_secret.expose_secret().as_bytes()
    }

    /// Whether either secret is one of the published development values.
    pub fn uses_development_secrets(&self) -> bool {
        [&self.secret, &self.refresh_secret]
            .iter()
            .any(|s| DEVELOPMENT_SECRETS.contains(&s.expose_secret()))
    }

    pub(super) fn check(&self, profile: Profile) -> Result<(), SettingsError> {
        self.check_secrets(profile)?;
        self.check_lifetimes()?;
        self.check_keys(profile)
    }

    /// The key-encryption key decoded: exactly 32 bytes of standard base64.
    pub fn key_encryption_key_bytes(&self) -> Result<Option<[u8; 32]>, SettingsError> {
        use base64::Engine;
        let Some(kek) = &self.key_encryption_key else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(kek.expose_secret().trim())
            .map_err(|_| invalid("jwt.key_encryption_key", "is not base64"))?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| invalid("jwt.key_encryption_key", "must be 32 bytes (base64)"))
    }

    fn check_keys(&self, profile: Profile) -> Result<(), SettingsError> {
        self.key_encryption_key_bytes()?;
        for (key, previous, current) in [
            ("jwt.secret_previous", &self.secret_previous, &self.secret),
            (
                "jwt.refresh_secret_previous",
                &self.refresh_secret_previous,
                &self.refresh_secret,
            ),
        ] {
            let Some(previous) = previous else { continue };
            if previous.expose_secret() == current.expose_secret() {
                return Err(invalid(key, "is the current secret, not a previous one"));
            }
            if profile == Profile::Production && previous.expose_secret().len() < MIN_SECRET_BYTES {
                return Err(invalid(
                    key,
                    format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                ));
            }
        }
        if let Some(path) = &self.private_key_file
            && !path.is_file()
        {
            return Err(invalid(
                "jwt.private_key_file",
                format!("{} is not a readable file", path.display()),
            ));
        }
        if self.key_refresh_interval > self.jwks_max_age {
            return Err(invalid(
                "jwt.key_refresh_interval",
                "must be at most jwt.jwks_max_age (JWT_JWKS_MAX_AGE)",
            ));
        }
        if self.algorithm != JwtAlgorithm::EdDsa {
            return Ok(());
        }
        if self.private_key_file.is_some() && self.key_rotation.is_some() {
            return Err(invalid(
                "jwt.key_rotation",
                "cannot rotate an imported key (JWT_PRIVATE_KEY_FILE): rotate it yourself, or \
                 let tokengate keep its keys in the store",
            ));
        }
        if let Some(period) = self.key_rotation {
            // A key must have been published for one JWKS lifetime before it
            // signs, and signed for a while before it is replaced.
            let minimum = (self.jwks_max_age + self.key_refresh_interval) * 2;
            if period < minimum {
                return Err(invalid(
                    "jwt.key_rotation",
                    format!(
                        "must be at least {} (twice the JWKS max-age plus the key refresh interval)",
                        format_duration(minimum)
                    ),
                ));
            }
        }
        if profile == Profile::Production
            && self.private_key_file.is_none()
            && self.key_encryption_key.is_none()
        {
            return Err(invalid(
                "jwt.key_encryption_key",
                "is required in production with JWT_ALGORITHM=EdDSA: the private keys in the \
                 store are encrypted with it (or import a key with JWT_PRIVATE_KEY_FILE)",
            ));
        }
        Ok(())
    }

    fn check_secrets(&self, profile: Profile) -> Result<(), SettingsError> {
        let secrets = [
            ("jwt.secret", self.secret.expose_secret()),
            ("jwt.refresh_secret", self.refresh_secret.expose_secret()),
        ];
        for (key, value) in secrets {
            if value.is_empty() {
                return Err(invalid(key, "is required"));
            }
        }
        if self.secret.expose_secret() == self.refresh_secret.expose_secret() {
            return Err(invalid(
                "jwt.refresh_secret",
                "must differ from jwt.secret (JWT_SECRET)",
            ));
        }
        if profile != Profile::Production {
            return Ok(());
        }
        for (key, value) in secrets {
            if value.len() < MIN_SECRET_BYTES {
                return Err(invalid(
                    key,
                    format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                ));
            }
            if DEVELOPMENT_SECRETS.contains(&value) {
                return Err(invalid(
                    key,
                    "is a development default; production needs a secret of its own",
                ));
            }
        }
        Ok(())
    }

    fn check_lifetimes(&self) -> Result<(), SettingsError> {
        at_most("jwt.leeway", self.leeway, MAX_LEEWAY)?;
        at_most("jwt.expires_in", self.access_ttl, MAX_ACCESS_TTL)?;
        at_most("jwt.refresh_expires_in", self.refresh_ttl, MAX_REFRESH_TTL)?;
        at_most(
            "jwt.refresh_grace_period",
            self.refresh_grace_period,
            MAX_GRACE_PERIOD,
        )?;
        if self.refresh_grace_period >= self.refresh_ttl {
            return Err(invalid(
                "jwt.refresh_grace_period",
                "must be shorter than the refresh token's lifetime (JWT_REFRESH_EXPIRES_IN)",
            ));
        }
        at_most(
            "jwt.session_max_lifetime",
            self.session_max_lifetime,
            MAX_SESSION_LIFETIME,
        )?;
        if self.session_max_lifetime < self.access_ttl {
            return Err(invalid(
                "jwt.session_max_lifetime",
                format!(
                    "{} is shorter than the access token's lifetime (JWT_EXPIRES_IN, {})",
                    format_duration(self.session_max_lifetime),
                    format_duration(self.access_ttl)
                ),
            ));
        }
        Ok(())
    }
}

impl CookieSettings {
    pub(super) fn check(&self, profile: Profile) -> Result<(), SettingsError> {
        if self.same_site == SameSite::None && !self.secure {
            return Err(invalid(
                "cookies.same_site",
                "SameSite=None requires Secure cookies (set COOKIE_SECURE=true); browsers drop such cookies otherwise",
            ));
        }
        if self.name_prefix && !self.secure {
            return Err(invalid(
                "cookies.name_prefix",
                "the __Host-/__Secure- prefixes require Secure cookies (set COOKIE_SECURE=true)",
            ));
        }
        if profile == Profile::Production && !self.secure {
            return Err(invalid(
                "cookies.secure",
                "production requires Secure cookies: serve the API over HTTPS and leave COOKIE_SECURE=true",
            ));
        }
        Ok(())
    }
}

impl CorsSettings {
    pub(super) fn check(&self, profile: Profile) -> Result<(), SettingsError> {
        if profile != Profile::Production {
            return Ok(());
        }
        match self
            .frontend_origins
            .iter()
            .find(|o| !o.is_https() && !o.is_loopback())
        {
            Some(origin) => Err(invalid(
                "cors.frontend_origin",
                format!(
                    "{origin} is not https; production allows http only for localhost, 127.0.0.1 or [::1]"
                ),
            )),
            None => Ok(()),
        }
    }
}

impl PasswordSettings {
    pub(super) fn check(&self, profile: Profile) -> Result<(), SettingsError> {
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(invalid("passwords.bcrypt_cost", "must be between 4 and 31"));
        }
        if profile == Profile::Production && self.bcrypt_cost < 10 {
            return Err(invalid(
                "passwords.bcrypt_cost",
                "production requires a cost of at least 10",
            ));
        }
        at_most(
            "passwords.max_queue_wait",
            self.max_queue_wait,
            MAX_QUEUE_WAIT,
        )
    }
}

impl StoreSettings {
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        at_most(
            "store.operation_timeout",
            self.operation_timeout,
            MAX_STORE_TIMEOUT,
        )?;
        if self.mongo_server_selection_timeout > self.operation_timeout {
            return Err(invalid(
                "store.mongo_server_selection_timeout",
                format!(
                    "{} is longer than the store's time budget (STORE_TIMEOUT, {}): a call would \
                     always be cut off before the driver reports why",
                    format_duration(self.mongo_server_selection_timeout),
                    format_duration(self.operation_timeout)
                ),
            ));
        }
        Ok(())
    }
}

impl RateLimitSettings {
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        if self.login_failures_per_email < self.login_failures {
            return Err(invalid(
                "rate_limit.login_failures_per_email",
                format!(
                    "{} is below rate_limit.login_failures (RATE_LIMIT_LOGIN_FAILURES, {}); \
                     the per-email ceiling must be at least the per-network limit",
                    self.login_failures_per_email, self.login_failures
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_ignore_case_and_whitespace() {
        for raw in ["None", "none", "NONE", " nOnE "] {
            assert_eq!(raw.parse(), Ok(SameSite::None), "{raw:?}");
        }
        for raw in ["Lax", "lax", "LAX"] {
            assert_eq!(raw.parse(), Ok(SameSite::Lax), "{raw:?}");
        }
        assert_eq!("strict".parse(), Ok(SameSite::Strict));
        for raw in ["", "sideways", "lax;", "no ne", "nonee"] {
            assert!(raw.parse::<SameSite>().is_err(), "{raw:?}");
        }
        for raw in ["pretty", "Text", "TEXT", " pretty"] {
            assert_eq!(raw.parse(), Ok(LogFormat::Pretty), "{raw:?}");
        }
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        for raw in ["", "yaml", "jsonl"] {
            assert!(raw.parse::<LogFormat>().is_err(), "{raw:?}");
        }
    }
}

/// How mail leaves the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum MailTransport {
    /// Through the SMTP server of `mail.smtp_url`.
    Smtp,
    /// Logged (recipient, subject, link), never sent: development only,
    /// unless production asks for it by name.
    Console,
}

impl FromStr for MailTransport {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "smtp" => Ok(MailTransport::Smtp),
            "console" => Ok(MailTransport::Console),
            _ => Err(format!("{raw:?} is not smtp or console")),
        }
    }
}

impl TryFrom<String> for MailTransport {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.parse()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `MAIL_TRANSPORT`; unset: SMTP when `smtp_url` is set, else the
    /// console (which production refuses unless named).
    #[serde(default, deserialize_with = "de::optional_mail_transport")]
    pub transport: Option<MailTransport>,
    /// `SMTP_URL`: `smtp://host:port` (plain; add `?tls=required` for
    /// STARTTLS), `smtps://host:465` (TLS), with `user:password@` for
    /// credentials. A secret: never logged.
    #[serde(default, deserialize_with = "de::optional_smtp_url")]
    pub smtp_url: Option<SecretString>,
    /// `MAIL_FROM`: `Name <address>` or an address.
    #[serde(deserialize_with = "de::non_empty")]
    pub from: String,
    /// `FRONTEND_URL`: where the links in mails point (the SPA serves
    /// `/reset-password` and `/verify-email`); unset: the first frontend
    /// origin.
    #[serde(default, deserialize_with = "de::optional_url")]
    pub frontend_url: Option<url::Url>,
    /// `MAIL_SEND_TIMEOUT`: a mail not handed to the server within this is
    /// given up (logged and counted); requests never wait for it.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub send_timeout: Duration,
}

/// The most a mail may take before it is given up.
const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(120);

impl MailSettings {
    /// The transport in effect.
    pub fn effective_transport(&self) -> MailTransport {
        match (self.transport, &self.smtp_url) {
            (Some(t), _) => t,
            (None, Some(_)) => MailTransport::Smtp,
            (None, None) => MailTransport::Console,
        }
    }

    pub(super) fn check(&self, profile: Profile) -> Result<(), SettingsError> {
        at_most("mail.send_timeout", self.send_timeout, MAX_SEND_TIMEOUT)?;
        match (self.effective_transport(), &self.smtp_url) {
            (MailTransport::Smtp, None) => Err(invalid(
                "mail.smtp_url",
                "MAIL_TRANSPORT=smtp needs SMTP_URL (e.g. smtps://user:password@smtp.example.com)",
            )),
            (MailTransport::Console, _)
                if profile == Profile::Production && self.transport.is_none() =>
            {
                Err(invalid(
                    "mail.smtp_url",
                    "production sends password-reset and verification mail: set SMTP_URL, or \
                     MAIL_TRANSPORT=console to only log them",
                ))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// `REQUIRE_VERIFIED_EMAIL`: refuse (403) the login of an unverified
    /// user, after the password was checked.
    pub require_verified_email: bool,
    /// `PASSWORD_RESET_TTL`: how long a reset link works.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub password_reset_ttl: Duration,
    /// `EMAIL_VERIFICATION_TTL`: how long a verification or email-change
    /// link works.
    #[serde(deserialize_with = "de::nonzero_duration")]
    pub email_verification_ttl: Duration,
    /// `RATE_LIMIT_MAILS_PER_HOUR`: mails of the account flows per address
    /// per hour (resets, verifications, email changes).
    #[serde(deserialize_with = "de::positive")]
    pub mails_per_hour: u32,
}

/// Links that stay valid longer are a standing risk in a mailbox.
const MAX_RESET_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_VERIFICATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl AccountSettings {
    pub(super) fn check(&self) -> Result<(), SettingsError> {
        at_most(
            "accounts.password_reset_ttl",
            self.password_reset_ttl,
            MAX_RESET_TTL,
        )?;
        at_most(
            "accounts.email_verification_ttl",
            self.email_verification_ttl,
            MAX_VERIFICATION_TTL,
        )
    }
}
