//! Typed settings, layered from `config/base.toml`, `config/<profile>.toml`
//! (the profile is `APP_ENV`: `local` by default, or `production`) and
//! environment variables: the familiar names (`PORT`, `JWT_SECRET`, ...) and,
//! for everything else, `APP_<SECTION>__<KEY>` (e.g. `APP_SERVER__HOST`).
//!
//! Each section is read by derive straight into its typed struct (durations
//! in humantime's syntax, origins by the `url` crate, proxies by ipnet), then
//! the rules that span values or depend on the profile are checked. A bad
//! value stops start-up with a message that names the setting and, where it
//! has one, its familiar variable.

mod de;
mod origin;
mod sections;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;

pub use origin::Origin;
pub use sections::{
    AccountSettings, CookieSettings, CorsSettings, JwtAlgorithm, JwtSettings, LogFormat,
    LogSettings, MailSettings, MailTransport, PasswordSettings, RateLimitSettings, SameSite,
    ServerSettings, StoreSettings,
};

/// The environment variables the contract names, and the setting each one sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("PORT", "server.port"),
    ("HOST", "server.host"),
    ("JWT_SECRET", "jwt.secret"),
    ("JWT_EXPIRES_IN", "jwt.expires_in"),
    ("JWT_REFRESH_SECRET", "jwt.refresh_secret"),
    ("JWT_REFRESH_EXPIRES_IN", "jwt.refresh_expires_in"),
    ("REFRESH_GRACE_PERIOD", "jwt.refresh_grace_period"),
    ("SESSION_MAX_LIFETIME", "jwt.session_max_lifetime"),
    ("EXPOSE_ACCESS_TOKEN", "jwt.expose_access_token"),
    ("JWT_ALGORITHM", "jwt.algorithm"),
    ("JWT_SECRET_PREVIOUS", "jwt.secret_previous"),
    ("JWT_REFRESH_SECRET_PREVIOUS", "jwt.refresh_secret_previous"),
    ("JWT_KEY_ENCRYPTION_KEY", "jwt.key_encryption_key"),
    ("JWT_PRIVATE_KEY_FILE", "jwt.private_key_file"),
    ("JWT_KEY_ROTATION", "jwt.key_rotation"),
    ("JWT_JWKS_MAX_AGE", "jwt.jwks_max_age"),
    ("FRONTEND_ORIGIN", "cors.frontend_origin"),
    ("COOKIE_SECURE", "cookies.secure"),
    ("COOKIE_SAMESITE", "cookies.same_site"),
    ("COOKIE_DOMAIN", "cookies.domain"),
    ("MONGO_URI", "store.mongo_uri"),
    ("MONGO_DATABASE", "store.mongo_database"),
    ("SQLITE_PATH", "store.sqlite_path"),
    ("STORE_TIMEOUT", "store.operation_timeout"),
    ("BCRYPT_COST", "passwords.bcrypt_cost"),
    ("LOGIN_MAX_QUEUE_WAIT", "passwords.max_queue_wait"),
    ("RATE_LIMIT_PER_IP", "rate_limit.per_ip"),
    ("RATE_LIMIT_LOGIN_FAILURES", "rate_limit.login_failures"),
    (
        "RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL",
        "rate_limit.login_failures_per_email",
    ),
    (
        "RATE_LIMIT_REFRESH_SHARED",
        "rate_limit.shared_refresh_limit",
    ),
    ("TRUSTED_PROXIES", "rate_limit.trusted_proxies"),
    ("SMTP_URL", "mail.smtp_url"),
    ("MAIL_TRANSPORT", "mail.transport"),
    ("MAIL_FROM", "mail.from"),
    ("FRONTEND_URL", "mail.frontend_url"),
    ("MAIL_SEND_TIMEOUT", "mail.send_timeout"),
    ("REQUIRE_VERIFIED_EMAIL", "accounts.require_verified_email"),
    ("PASSWORD_RESET_TTL", "accounts.password_reset_ttl"),
    ("EMAIL_VERIFICATION_TTL", "accounts.email_verification_ttl"),
    ("RATE_LIMIT_MAILS_PER_HOUR", "accounts.mails_per_hour"),
    ("LOG_FORMAT", "log.format"),
    ("RUST_LOG", "log.filter"),
];

/// The secrets of the `local` profile. Production refuses to start with any of
/// them, and `local` refuses them off loopback (a unit test keeps this list
/// and `config/local.toml` in step).
pub const DEVELOPMENT_SECRETS: &[&str] = &[
    "DEVELOPMENT-ONLY-access-token-secret-do-not-deploy",
    "DEVELOPMENT-ONLY-refresh-token-secret-do-not-deploy",
];

/// The shortest secret production accepts, in bytes (HS256 wants >= 256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("could not read the configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting {setting}: {reason}")]
    Invalid { setting: String, reason: String },
}

fn invalid(setting: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        setting: setting_name(setting),
        reason: reason.into(),
    }
}

/// "jwt.secret (JWT_SECRET)": the key in the files and, where it has one, its
/// familiar environment name.
fn setting_name(key: &str) -> String {
    // A list item's key ends with its index: `rate_limit.trusted_proxies[2]`.
    let bare = key.split('[').next().unwrap_or(key);
    match ENV_OVERRIDES.iter().find(|(_, k)| *k == bare) {
        Some((env, _)) => format!("{key} ({env})"),
        None => key.to_owned(),
    }
}

/// The config crate's deserialisation errors carry the key of the bad value;
/// turned into ours, they name the setting like every other check.
fn named(error: config::ConfigError) -> SettingsError {
    use config::ConfigError;
    match error {
        ConfigError::NotFound(key) => invalid(&key, "is required"),
        ConfigError::Type {
            unexpected,
            expected,
            key: Some(key),
            ..
        } => invalid(&key, format!("expected {expected}, found {unexpected}")),
        ConfigError::At {
            error,
            key: Some(key),
            ..
        } => invalid(&key, error.to_string()),
        other => SettingsError::Load(other),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Profile {
    Local,
    Production,
}

/// Any case; empty is the default, `local`.
impl FromStr for Profile {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "local" => Ok(Profile::Local),
            "production" => Ok(Profile::Production),
            _ => Err(format!(
                "unknown profile {raw:?} (expected local or production)"
            )),
        }
    }
}

impl TryFrom<String> for Profile {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        raw.parse()
    }
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Local => "local",
            Profile::Production => "production",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    pub server: ServerSettings,
    pub jwt: JwtSettings,
    pub cookies: CookieSettings,
    pub cors: CorsSettings,
    pub store: StoreSettings,
    pub passwords: PasswordSettings,
    pub rate_limit: RateLimitSettings,
    pub mail: MailSettings,
    pub accounts: AccountSettings,
    pub log: LogSettings,
}

/// Everything the files and variables hold; the profile comes from `APP_ENV`.
#[derive(Deserialize)]
struct Sections {
    server: ServerSettings,
    jwt: JwtSettings,
    cookies: CookieSettings,
    cors: CorsSettings,
    store: StoreSettings,
    passwords: PasswordSettings,
    rate_limit: RateLimitSettings,
    mail: MailSettings,
    accounts: AccountSettings,
    log: LogSettings,
}

impl Settings {
    /// Loads from `APP_CONFIG_DIR` (default `./config`) and the process
    /// environment.
    pub fn load() -> Result<Self, SettingsError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let dir = env
            .get("APP_CONFIG_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("config"));
        Self::load_from(&dir, &env)
    }

    /// Loads from the files in `dir` and the given variables (tests pass their
    /// own, so no test touches the process environment).
    pub fn load_from(dir: &Path, env: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let profile: Profile = env
            .get("APP_ENV")
            .map_or(Ok(Profile::Local), |raw| raw.parse())
            .map_err(|reason| SettingsError::Invalid {
                setting: "APP_ENV".into(),
                reason,
            })?;
        let sections: Sections = layers(dir, profile, env)?
            .try_deserialize()
            .map_err(named)?;
        Settings {
            profile,
            server: sections.server,
            jwt: sections.jwt,
            cookies: sections.cookies,
            cors: sections.cors,
            store: sections.store,
            passwords: sections.passwords,
            rate_limit: sections.rate_limit,
            mail: sections.mail,
            accounts: sections.accounts,
            log: sections.log,
        }
        .checked()
    }

    /// Where the links in mails point: `FRONTEND_URL`, else the first
    /// frontend origin.
    pub fn frontend_url(&self) -> url::Url {
        self.mail.frontend_url.clone().unwrap_or_else(|| {
            url::Url::parse(self.cors.frontend_origins[0].as_str())
                .expect("an origin is a valid URL")
        })
    }

    /// The rules between values and those of the profile.
    fn checked(self) -> Result<Self, SettingsError> {
        self.jwt.check(self.profile)?;
        self.cookies.check(self.profile)?;
        self.cors.check(self.profile)?;
        self.passwords.check(self.profile)?;
        self.store.check()?;
        self.rate_limit.check()?;
        self.mail.check(self.profile)?;
        self.accounts.check()?;
        self.check_development_secrets_stay_local()?;
        Ok(self)
    }

    /// The development secrets are published: with them, anyone who can reach
    /// the port can mint tokens. `local` may use them on loopback only.
    fn check_development_secrets_stay_local(&self) -> Result<(), SettingsError> {
        if self.profile == Profile::Local
            && self.jwt.uses_development_secrets()
            && !is_loopback_host(&self.server.host)
        {
            return Err(invalid(
                "server.host",
                format!(
                    "{:?} is reachable from other machines but the JWT secrets are the published \
                     development ones: set JWT_SECRET and JWT_REFRESH_SECRET, or bind to 127.0.0.1",
                    self.server.host
                ),
            ));
        }
        Ok(())
    }
}

/// The files, then `APP_<SECTION>__<KEY>`, then the familiar names.
fn layers(
    dir: &Path,
    profile: Profile,
    env: &HashMap<String, String>,
) -> Result<config::Config, SettingsError> {
    let base = dir.join("base.toml");
    if !base.is_file() {
        return Err(invalid(
            "APP_CONFIG_DIR",
            format!(
                "{} not found (run from the repository root or set APP_CONFIG_DIR)",
                base.display()
            ),
        ));
    }
    let app_vars: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| {
            k.starts_with("APP_") && k.as_str() != "APP_ENV" && k.as_str() != "APP_CONFIG_DIR"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut builder = config::Config::builder()
        .add_source(config::File::from(base))
        .add_source(
            config::File::from(dir.join(format!("{}.toml", profile.as_str()))).required(true),
        )
        .add_source(
            config::Environment::with_prefix("APP")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(app_vars)),
        );
    for (name, key) in ENV_OVERRIDES {
        if let Some(value) = env.get(*name) {
            builder = builder.set_override(*key, value.as_str())?;
        }
    }
    Ok(builder.build()?)
}

/// `127.0.0.0/8`, `::1` (bracketed or not, or IPv4-mapped) or `localhost`.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::ExposeSecret;

    use super::*;

    const DAY: u64 = 86_400;
    const OWN_SECRETS: [(&str, &str); 2] = [
        ("JWT_SECRET", "an-access-secret-that-is-long-enough-0001"),
        (
            "JWT_REFRESH_SECRET",
            "a-refresh-secret-that-is-long-enough-0002",
        ),
    ];

    fn config_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&config_dir(), &env)
    }

    fn production(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut all = vec![
            ("APP_ENV", "production"),
            ("FRONTEND_ORIGIN", "https://app.example.com"),
            ("SMTP_URL", "smtp://mail.example.com:587?tls=required"),
        ];
        all.extend_from_slice(&OWN_SECRETS);
        all.extend_from_slice(vars);
        load(&all)
    }

    fn error_of(result: Result<Settings, SettingsError>) -> String {
        result.expect_err("settings were accepted").to_string()
    }

    /// The error names `env`, the variable a deployer set.
    #[track_caller]
    fn refused_naming(result: Result<Settings, SettingsError>, env: &str) -> String {
        let message = error_of(result);
        assert!(message.contains(env), "{env} not named in: {message}");
        message
    }

    #[test]
    fn local_profile_loads_with_no_environment() {
        let s = load(&[]).unwrap();
        assert_eq!(s.profile, Profile::Local);
        assert_eq!(s.server.host, "127.0.0.1");
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(900));
        assert_eq!(s.jwt.refresh_ttl, Duration::from_secs(7 * DAY));
        assert_eq!(s.jwt.refresh_grace_period, Duration::from_secs(10));
        assert_eq!(s.jwt.session_max_lifetime, Duration::from_secs(30 * DAY));
        assert!(!s.jwt.expose_access_token);
        assert_eq!(s.passwords.bcrypt_cost, 12);
        assert_eq!(s.passwords.queue, 4096);
        assert_eq!(s.passwords.max_queue_wait, Duration::from_secs(5));
        assert!(s.passwords.workers > 0);
        assert_eq!(s.rate_limit.per_ip, 100);
        assert_eq!(s.rate_limit.login_failures, 10);
        assert_eq!(s.rate_limit.login_failures_per_email, 100);
        assert!(s.rate_limit.trusted_proxies.is_empty());
        assert_eq!(s.server.base_path, "/api");
        assert_eq!(s.server.body_limit_bytes, 16 * 1024);
        assert_eq!(s.server.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(s.cookies.same_site, SameSite::Lax);
        assert_eq!(
            s.cors.frontend_origins,
            [Origin::parse("http://localhost:5173").unwrap()]
        );
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert!(s.store.mongo_uri.is_none());
    }

    #[test]
    fn local_secrets_are_the_known_development_secrets() {
        let s = load(&[]).unwrap();
        assert!(DEVELOPMENT_SECRETS.contains(&s.jwt.secret.expose_secret()));
        assert!(DEVELOPMENT_SECRETS.contains(&s.jwt.refresh_secret.expose_secret()));
        assert!(s.jwt.uses_development_secrets());
    }

    #[test]
    fn familiar_environment_names_override_the_files() {
        let s = load(&[
            ("PORT", "9999"),
            ("JWT_EXPIRES_IN", "5m"),
            ("JWT_REFRESH_EXPIRES_IN", "1d"),
            (
                "FRONTEND_ORIGIN",
                "http://localhost:3000, https://app.example.com",
            ),
            ("BCRYPT_COST", "4"),
            ("REFRESH_GRACE_PERIOD", "0"),
            ("SESSION_MAX_LIFETIME", "90d"),
            ("EXPOSE_ACCESS_TOKEN", "true"),
            ("LOGIN_MAX_QUEUE_WAIT", "250ms"),
            ("RATE_LIMIT_LOGIN_FAILURES", "5"),
            ("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "50"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,fd00::/8"),
            ("COOKIE_SAMESITE", "strict"),
            ("LOG_FORMAT", "JSON"),
            ("RUST_LOG", "warn,tokengate=debug"),
            ("SQLITE_PATH", "/tmp/x.sqlite"),
            ("APP_SERVER__HOST", "0.0.0.0"),
            ("APP_PASSWORDS__QUEUE", "8"),
            OWN_SECRETS[0],
            OWN_SECRETS[1],
        ])
        .unwrap();
        assert_eq!(s.server.port, 9999);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(300));
        assert_eq!(s.jwt.refresh_ttl, Duration::from_secs(DAY));
        assert!(s.jwt.refresh_grace_period.is_zero());
        assert_eq!(s.jwt.session_max_lifetime, Duration::from_secs(90 * DAY));
        assert!(s.jwt.expose_access_token);
        assert_eq!(s.jwt.secret_bytes(), OWN_SECRETS[0].1.as_bytes());
        assert_eq!(s.jwt.refresh_secret_bytes(), OWN_SECRETS[1].1.as_bytes());
        assert_eq!(
            s.cors
                .frontend_origins
                .iter()
                .map(Origin::as_str)
                .collect::<Vec<_>>(),
            ["http://localhost:3000", "https://app.example.com"]
        );
        assert_eq!(s.passwords.bcrypt_cost, 4);
        assert_eq!(s.passwords.queue, 8);
        assert_eq!(s.passwords.max_queue_wait, Duration::from_millis(250));
        assert_eq!(s.rate_limit.login_failures, 5);
        assert_eq!(s.rate_limit.login_failures_per_email, 50);
        let proxies: Vec<String> = s
            .rate_limit
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
        assert_eq!(s.cookies.same_site, SameSite::Strict);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.filter, "warn,tokengate=debug");
        assert_eq!(s.store.sqlite_path, PathBuf::from("/tmp/x.sqlite"));
    }

    #[test]
    fn bad_settings_are_named() {
        let message = refused_naming(load(&[("JWT_EXPIRES_IN", "soon")]), "JWT_EXPIRES_IN");
        assert!(
            message.starts_with(
                "invalid setting jwt.expires_in (JWT_EXPIRES_IN): \"soon\" is not a duration"
            ),
            "{message}"
        );
        refused_naming(load(&[("COOKIE_SAMESITE", "None")]), "COOKIE_SAMESITE");
        refused_naming(load(&[("COOKIE_SAMESITE", "sideways")]), "COOKIE_SAMESITE");
        refused_naming(
            load(&[("FRONTEND_ORIGIN", "localhost:5173")]),
            "FRONTEND_ORIGIN",
        );
        refused_naming(
            load(&[("FRONTEND_ORIGIN", "http://localhost:5173/")]),
            "FRONTEND_ORIGIN",
        );
        refused_naming(load(&[("FRONTEND_ORIGIN", "*")]), "FRONTEND_ORIGIN");
        refused_naming(load(&[("FRONTEND_ORIGIN", " , ")]), "FRONTEND_ORIGIN");
        refused_naming(load(&[("MONGO_URI", "postgres://x")]), "MONGO_URI");
        refused_naming(load(&[("BCRYPT_COST", "3")]), "BCRYPT_COST");
        refused_naming(load(&[("BCRYPT_COST", "twelve")]), "BCRYPT_COST");
        refused_naming(load(&[("APP_ENV", "staging")]), "APP_ENV");
        refused_naming(
            load(&[("TRUSTED_PROXIES", "10.0.0.0/33")]),
            "TRUSTED_PROXIES",
        );
        refused_naming(load(&[("PORT", "99999")]), "PORT");
        refused_naming(load(&[("PORT", "http")]), "PORT");
        refused_naming(load(&[("COOKIE_SECURE", "maybe")]), "COOKIE_SECURE");
        refused_naming(load(&[("LOG_FORMAT", "yaml")]), "LOG_FORMAT");
        refused_naming(load(&[("RATE_LIMIT_PER_IP", "0")]), "RATE_LIMIT_PER_IP");
        refused_naming(load(&[("RATE_LIMIT_PER_IP", "-1")]), "RATE_LIMIT_PER_IP");
        refused_naming(
            load(&[("APP_SERVER__BASE_PATH", "api")]),
            "server.base_path",
        );
        refused_naming(
            load(&[("APP_RATE_LIMIT__WINDOW", "0")]),
            "rate_limit.window",
        );
        refused_naming(load(&[("APP_JWT__LEEWAY", "6s")]), "jwt.leeway");
    }

    /// Each familiar variable is a real key: a bad value for it is refused
    /// and the message names the variable.
    #[test]
    fn every_familiar_variable_names_itself_when_bad() {
        for (env, _) in ENV_OVERRIDES {
            // The previous secrets are refused when they are the current ones.
            let mut bad_values = vec!["", "-1", "not valid ; at all"];
            bad_values.extend_from_slice(DEVELOPMENT_SECRETS);
            let named = bad_values.iter().any(|bad| {
                load(&[(env, bad)])
                    .err()
                    .is_some_and(|e| e.to_string().contains(&format!("({env})")))
            });
            assert!(named, "no bad value of {env} was refused naming it");
        }
    }

    #[test]
    fn a_bad_log_filter_stops_start_up() {
        for bad in ["tokengate=loud", "info,[", "=", ""] {
            let message = refused_naming(load(&[("RUST_LOG", bad)]), "RUST_LOG");
            assert!(message.contains("log.filter"), "{message}");
        }
        refused_naming(load(&[("APP_LOG__FILTER", "debug,x=nope")]), "log.filter");
        for good in ["info", "WARN", "warn,audit=info", "tokengate::auth=trace"] {
            assert!(load(&[("RUST_LOG", good)]).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn an_unknown_key_is_a_typo_not_a_silent_default() {
        refused_naming(load(&[("APP_SERVER__HOSTNAME", "0.0.0.0")]), "server");
        refused_naming(load(&[("APP_JWT__EXPIRES", "1h")]), "jwt");
    }

    #[test]
    fn durations_in_files_and_variables() {
        let s = load(&[
            ("APP_SERVER__SHUTDOWN_TIMEOUT", "20"),
            ("JWT_EXPIRES_IN", " 1h 30m "),
            ("REFRESH_GRACE_PERIOD", "1500ms"),
        ])
        .unwrap();
        assert_eq!(s.server.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(5_400));
        assert_eq!(s.jwt.refresh_grace_period, Duration::from_millis(1_500));
        refused_naming(load(&[("JWT_EXPIRES_IN", "0")]), "JWT_EXPIRES_IN");
        refused_naming(load(&[("JWT_EXPIRES_IN", "-15m")]), "JWT_EXPIRES_IN");
        refused_naming(load(&[("JWT_EXPIRES_IN", "")]), "JWT_EXPIRES_IN");
    }

    #[test]
    fn the_store_time_budget_is_bounded_and_covers_server_selection() {
        assert_eq!(
            load(&[]).unwrap().store.operation_timeout,
            Duration::from_secs(5)
        );
        let s = load(&[("STORE_TIMEOUT", "10s")]).unwrap();
        assert_eq!(s.store.operation_timeout, Duration::from_secs(10));
        refused_naming(load(&[("STORE_TIMEOUT", "0")]), "STORE_TIMEOUT");
        let message = refused_naming(load(&[("STORE_TIMEOUT", "2m")]), "STORE_TIMEOUT");
        assert!(message.contains("at most 30s"), "{message}");
        let message = refused_naming(
            load(&[("STORE_TIMEOUT", "2s")]),
            "store.mongo_server_selection_timeout",
        );
        assert!(message.contains("STORE_TIMEOUT"), "{message}");
    }

    #[test]
    fn the_access_lifetime_is_at_most_a_day() {
        assert!(load(&[("JWT_EXPIRES_IN", "1d")]).is_ok());
        assert!(load(&[("JWT_EXPIRES_IN", "24h")]).is_ok());
        for too_long in [
            "25h",
            "1d 1s",
            "86401",
            "2d",
            "1w",
            "15M",
            "1y",
            "999999999d",
        ] {
            let message = refused_naming(load(&[("JWT_EXPIRES_IN", too_long)]), "JWT_EXPIRES_IN");
            assert!(message.contains("must be at most 1day"), "{message}");
        }
    }

    #[test]
    fn overflowing_lifetimes_are_refused_never_a_panic() {
        for env in [
            "JWT_EXPIRES_IN",
            "JWT_REFRESH_EXPIRES_IN",
            "REFRESH_GRACE_PERIOD",
            "SESSION_MAX_LIFETIME",
            "LOGIN_MAX_QUEUE_WAIT",
        ] {
            for huge in [
                "999999999d",
                "18446744073709551615",
                "18446744073709551615s 1000ms",
                "99999999999999999999999y",
                "9999999999y 9999999999y 9999999999y",
            ] {
                refused_naming(load(&[(env, huge)]), env);
            }
        }
        refused_naming(
            load(&[(
                "APP_STORE__SESSION_PURGE_INTERVAL",
                "18446744073709551615s 1000ms",
            )]),
            "store.session_purge_interval",
        );
    }

    #[test]
    fn the_refresh_lifetime_is_at_most_a_year() {
        assert!(load(&[("JWT_REFRESH_EXPIRES_IN", "365d")]).is_ok());
        for too_long in ["366d", "365d 1s", "1y", "13M", "53w"] {
            refused_naming(
                load(&[("JWT_REFRESH_EXPIRES_IN", too_long)]),
                "JWT_REFRESH_EXPIRES_IN",
            );
        }
    }

    #[test]
    fn the_grace_period_is_at_most_a_minute_and_shorter_than_refresh() {
        assert!(load(&[("REFRESH_GRACE_PERIOD", "1m")]).is_ok());
        assert!(load(&[("REFRESH_GRACE_PERIOD", "60")]).is_ok());
        for too_long in ["61s", "1m 1ms", "1h", "60001ms"] {
            refused_naming(
                load(&[("REFRESH_GRACE_PERIOD", too_long)]),
                "REFRESH_GRACE_PERIOD",
            );
        }
        refused_naming(
            load(&[
                ("JWT_REFRESH_EXPIRES_IN", "10s"),
                ("REFRESH_GRACE_PERIOD", "10s"),
            ]),
            "REFRESH_GRACE_PERIOD",
        );
        assert!(
            load(&[
                ("JWT_REFRESH_EXPIRES_IN", "2s"),
                ("REFRESH_GRACE_PERIOD", "1s"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn the_session_lifetime_bounds_refreshes() {
        let s = load(&[("SESSION_MAX_LIFETIME", "12h")]).unwrap();
        assert_eq!(s.jwt.session_max_lifetime, Duration::from_secs(12 * 3_600));
        // As long as the access token is fine; shorter is not.
        assert!(load(&[("JWT_EXPIRES_IN", "1h"), ("SESSION_MAX_LIFETIME", "1h")]).is_ok());
        let message = refused_naming(
            load(&[("JWT_EXPIRES_IN", "1h"), ("SESSION_MAX_LIFETIME", "59m")]),
            "SESSION_MAX_LIFETIME",
        );
        assert!(message.contains("JWT_EXPIRES_IN"), "{message}");
        assert!(load(&[("SESSION_MAX_LIFETIME", "365d")]).is_ok());
        for bad in ["366d", "1y", "0", "", "forever"] {
            refused_naming(
                load(&[("SESSION_MAX_LIFETIME", bad)]),
                "SESSION_MAX_LIFETIME",
            );
        }
    }

    #[test]
    fn the_login_queue_wait_is_bounded() {
        assert!(load(&[("LOGIN_MAX_QUEUE_WAIT", "60s")]).is_ok());
        assert!(load(&[("LOGIN_MAX_QUEUE_WAIT", "1m")]).is_ok());
        assert!(load(&[("LOGIN_MAX_QUEUE_WAIT", "1ms")]).is_ok());
        for bad in ["0", "0s", "61s", "1h", "-1s"] {
            refused_naming(
                load(&[("LOGIN_MAX_QUEUE_WAIT", bad)]),
                "LOGIN_MAX_QUEUE_WAIT",
            );
        }
    }

    #[test]
    fn the_per_email_ceiling_is_at_least_the_per_network_limit() {
        assert!(
            load(&[
                ("RATE_LIMIT_LOGIN_FAILURES", "10"),
                ("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "10"),
            ])
            .is_ok()
        );
        let message = refused_naming(
            load(&[
                ("RATE_LIMIT_LOGIN_FAILURES", "10"),
                ("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "9"),
            ]),
            "RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL",
        );
        assert!(message.contains("RATE_LIMIT_LOGIN_FAILURES,"), "{message}");
        // Raising only the per-network limit past the default ceiling.
        refused_naming(
            load(&[("RATE_LIMIT_LOGIN_FAILURES", "1000")]),
            "RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL",
        );
        refused_naming(
            load(&[("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "0")]),
            "RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL",
        );
    }

    #[test]
    fn local_refuses_development_secrets_off_loopback() {
        for host in [
            "0.0.0.0",
            " 0.0.0.0 ",
            "::",
            "[::]",
            "192.168.1.5",
            "10.0.0.1",
            "example.com",
            "localhost.evil.com",
            "127.0.0.1.nip.io",
        ] {
            let message = refused_naming(load(&[("HOST", host)]), "HOST");
            assert!(
                message.contains("JWT_SECRET")
                    && message.contains("JWT_REFRESH_SECRET")
                    && message.contains("127.0.0.1"),
                "{message}"
            );
            refused_naming(load(&[("APP_SERVER__HOST", host)]), "HOST");
        }
        // One own secret is not enough: the other can still be forged.
        refused_naming(load(&[("HOST", "0.0.0.0"), OWN_SECRETS[0]]), "HOST");
        refused_naming(load(&[("HOST", "0.0.0.0"), OWN_SECRETS[1]]), "HOST");
    }

    #[test]
    fn local_development_secrets_are_fine_on_loopback() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(load(&[("HOST", host)]).is_ok(), "{host}");
        }
    }

    #[test]
    fn local_with_own_secrets_may_listen_everywhere() {
        let s = load(&[("HOST", "0.0.0.0"), OWN_SECRETS[0], OWN_SECRETS[1]]).unwrap();
        assert_eq!(s.server.host, "0.0.0.0");
        assert!(!s.jwt.uses_development_secrets());
    }

    #[test]
    fn same_site_none_is_fine_with_secure() {
        let s = load(&[("COOKIE_SAMESITE", "None"), ("COOKIE_SECURE", "true")]).unwrap();
        assert_eq!(s.cookies.same_site, SameSite::None);
        assert!(s.cookies.secure);
        let s = load(&[("COOKIE_SAMESITE", "none"), ("COOKIE_SECURE", "TRUE")]).unwrap();
        assert_eq!(s.cookies.same_site, SameSite::None);
    }

    #[test]
    fn production_accepts_proper_secrets_and_defaults_to_secure_cookies() {
        let s = production(&[]).unwrap();
        assert_eq!(s.profile, Profile::Production);
        assert!(s.cookies.secure);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.log.format, LogFormat::Json);
        assert!(!s.jwt.expose_access_token);
        assert!(
            production(&[("EXPOSE_ACCESS_TOKEN", "true")])
                .unwrap()
                .jwt
                .expose_access_token
        );
    }

    #[test]
    fn production_refuses_insecure_cookies() {
        for off in ["false", "FALSE", "0", "no", "off"] {
            let message = refused_naming(production(&[("COOKIE_SECURE", off)]), "COOKIE_SECURE");
            assert!(message.contains("production"), "{message}");
        }
        refused_naming(
            production(&[("APP_COOKIES__SECURE", "false")]),
            "COOKIE_SECURE",
        );
    }

    #[test]
    fn production_refuses_plain_http_origins_except_loopback() {
        for bad in [
            "http://app.example.com",
            "https://app.example.com, http://admin.example.com",
            "http://localhost.evil.com:5173",
            "http://10.0.0.5:5173",
            "http://0.0.0.0:5173",
            "HTTP://APP.EXAMPLE.COM",
        ] {
            refused_naming(production(&[("FRONTEND_ORIGIN", bad)]), "FRONTEND_ORIGIN");
        }
        for fine in [
            "http://localhost:5173",
            "http://127.0.0.1:5173",
            "http://[::1]:5173",
            "HTTPS://App.Example.com:443",
            "https://app.example.com, http://localhost:5173",
        ] {
            assert!(production(&[("FRONTEND_ORIGIN", fine)]).is_ok(), "{fine}");
        }
    }

    #[test]
    fn production_refuses_missing_secrets() {
        let env: HashMap<String, String> = [
            ("APP_ENV", "production"),
            ("FRONTEND_ORIGIN", "https://a.example"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let message = error_of(Settings::load_from(&config_dir(), &env));
        assert!(message.contains("JWT_SECRET"), "{message}");
        refused_naming(production(&[("JWT_SECRET", "")]), "JWT_SECRET");
        refused_naming(
            production(&[("JWT_REFRESH_SECRET", "")]),
            "JWT_REFRESH_SECRET",
        );
    }

    #[test]
    fn production_requires_an_explicit_frontend_origin() {
        let env: HashMap<String, String> = [("APP_ENV", "production")]
            .iter()
            .chain(OWN_SECRETS.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let message = error_of(Settings::load_from(&config_dir(), &env));
        assert!(message.contains("FRONTEND_ORIGIN"), "{message}");
    }

    #[test]
    fn production_refuses_short_equal_or_development_secrets() {
        assert!(error_of(production(&[("JWT_SECRET", "short")])).contains("at least 32 bytes"));
        let same = "the-same-secret-for-both-tokens-0123456789";
        assert!(
            error_of(production(&[
                ("JWT_SECRET", same),
                ("JWT_REFRESH_SECRET", same)
            ]))
            .contains("must differ")
        );
        assert!(
            error_of(production(&[(
                "JWT_REFRESH_SECRET",
                DEVELOPMENT_SECRETS[1]
            )]))
            .contains("development default")
        );
    }

    #[test]
    fn profiles_ignore_case() {
        assert_eq!(
            load(&[("APP_ENV", "LOCAL")]).unwrap().profile,
            Profile::Local
        );
        assert_eq!(load(&[("APP_ENV", "")]).unwrap().profile, Profile::Local);
        assert_eq!(
            production(&[("APP_ENV", " Production ")]).unwrap().profile,
            Profile::Production
        );
        refused_naming(load(&[("APP_ENV", "prod")]), "APP_ENV");
    }

    #[test]
    fn setting_names_carry_the_familiar_variable() {
        assert_eq!(
            setting_name("jwt.expires_in"),
            "jwt.expires_in (JWT_EXPIRES_IN)"
        );
        assert_eq!(
            setting_name("rate_limit.trusted_proxies[2]"),
            "rate_limit.trusted_proxies[2] (TRUSTED_PROXIES)"
        );
        assert_eq!(setting_name("jwt.leeway"), "jwt.leeway");
    }

    #[test]
    fn jwt_algorithm_and_key_settings() {
        let s = load(&[]).unwrap();
        assert_eq!(s.jwt.algorithm, JwtAlgorithm::Hs256);
        assert_eq!(s.jwt.jwks_max_age, Duration::from_secs(300));
        assert_eq!(s.jwt.key_refresh_interval, Duration::from_secs(60));
        assert_eq!(s.jwt.key_rotation, None);
        assert!(s.jwt.key_encryption_key.is_none());
        let s = load(&[
            ("JWT_ALGORITHM", "eddsa"),
            ("JWT_KEY_ROTATION", "30d"),
            (
                "JWT_KEY_ENCRYPTION_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ])
        .unwrap();
        assert_eq!(s.jwt.algorithm, JwtAlgorithm::EdDsa);
        assert_eq!(s.jwt.key_rotation, Some(Duration::from_secs(30 * DAY)));
        assert_eq!(s.jwt.key_encryption_key_bytes().unwrap(), Some([0; 32]));
        refused_naming(load(&[("JWT_ALGORITHM", "RS256")]), "JWT_ALGORITHM");
        refused_naming(
            load(&[("JWT_KEY_ENCRYPTION_KEY", "c2hvcnQ=")]),
            "JWT_KEY_ENCRYPTION_KEY",
        );
        refused_naming(
            load(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEY_ROTATION", "1m")]),
            "JWT_KEY_ROTATION",
        );
        // Production with EdDSA keeps no unencrypted keys.
        refused_naming(
            production(&[("JWT_ALGORITHM", "EdDSA")]),
            "JWT_KEY_ENCRYPTION_KEY",
        );
        assert!(
            production(&[
                ("JWT_ALGORITHM", "EdDSA"),
                (
                    "JWT_KEY_ENCRYPTION_KEY",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
                ),
            ])
            .is_ok()
        );
        // A previous secret must differ from the current one, and be long
        // enough in production.
        refused_naming(
            production(&[("JWT_SECRET_PREVIOUS", OWN_SECRETS[0].1)]),
            "JWT_SECRET_PREVIOUS",
        );
        refused_naming(
            production(&[("JWT_REFRESH_SECRET_PREVIOUS", "short")]),
            "JWT_REFRESH_SECRET_PREVIOUS",
        );
        assert_eq!(
            production(&[(
                "JWT_SECRET_PREVIOUS",
                "an-older-access-secret-long-enough-000"
            )])
            .unwrap()
            .jwt
            .secret_previous
            .map(|s| s.expose_secret().to_owned())
            .as_deref(),
            Some("an-older-access-secret-long-enough-000")
        );
    }

    #[test]
    fn mail_needs_a_server_in_production_unless_console_is_named() {
        let local = load(&[]).unwrap();
        assert_eq!(local.mail.effective_transport(), MailTransport::Console);
        assert_eq!(local.frontend_url().as_str(), "http://localhost:5173/");
        assert_eq!(
            local.accounts.password_reset_ttl,
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            local.accounts.email_verification_ttl,
            Duration::from_secs(DAY)
        );
        assert!(!local.accounts.require_verified_email);

        let mut no_smtp: HashMap<String, String> = [
            ("APP_ENV", "production"),
            ("FRONTEND_ORIGIN", "https://app.example.com"),
        ]
        .iter()
        .chain(OWN_SECRETS.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        refused_naming(Settings::load_from(&config_dir(), &no_smtp), "SMTP_URL");
        no_smtp.insert("MAIL_TRANSPORT".into(), "console".into());
        let console = Settings::load_from(&config_dir(), &no_smtp).unwrap();
        assert_eq!(console.mail.effective_transport(), MailTransport::Console);

        let smtp = production(&[]).unwrap();
        assert_eq!(smtp.mail.effective_transport(), MailTransport::Smtp);
        refused_naming(load(&[("MAIL_TRANSPORT", "smtp")]), "SMTP_URL");
        refused_naming(
            load(&[("MAIL_TRANSPORT", "carrier-pigeon")]),
            "MAIL_TRANSPORT",
        );
        // The URL is a secret: a refusal never echoes it.
        let debug = format!("{:?}", smtp.mail);
        assert!(!debug.contains("mail.example.com"), "{debug}");
    }

    #[test]
    fn links_point_at_an_http_url_without_query_or_credentials() {
        let s = load(&[("FRONTEND_URL", "https://app.example.com/spa")]).unwrap();
        assert_eq!(s.frontend_url().as_str(), "https://app.example.com/spa");
        for bad in [
            "javascript:alert(1)",
            "ftp://app.example.com",
            "https://app.example.com/?next=evil",
            "https://app.example.com/#x",
            "https://user:pw@app.example.com",
            "not a url",
        ] {
            refused_naming(load(&[("FRONTEND_URL", bad)]), "FRONTEND_URL");
        }
    }

    #[test]
    fn account_link_lifetimes_and_the_mail_limit_are_bounded() {
        refused_naming(load(&[("PASSWORD_RESET_TTL", "2d")]), "PASSWORD_RESET_TTL");
        refused_naming(load(&[("PASSWORD_RESET_TTL", "0s")]), "PASSWORD_RESET_TTL");
        refused_naming(
            load(&[("EMAIL_VERIFICATION_TTL", "31d")]),
            "EMAIL_VERIFICATION_TTL",
        );
        refused_naming(
            load(&[("RATE_LIMIT_MAILS_PER_HOUR", "0")]),
            "RATE_LIMIT_MAILS_PER_HOUR",
        );
        refused_naming(
            load(&[("RATE_LIMIT_MAILS_PER_HOUR", "-1")]),
            "RATE_LIMIT_MAILS_PER_HOUR",
        );
        refused_naming(load(&[("MAIL_SEND_TIMEOUT", "1h")]), "MAIL_SEND_TIMEOUT");
        refused_naming(
            load(&[("REQUIRE_VERIFIED_EMAIL", "maybe")]),
            "REQUIRE_VERIFIED_EMAIL",
        );
        assert!(
            load(&[("REQUIRE_VERIFIED_EMAIL", "true")])
                .unwrap()
                .accounts
                .require_verified_email
        );
    }
}
