//! The silent refresh: rotation, reuse detection and the grace window.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::*;

const REFRESH: &str = "/api/auth/refresh";

/// Registers and logs in with a cookie-less client; returns the refresh
/// token the login set.
async fn login_refresh_token(app: &TestApp) -> String {
    let email = unique_email();
    app.register(&email).await;
    let res = app.login_with(&bare(), &email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    cookie_value(&res, "refreshToken").unwrap()
}

/// Presents `token` as the refresh cookie, from the allowed origin.
async fn refresh_with(app: &TestApp, token: &str) -> reqwest::Response {
    refresh_at(app.url(REFRESH), token.to_owned()).await
}

async fn refresh_at(url: String, token: String) -> reqwest::Response {
    post_with_cookies(url, format!("refreshToken={token}")).await
}

async fn assert_refused_and_cleared(res: reqwest::Response) {
    assert_eq!(res.status(), 401);
    let cookies = set_cookies(&res);
    let access = cookies.get("accessToken").expect("accessToken cleared");
    let refresh = cookies.get("refreshToken").expect("refreshToken cleared");
    assert!(
        access.contains("Max-Age=0") && access.contains("Path=/;"),
        "{access}"
    );
    assert!(
        refresh.contains("Max-Age=0") && refresh.contains("Path=/api/auth"),
        "{refresh}"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn refresh_rotates_and_sets_both_cookies() {
    let app = spawn_app().await;
    let old = login_refresh_token(&app).await;
    let res = refresh_with(&app, &old).await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    assert!(
        cookies["accessToken"].contains("HttpOnly")
            && cookies["accessToken"].contains("Max-Age=900")
    );
    assert!(
        cookies["refreshToken"].contains("Path=/api/auth")
            && cookies["refreshToken"].contains("Max-Age=604800")
    );
    let new = cookie_value(&res, "refreshToken").unwrap();
    let access = cookie_value(&res, "accessToken").unwrap();
    assert_ne!(new, old);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Token refreshed");
    assert_eq!(body["accessToken"], access.as_str());
    assert!(chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).is_ok());
    // The new access token works; the new refresh token rotates again.
    let me = bare()
        .get(app.url("/api/user/current-user"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(refresh_with(&app, &new).await.status(), 200);
}

#[tokio::test]
async fn the_browser_flow_refreshes_with_its_cookie_jar() {
    let app = spawn_app().await;
    app.signed_in().await;
    for _ in 0..3 {
        let res = app.post_empty(REFRESH).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(app.get("/api/user/current-user").await.status(), 200);
}

#[tokio::test]
async fn without_grace_the_old_token_is_reuse_and_kills_the_session() {
    let app = spawn_app_with(&[("REFRESH_GRACE_PERIOD", "0")]).await;
    let old = login_refresh_token(&app).await;
    let res = refresh_with(&app, &old).await;
    assert_eq!(res.status(), 200);
    let new = cookie_value(&res, "refreshToken").unwrap();
    assert_refused_and_cleared(refresh_with(&app, &old).await).await;
    // The whole family is revoked: the newest token is dead too.
    assert_refused_and_cleared(refresh_with(&app, &new).await).await;
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_family() {
    let app = spawn_app_with(&[("REFRESH_GRACE_PERIOD", "1s")]).await;
    let old = login_refresh_token(&app).await;
    let res = refresh_with(&app, &old).await;
    let new = cookie_value(&res, "refreshToken").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_refused_and_cleared(refresh_with(&app, &old).await).await;
    assert_refused_and_cleared(refresh_with(&app, &new).await).await;
}

#[tokio::test]
async fn inside_the_window_the_previous_token_gets_the_same_new_token() {
    let app = spawn_app().await;
    let old = login_refresh_token(&app).await;
    let first = refresh_with(&app, &old).await;
    let first_refresh = cookie_value(&first, "refreshToken").unwrap();
    let again = refresh_with(&app, &old).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        cookie_value(&again, "refreshToken").unwrap(),
        first_refresh,
        "idempotent rotation"
    );
    assert!(cookie_value(&again, "accessToken").is_some());
    // No branch was created: the converged token rotates normally.
    assert_eq!(refresh_with(&app, &first_refresh).await.status(), 200);
}

#[tokio::test]
async fn twenty_concurrent_refreshes_converge_on_one_token() {
    let app = spawn_app().await;
    let old = login_refresh_token(&app).await;
    let racers: Vec<_> = (0..20)
        .map(|_| tokio::spawn(refresh_at(app.url(REFRESH), old.clone())))
        .collect();
    let mut tokens = HashSet::new();
    for racer in racers {
        let res = racer.await.unwrap();
        assert_eq!(res.status(), 200);
        tokens.insert(cookie_value(&res, "refreshToken").unwrap());
    }
    assert_eq!(tokens.len(), 1, "all refreshes converge on one token");
    let converged = tokens.into_iter().next().unwrap();
    assert_ne!(converged, old);
    // The session lives on.
    let res = refresh_with(&app, &converged).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_token_two_rotations_old_is_reuse_even_inside_the_window() {
    let app = spawn_app().await;
    let t0 = login_refresh_token(&app).await;
    let t1 = cookie_value(&refresh_with(&app, &t0).await, "refreshToken").unwrap();
    let t2 = cookie_value(&refresh_with(&app, &t1).await, "refreshToken").unwrap();
    assert_refused_and_cleared(refresh_with(&app, &t0).await).await;
    assert_refused_and_cleared(refresh_with(&app, &t2).await).await;
}

#[tokio::test]
async fn without_grace_two_racing_refreshes_are_one_success_and_one_reuse() {
    let app = spawn_app_with(&[("REFRESH_GRACE_PERIOD", "0")]).await;
    let old = login_refresh_token(&app).await;
    let (a, b) = tokio::join!(refresh_with(&app, &old), refresh_with(&app, &old));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
    let winner = if a.status() == 200 { a } else { b };
    // Reuse revoked the session, the winner's token included.
    let token = cookie_value(&winner, "refreshToken").unwrap();
    assert_eq!(refresh_with(&app, &token).await.status(), 401);
}

#[tokio::test]
async fn missing_garbage_and_wrong_kind_tokens_are_401_and_cleared() {
    let app = spawn_app().await;
    let res = bare().post(app.url(REFRESH)).send().await.unwrap();
    assert_refused_and_cleared(res).await;
    assert_refused_and_cleared(refresh_with(&app, "garbage").await).await;
    // An access token is not a refresh token.
    let email = unique_email();
    app.register(&email).await;
    let login = app.login_with(&bare(), &email, PASSWORD).await;
    let access = cookie_value(&login, "accessToken").unwrap();
    assert_refused_and_cleared(refresh_with(&app, &access).await).await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_401() {
    let app = spawn_app_with(&[
        ("JWT_REFRESH_EXPIRES_IN", "2s"),
        ("REFRESH_GRACE_PERIOD", "1s"),
        ("APP_JWT__LEEWAY", "0s"),
    ])
    .await;
    let token = login_refresh_token(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_refused_and_cleared(refresh_with(&app, &token).await).await;
}
