//! Abuse resistance: the CSRF rule, rate limits, login-flood shedding,
//! trusted proxies and cookie options.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const EVIL: &str = "http://localhost:6666";

/// A logged-in user, their cookies as a header, and their access token.
struct Victim {
    cookie_header: String,
    access: String,
    email: String,
}

async fn victim(app: &TestApp) -> Victim {
    let email = unique_email();
    app.register(&email).await;
    let res = app.login_with(&bare(), &email, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let access = cookie_value(&res, "accessToken").unwrap();
    let refresh = cookie_value(&res, "refreshToken").unwrap();
    Victim {
        cookie_header: format!("accessToken={access}; refreshToken={refresh}"),
        access,
        email,
    }
}

/// Sends a state-changing request with the victim's cookies and the given
/// extra headers.
async fn forged(
    app: &TestApp,
    v: &Victim,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = bare()
        .request(method, app.url(path))
        .header("cookie", &v.cookie_header)
        .header("content-type", "application/json")
        // A body every route would act on, were the request let through
        // (each reads its own fields and ignores the others).
        .body(format!(
            r#"{{"frequency":"DAILY","currentPassword":"{PASSWORD}","newPassword":"stolen passphrase 1","password":"{PASSWORD}","newEmail":"attacker@evil.test"}}"#
        ));
    for (k, val) in headers {
        req = req.header(*k, *val);
    }
    req.send().await.unwrap()
}

/// GET `path` as the victim's own client would: its access token, no cookies.
async fn get_as(app: &TestApp, v: &Victim, path: &str) -> reqwest::Response {
    bare()
        .get(app.url(path))
        .bearer_auth(&v.access)
        .send()
        .await
        .unwrap()
}

async fn assert_untouched(app: &TestApp, v: &Victim) {
    let body: Value = get_as(app, v, "/api/report/setting")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["reportSetting"]["frequency"], "MONTHLY",
        "the setting changed"
    );
    let body: Value = get_as(app, v, "/api/auth/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["sessions"].as_array().unwrap().len(),
        1,
        "the session was revoked"
    );
}

#[tokio::test]
async fn cookie_requests_without_an_allowed_origin_are_403_and_change_nothing() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let cases: &[&[(&str, &str)]] = &[
        &[("origin", EVIL)],
        &[("origin", "null")],
        &[],
        &[("referer", "http://localhost:6666/page")],
        &[("origin", ORIGIN), ("sec-fetch-site", "cross-site")],
    ];
    for headers in cases {
        for (method, path) in [
            (reqwest::Method::POST, "/api/auth/logout-all"),
            (reqwest::Method::POST, "/api/auth/refresh"),
            (reqwest::Method::POST, "/api/auth/logout"),
            (reqwest::Method::PUT, "/api/report/setting"),
            (reqwest::Method::POST, "/api/auth/password/change"),
            (reqwest::Method::POST, "/api/auth/email/change"),
            (reqwest::Method::POST, "/api/auth/email/verify/resend"),
            (reqwest::Method::DELETE, "/api/user"),
        ] {
            let res = forged(&app, &v, method, path, headers).await;
            assert_eq!(res.status(), 403, "{path} with {headers:?}");
            assert!(
                res.headers().get("set-cookie").is_none(),
                "a 403 must not touch cookies"
            );
            let body: Value = res.json().await.unwrap();
            assert!(body["message"].is_string());
        }
        assert_untouched(&app, &v).await;
    }
    // The account is still there, with its address and its password.
    let res = get_as(&app, &v, "/api/user/current-user").await;
    assert_eq!(res.status(), 200, "the account was deleted");
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["user"]["email"], v.email.as_str(), "the email changed");
    let login = app.login_with(&bare(), &v.email, PASSWORD).await;
    assert_eq!(login.status(), 200, "the password changed");
}

#[tokio::test]
async fn the_check_comes_before_the_body_is_looked_at() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    // A text/plain "simple request", as a no-cors fetch or a form would send.
    let res = bare()
        .post(app.url("/api/auth/logout-all"))
        .header("cookie", &v.cookie_header)
        .header("origin", EVIL)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "not 415: the CSRF rule answers first");
    assert_untouched(&app, &v).await;
}

#[tokio::test]
async fn allowed_origin_or_referer_passes() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let res = forged(
        &app,
        &v,
        reqwest::Method::PUT,
        "/api/report/setting",
        &[("referer", "http://localhost:5173/settings")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = forged(
        &app,
        &v,
        reqwest::Method::PUT,
        "/api/report/setting",
        &[("origin", ORIGIN), ("sec-fetch-site", "same-site")],
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bearer_alone_needs_no_origin_but_bearer_with_a_cookie_does() {
    let app = spawn_app().await;
    let v = victim(&app).await;
    let res = bare()
        .put(app.url("/api/report/setting"))
        .bearer_auth(&v.access)
        .json(&json!({ "isEnabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = bare()
        .put(app.url("/api/report/setting"))
        .bearer_auth(&v.access)
        .header("cookie", format!("accessToken={}", v.access))
        .json(&json!({ "isEnabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn login_and_register_without_cookies_need_no_origin() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    assert_eq!(
        app.login_with(&bare(), &email, PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn sec_fetch_site_cross_site_is_fine_with_samesite_none() {
    let app = spawn_app_with(&[("COOKIE_SAMESITE", "None"), ("COOKIE_SECURE", "true")]).await;
    let v = victim(&app).await;
    let res = forged(
        &app,
        &v,
        reqwest::Method::PUT,
        "/api/report/setting",
        &[("origin", ORIGIN), ("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(res.status(), 200);
}

async fn failed_login(app: &TestApp, email: &str) -> reqwest::Response {
    app.login_with(&bare(), email, "not the password").await
}

#[tokio::test]
async fn the_eleventh_failed_login_for_an_email_is_429() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_FAILURES", "10")]).await;
    let email = unique_email();
    app.register(&email).await;
    for i in 0..10 {
        assert_eq!(
            failed_login(&app, &email).await.status(),
            401,
            "attempt {}",
            i + 1
        );
    }
    let res = failed_login(&app, &email).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert!(body["message"].is_string());
    // Locked means locked: the right password is refused too (no oracle).
    assert_eq!(
        app.login_with(&bare(), &email, PASSWORD).await.status(),
        429
    );
    // The email's case does not dodge the limit.
    assert_eq!(
        app.login_with(&bare(), &email.to_uppercase(), PASSWORD)
            .await
            .status(),
        429
    );
    // Another email from the same IP logs in.
    let other = unique_email();
    app.register(&other).await;
    assert_eq!(
        app.login_with(&bare(), &other, PASSWORD).await.status(),
        200
    );
}

#[tokio::test]
async fn successful_logins_do_not_count_as_failures() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_FAILURES", "2")]).await;
    let email = unique_email();
    app.register(&email).await;
    for _ in 0..5 {
        assert_eq!(
            app.login_with(&bare(), &email, PASSWORD).await.status(),
            200
        );
    }
}

#[tokio::test]
async fn requests_per_ip_are_limited_on_login_register_and_refresh() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "3")]).await;
    for i in 0..3 {
        assert_eq!(
            app.register(&unique_email()).await.status(),
            201,
            "register {i}"
        );
    }
    let res = app.register(&unique_email()).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Each endpoint has its own budget.
    for _ in 0..3 {
        assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 401);
    }
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 429);
    for _ in 0..3 {
        assert_eq!(failed_login(&app, &unique_email()).await.status(), 401);
    }
    assert_eq!(failed_login(&app, &unique_email()).await.status(), 429);
    // Routes without a limit are unaffected.
    assert_eq!(
        bare()
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

async fn register_from(app: &TestApp, forwarded_for: &str) -> u16 {
    bare()
        .post(app.url("/api/auth/register"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "name": "P", "email": unique_email(), "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_without_a_trusted_proxy() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "2")]).await;
    assert_eq!(register_from(&app, "203.0.113.1").await, 201);
    assert_eq!(register_from(&app, "203.0.113.2").await, 201);
    assert_eq!(
        register_from(&app, "203.0.113.3").await,
        429,
        "all three came from 127.0.0.1"
    );
}

#[tokio::test]
async fn a_trusted_proxy_passes_on_the_client_address() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_IP", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for _ in 0..2 {
        assert_eq!(register_from(&app, "203.0.113.1").await, 201);
    }
    assert_eq!(register_from(&app, "203.0.113.1").await, 429);
    // A spoofed left-most entry does not help: the right-most untrusted hop counts.
    assert_eq!(register_from(&app, "198.51.100.9, 203.0.113.1").await, 429);
    assert_eq!(register_from(&app, "203.0.113.2").await, 201);
    // The session records the client address.
    let email = unique_email();
    app.register(&email).await;
    let client = browser();
    let res = client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "192.0.2.77")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = client
        .get(app.url("/api/auth/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["sessions"][0]["ip"], "192.0.2.77");
}

#[tokio::test]
async fn a_login_flood_is_shed_while_other_requests_stay_fast() {
    let app = spawn_app_with(&[
        ("BCRYPT_COST", "11"),
        ("APP_PASSWORDS__WORKERS", "1"),
        ("APP_PASSWORDS__QUEUE", "2"),
    ])
    .await;
    // Registration itself runs bcrypt at cost 11: one at a time.
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    let login = app.login_with(&app.client, &email, PASSWORD).await;
    assert_eq!(login.status(), 200);

    let flood: Vec<_> = (0..24)
        .map(|_| spawn_login(&app, &email, PASSWORD))
        .collect();
    // While the flood runs, a protected request keeps answering promptly
    // (generous bound for a noisy shared machine: this checks shedding
    // works, not speed).
    let started = Instant::now();
    let me = app.get("/api/user/current-user").await;
    let took = started.elapsed();
    assert_eq!(me.status(), 200);
    assert!(
        took < Duration::from_secs(1),
        "current-user took {took:?} during the flood"
    );

    let mut shed = 0;
    let mut ok = 0;
    for f in flood {
        let res = f.await.unwrap();
        match res.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert!(res.headers().contains_key("retry-after"));
                let body: Value = res.json().await.unwrap();
                assert!(body["message"].is_string());
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1, "some logins got through");
    assert!(
        shed >= 1,
        "a queue of 2 cannot hold 24 logins: some must be shed"
    );
}

#[tokio::test]
async fn secure_prefixed_cookies_when_configured() {
    let app = spawn_app_with(&[
        ("COOKIE_SECURE", "true"),
        ("COOKIE_SAMESITE", "Strict"),
        ("APP_COOKIES__NAME_PREFIX", "true"),
    ])
    .await;
    let email = unique_email();
    app.register(&email).await;
    let res = app.login_with(&bare(), &email, PASSWORD).await;
    let cookies = set_cookies(&res);
    let access = &cookies["__Host-accessToken"];
    assert!(
        access.contains("Secure")
            && access.contains("SameSite=Strict")
            && access.contains("Path=/;")
    );
    assert!(!access.contains("Domain"), "__Host- cookies have no Domain");
    let refresh = &cookies["__Secure-refreshToken"];
    assert!(refresh.contains("Secure") && refresh.contains("Path=/api/auth"));
    // The prefixed names are what the server reads back.
    let token = cookie_value(&res, "__Host-accessToken").unwrap();
    let me = get_with_cookies(
        app.url("/api/user/current-user"),
        format!("__Host-accessToken={token}"),
    )
    .await;
    assert_eq!(me.status(), 200);
    let me = get_with_cookies(
        app.url("/api/user/current-user"),
        format!("accessToken={token}"),
    )
    .await;
    assert_eq!(me.status(), 401, "the unprefixed name is not read");
}

#[tokio::test]
async fn cookie_domain_is_set_and_cleared_alike() {
    let app = spawn_app_with(&[("COOKIE_DOMAIN", "example.test")]).await;
    let email = unique_email();
    app.register(&email).await;
    let res = app.login_with(&bare(), &email, PASSWORD).await;
    for c in set_cookies(&res).values() {
        assert!(c.contains("Domain=example.test"), "{c}");
    }
    let res = bare()
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    for c in set_cookies(&res).values() {
        assert!(
            c.contains("Domain=example.test") && c.contains("Max-Age=0"),
            "{c}"
        );
    }
}

#[tokio::test]
async fn unknown_json_fields_are_ignored() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({ "name": "A", "email": unique_email(), "password": PASSWORD, "isAdmin": true, "_id": "x" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_ne!(body["data"]["user"]["_id"], "x");
}

#[tokio::test]
async fn auth_responses_are_never_cached() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let res = app.login(&email).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let res = app.post_empty("/api/auth/refresh").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}
