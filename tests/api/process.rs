//! The real binary as a child process: its JSON log lines and audit events,
//! graceful shutdown on SIGTERM and SIGINT, and the production profile.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ORIGIN, PASSWORD, browser, cookie_value, session_id_of, unique_email};

/// The `tokengate` binary running as a child process with JSON logs on a
/// captured stdout.
pub(crate) struct Server {
    /// Taken by `exit`.
    child: Option<tokio::process::Child>,
    base: String,
    port: u16,
    db: PathBuf,
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const JWT_SECRET: &str = "log-test-access-secret-0123456789abcdef";
const JWT_REFRESH_SECRET: &str = "log-test-refresh-secret-0123456789abcdef";

/// A fresh database file's path.
pub(crate) fn fresh_db() -> PathBuf {
    std::env::temp_dir().join(format!("tokengate-ops-{}.sqlite", uuid::Uuid::new_v4()))
}

impl Server {
    async fn start(extra: &[(&str, &str)]) -> Server {
        Self::start_on(fresh_db(), extra).await
    }

    /// Starts an instance on the database file `db`, which other instances
    /// may share.
    pub(crate) async fn start_on(db: PathBuf, extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokengate"));
        command
            .env_clear()
            .env("APP_CONFIG_DIR", &config)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("SQLITE_PATH", &db)
            .env("BCRYPT_COST", "4")
            .env("FRONTEND_ORIGIN", ORIGIN)
            .env("EXPOSE_ACCESS_TOKEN", "true")
            .env("JWT_SECRET", JWT_SECRET)
            .env("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // An empty value removes the variable.
        for (key, value) in extra {
            match value {
                &"" => command.env_remove(key),
                value => command.env(key, value),
            };
        }
        let child = command.spawn().expect("the tokengate binary starts");
        let server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            port,
            db,
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = client
                .get(format!("{}/health/live", self.base))
                .send()
                .await
                && res.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self
            .child
            .as_ref()
            .and_then(|c| c.id())
            .expect("still running");
        let pid = libc::pid_t::try_from(pid).unwrap();
        // SAFETY: kill(2) on our own child process, which is not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the process to exit; its status and stdout lines.
    async fn exit(&mut self) -> (ExitStatus, Vec<String>, String) {
        let child = self.child.take().expect("not waited for yet");
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the server exits")
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (
            output.status,
            stdout.lines().map(str::to_owned).collect(),
            stderr,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

/// Every line must be one JSON object.
fn parse_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn request_lines<'a>(lines: &'a [Value], route: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["message"] == "request finished" && l["route"] == route)
        .collect()
}

#[tokio::test]
async fn a_login_is_audited_and_no_secret_reaches_the_logs() {
    let mut server = Server::start(&[]).await;
    let client = browser();
    let email = unique_email();
    let user_agent = "tokengate-log-test/1.0 (audit)";
    let wrong_password = "wrong horse battery staple";

    let res = client
        .post(server.url("/api/auth/register"))
        .json(&json!({ "name": "Ada Lovelace", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = client
        .post(server.url("/api/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({ "email": email, "password": wrong_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(server.url("/api/auth/login"))
        .header("user-agent", user_agent)
        .header("x-request-id", "ops-log-test-1")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "ops-log-test-1");
    let refresh_token = cookie_value(&res, "refreshToken").unwrap();
    let body: Value = res.json().await.unwrap();
    let access_token = body["accessToken"].as_str().unwrap().to_owned();
    let user_id = body["user"]["_id"].as_str().unwrap().to_owned();
    let session_id = session_id_of(&access_token);
    // A request without an id gets one, and the log line says which.
    let res = client
        .get(server.url("/api/user/current-user"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let made_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    // This process's 64-bit prefix, then a counter, in hex.
    let (prefix, counter) = made_id.split_once('-').expect("prefix-counter");
    assert!(
        prefix.len() == 16
            && !counter.is_empty()
            && made_id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'),
        "{made_id}"
    );

    server.sigterm();
    let (status, raw, stderr) = server.exit().await;
    assert!(status.success(), "exit status {status}; stderr: {stderr}");
    let lines = parse_lines(&raw);
    let all = raw.join("\n");

    // The audit event of the login: who, which session, from where.
    let audit: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["event"] == "login_succeeded")
        .collect();
    assert_eq!(audit.len(), 1, "{all}");
    let event = audit[0];
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["user_id"], user_id.as_str());
    assert_eq!(event["session_id"], session_id.as_str());
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["user_agent"], user_agent);
    assert!(event["timestamp"].is_string());
    // ... inside its request, so the request id is on it.
    let spans = event["spans"].as_array().expect("spans");
    assert_eq!(spans[0]["name"], "request");
    assert_eq!(spans[0]["request_id"], "ops-log-test-1");

    let failed: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "audit" && l["event"] == "login_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{all}");
    assert_eq!(failed[0]["user_id"], user_id.as_str());
    assert_eq!(failed[0]["user_agent"], user_agent);

    // One line per request: method, route, status, latency, request id.
    let logins = request_lines(&lines, "/api/auth/login");
    assert_eq!(logins.len(), 2, "{all}");
    let line = logins[1];
    assert_eq!(line["request_id"], "ops-log-test-1");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/api/auth/login");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(logins[0]["status"], 401);
    assert_eq!(request_lines(&lines, "/api/auth/register").len(), 1);
    let current = request_lines(&lines, "/api/user/current-user");
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["request_id"], made_id.as_str());

    // Never a password, token or secret.
    for (what, secret) in [
        ("the password", PASSWORD),
        ("the wrong password", wrong_password),
        ("the access token", access_token.as_str()),
        (
            "the access token's signature",
            access_token.rsplit('.').next().unwrap(),
        ),
        ("the refresh token", refresh_token.as_str()),
        (
            "the refresh token's signature",
            refresh_token.rsplit('.').next().unwrap(),
        ),
        ("the access secret", JWT_SECRET),
        ("the refresh secret", JWT_REFRESH_SECRET),
        ("a bcrypt hash", "$2b$"),
    ] {
        assert!(!all.contains(secret), "the logs contain {what}:\n{all}");
    }
}

#[tokio::test]
async fn sigterm_lets_a_slow_request_finish_then_the_process_exits_cleanly() {
    graceful_stop(libc::SIGTERM, "SIGTERM").await;
}

#[tokio::test]
async fn sigint_is_as_graceful_as_sigterm() {
    graceful_stop(libc::SIGINT, "SIGINT").await;
}

async fn graceful_stop(signal: libc::c_int, name: &str) {
    // bcrypt at cost 15 makes a login take a second or more.
    let mut server = Server::start(&[("BCRYPT_COST", "15")]).await;
    let client = browser();
    let email = unique_email();
    let res = client
        .post(server.url("/api/auth/register"))
        .json(&json!({ "name": "Ada Lovelace", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let login = tokio::spawn({
        let client = client.clone();
        let url = server.url("/api/auth/login");
        async move {
            let started = Instant::now();
            let res = client
                .post(url)
                .header("x-request-id", "slow-login")
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await;
            let res = res.expect("the in-flight login gets its answer");
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body, started.elapsed())
        }
    });
    // Let the login reach bcrypt, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !login.is_finished(),
        "the login was too fast to test shutdown with"
    );
    server.signal(signal);

    // New connections are refused soon after the signal, while the login is
    // still being served.
    let port = server.port;
    let refused = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpStream::connect_timeout(
                &(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_millis(200),
            ) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
                _ if Instant::now() > deadline => return false,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })
    .await
    .unwrap();
    assert!(
        refused,
        "the server still accepts connections after SIGTERM"
    );

    let (status, body, took) = login.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "User logged in successfully");
    assert!(took >= Duration::from_millis(300), "{took:?}");

    let db = server.db.clone();
    let (exit, raw, stderr) = server.exit().await;
    assert!(exit.success(), "exit status {exit}; stderr: {stderr}");
    assert_eq!(exit.code(), Some(0));
    let lines = parse_lines(&raw);
    // The order of events: the signal came in while the login was in flight.
    let position = |pred: &dyn Fn(&Value) -> bool| {
        lines
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing line in:\n{}", raw.join("\n")))
    };
    let received = position(&|l| {
        l["signal"] == name
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("stop signal received"))
    });
    let finished =
        position(&|l| l["message"] == "request finished" && l["request_id"] == "slow-login");
    let stopped = position(&|l| l["message"] == "tokengate stopped");
    assert!(
        received < finished && finished < stopped,
        "{}",
        raw.join("\n")
    );

    // The store was closed cleanly: SQLite checkpoints and removes its WAL
    // file when the last connection closes.
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(db.exists());
    assert!(
        !wal.exists(),
        "{} left behind: the store was not closed",
        wal.display()
    );
}

#[tokio::test]
async fn production_profile_logs_json_and_hides_the_docs() {
    let mut server = Server::start(&[
        ("APP_ENV", "production"),
        // Production refuses to start without a mail server unless told.
        ("MAIL_TRANSPORT", "console"),
        // The profile's own format (json), not the test's.
        ("LOG_FORMAT", ""),
        ("BCRYPT_COST", "10"),
    ])
    .await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(server.url("/api/docs"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(server.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.sigterm();
    let (status, raw, stderr) = server.exit().await;
    assert!(status.success(), "{stderr}");
    let lines = parse_lines(&raw);
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "tokengate listening" && l["profile"] == "production"),
        "{}",
        raw.join("\n")
    );
}
