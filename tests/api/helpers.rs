//! Starts the real application on a random loopback port with a fresh SQLite
//! file, and talks to it over HTTP.
//!
//! The servers' logs are dropped unless `TEST_LOG` is set:
//! `TEST_LOG=1 cargo test --test api some_test -- --nocapture` prints them
//! (at `RUST_LOG`, default `info`). Without `--nocapture`, libtest shows the
//! log a failed test captured with its failure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Once;

use actix_web::dev::ServerHandle;
use actix_web::http::Method;
use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokengate::settings::{LogSettings, Settings};
use tokengate::startup::Application;
use tokengate::telemetry;

pub const ORIGIN: &str = "http://localhost:5173";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    /// Keeps cookies like a browser and sends the SPA's Origin.
    pub client: reqwest::Client,
    handle: ServerHandle,
    db_path: PathBuf,
}

/// The access-token algorithm the suite runs with: `HS256`, or what
/// `TOKENGATE_TEST_JWT_ALGORITHM` says (`scripts/test.sh` runs the suite a
/// second time with `EdDSA`). A test's own `JWT_ALGORITHM` wins.
pub fn test_jwt_algorithm() -> String {
    std::env::var("TOKENGATE_TEST_JWT_ALGORITHM")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "HS256".to_owned())
}

/// Settings for a test: the local profile, a fresh SQLite file, port 0,
/// cheap bcrypt and limits high enough not to get in the way.
pub fn test_settings(extra: &[(&str, &str)]) -> Settings {
    let algorithm = test_jwt_algorithm();
    let db = std::env::temp_dir().join(format!("tokengate-test-{}.sqlite", uuid::Uuid::new_v4()));
    let mut env: HashMap<String, String> = [
        ("SQLITE_PATH", db.to_str().unwrap()),
        ("PORT", "0"),
        ("BCRYPT_COST", "4"),
        ("FRONTEND_ORIGIN", ORIGIN),
        ("RATE_LIMIT_PER_IP", "100000"),
        ("RATE_LIMIT_LOGIN_FAILURES", "100000"),
        ("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "100000"),
        // The seed-style body field: the Bearer tests read the token from it.
        ("EXPOSE_ACCESS_TOKEN", "true"),
        ("RUST_LOG", "warn"),
        ("JWT_ALGORITHM", algorithm.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load_from(&dir, &env).expect("test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_with_settings(test_settings(extra)).await
}

/// Installs, once per process, the subscriber every test's server logs to:
/// with `TEST_LOG` set, libtest's captured stdout at `RUST_LOG` (default
/// `info`); otherwise a sink at the test settings' level (`warn`), so the
/// logging code runs without printing.
fn init_test_log(settings: &LogSettings) {
    static TEST_LOG: Once = Once::new();
    TEST_LOG.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some_and(|v| !v.is_empty()) {
            let shown = LogSettings {
                format: settings.format,
                filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            };
            let installed = telemetry::init(&shown, tracing_subscriber::fmt::TestWriter::new);
            assert!(
                installed,
                "TEST_LOG: a tracing subscriber was already installed"
            );
        } else {
            telemetry::init(settings, std::io::sink);
        }
    });
}

pub async fn spawn_with_settings(settings: Settings) -> TestApp {
    init_test_log(&settings.log);
    let db_path = settings.store.sqlite_path.clone();
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        client: browser(),
        address,
        handle,
        db_path,
    }
}

/// A client that keeps cookies and sends the allowed Origin, like the SPA.
pub fn browser() -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_static(ORIGIN));
    reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

/// POSTs from the allowed origin with exactly `cookies` (no jar, no body).
/// Owned arguments, so it can be spawned for concurrent requests.
pub async fn post_with_cookies(url: String, cookies: String) -> reqwest::Response {
    bare()
        .post(url)
        .header("origin", ORIGIN)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
}

/// GETs with exactly `cookies` (no jar, no Origin).
pub async fn get_with_cookies(url: String, cookies: String) -> reqwest::Response {
    bare()
        .get(url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
}

/// The status of GET current-user at `base` with a Bearer token alone.
pub async fn current_user_with_bearer(base: &str, token: &str) -> u16 {
    bare()
        .get(format!("{base}/api/user/current-user"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Starts a login from a jar-less client, for many at the same instant.
pub fn spawn_login(
    app: &TestApp,
    email: &str,
    password: &str,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let (url, body) = (
        app.url("/api/auth/login"),
        json!({ "email": email, "password": password }),
    );
    tokio::spawn(async move { bare().post(url).json(&body).send().await.unwrap() })
}

/// A client with no cookie jar and no default headers.
pub fn bare() -> reqwest::Client {
    reqwest::Client::new()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop the server (when dropped outside a runtime, the server ends
        // with its runtime); the file goes with the test.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db_path.display()));
        }
    }
}

/// A fresh, unique email address.
pub fn unique_email() -> String {
    format!(
        "user-{}@example.com",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

impl TestApp {
    /// The app's SQLite file (another app may open it too).
    pub fn db_path(&self) -> &std::path::Path {
        &self.db_path
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.client.post(self.url(path)).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn register(&self, email: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/register",
            &json!({ "name": "Ada Lovelace", "email": email, "password": PASSWORD }),
        )
        .await
    }

    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/api/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str) -> reqwest::Response {
        self.login_with(&self.client, email, PASSWORD).await
    }

    /// Registers a fresh user and logs this app's client in; returns the
    /// email and the login body.
    pub async fn signed_in(&self) -> (String, Value) {
        let email = unique_email();
        assert_eq!(self.register(&email).await.status(), 201);
        let res = self.login(&email).await;
        assert_eq!(res.status(), 200);
        (email, res.json().await.unwrap())
    }

    /// Logs a new, separate browser in as `email`.
    pub async fn another_browser(&self, email: &str) -> reqwest::Client {
        let client = browser();
        let res = self.login_with(&client, email, PASSWORD).await;
        assert_eq!(res.status(), 200);
        client
    }
}

/// The `Set-Cookie` headers of a response, by cookie name.
pub fn set_cookies(res: &reqwest::Response) -> HashMap<String, String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .map(|c| (c.split('=').next().unwrap().to_owned(), c))
        .collect()
}

/// The value of a cookie set by a response.
pub fn cookie_value(res: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(res).get(name).map(|c| {
        c.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned()
    })
}

/// The `sid` claim of a JWT (payload only; the test trusts its own server).
pub fn session_id_of(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// actix and reqwest use different versions of the `http` crate.
pub fn reqwest_method(method: &Method) -> reqwest::Method {
    reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap()
}
