//! Routing: a known path asked with a method it does not serve (found by
//! schemathesis).

use actix_web::http::Method;
use serde_json::Value;

use crate::helpers::{bare, reqwest_method, spawn_app};

#[tokio::test]
async fn a_known_path_asked_with_another_method_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::TRACE, "/api/report/setting", "GET, PUT"),
        (Method::GET, "/api/auth/login", "POST"),
        (Method::POST, "/health/live", "GET"),
        (Method::PATCH, "/api/auth/sessions/abc", "DELETE"),
    ] {
        let res = bare()
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
