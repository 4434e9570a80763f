//! Bad input never reaches a 500: every refusal has the JSON error shape.

use serde_json::{Value, json};

use crate::helpers::*;

async fn send_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = bare().post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}: not JSON"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
    (status, body)
}

#[tokio::test]
async fn malformed_bodies_are_400_with_the_error_shape() {
    let app = spawn_app().await;
    let json = Some("application/json");
    for path in ["/api/auth/register", "/api/auth/login"] {
        for (what, body) in [
            ("malformed", b"{\"email\": ".to_vec()),
            ("array", b"[1, 2, 3]".to_vec()),
            ("string", b"\"hello\"".to_vec()),
            ("invalid utf-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
            ("empty", Vec::new()),
            (
                "wrong types",
                br#"{"name": 5, "email": [], "password": {}}"#.to_vec(),
            ),
            (
                "deep nesting",
                format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
            ),
        ] {
            let (status, body) = send_raw(&app, path, json, body).await;
            assert_eq!(status, 400, "{path} {what}: {body}");
        }
    }
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = spawn_app().await;
    let body = br#"{"name":"a","email":"a@example.com","password":"12345678"}"#.to_vec();
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let (status, _) = send_raw(&app, "/api/auth/register", ct, body.clone()).await;
        assert_eq!(status, 415, "{ct:?}");
    }
    // +json media types are JSON.
    let (status, _) = send_raw(
        &app,
        "/api/auth/register",
        Some("application/vnd.api+json"),
        body,
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn bodies_over_16_kib_are_413() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"name":"{}","email":"a@example.com","password":"12345678"}}"#,
        "a".repeat(17 * 1024)
    );
    let (status, _) = send_raw(
        &app,
        "/api/auth/register",
        Some("application/json"),
        big.into_bytes(),
    )
    .await;
    assert_eq!(status, 413);
    // Also for endpoints that take no body.
    let (status, _) = send_raw(
        &app,
        "/api/auth/refresh",
        Some("application/json"),
        vec![b' '; 20 * 1024],
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn body_less_endpoints_take_nothing_or_json() {
    let app = spawn_app().await;
    // No cookies: refresh answers 401, logout 200, whatever the (valid) body.
    let (status, _) = send_raw(&app, "/api/auth/refresh", None, Vec::new()).await;
    assert_eq!(status, 401);
    let (status, _) = send_raw(
        &app,
        "/api/auth/refresh",
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send_raw(&app, "/api/auth/logout", None, Vec::new()).await;
    assert_eq!(status, 200);
    let (status, _) = send_raw(
        &app,
        "/api/auth/logout",
        Some("text/plain"),
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = send_raw(
        &app,
        "/api/auth/logout",
        Some("application/json"),
        b"{".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_routes_are_json_404s_and_headers_are_set() {
    let app = spawn_app().await;
    let res = bare().get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());

    let res = bare()
        .post(app.url("/api/auth/login"))
        .header("x-request-id", "trace-abc-123")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = bare()
        .get(app.url("/health/live"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn health_endpoints() {
    let app = spawn_app().await;
    let res = bare().get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = bare().get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Found by schemathesis.
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
    let res = bare()
        .put(app.url("/api/report/setting"))
        .bearer_auth(token)
        .json(&json!(["DAILY", false]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
