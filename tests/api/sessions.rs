//! Sessions: listing, revoking one, logout and logout-all.

use serde_json::Value;

use crate::helpers::*;

const SESSIONS: &str = "/api/auth/sessions";

#[tokio::test]
async fn sessions_lists_live_sessions_with_the_current_one_marked() {
    let app = spawn_app().await;
    let (email, login) = app.signed_in().await;
    let _phone = app.another_browser(&email).await;
    let res = app
        .client
        .get(app.url(SESSIONS))
        .header("user-agent", "tokengate-tests/1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("eyJ"), "token material in {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["message"].is_string());
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let sid = session_id_of(login["accessToken"].as_str().unwrap());
    assert_eq!(current[0]["id"], sid.as_str());
    for s in sessions {
        for field in ["createdAt", "lastUsedAt", "expiresAt"] {
            assert!(chrono::DateTime::parse_from_rfc3339(s[field].as_str().unwrap()).is_ok());
        }
        assert_eq!(s["ip"], "127.0.0.1");
        assert!(s.get("userAgent").is_some());
    }
}

#[tokio::test]
async fn revoking_one_session_ends_its_refreshes() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in().await;
    let phone = app.another_browser(&email).await;
    let listed: Value = app.get(SESSIONS).await.json().await.unwrap();
    let other = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .delete(app.url(&format!("{SESSIONS}/{other}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The phone's refresh is refused; this browser's still works.
    let res = phone
        .post(app.url("/api/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
    let listed: Value = app.get(SESSIONS).await.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    // Revoking it again: it is no longer a live session.
    let res = app
        .client
        .delete(app.url(&format!("{SESSIONS}/{other}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn another_users_session_or_a_malformed_id_is_404() {
    let app = spawn_app().await;
    app.signed_in().await;
    let mallory_email = unique_email();
    app.register(&mallory_email).await;
    let mallory = app.another_browser(&mallory_email).await;
    let mine: Value = app.get(SESSIONS).await.json().await.unwrap();
    let my_sid = mine["sessions"][0]["id"].as_str().unwrap().to_owned();
    let res = mallory
        .delete(app.url(&format!("{SESSIONS}/{my_sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    // Untouched.
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
    for bad in [
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "%00",
        "..%2F..%2Fetc",
    ] {
        let res = app
            .client
            .delete(app.url(&format!("{SESSIONS}/{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{bad}");
    }
}

#[tokio::test]
async fn logout_revokes_the_session_and_clears_both_cookies() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let login = app.login(&email).await;
    let refresh = cookie_value(&login, "refreshToken").unwrap();
    let res = app.post_empty("/api/auth/logout").await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    assert!(
        cookies["accessToken"].contains("Max-Age=0") && cookies["accessToken"].contains("Path=/;")
    );
    assert!(
        cookies["refreshToken"].contains("Max-Age=0")
            && cookies["refreshToken"].contains("Path=/api/auth")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Logged out");
    // The cookie jar dropped them, and the old refresh token is dead.
    assert_eq!(app.get("/api/user/current-user").await.status(), 401);
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        format!("refreshToken={refresh}"),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn logout_is_idempotent() {
    let app = spawn_app().await;
    app.signed_in().await;
    for _ in 0..2 {
        let res = app.post_empty("/api/auth/logout").await;
        assert_eq!(res.status(), 200);
        assert!(set_cookies(&res)["refreshToken"].contains("Max-Age=0"));
    }
    // With dead cookies.
    let res = post_with_cookies(
        app.url("/api/auth/logout"),
        "accessToken=garbage; refreshToken=also-garbage".into(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res)["accessToken"].contains("Max-Age=0"));
}

#[tokio::test]
async fn logout_with_only_the_access_cookie_revokes_the_session() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let login = app.login_with(&bare(), &email, PASSWORD).await;
    let access = cookie_value(&login, "accessToken").unwrap();
    let refresh = cookie_value(&login, "refreshToken").unwrap();
    let res = post_with_cookies(app.url("/api/auth/logout"), format!("accessToken={access}")).await;
    assert_eq!(res.status(), 200);
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        format!("refreshToken={refresh}"),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let (email, _) = app.signed_in().await;
    let phone = app.another_browser(&email).await;
    let other_email = unique_email();
    app.register(&other_email).await;
    let stranger = app.another_browser(&other_email).await;

    let res = app.post_empty("/api/auth/logout-all").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    assert_eq!(
        phone
            .post(app.url("/api/auth/refresh"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 401);
    // Someone else's session is untouched.
    assert_eq!(
        stranger
            .post(app.url("/api/auth/refresh"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_revoked_sessions_access_token_lives_until_it_expires() {
    // Documented behaviour: access tokens are verified without a store read.
    let app = spawn_app().await;
    let (_, login) = app.signed_in().await;
    let access = login["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(app.post_empty("/api/auth/logout").await.status(), 200);
    let res = bare()
        .get(app.url("/api/user/current-user"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
