//! CORS: exactly the configured origins, with credentials, on every answer
//! to them (errors included); nothing for other origins, which are not
//! rejected by CORS itself.

use crate::helpers::*;

const EVIL: &str = "http://evil.example";

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    bare()
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn preflight_from_the_allowed_origin() {
    let app = spawn_app().await;
    let res = preflight(&app, ORIGIN, "POST", "content-type").await;
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_uppercase();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("content-type") && allowed.contains("authorization"),
        "{allowed}"
    );
    let res = preflight(&app, ORIGIN, "PUT", "authorization").await;
    assert!(res.status().is_success());
}

#[tokio::test]
async fn preflight_from_another_origin_gets_no_allow_origin() {
    let app = spawn_app().await;
    let res = preflight(&app, EVIL, "POST", "content-type").await;
    assert_eq!(res.status(), 204, "not rejected by CORS, just not approved");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert!(res.headers()["vary"].to_str().unwrap().contains("Origin"));
}

#[tokio::test]
async fn a_preflight_asking_too_much_gets_the_json_error_shape() {
    let app = spawn_app().await;
    let res = preflight(&app, ORIGIN, "POST", "x-custom-header").await;
    assert_eq!(res.status(), 403);
    assert!(res.headers().get("access-control-allow-headers").is_none());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn answers_to_the_allowed_origin_carry_cors_headers_even_errors() {
    let app = spawn_app().await;
    for (path, expected) in [
        ("/api/user/current-user", 401),
        ("/health/live", 200),
        ("/api/missing", 404),
    ] {
        let res = bare()
            .get(app.url(path))
            .header("origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected, "{path}");
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], ORIGIN, "{path}");
        assert_eq!(h["access-control-allow-credentials"], "true", "{path}");
        let vary: Vec<String> = h
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_lowercase())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("origin")),
            "{path}: Vary {vary:?}"
        );
    }
    // A 400 from the JSON extractor too.
    let res = bare()
        .post(app.url("/api/auth/login"))
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["access-control-allow-origin"], ORIGIN);
}

#[tokio::test]
async fn other_origins_are_answered_without_cors_headers() {
    let app = spawn_app_with(&[(
        "FRONTEND_ORIGIN",
        "http://localhost:5173,https://app.example.com",
    )])
    .await;
    let res = bare()
        .get(app.url("/health/live"))
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "CORS itself rejects nothing");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // Each configured origin is allowed, and echoed exactly (never `*`).
    for origin in ["http://localhost:5173", "https://app.example.com"] {
        let res = bare()
            .get(app.url("/health/live"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], origin);
    }
}
