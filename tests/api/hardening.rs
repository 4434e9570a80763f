//! The guard holes found by attacking the first version, each with the
//! request that got through.

use reqwest::header::HeaderValue;

use crate::helpers::*;

/// A fresh user logged in; returns the two token cookies' values.
async fn tokens(app: &TestApp) -> (String, String) {
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    let res = app.login(&email).await;
    assert_eq!(res.status(), 200);
    (
        cookie_value(&res, "accessToken").unwrap(),
        cookie_value(&res, "refreshToken").unwrap(),
    )
}

/// A POST with exactly this Cookie header (raw bytes) and no Origin or
/// Referer: what a same-site page that planted a cookie can send.
async fn post_without_origin(app: &TestApp, path: &str, cookie: Vec<u8>) -> reqwest::Response {
    bare()
        .post(app.url(path))
        .header("cookie", HeaderValue::from_bytes(&cookie).unwrap())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_non_ascii_cookie_beside_the_tokens_does_not_switch_off_the_csrf_rule() {
    let app = spawn_app().await;
    let (access, refresh) = tokens(&app).await;
    for junk in ["junk=\u{e9}".as_bytes(), b"junk=\xff", b"junk=a\tb"] {
        let mut cookie = format!("accessToken={access}; refreshToken={refresh}; ").into_bytes();
        cookie.extend_from_slice(junk);
        let res = post_without_origin(&app, "/api/auth/logout-all", cookie.clone()).await;
        assert_eq!(res.status(), 403, "{}", String::from_utf8_lossy(&cookie));
        // The junk in a header of its own fails closed as well.
        let res = bare()
            .post(app.url("/api/auth/logout-all"))
            .header("cookie", format!("accessToken={access}"))
            .header("cookie", HeaderValue::from_bytes(junk).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    // The session is still alive: none of the above logged anyone out.
    let res = get_with_cookies(
        app.url("/api/user/current-user"),
        format!("accessToken={access}"),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_percent_encoded_cookie_name_is_not_the_auth_cookie() {
    let app = spawn_app().await;
    let (access, refresh) = tokens(&app).await;
    for name in [
        "accessTok%65n",
        "%61ccessToken",
        "AccessToken",
        "accesstoken",
    ] {
        let res = get_with_cookies(
            app.url("/api/user/current-user"),
            format!("{name}={access}"),
        )
        .await;
        assert_eq!(res.status(), 401, "{name} authenticated");
        let res = post_without_origin(
            &app,
            "/api/auth/logout-all",
            format!("{name}={access}").into_bytes(),
        )
        .await;
        assert_eq!(res.status(), 401, "{name} authenticated logout-all");
    }
    let res = post_without_origin(
        &app,
        "/api/auth/refresh",
        format!("refreshTok%65n={refresh}").into_bytes(),
    )
    .await;
    assert_eq!(
        res.status(),
        401,
        "a percent-encoded refresh cookie refreshed"
    );
}

#[tokio::test]
async fn invented_methods_add_no_metric_series() {
    let app = spawn_app().await;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("tokengate_http_requests_total{"))
            .count()
    };
    let before = series(&app.get("/metrics").await.text().await.unwrap());
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        let res = bare()
            .request(method, app.url("/api/user/current-user"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
        let method = reqwest::Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        bare()
            .request(method, app.url(&format!("/nowhere/{i}")))
            .send()
            .await
            .unwrap();
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !text.contains("BREW") && !text.contains("method=\"X"),
        "{text}"
    );
    // At most the two new series of the `other` method (405 on a route,
    // 404 unmatched) and the /metrics requests themselves.
    assert!(
        series(&text) <= before + 3,
        "{} series after 100 invented methods, {before} before",
        series(&text)
    );
}

/// A login from `ip` (through the trusted proxy on loopback).
async fn login_from(app: &TestApp, email: &str, password: &str, ip: &str) -> u16 {
    bare()
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_burst_of_simultaneous_guesses_gets_no_more_verdicts_than_the_limit() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_FAILURES", "3")]).await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    let guesses: Vec<_> = (0..16)
        .map(|i| spawn_login(&app, &email, &format!("guess number {i}")))
        .collect();
    let mut verdicts = 0;
    for guess in guesses {
        match guess.await.unwrap().status().as_u16() {
            401 => verdicts += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        verdicts <= 3,
        "{verdicts} wrong-password verdicts with a limit of 3"
    );
    assert!(verdicts >= 1);
}

#[tokio::test]
async fn a_stranger_cannot_lock_a_user_out_of_their_own_network() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_LOGIN_FAILURES", "3"),
        ("RATE_LIMIT_LOGIN_FAILURES_PER_EMAIL", "5"),
    ])
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    // The attacker's network uses up its failures for this email...
    for i in 0..3 {
        let ip = format!("203.0.113.{}", 10 + i);
        assert_eq!(login_from(&app, &email, "wrong guess!", &ip).await, 401);
    }
    assert_eq!(
        login_from(&app, &email, "wrong guess!", "203.0.113.99").await,
        429
    );
    // ...locked there, right password included (no oracle)...
    assert_eq!(
        login_from(&app, &email, PASSWORD, "203.0.113.50").await,
        429
    );
    // ...while the user, on another network, logs in.
    assert_eq!(
        login_from(&app, &email, PASSWORD, "198.51.100.7").await,
        200
    );
    // IPv6 networks count alike: one /48 is one network.
    assert_eq!(
        login_from(&app, &email, "wrong guess!", "2001:db8:1:1::1").await,
        401
    );
    assert_eq!(
        login_from(&app, &email, "wrong guess!", "2001:db8:1:2::2").await,
        401
    );
    // That makes 5 failures for the email across networks: the ceiling.
    // Past it, every network is refused until the window moves on.
    assert_eq!(
        login_from(&app, &email, "wrong guess!", "192.0.2.1").await,
        429
    );
    assert_eq!(login_from(&app, &email, PASSWORD, "192.0.2.1").await, 429);
}

#[tokio::test]
async fn sixty_four_simultaneous_logins_all_succeed() {
    let app = spawn_app().await;
    let mut emails = Vec::new();
    for _ in 0..64 {
        let email = unique_email();
        assert_eq!(app.register(&email).await.status(), 201);
        emails.push(email);
    }
    let logins: Vec<_> = emails
        .iter()
        .map(|email| spawn_login(&app, email, PASSWORD))
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn a_shed_login_is_answered_before_its_body_is_read() {
    // One bcrypt thread, no queue: while one login hashes, the next is shed.
    let app = spawn_app_with(&[
        ("BCRYPT_COST", "12"),
        ("APP_PASSWORDS__WORKERS", "1"),
        ("APP_PASSWORDS__QUEUE", "0"),
    ])
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    // A body over the limit: read first, it would be a 413.
    let oversized = format!(
        r#"{{"email":"{email}","password":"{}"}}"#,
        "x".repeat(32 * 1024)
    );
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let busy: Vec<_> = (0..2)
            .map(|_| spawn_login(&app, &email, PASSWORD))
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        let res = bare()
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body(oversized.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 503 {
            assert!(res.headers().contains_key("retry-after"));
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(body["message"].is_string());
        }
        statuses.push(status);
        for b in busy {
            b.await.unwrap();
        }
        if status == 503 {
            break;
        }
    }
    // Without shedding ahead of the body every answer is 413.
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [413, 503].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime_however_often_it_refreshes() {
    let app = spawn_app_with(&[
        ("JWT_EXPIRES_IN", "1s"),
        ("SESSION_MAX_LIFETIME", "3s"),
        ("REFRESH_GRACE_PERIOD", "0"),
    ])
    .await;
    app.signed_in().await;
    // Refreshing slides the expiry, but the refresh cookie never outlives
    // the session's maximum.
    let mut token = String::new();
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
        let res = app.post_empty("/api/auth/refresh").await;
        assert_eq!(res.status(), 200);
        let cookie = set_cookies(&res)["refreshToken"].clone();
        let max_age: u64 = cookie
            .split("; ")
            .find_map(|a| a.strip_prefix("Max-Age="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age <= 3, "{cookie}");
        token = cookie_value(&res, "refreshToken").unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Past creation + 3 s the server refuses the token itself (sent by
    // hand: a browser would have dropped the cookie already).
    let res = post_with_cookies(
        app.url("/api/auth/refresh"),
        format!("refreshToken={token}"),
    )
    .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn raising_the_bcrypt_cost_rehashes_old_passwords_at_their_next_login() {
    // A user registered while the cost was 4...
    let old = spawn_app().await;
    let email = unique_email();
    assert_eq!(old.register(&email).await.status(), 201);
    let path = old.db_path().to_owned();
    // ...logs in after the cost was raised to 6 (same database).
    let mut settings = test_settings(&[("BCRYPT_COST", "6")]);
    settings.store.sqlite_path = path.clone();
    let new = spawn_with_settings(settings).await;
    let stored_cost = || {
        let (path, email) = (path.clone(), email.clone());
        async move {
            let mut settings = test_settings(&[]);
            settings.store.sqlite_path = path;
            let store = tokengate::store::connect(&settings.store).await.unwrap();
            let email = tokengate::domain::EmailAddress::parse(&email).unwrap();
            let hash = store
                .find_credentials_by_email(&email)
                .await
                .unwrap()
                .unwrap()
                .password_hash;
            hash[4..6].parse::<u32>().unwrap()
        }
    };
    assert_eq!(stored_cost().await, 4);
    assert_eq!(new.login(&email).await.status(), 200);
    // The rehash runs after the answer; give it a moment.
    let mut cost = stored_cost().await;
    for _ in 0..100 {
        if cost == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        cost = stored_cost().await;
    }
    assert_eq!(cost, 6, "the hash was not upgraded");
    // And the password still works, at the new cost.
    assert_eq!(new.login(&email).await.status(), 200);
}
