//! Operations: the OpenAPI document against the route table, the metrics,
//! the log lines and audit events of the real binary, graceful shutdown, and
//! what schemathesis found.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use base64::Engine;
use serde_json::{Value, json};
use tokengate::http::routes;

use crate::helpers::{ORIGIN, PASSWORD, spawn_app, spawn_app_with, unique_email};

// ---------------------------------------------------------------------------
// The OpenAPI document

/// The statuses the contract gives each route: its success and every error.
/// Every route of the table must be listed here, so a new route cannot be
/// added without saying what it answers.
fn contract_statuses(method: &Method, path: &str) -> &'static [u16] {
    // JSON body: 400 malformed/invalid, 413 too large, 415 not JSON. State
    // changing: 403 under the CSRF rule. Store behind it: 503.
    match (method.as_str(), path) {
        ("POST", "/api/auth/register") => &[201, 400, 403, 409, 413, 415, 429, 503],
        ("POST", "/api/auth/login") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/refresh") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/logout") => &[200, 400, 403, 413, 415, 503],
        ("POST", "/api/auth/logout-all") => &[200, 400, 401, 403, 413, 415, 503],
        ("GET", "/api/auth/sessions") => &[200, 401, 503],
        ("DELETE", "/api/auth/sessions/{id}") => &[200, 400, 401, 403, 404, 413, 415, 503],
        ("GET", "/api/user/current-user") => &[200, 401, 503],
        ("GET", "/api/report/setting") => &[200, 401, 404, 503],
        ("PUT", "/api/report/setting") => &[200, 400, 401, 403, 404, 413, 415, 503],
        ("GET", "/api/openapi.json") => &[200],
        ("GET", "/api/docs") => &[200, 404],
        ("GET", "/health/live") => &[200],
        ("GET", "/health/ready") => &[200, 503],
        ("GET", "/metrics") => &[200],
        _ => panic!("{method} {path} is in the route table but not in contract_statuses"),
    }
}

/// Routes that need an access token (cookie or Bearer).
const PROTECTED: &[&str] = &[
    "POST /api/auth/logout-all",
    "GET /api/auth/sessions",
    "DELETE /api/auth/sessions/{id}",
    "GET /api/user/current-user",
    "GET /api/report/setting",
    "PUT /api/report/setting",
];

async fn openapi(app: &crate::helpers::TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&k.as_str())
                })
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn served(base_path: &str) -> BTreeSet<(String, String)> {
    routes::route_table()
        .iter()
        .map(|r| (r.method.to_string(), r.full_path(base_path)))
        .collect()
}

/// actix and reqwest use different versions of the `http` crate.
fn reqwest_method(method: &Method) -> reqwest::Method {
    reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap()
}

#[tokio::test]
async fn the_document_has_every_route_of_the_table_and_no_other() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let table = served("/api");
    let documented = documented(&doc);
    let missing: Vec<_> = table.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );

    // The table really is what is served: every route answers something other
    // than the JSON 404 of unknown paths (and 405 of unknown methods).
    for route in routes::route_table() {
        let url = app.url(&route.full_path("/api").replace("{id}", "x"));
        let res = crate::helpers::bare()
            .request(reqwest_method(&route.method), url)
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 405, "{} {}", route.method, route.path);
        assert_ne!(res.status(), 404, "{} {}", route.method, route.path);
    }
}

/// A response, or the shared response it refers to.
fn resolve_response<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn every_route_documents_the_error_statuses_of_the_contract() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    for route in routes::route_table() {
        let path = route.full_path("/api");
        let op = &doc["paths"][&path][route.method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        let documented: BTreeSet<u16> = responses.keys().map(|s| s.parse().unwrap()).collect();
        for status in contract_statuses(&route.method, &path) {
            assert!(
                documented.contains(status),
                "{} {path} does not document {status} (has {documented:?})",
                route.method
            );
        }
        for (status, response) in responses {
            // Shared error responses are references to components.
            let response = resolve_response(&doc, response);
            assert!(
                !response["description"].as_str().unwrap_or("").is_empty(),
                "{} {path} {status} has no description",
                route.method
            );
            // Errors are the one ErrorBody shape (the 503 of /health/ready
            // is a plain message).
            let code: u16 = status.parse().unwrap();
            if code >= 400 && path != "/health/ready" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{} {path} {status}",
                    route.method
                );
            }
            if code == 429 || (code == 503 && path != "/health/ready") {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{} {path} {status} should document Retry-After",
                    route.method
                );
            }
        }
    }
}

#[tokio::test]
async fn request_and_response_schemas_exist_and_security_schemes_are_the_cookies() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");

    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    let responses = doc["components"]["responses"]
        .as_object()
        .expect("shared responses");
    for r in &all {
        let resolves = match (
            r.strip_prefix("#/components/schemas/"),
            r.strip_prefix("#/components/responses/"),
        ) {
            (Some(name), _) => schemas.contains_key(name),
            (_, Some(name)) => responses.contains_key(name),
            _ => panic!("unexpected reference {r}"),
        };
        assert!(resolves, "{r} does not resolve");
    }

    // The bodies of the contract, by operation.
    let body = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    let ok = |method: &str, path: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    let schema = |name: &str| format!("#/components/schemas/{name}");
    assert_eq!(
        body("post", "/api/auth/register"),
        Some(schema("RegisterRequest"))
    );
    assert_eq!(
        body("post", "/api/auth/login"),
        Some(schema("LoginRequest"))
    );
    assert_eq!(
        body("put", "/api/report/setting"),
        Some(schema("UpdateReportSettingRequest"))
    );
    assert_eq!(
        ok("post", "/api/auth/register", "201"),
        Some(schema("RegisterResponse"))
    );
    assert_eq!(
        ok("post", "/api/auth/login", "200"),
        Some(schema("LoginResponse"))
    );
    assert_eq!(
        ok("post", "/api/auth/refresh", "200"),
        Some(schema("RefreshResponse"))
    );
    assert_eq!(
        ok("get", "/api/auth/sessions", "200"),
        Some(schema("SessionsResponse"))
    );
    assert_eq!(
        ok("get", "/api/user/current-user", "200"),
        Some(schema("CurrentUserResponse"))
    );
    assert_eq!(
        ok("get", "/api/report/setting", "200"),
        Some(schema("ReportSettingResponse"))
    );
    assert_eq!(
        ok("put", "/api/report/setting", "200"),
        Some(schema("ReportSettingResponse"))
    );

    // What the handler requires, the schema requires.
    let required = |name: &str| {
        schemas[name]["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(required("RegisterRequest"), ["name", "email", "password"]);
    assert_eq!(required("LoginRequest"), ["email", "password"]);
    let user = required("UserDto");
    for field in [
        "_id",
        "name",
        "email",
        "profilePicture",
        "createdAt",
        "updatedAt",
    ] {
        assert!(
            user.contains(&field.to_owned()),
            "User.{field} is not required"
        );
    }
    assert!(
        !schemas["UserDto"].to_string().contains("password"),
        "the User schema must not mention a password"
    );

    // The cookie security schemes, and the Bearer alternative.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["accessCookie"],
        json!({ "type": "apiKey", "in": "cookie", "name": "accessToken" })
    );
    assert_eq!(
        schemes["refreshCookie"],
        json!({ "type": "apiKey", "in": "cookie", "name": "refreshToken" })
    );
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    for route in routes::route_table() {
        let path = route.full_path("/api");
        let key = format!("{} {path}", route.method);
        let security = &doc["paths"][&path][route.method.as_str().to_lowercase()]["security"];
        if PROTECTED.contains(&key.as_str()) {
            assert_eq!(
                security,
                &json!([{ "accessCookie": [] }, { "bearer": [] }]),
                "{key}"
            );
        }
    }
    assert_eq!(
        doc["paths"]["/api/auth/refresh"]["post"]["security"],
        json!([{ "refreshCookie": [] }])
    );
}

#[tokio::test]
async fn the_document_follows_the_base_path_and_cookie_names() {
    let app = spawn_app_with(&[
        ("APP_SERVER__BASE_PATH", "/auth-api"),
        ("COOKIE_SECURE", "true"),
        ("APP_COOKIES__NAME_PREFIX", "true"),
    ])
    .await;
    assert_eq!(app.get("/api/openapi.json").await.status(), 404);
    let doc = openapi(&app, "/auth-api/openapi.json").await;
    assert_eq!(documented(&doc), served("/auth-api"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["accessCookie"]["name"], "__Host-accessToken");
    assert_eq!(schemes["refreshCookie"]["name"], "__Secure-refreshToken");
}

#[tokio::test]
async fn the_docs_page_is_served_locally_only() {
    let app = spawn_app().await;
    let res = app.get("/api/docs").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("/api/openapi.json"));

    let app = spawn_app_with(&[("APP_SERVER__API_DOCS", "false")]).await;
    assert_eq!(app.get("/api/docs").await.status(), 404);
}

// ---------------------------------------------------------------------------
// Found by schemathesis

#[tokio::test]
async fn a_known_path_asked_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::TRACE, "/api/report/setting", "GET, PUT"),
        (Method::GET, "/api/auth/login", "POST"),
        (Method::POST, "/health/live", "GET"),
        (Method::PATCH, "/api/auth/sessions/abc", "DELETE"),
    ] {
        let res = crate::helpers::bare()
            .request(reqwest_method(&method), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "Method not allowed");
    }
    // Unknown paths stay 404.
    assert_eq!(app.get("/api/nope").await.status(), 404);
}

#[tokio::test]
async fn a_json_array_is_not_an_object_body() {
    let app = spawn_app().await;
    // serde's derived structs accept `[field values...]`; the API does not.
    let email = unique_email();
    let res = app
        .post_json("/api/auth/register", &json!(["Ada", email, PASSWORD]))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("object"),
        "{body}"
    );
    assert_eq!(
        app.register(&email).await.status(),
        201,
        "no user was created"
    );

    let (_, login) = app.signed_in().await;
    let token = login["accessToken"].as_str().unwrap();
    let res = crate::helpers::bare()
        .put(app.url("/api/report/setting"))
        .bearer_auth(token)
        .json(&json!(["DAILY", false]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

// ---------------------------------------------------------------------------
// Metrics

/// The value of one sample line of the exposition, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn metrics(app: &crate::helpers::TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    res.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_when_their_event_happens() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);

    let failed = r#"tokengate_auth_events_total{event="login_failed"}"#;
    let succeeded = r#"tokengate_auth_events_total{event="login_succeeded"}"#;
    let login_401 =
        r#"tokengate_http_requests_total{method="POST",route="/api/auth/login",status="401"}"#;
    let login_count =
        r#"tokengate_http_request_duration_seconds_count{method="POST",route="/api/auth/login"}"#;
    let before = metrics(&app).await;
    assert_eq!(
        sample(
            &before,
            r#"tokengate_auth_events_total{event="registered"}"#
        ),
        1.0
    );

    let res = app
        .login_with(&app.client, &email, "not the password")
        .await;
    assert_eq!(res.status(), 401);
    let after = metrics(&app).await;
    assert_eq!(
        sample(&after, failed),
        sample(&before, failed) + 1.0,
        "{after}"
    );
    assert_eq!(sample(&after, login_401), sample(&before, login_401) + 1.0);
    assert_eq!(
        sample(&after, login_count),
        sample(&before, login_count) + 1.0
    );
    assert_eq!(sample(&after, succeeded), sample(&before, succeeded));

    assert_eq!(app.login(&email).await.status(), 200);
    let after_ok = metrics(&app).await;
    assert_eq!(
        sample(&after_ok, succeeded),
        sample(&after, succeeded) + 1.0
    );
    assert_eq!(sample(&after_ok, failed), sample(&after, failed));

    // Requests are counted by route pattern, never by raw path.
    let res = app
        .client
        .delete(app.url("/api/auth/sessions/0b3c2b9e-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"tokengate_http_requests_total{method="DELETE",route="/api/auth/sessions/{id}",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("0b3c2b9e-0000"), "{text}");
    // An unknown path is one "unmatched" series, whatever the path.
    app.get("/api/no/such/thing").await;
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"tokengate_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("no/such/thing"));

    // The store's health.
    assert_eq!(
        sample(&text, r#"tokengate_store_up{backend="sqlite"}"#),
        1.0,
        "{text}"
    );
    assert!(text.contains("# TYPE tokengate_http_request_duration_seconds histogram"));
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn refresh_reuse_and_revocations_are_counted() {
    let app = spawn_app_with(&[("REFRESH_GRACE_PERIOD", "0")]).await;
    app.signed_in().await;
    let jar_cookie = |res: &reqwest::Response| crate::helpers::cookie_value(res, "refreshToken");

    // Rotate once, keeping the first refresh token aside.
    let first = {
        let res = app.post_empty("/api/auth/refresh").await;
        assert_eq!(res.status(), 200);
        jar_cookie(&res).unwrap()
    };
    let res = app.post_empty("/api/auth/refresh").await;
    assert_eq!(res.status(), 200);
    // Present the rotated-away token again: reuse.
    let res = crate::helpers::bare()
        .post(app.url("/api/auth/refresh"))
        .header("origin", ORIGIN)
        .header("cookie", format!("refreshToken={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let text = metrics(&app).await;
    let event = |e: &str| {
        sample(
            &text,
            &format!(r#"tokengate_auth_events_total{{event="{e}"}}"#),
        )
    };
    assert_eq!(event("refreshed"), 2.0, "{text}");
    assert_eq!(event("reuse_detected"), 1.0, "{text}");
}

#[tokio::test]
async fn refusals_are_counted_once_each() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_IP", "1"),
        ("RATE_LIMIT_LOGIN_FAILURES", "1"),
    ])
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    assert_eq!(app.register(&unique_email()).await.status(), 429);
    // Login: one failure spends the email's budget and the IP's.
    assert_eq!(
        app.login_with(&app.client, &email, "not the password")
            .await
            .status(),
        401
    );
    assert_eq!(app.login(&email).await.status(), 429);
    // A cookie request from another origin.
    let res = crate::helpers::bare()
        .post(app.url("/api/auth/logout-all"))
        .header("origin", "http://evil.example")
        .header("cookie", "accessToken=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let text = metrics(&app).await;
    let event = |e: &str| {
        sample(
            &text,
            &format!(r#"tokengate_auth_events_total{{event="{e}"}}"#),
        )
    };
    assert_eq!(event("rate_limited"), 1.0, "{text}");
    assert_eq!(event("login_rate_limited"), 1.0, "{text}");
    assert_eq!(event("csrf_refused"), 1.0, "{text}");
}

// ---------------------------------------------------------------------------
// The real binary: log lines, audit events, graceful shutdown

/// The `tokengate` binary running as a child process with JSON logs on a
/// captured stdout.
struct Server {
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

impl Server {
    async fn start(extra: &[(&str, &str)]) -> Server {
        let port = free_port();
        let db =
            std::env::temp_dir().join(format!("tokengate-ops-{}.sqlite", uuid::Uuid::new_v4()));
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

    fn url(&self, path: &str) -> String {
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

/// The `sid` claim of a JWT (payload only; the test trusts its own server).
fn session_id_of(jwt: &str) -> String {
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_is_audited_and_no_secret_reaches_the_logs() {
    let mut server = Server::start(&[]).await;
    let client = crate::helpers::browser();
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
    let refresh_token = crate::helpers::cookie_value(&res, "refreshToken").unwrap();
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
    assert!(uuid::Uuid::parse_str(&made_id).is_ok(), "{made_id}");

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
    let client = crate::helpers::browser();
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
