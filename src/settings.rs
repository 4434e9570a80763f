//! Typed settings, layered from `config/base.toml`, `config/<profile>.toml`
//! (the profile is `APP_ENV`: `local` by default, or `production`) and
//! environment variables: the familiar names (`PORT`, `JWT_SECRET`, ...) and,
//! for everything else, `APP_<SECTION>__<KEY>` (e.g. `APP_SERVER__HOST`).
//!
//! Loading checks every value once; a bad one stops start-up with a message
//! that names the setting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The environment variables the contract names, and the setting each one sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("PORT", "server.port"),
    ("HOST", "server.host"),
    ("JWT_SECRET", "jwt.secret"),
    ("JWT_EXPIRES_IN", "jwt.expires_in"),
    ("JWT_REFRESH_SECRET", "jwt.refresh_secret"),
    ("JWT_REFRESH_EXPIRES_IN", "jwt.refresh_expires_in"),
    ("REFRESH_GRACE_PERIOD", "jwt.refresh_grace_period"),
    ("FRONTEND_ORIGIN", "cors.frontend_origin"),
    ("COOKIE_SECURE", "cookies.secure"),
    ("COOKIE_SAMESITE", "cookies.same_site"),
    ("COOKIE_DOMAIN", "cookies.domain"),
    ("MONGO_URI", "store.mongo_uri"),
    ("MONGO_DATABASE", "store.mongo_database"),
    ("SQLITE_PATH", "store.sqlite_path"),
    ("BCRYPT_COST", "passwords.bcrypt_cost"),
    ("RATE_LIMIT_PER_IP", "rate_limit.per_ip"),
    ("RATE_LIMIT_LOGIN_FAILURES", "rate_limit.login_failures"),
    ("TRUSTED_PROXIES", "rate_limit.trusted_proxies"),
    ("LOG_FORMAT", "log.format"),
    ("RUST_LOG", "log.filter"),
];

/// The secrets of the `local` profile. Production refuses to start with any of
/// them (a unit test keeps this list and `config/local.toml` in step).
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
    match ENV_OVERRIDES.iter().find(|(_, k)| *k == key) {
        Some((env, _)) => format!("{key} ({env})"),
        None => key.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Local,
    Production,
}

impl Profile {
    fn parse(raw: &str) -> Result<Self, SettingsError> {
        match raw.trim().to_lowercase().as_str() {
            "" | "local" => Ok(Profile::Local),
            "production" => Ok(Profile::Production),
            other => Err(SettingsError::Invalid {
                setting: "APP_ENV".into(),
                reason: format!("unknown profile {other:?} (expected local or production)"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Local => "local",
            Profile::Production => "production",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
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
    pub log: LogSettings,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Where the API lives, `/api` by default.
    pub base_path: String,
    pub body_limit_bytes: usize,
    pub workers: Option<usize>,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Serve the interactive API docs page at `<base>/docs`.
    pub api_docs: bool,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub refresh_secret: SecretString,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    /// Clock skew allowed when checking `exp` (at most 5 s).
    pub leeway: Duration,
    /// How long the immediately previous refresh token is still answered
    /// after a rotation; zero turns the grace window off.
    pub refresh_grace_period: Duration,
    /// Whether login and refresh also return the access token in the body.
    pub expose_access_token: bool,
}

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub secure: bool,
    pub same_site: SameSite,
    pub domain: Option<String>,
    /// Use the `__Host-` (access) and `__Secure-` (refresh) name prefixes.
    pub name_prefix: bool,
}

#[derive(Debug, Clone)]
pub struct CorsSettings {
    /// Exact origins (`scheme://host[:port]`) allowed to call with credentials.
    pub frontend_origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub mongo_uri: Option<SecretString>,
    pub mongo_database: String,
    pub mongo_server_selection_timeout: Duration,
    pub sqlite_path: PathBuf,
    pub sqlite_pool_size: usize,
    pub session_purge_interval: Duration,
}

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    /// Threads that run bcrypt; default: the machine's cores.
    pub workers: usize,
    /// bcrypt jobs that may wait for a thread; past that, logins get 503.
    pub queue: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub window: Duration,
    /// Requests per client IP per window on login, register and refresh.
    pub per_ip: u32,
    /// Failed logins per email per window.
    pub login_failures: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The most keys a limiter tracks at once; its memory bound.
    pub max_keys: usize,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// The shape of the files and variables before checking; durations and lists
/// are strings here.
#[derive(Debug, Deserialize)]
struct Raw {
    server: RawServer,
    jwt: RawJwt,
    cookies: RawCookies,
    cors: RawCors,
    store: RawStore,
    passwords: RawPasswords,
    rate_limit: RawRateLimit,
    log: RawLog,
}

#[derive(Debug, Deserialize)]
struct RawServer {
    host: String,
    port: u16,
    base_path: String,
    body_limit_bytes: usize,
    workers: Option<usize>,
    shutdown_timeout: String,
    api_docs: bool,
}

#[derive(Debug, Deserialize)]
struct RawJwt {
    secret: Option<String>,
    refresh_secret: Option<String>,
    expires_in: String,
    refresh_expires_in: String,
    issuer: String,
    audience: String,
    leeway: String,
    refresh_grace_period: String,
    expose_access_token: bool,
}

#[derive(Debug, Deserialize)]
struct RawCookies {
    secure: bool,
    same_site: String,
    domain: Option<String>,
    name_prefix: bool,
}

#[derive(Debug, Deserialize)]
struct RawCors {
    frontend_origin: String,
}

#[derive(Debug, Deserialize)]
struct RawStore {
    mongo_uri: Option<String>,
    mongo_database: String,
    mongo_server_selection_timeout: String,
    sqlite_path: String,
    sqlite_pool_size: usize,
    session_purge_interval: String,
}

#[derive(Debug, Deserialize)]
struct RawPasswords {
    bcrypt_cost: u32,
    workers: Option<usize>,
    queue: usize,
}

#[derive(Debug, Deserialize)]
struct RawRateLimit {
    window: String,
    per_ip: u32,
    login_failures: u32,
    trusted_proxies: String,
    max_keys: usize,
}

#[derive(Debug, Deserialize)]
struct RawLog {
    format: String,
    filter: String,
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
        let profile = Profile::parse(env.get("APP_ENV").map(String::as_str).unwrap_or(""))?;
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
        let raw: Raw = builder.build()?.try_deserialize()?;
        Self::check(profile, raw)
    }

    fn check(profile: Profile, raw: Raw) -> Result<Self, SettingsError> {
        let server = ServerSettings {
            base_path: parse_base_path(&raw.server.base_path)?,
            host: raw.server.host,
            port: raw.server.port,
            body_limit_bytes: positive("server.body_limit_bytes", raw.server.body_limit_bytes)?,
            workers: raw.server.workers.filter(|w| *w > 0),
            shutdown_timeout: duration("server.shutdown_timeout", &raw.server.shutdown_timeout)?,
            api_docs: raw.server.api_docs,
        };

        let jwt = check_jwt(profile, raw.jwt)?;

        let same_site = match raw.cookies.same_site.trim().to_lowercase().as_str() {
            "strict" => SameSite::Strict,
            "lax" => SameSite::Lax,
            "none" => SameSite::None,
            other => {
                return Err(invalid(
                    "cookies.same_site",
                    format!("{other:?} is not Strict, Lax or None"),
                ));
            }
        };
        if same_site == SameSite::None && !raw.cookies.secure {
            return Err(invalid(
                "cookies.same_site",
                "SameSite=None requires Secure cookies (set COOKIE_SECURE=true); browsers drop such cookies otherwise",
            ));
        }
        if raw.cookies.name_prefix && !raw.cookies.secure {
            return Err(invalid(
                "cookies.name_prefix",
                "the __Host-/__Secure- prefixes require Secure cookies (set COOKIE_SECURE=true)",
            ));
        }
        let domain = raw
            .cookies
            .domain
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        if let Some(d) = &domain
            && d.contains(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '/' | ':'))
        {
            return Err(invalid(
                "cookies.domain",
                format!("{d:?} is not a host name"),
            ));
        }
        let cookies = CookieSettings {
            secure: raw.cookies.secure,
            same_site,
            domain,
            name_prefix: raw.cookies.name_prefix,
        };

        let frontend_origins = raw
            .cors
            .frontend_origin
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| parse_origin(o).map_err(|reason| invalid("cors.frontend_origin", reason)))
            .collect::<Result<Vec<_>, _>>()?;
        if frontend_origins.is_empty() {
            return Err(invalid(
                "cors.frontend_origin",
                "at least one origin is required",
            ));
        }

        let mongo_uri = raw
            .store
            .mongo_uri
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        if let Some(uri) = &mongo_uri
            && !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"))
        {
            return Err(invalid(
                "store.mongo_uri",
                "must start with mongodb:// or mongodb+srv://",
            ));
        }
        let store = StoreSettings {
            mongo_uri: mongo_uri.map(SecretString::from),
            mongo_database: non_empty("store.mongo_database", raw.store.mongo_database)?,
            mongo_server_selection_timeout: duration(
                "store.mongo_server_selection_timeout",
                &raw.store.mongo_server_selection_timeout,
            )?,
            sqlite_path: PathBuf::from(non_empty("store.sqlite_path", raw.store.sqlite_path)?),
            sqlite_pool_size: positive("store.sqlite_pool_size", raw.store.sqlite_pool_size)?,
            session_purge_interval: nonzero_duration(
                "store.session_purge_interval",
                &raw.store.session_purge_interval,
            )?,
        };

        if !(4..=31).contains(&raw.passwords.bcrypt_cost) {
            return Err(invalid("passwords.bcrypt_cost", "must be between 4 and 31"));
        }
        if profile == Profile::Production && raw.passwords.bcrypt_cost < 10 {
            return Err(invalid(
                "passwords.bcrypt_cost",
                "production requires a cost of at least 10",
            ));
        }
        let passwords = PasswordSettings {
            bcrypt_cost: raw.passwords.bcrypt_cost,
            workers: raw
                .passwords
                .workers
                .filter(|w| *w > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            queue: raw.passwords.queue,
        };

        let trusted_proxies = raw
            .rate_limit
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "rate_limit.trusted_proxies",
                            format!("{p:?} is not an IP address or CIDR range"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rate_limit = RateLimitSettings {
            window: nonzero_duration("rate_limit.window", &raw.rate_limit.window)?,
            per_ip: positive("rate_limit.per_ip", raw.rate_limit.per_ip)?,
            login_failures: positive("rate_limit.login_failures", raw.rate_limit.login_failures)?,
            trusted_proxies,
            max_keys: positive("rate_limit.max_keys", raw.rate_limit.max_keys)?,
        };

        let log = LogSettings {
            format: match raw.log.format.trim().to_lowercase().as_str() {
                "pretty" | "text" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "log.format",
                        format!("{other:?} is not pretty or json"),
                    ));
                }
            },
            filter: raw.log.filter,
        };

        Ok(Settings {
            profile,
            server,
            jwt,
            cookies,
            cors: CorsSettings { frontend_origins },
            store,
            passwords,
            rate_limit,
            log,
        })
    }
}

fn check_jwt(profile: Profile, raw: RawJwt) -> Result<JwtSettings, SettingsError> {
    let secret = raw.secret.filter(|s| !s.is_empty());
    let refresh_secret = raw.refresh_secret.filter(|s| !s.is_empty());
    let (secret, refresh_secret) = match (secret, refresh_secret) {
        (Some(secret), Some(refresh_secret)) => (secret, refresh_secret),
        (None, _) => return Err(invalid("jwt.secret", "is required")),
        (_, None) => return Err(invalid("jwt.refresh_secret", "is required")),
    };
    if secret == refresh_secret {
        return Err(invalid(
            "jwt.refresh_secret",
            "must differ from jwt.secret (JWT_SECRET)",
        ));
    }
    if profile == Profile::Production {
        for (key, value) in [
            ("jwt.secret", &secret),
            ("jwt.refresh_secret", &refresh_secret),
        ] {
            if value.len() < MIN_SECRET_BYTES {
                return Err(invalid(
                    key,
                    format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                ));
            }
            if DEVELOPMENT_SECRETS.contains(&value.as_str()) {
                return Err(invalid(
                    key,
                    "is a development default; production needs a secret of its own",
                ));
            }
        }
    }
    let leeway = duration("jwt.leeway", &raw.leeway)?;
    if leeway > Duration::from_secs(5) {
        return Err(invalid("jwt.leeway", "must be at most 5s"));
    }
    let access_ttl = nonzero_duration("jwt.expires_in", &raw.expires_in)?;
    let refresh_ttl = nonzero_duration("jwt.refresh_expires_in", &raw.refresh_expires_in)?;
    let refresh_grace_period = duration("jwt.refresh_grace_period", &raw.refresh_grace_period)?;
    if refresh_grace_period >= refresh_ttl {
        return Err(invalid(
            "jwt.refresh_grace_period",
            "must be shorter than the refresh token's lifetime",
        ));
    }
    Ok(JwtSettings {
        secret: SecretString::from(secret),
        refresh_secret: SecretString::from(refresh_secret),
        access_ttl,
        refresh_ttl,
        issuer: non_empty("jwt.issuer", raw.issuer)?,
        audience: non_empty("jwt.audience", raw.audience)?,
        leeway,
        refresh_grace_period,
        expose_access_token: raw.expose_access_token,
    })
}

fn positive<T: PartialOrd + Default>(key: &str, value: T) -> Result<T, SettingsError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(invalid(key, "must be greater than zero"))
    }
}

fn non_empty(key: &str, value: String) -> Result<String, SettingsError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(trimmed.to_owned())
    }
}

fn duration(key: &str, raw: &str) -> Result<Duration, SettingsError> {
    parse_duration(raw).map_err(|reason| invalid(key, reason))
}

fn nonzero_duration(key: &str, raw: &str) -> Result<Duration, SettingsError> {
    let d = duration(key, raw)?;
    if d.is_zero() {
        return Err(invalid(key, "must be longer than zero"));
    }
    Ok(d)
}

/// Parses durations written like `900s`, `15m`, `2h`, `7d`, `250ms`; a bare
/// number is seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 900s, 15m or 7d"))?;
    let seconds_per_unit = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(value)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} is not a duration like 900s, 15m or 7d")),
    };
    value
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw:?} is too long"))
}

/// Checks that `raw` is exactly an origin: `http(s)://host[:port]` with no
/// path, query, user info or trailing slash. Returns it as browsers send it.
fn parse_origin(raw: &str) -> Result<String, String> {
    let bad = || {
        format!("{raw:?} is not an origin like https://app.example.com or http://localhost:5173")
    };
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ', '*']) {
        return Err(bad());
    }
    // Split off the port: after the `]` of an IPv6 literal, else after the last `:`.
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
            };
            (addr, port)
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        },
    };
    if host.is_empty() {
        return Err(bad());
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.chars().all(|c| c.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(bad());
    }
    Ok(raw.to_lowercase())
}

fn parse_base_path(raw: &str) -> Result<String, SettingsError> {
    let trimmed = raw.trim().trim_end_matches('/');
    if !trimmed.starts_with('/') || trimmed.contains(['?', '#', ' ']) {
        return Err(invalid("server.base_path", "must be a path like /api"));
    }
    Ok(trimmed.to_owned())
}

impl JwtSettings {
    pub fn secret_bytes(&self) -> &[u8] {
        self.secret.expose_secret().as_bytes()
    }

    pub fn refresh_secret_bytes(&self) -> &[u8] {
        self.refresh_secret.expose_secret().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("JWT_SECRET", "an-access-secret-that-is-long-enough-0001"),
            (
                "JWT_REFRESH_SECRET",
                "a-refresh-secret-that-is-long-enough-0002",
            ),
            ("FRONTEND_ORIGIN", "https://app.example.com"),
        ];
        all.extend_from_slice(vars);
        load(&all)
    }

    fn error_of(result: Result<Settings, SettingsError>) -> String {
        result.expect_err("settings were accepted").to_string()
    }

    #[test]
    fn local_profile_loads_with_no_environment() {
        let s = load(&[]).unwrap();
        assert_eq!(s.profile, Profile::Local);
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(900));
        assert_eq!(s.jwt.refresh_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(s.jwt.refresh_grace_period, Duration::from_secs(10));
        assert_eq!(s.passwords.bcrypt_cost, 12);
        assert_eq!(s.rate_limit.per_ip, 100);
        assert_eq!(s.rate_limit.login_failures, 10);
        assert_eq!(s.server.base_path, "/api");
        assert_eq!(s.server.body_limit_bytes, 16 * 1024);
        assert!(s.store.mongo_uri.is_none());
    }

    #[test]
    fn local_secrets_are_the_known_development_secrets() {
        let s = load(&[]).unwrap();
        assert!(DEVELOPMENT_SECRETS.contains(&s.jwt.secret.expose_secret()));
        assert!(DEVELOPMENT_SECRETS.contains(&s.jwt.refresh_secret.expose_secret()));
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
            ("SQLITE_PATH", "/tmp/x.sqlite"),
            ("APP_SERVER__HOST", "0.0.0.0"),
        ])
        .unwrap();
        assert_eq!(s.server.port, 9999);
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.jwt.access_ttl, Duration::from_secs(300));
        assert_eq!(s.jwt.refresh_ttl, Duration::from_secs(86_400));
        assert_eq!(
            s.cors.frontend_origins,
            ["http://localhost:3000", "https://app.example.com"]
        );
        assert_eq!(s.passwords.bcrypt_cost, 4);
        assert!(s.jwt.refresh_grace_period.is_zero());
        assert_eq!(s.store.sqlite_path, PathBuf::from("/tmp/x.sqlite"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900s").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7_200));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        for bad in [
            "",
            "m",
            "15 minutes",
            "-5s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(error_of(load(&[("JWT_EXPIRES_IN", "soon")])).contains("JWT_EXPIRES_IN"));
        assert!(error_of(load(&[("COOKIE_SAMESITE", "None")])).contains("COOKIE_SAMESITE"));
        assert!(error_of(load(&[("COOKIE_SAMESITE", "sideways")])).contains("COOKIE_SAMESITE"));
        assert!(
            error_of(load(&[("FRONTEND_ORIGIN", "localhost:5173")])).contains("FRONTEND_ORIGIN")
        );
        assert!(
            error_of(load(&[("FRONTEND_ORIGIN", "http://localhost:5173/")]))
                .contains("FRONTEND_ORIGIN")
        );
        assert!(error_of(load(&[("FRONTEND_ORIGIN", "*")])).contains("FRONTEND_ORIGIN"));
        assert!(error_of(load(&[("MONGO_URI", "postgres://x")])).contains("MONGO_URI"));
        assert!(error_of(load(&[("BCRYPT_COST", "3")])).contains("BCRYPT_COST"));
        assert!(error_of(load(&[("APP_ENV", "staging")])).contains("APP_ENV"));
        assert!(error_of(load(&[("TRUSTED_PROXIES", "10.0.0.0/33")])).contains("TRUSTED_PROXIES"));
    }

    #[test]
    fn same_site_none_is_fine_with_secure() {
        let s = load(&[("COOKIE_SAMESITE", "None"), ("COOKIE_SECURE", "true")]).unwrap();
        assert_eq!(s.cookies.same_site, SameSite::None);
        assert!(s.cookies.secure);
    }

    #[test]
    fn origins_with_ports_and_ipv6() {
        assert!(parse_origin("http://localhost:5173").is_ok());
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin("http://[::1]:8080").is_ok());
        assert!(parse_origin("http://[::1]").is_ok());
        assert!(parse_origin("http://localhost:99999").is_err());
        assert!(parse_origin("http://localhost:").is_err());
        assert!(parse_origin("ftp://example.com").is_err());
        assert!(parse_origin("https://user@example.com").is_err());
    }

    #[test]
    fn production_accepts_proper_secrets_and_defaults_to_secure_cookies() {
        let s = production(&[]).unwrap();
        assert!(s.cookies.secure);
        assert_eq!(s.log.format, LogFormat::Json);
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
    }

    #[test]
    fn production_requires_an_explicit_frontend_origin() {
        let env: HashMap<String, String> = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", "an-access-secret-that-is-long-enough-0001"),
            (
                "JWT_REFRESH_SECRET",
                "a-refresh-secret-that-is-long-enough-0002",
            ),
        ]
        .iter()
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
}
