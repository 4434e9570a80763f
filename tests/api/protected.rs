//! Protected routes: the access token from the cookie or a Bearer header,
//! verified strictly; each user sees only their own data.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::*;

const CURRENT_USER: &str = "/api/user/current-user";

#[tokio::test]
async fn current_user_with_the_cookie() {
    let app = spawn_app().await;
    let (email, login) = app.signed_in().await;
    let res = app.get(CURRENT_USER).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Current user fetched successfully");
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["user"], login["user"]);
}

#[tokio::test]
async fn current_user_with_a_bearer_header_alone() {
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    let token = login["accessToken"].as_str().unwrap();
    let res = bare()
        .get(app.url(CURRENT_USER))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn no_token_or_a_bad_authorization_header_is_401() {
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    let token = login["accessToken"].as_str().unwrap();
    let res = bare().get(app.url(CURRENT_USER)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    for header in [
        format!("Basic {token}"),
        token.to_owned(),
        "Bearer".into(),
        "Bearer ".into(),
    ] {
        let res = bare()
            .get(app.url(CURRENT_USER))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "Authorization: {header}");
    }
}

/// Splits a JWT into its decoded header and claims.
fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&B64.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims, it.next().unwrap().to_owned())
}

fn assemble(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        signature
    )
}

fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    format!(
        "{message}.{}",
        B64.encode(ring::hmac::sign(&key, message.as_bytes()))
    )
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    current_user_with_bearer(&app.address, token).await
}

#[tokio::test]
async fn the_access_token_has_the_contract_claims() {
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    let (header, claims, _) = parts(login["accessToken"].as_str().unwrap());
    assert_eq!(header["alg"], crate::helpers::test_jwt_algorithm().as_str());
    assert!(header["kid"].is_string());
    assert_eq!(claims["sub"], login["user"]["_id"]);
    assert_eq!(claims["typ"], "access");
    assert_eq!(claims["iss"], "tokengate");
    assert_eq!(claims["aud"], "tokengate-spa");
    assert!(claims["sid"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
}

#[tokio::test]
async fn forged_tampered_and_foreign_tokens_are_refused() {
    // Re-signs tokens with the access secret: HS256 (tests/api/jwks.rs
    // does the same for EdDSA).
    let app = crate::helpers::spawn_app_with(&[("JWT_ALGORITHM", "HS256")]).await;
    let (_, login) = app.signed_in().await;
    let token = login["accessToken"].as_str().unwrap();
    let (header, claims, signature) = parts(token);
    let secret = b"DEVELOPMENT-ONLY-access-token-secret-do-not-deploy";
    let refresh_secret = b"DEVELOPMENT-ONLY-refresh-token-secret-do-not-deploy";

    // The genuine token works, and so does our re-signing of its claims:
    // every refusal below is down to the one thing changed.
    assert_eq!(status_with(&app, token).await, 200);
    assert_eq!(
        status_with(&app, &hs256(&header, &claims, secret)).await,
        200
    );

    // Tampered claims under the old signature.
    let mut other = claims.clone();
    other["sub"] = json!(uuid::Uuid::new_v4().to_string());
    assert_eq!(
        status_with(&app, &assemble(&header, &other, &signature)).await,
        401
    );
    // alg: none, with and without a signature.
    let none = json!({ "alg": "none", "typ": "JWT" });
    assert_eq!(status_with(&app, &assemble(&none, &claims, "")).await, 401);
    assert_eq!(
        status_with(&app, &assemble(&none, &claims, &signature)).await,
        401
    );
    // Other algorithms, even with the right secret as an HMAC key.
    for alg in ["HS512", "HS384", "RS256"] {
        let h = json!({ "alg": alg, "typ": "JWT" });
        assert_eq!(
            status_with(&app, &hs256(&h, &claims, secret)).await,
            401,
            "{alg}"
        );
    }
    // The wrong secret.
    assert_eq!(
        status_with(
            &app,
            &hs256(&header, &claims, b"some-other-secret-0123456789abcdef")
        )
        .await,
        401
    );
    // A refresh-type token (right claims, typ changed) signed with either secret.
    let mut refresh_typ = claims.clone();
    refresh_typ["typ"] = json!("refresh");
    assert_eq!(
        status_with(&app, &hs256(&header, &refresh_typ, secret)).await,
        401
    );
    assert_eq!(
        status_with(&app, &hs256(&header, &refresh_typ, refresh_secret)).await,
        401
    );
    // Wrong issuer or audience.
    for (claim, value) in [("iss", "evil"), ("aud", "another-app")] {
        let mut c = claims.clone();
        c[claim] = json!(value);
        assert_eq!(
            status_with(&app, &hs256(&header, &c, secret)).await,
            401,
            "{claim}"
        );
    }
    // Expired beyond the 5 s leeway.
    let mut expired = claims.clone();
    let now = chrono::Utc::now().timestamp();
    expired["iat"] = json!(now - 1000);
    expired["exp"] = json!(now - 6);
    assert_eq!(
        status_with(&app, &hs256(&header, &expired, secret)).await,
        401
    );
    // Garbage.
    for junk in [
        "",
        "a.b.c",
        "....",
        "eyJhbGciOiJIUzI1NiJ9",
        &"A".repeat(10_000),
    ] {
        assert_eq!(status_with(&app, junk).await, 401, "{junk:.20}");
    }
}

#[tokio::test]
async fn a_tampered_cookie_is_refused() {
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    let token = login["accessToken"].as_str().unwrap();
    let tampered = flip_signature(token);
    let res = get_with_cookies(app.url(CURRENT_USER), format!("accessToken={tampered}")).await;
    assert_eq!(res.status(), 401);
    let res = get_with_cookies(app.url(CURRENT_USER), format!("accessToken={token}")).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let res = app.login(&email).await;
    let refresh = cookie_value(&res, "refreshToken").unwrap();
    assert_eq!(status_with(&app, &refresh).await, 401);
    let res = get_with_cookies(app.url(CURRENT_USER), format!("accessToken={refresh}")).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn report_setting_get_and_partial_updates() {
    let app = spawn_app().await;
    app.signed_in().await;
    let put = |body: Value| {
        let app = &app;
        async move {
            app.client
                .put(app.url("/api/report/setting"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = put(json!({ "frequency": "DAILY" })).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    assert_eq!(body["reportSetting"]["frequency"], "DAILY");
    assert_eq!(body["reportSetting"]["isEnabled"], true);

    let body: Value = put(json!({ "isEnabled": false }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["reportSetting"]["frequency"], "DAILY");
    assert_eq!(body["reportSetting"]["isEnabled"], false);

    let body: Value = put(json!({})).await.json().await.unwrap();
    assert_eq!(body["reportSetting"]["frequency"], "DAILY");

    let res = put(json!({ "frequency": "HOURLY" })).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["field"], "frequency");
    assert_eq!(put(json!({ "isEnabled": "yes" })).await.status(), 400);

    let body: Value = app.get("/api/report/setting").await.json().await.unwrap();
    assert_eq!(body["reportSetting"]["frequency"], "DAILY");
    assert_eq!(body["reportSetting"]["isEnabled"], false);
}

#[tokio::test]
async fn users_only_ever_see_their_own_data() {
    let app = spawn_app().await;
    let (alice_email, alice) = app.signed_in().await;
    let bob = browser();
    let bob_email = unique_email();
    app.register(&bob_email).await;
    let bob_login: Value = app
        .login_with(&bob, &bob_email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();

    let res = bob
        .put(app.url("/api/report/setting"))
        .json(&json!({ "frequency": "WEEKLY" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let alice_setting: Value = app.get("/api/report/setting").await.json().await.unwrap();
    assert_eq!(alice_setting["reportSetting"]["frequency"], "MONTHLY");
    assert_eq!(
        alice_setting["reportSetting"]["_id"],
        alice["reportSetting"]["_id"]
    );
    let me: Value = app.get(CURRENT_USER).await.json().await.unwrap();
    assert_eq!(me["user"]["email"], alice_email);
    let bob_me: Value = bob
        .get(app.url(CURRENT_USER))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob_me["user"]["email"], bob_email);
    assert_ne!(
        bob_login["reportSetting"]["_id"],
        alice["reportSetting"]["_id"]
    );
}

/// The token with the first character of its signature changed (all six bits
/// of a leading base64 character count, so the signature really changes).
fn flip_signature(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 1;
    let first = if token[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    format!("{}{first}{}", &token[..at], &token[at + 1..])
}
