use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn register_creates_the_user_and_sets_no_cookie() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({ "name": "  Ada Lovelace ", "email": "  Ada@Example.COM ", "password": PASSWORD }),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "register must not set cookies"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "User registered successfully");
    let user = &body["data"]["user"];
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["profilePicture"], Value::Null);
    assert!(user["_id"].as_str().unwrap().len() >= 32);
    for field in ["createdAt", "updatedAt"] {
        let t = user[field].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z'),
            "{field} = {t}"
        );
    }
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "unexpected user fields: {keys:?}");
    assert_eq!(
        user["emailVerified"], false,
        "a new address is not verified"
    );
    assert!(!body.to_string().contains("$2b$"), "a hash leaked: {body}");
}

#[tokio::test]
async fn the_default_report_setting_exists_after_registration() {
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    assert_eq!(login["reportSetting"]["frequency"], "MONTHLY");
    assert_eq!(login["reportSetting"]["isEnabled"], true);
    let res = app.get("/api/report/setting").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["reportSetting"], login["reportSetting"]);
}

#[tokio::test]
async fn a_taken_email_in_another_case_is_409() {
    let app = spawn_app().await;
    assert_eq!(app.register("grace@example.com").await.status(), 201);
    let res = app.register(" GRACE@Example.com").await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "email");
    assert!(body["message"].is_string());
}

async fn errors_for(app: &TestApp, body: Value) -> Vec<String> {
    let res = app.post_json("/api/auth/register", &body).await;
    assert_eq!(res.status(), 400, "{body}");
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].is_string());
            e["field"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn each_validation_rule_names_its_field() {
    let app = spawn_app().await;
    let ok = |name: &str, email: &str, password: &str| json!({ "name": name, "email": email, "password": password });
    let email = unique_email();
    // name: 1..=255 characters after trimming, counted in characters.
    assert_eq!(
        errors_for(&app, ok("   ", &email, PASSWORD)).await,
        ["name"]
    );
    assert_eq!(
        errors_for(&app, ok(&"é".repeat(256), &email, PASSWORD)).await,
        ["name"]
    );
    // email
    assert_eq!(
        errors_for(&app, ok("Ada", "not-an-email", PASSWORD)).await,
        ["email"]
    );
    assert_eq!(errors_for(&app, ok("Ada", "", PASSWORD)).await, ["email"]);
    // password: >= 8 characters, <= 72 bytes, never truncated.
    assert_eq!(
        errors_for(&app, ok("Ada", &email, "short")).await,
        ["password"]
    );
    assert_eq!(
        errors_for(&app, ok("Ada", &email, &"a".repeat(73))).await,
        ["password"]
    );
    assert_eq!(
        errors_for(&app, ok("Ada", &email, &"é".repeat(37))).await,
        ["password"]
    );
    // Missing fields, all at once.
    let mut all = errors_for(&app, json!({})).await;
    all.sort();
    assert_eq!(all, ["email", "name", "password"]);
    // Nothing was created by any of these.
    assert_eq!(app.register(&email).await.status(), 201);
}

#[tokio::test]
async fn limits_are_inclusive() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({ "name": "é".repeat(255), "email": unique_email(), "password": "é".repeat(36) }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({ "name": "x", "email": unique_email(), "password": "ééééééé1" }),
        )
        .await;
    assert_eq!(res.status(), 201, "8 characters (15 bytes) is enough");
}

#[tokio::test]
async fn a_72_byte_password_logs_in_and_its_73_byte_extension_does_not() {
    let app = spawn_app().await;
    let email = unique_email();
    let password = "p".repeat(72);
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({ "name": "Max", "email": email, "password": password }),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(
        app.login_with(&browser(), &email, &password).await.status(),
        200
    );
    let longer = format!("{password}X");
    assert_eq!(
        app.login_with(&browser(), &email, &longer).await.status(),
        401
    );
}
