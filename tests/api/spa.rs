//! What the browser SPA relies on beyond the core contract: the readable
//! session hint, the cookie check, and a second login in one browser
//! revoking the session it replaces (issue #18).

use serde_json::Value;

use crate::helpers::{
    PASSWORD, browser, cookie_value, get_with_cookies, post_with_cookies, session_id_of,
    set_cookies, spawn_app, unique_email,
};

/// `(access exp, refresh exp)` of a hint value `<a>.<r>`.
fn parse_hint(value: &str) -> (i64, i64) {
    let (a, r) = value.split_once('.').expect("hint is <access>.<refresh>");
    (a.parse().unwrap(), r.parse().unwrap())
}

fn attr<'a>(set_cookie: &'a str, name: &str) -> Option<&'a str> {
    set_cookie.split(';').skip(1).map(str::trim).find_map(|a| {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

#[tokio::test]
async fn login_and_refresh_set_a_readable_hint_with_both_expiries_and_no_secret() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    // Register sets no cookie at all, so no hint either.
    let res = app.login(&email).await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let hint = cookies
        .get("tokengateSession")
        .expect("login sets the hint");
    assert!(!hint.contains("HttpOnly"), "{hint}");
    assert_eq!(attr(hint, "Path"), Some("/"));
    assert_eq!(attr(hint, "SameSite"), Some("Lax"));
    let access = &cookies["accessToken"];
    assert_eq!(attr(hint, "SameSite"), attr(access, "SameSite"));
    assert_eq!(attr(hint, "Domain"), attr(access, "Domain"));
    assert_eq!(
        attr(hint, "Max-Age"),
        attr(&cookies["refreshToken"], "Max-Age")
    );

    let value = cookie_value(&res, "tokengateSession").unwrap();
    let (access_exp, refresh_exp) = parse_hint(&value);
    let token = cookie_value(&res, "accessToken").unwrap();
    assert!(!value.contains(&token[..20]) && !value.contains('-'));
    let body: Value = res.json().await.unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(access_exp, expires_at.timestamp());
    let now = chrono::Utc::now().timestamp();
    assert!(refresh_exp > access_exp && (refresh_exp - now - 604_800).abs() <= 2);

    let refreshed = app.post_empty("/api/auth/refresh").await;
    assert_eq!(refreshed.status(), 200);
    let again = cookie_value(&refreshed, "tokengateSession").expect("refresh sets the hint");
    let body: Value = refreshed.json().await.unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(body["expiresAt"].as_str().unwrap()).unwrap();
    assert_eq!(parse_hint(&again).0, expires_at.timestamp());
}

#[tokio::test]
async fn the_hint_is_cleared_with_the_cookies() {
    let app = spawn_app().await;
    app.signed_in().await;
    let res = app.post_empty("/api/auth/logout").await;
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let hint = cookies
        .get("tokengateSession")
        .expect("logout clears the hint");
    assert_eq!(attr(hint, "Max-Age"), Some("0"));
    assert_eq!(attr(hint, "Path"), Some("/"));
    assert_eq!(cookie_value(&res, "tokengateSession").as_deref(), Some(""));

    // A refused refresh clears it too.
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        "refreshToken=garbage; tokengateSession=1.2".into(),
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(cookie_value(&res, "tokengateSession").as_deref(), Some(""));
}

#[tokio::test]
async fn cookie_check_reports_which_cookies_arrived_and_nothing_else() {
    let app = spawn_app().await;
    let res = app.get("/api/auth/cookie-check").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"].to_str().unwrap(), "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accessCookie"], false);
    assert_eq!(body["refreshCookie"], false);
    assert_eq!(body["sessionHint"], false);
    assert_eq!(body["names"]["access"], "accessToken");
    assert_eq!(body["names"]["hint"], "tokengateSession");

    app.signed_in().await;
    let res = app.get("/api/auth/cookie-check").await;
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["accessCookie"], true);
    assert_eq!(body["refreshCookie"], true);
    assert_eq!(body["sessionHint"], true);
    assert!(!text.contains("eyJ"), "no token in the answer: {text}");

    // Presence means a non-empty value; expired or garbage tokens still count
    // as "arrived" (it checks the transport, not the session).
    let res = get_with_cookies(
        app.url("/api/auth/cookie-check"),
        "accessToken=; refreshToken=x".into(),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accessCookie"], false);
    assert_eq!(body["refreshCookie"], true);
}

async fn session_ids(client: &reqwest::Client, app: &crate::helpers::TestApp) -> Vec<String> {
    let res = client
        .get(app.url("/api/auth/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_second_login_in_the_same_browser_revokes_the_session_it_replaces() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    let jar = browser();
    let first = app.login_with(&jar, &email, PASSWORD).await;
    assert_eq!(first.status(), 200);
    let first_refresh = cookie_value(&first, "refreshToken").unwrap();
    let first_sid = session_id_of(&cookie_value(&first, "accessToken").unwrap());
    // Another device of the same user: must survive.
    let phone = app.another_browser(&email).await;

    let second = app.login_with(&jar, &email, PASSWORD).await;
    assert_eq!(second.status(), 200);
    let second_sid = session_id_of(&cookie_value(&second, "accessToken").unwrap());
    assert_ne!(first_sid, second_sid);

    let live = session_ids(&jar, &app).await;
    assert_eq!(
        live.len(),
        2,
        "this browser's new session and the phone's: {live:?}"
    );
    assert!(live.contains(&second_sid) && !live.contains(&first_sid));
    // The replaced session is dead: its refresh token is refused.
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        format!("refreshToken={first_refresh}"),
    )
    .await;
    assert_eq!(res.status(), 401);
    // The phone is untouched.
    assert_eq!(
        phone
            .post(app.url("/api/auth/refresh"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn a_login_with_another_users_or_a_bad_refresh_cookie_revokes_nothing() {
    let app = spawn_app().await;
    let (alice, bob) = (unique_email(), unique_email());
    assert_eq!(app.register(&alice).await.status(), 201);
    assert_eq!(app.register(&bob).await.status(), 201);
    let jar = browser();
    let alice_login = app.login_with(&jar, &alice, PASSWORD).await;
    let alice_refresh = cookie_value(&alice_login, "refreshToken").unwrap();

    // Bob logs in in the same browser: Alice's session is not his to end.
    let bob_login = app.login_with(&jar, &bob, PASSWORD).await;
    assert_eq!(bob_login.status(), 200);
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        format!("refreshToken={alice_refresh}"),
    )
    .await;
    assert_eq!(res.status(), 200, "Alice's session survives Bob's login");

    // A garbage refresh cookie does not stop a login.
    let res = bare_login_with_cookie(&app, &bob, "refreshToken=not.a.jwt").await;
    assert_eq!(res.status(), 200);
}

async fn bare_login_with_cookie(
    app: &crate::helpers::TestApp,
    email: &str,
    cookie: &str,
) -> reqwest::Response {
    crate::helpers::bare()
        .post(app.url("/api/auth/login"))
        .header("origin", crate::helpers::ORIGIN)
        .header("cookie", cookie)
        .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}
