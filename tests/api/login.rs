use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn login_answers_the_contract_shape_and_sets_both_cookies() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let before = chrono::Utc::now();
    let res = app.login(&email).await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let access = &cookies["accessToken"];
    for attr in ["HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=900"] {
        assert!(
            access.contains(attr),
            "accessToken cookie lacks {attr}: {access}"
        );
    }
    assert!(
        !access.contains("Secure"),
        "local profile is plain http: {access}"
    );
    let refresh = &cookies["refreshToken"];
    for attr in [
        "HttpOnly",
        "Path=/api/auth",
        "SameSite=Lax",
        "Max-Age=604800",
    ] {
        assert!(
            refresh.contains(attr),
            "refreshToken cookie lacks {attr}: {refresh}"
        );
    }
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "User logged in successfully");
    assert_eq!(body["user"]["email"], email);
    assert_eq!(
        body["accessToken"].as_str().unwrap(),
        cookies["accessToken"]
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("accessToken=")
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
    let ttl = expires.signed_duration_since(before).num_seconds();
    assert!((895..=901).contains(&ttl), "expiresAt is {ttl}s away");
    let setting = &body["reportSetting"];
    assert!(setting["_id"].is_string());
    assert_eq!(setting["frequency"], "MONTHLY");
    assert_eq!(setting["isEnabled"], true);
    assert!(!body.to_string().contains("$2b$"));
}

#[tokio::test]
async fn cookie_lifetimes_follow_the_settings() {
    let app = spawn_app_with(&[("JWT_EXPIRES_IN", "2m"), ("JWT_REFRESH_EXPIRES_IN", "1d")]).await;
    let email = unique_email();
    app.register(&email).await;
    let res = app.login(&email).await;
    let cookies = set_cookies(&res);
    assert!(cookies["accessToken"].contains("Max-Age=120"));
    assert!(cookies["refreshToken"].contains("Max-Age=86400"));
}

#[tokio::test]
async fn the_access_token_can_be_left_out_of_the_body() {
    let app = spawn_app_with(&[("EXPOSE_ACCESS_TOKEN", "false")]).await;
    let (_, body) = app.signed_in().await;
    assert!(body.get("accessToken").is_none(), "{body}");
    assert!(body["expiresAt"].is_string());
    assert_eq!(app.get("/api/user/current-user").await.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let wrong = app.login_with(&browser(), &email, "wrong password!").await;
    let unknown = app.login_with(&browser(), &unique_email(), PASSWORD).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let wrong: Value = wrong.json().await.unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(wrong, json!({ "message": "Invalid email or password" }));
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn email_case_and_spaces_do_not_matter_at_login() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let res = app
        .login_with(
            &browser(),
            &format!("  {}  ", email.to_uppercase()),
            PASSWORD,
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn login_validates_its_body() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/auth/login", &json!({ "email": "x@example.com" }))
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "password");
    let res = app
        .post_json(
            "/api/auth/login",
            &json!({ "email": "nope", "password": "whatever1" }),
        )
        .await;
    assert_eq!(res.status(), 400);
}
