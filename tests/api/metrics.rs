//! Metrics: the OpenMetrics exposition, and counters that move exactly when
//! their event happens.

use crate::helpers::{
    ORIGIN, TestApp, bare, cookie_value, spawn_app, spawn_app_with, unique_email,
};

/// The value of one sample line of the exposition, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn metrics(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    res.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_when_their_event_happens() {
    let app = spawn_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);

    let failed = r#"tokengate_auth_events_total{event="login_failed"}"#;
    let succeeded = r#"tokengate_auth_events_total{event="login_succeeded"}"#;
    let login_401 =
        r#"tokengate_http_requests_total{method="POST",route="/api/auth/login",status="401"}"#;
    let login_count =
        r#"tokengate_http_request_duration_seconds_count{method="POST",route="/api/auth/login"}"#;
    let before = metrics(&app).await;
    assert_eq!(
        sample(
            &before,
            r#"tokengate_auth_events_total{event="registered"}"#
        ),
        1.0
    );

    let res = app
        .login_with(&app.client, &email, "not the password")
        .await;
    assert_eq!(res.status(), 401);
    let after = metrics(&app).await;
    assert_eq!(
        sample(&after, failed),
        sample(&before, failed) + 1.0,
        "{after}"
    );
    assert_eq!(sample(&after, login_401), sample(&before, login_401) + 1.0);
    assert_eq!(
        sample(&after, login_count),
        sample(&before, login_count) + 1.0
    );
    assert_eq!(sample(&after, succeeded), sample(&before, succeeded));

    assert_eq!(app.login(&email).await.status(), 200);
    let after_ok = metrics(&app).await;
    assert_eq!(
        sample(&after_ok, succeeded),
        sample(&after, succeeded) + 1.0
    );
    assert_eq!(sample(&after_ok, failed), sample(&after, failed));

    // Requests are counted by route pattern, never by raw path.
    let res = app
        .client
        .delete(app.url("/api/auth/sessions/0b3c2b9e-0000-4000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"tokengate_http_requests_total{method="DELETE",route="/api/auth/sessions/{id}",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("0b3c2b9e-0000"), "{text}");
    // An unknown path is one "unmatched" series, whatever the path.
    app.get("/api/no/such/thing").await;
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"tokengate_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0,
        "{text}"
    );
    assert!(!text.contains("no/such/thing"));

    // The store's health.
    assert_eq!(
        sample(&text, r#"tokengate_store_up{backend="sqlite"}"#),
        1.0,
        "{text}"
    );
    assert!(text.contains("# TYPE tokengate_http_request_duration_seconds histogram"));
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn refresh_reuse_and_revocations_are_counted() {
    let app = spawn_app_with(&[("REFRESH_GRACE_PERIOD", "0")]).await;
    app.signed_in().await;
    let jar_cookie = |res: &reqwest::Response| cookie_value(res, "refreshToken");

    // Rotate once, keeping the first refresh token aside.
    let first = {
        let res = app.post_empty("/api/auth/refresh").await;
        assert_eq!(res.status(), 200);
        jar_cookie(&res).unwrap()
    };
    let res = app.post_empty("/api/auth/refresh").await;
    assert_eq!(res.status(), 200);
    // Present the rotated-away token again: reuse.
    let res = bare()
        .post(app.url("/api/auth/refresh"))
        .header("origin", ORIGIN)
        .header("cookie", format!("refreshToken={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let text = metrics(&app).await;
    let event = |e: &str| {
        sample(
            &text,
            &format!(r#"tokengate_auth_events_total{{event="{e}"}}"#),
        )
    };
    assert_eq!(event("refreshed"), 2.0, "{text}");
    assert_eq!(event("reuse_detected"), 1.0, "{text}");
}

#[tokio::test]
async fn refusals_are_counted_once_each() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_IP", "1"),
        ("RATE_LIMIT_LOGIN_FAILURES", "1"),
    ])
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    assert_eq!(app.register(&unique_email()).await.status(), 429);
    // Login: one failure spends the email's budget and the IP's.
    assert_eq!(
        app.login_with(&app.client, &email, "not the password")
            .await
            .status(),
        401
    );
    assert_eq!(app.login(&email).await.status(), 429);
    // A cookie request from another origin.
    let res = bare()
        .post(app.url("/api/auth/logout-all"))
        .header("origin", "http://evil.example")
        .header("cookie", "accessToken=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let text = metrics(&app).await;
    let event = |e: &str| {
        sample(
            &text,
            &format!(r#"tokengate_auth_events_total{{event="{e}"}}"#),
        )
    };
    assert_eq!(event("rate_limited"), 1.0, "{text}");
    assert_eq!(event("login_rate_limited"), 1.0, "{text}");
    assert_eq!(event("csrf_refused"), 1.0, "{text}");
}
