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
    let res = bare()
        .get(app.url("/api/user/current-user"))
        .header("cookie", format!("accessToken={access}"))
        .send()
        .await
        .unwrap();
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
        let res = bare()
            .get(app.url("/api/user/current-user"))
            .header("cookie", format!("{name}={access}"))
            .send()
            .await
            .unwrap();
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
