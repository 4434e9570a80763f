//! The account lifecycle over HTTP, with mail delivered to a real SMTP
//! server (`mailbox`): registration's verification link, forgot → mail →
//! reset, password change, email change, account deletion,
//! REQUIRE_VERIFIED_EMAIL; tried the way an attacker would (enumeration,
//! odd tokens, used and superseded links, the same link twice at once,
//! races with refresh, a mail server that never answers).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, bare, browser, cookie_value, post_with_cookies, spawn_app_with, unique_email,
};
use crate::mailbox::Mailbox;

const VERIFY: &str = "Verify your email address";
const RESET: &str = "Reset your password";
const CHANGED: &str = "Your password was changed";
const CONFIRM_NEW: &str = "Confirm your new email address";
const NOTICE: &str = "Your email address is being changed";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// An app sending its mail to a fresh SMTP server.
async fn app_with_mail(extra: &[(&str, &str)]) -> (TestApp, Mailbox) {
    let mailbox = Mailbox::start().await;
    let url = mailbox.url();
    let mut vars = vec![
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", "tokengate <no-reply@tokengate.test>"),
        ("FRONTEND_URL", "http://localhost:5173/app"),
    ];
    vars.extend_from_slice(extra);
    (spawn_app_with(&vars).await, mailbox)
}

async fn json_of(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn registered(app: &TestApp) -> String {
    let email = unique_email();
    assert_eq!(app.register(&email).await.status(), 201);
    email
}

async fn current_user(app: &TestApp, client: &reqwest::Client) -> (u16, Value) {
    json_of(
        client
            .get(app.url("/api/user/current-user"))
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn post(app: &TestApp, client: &reqwest::Client, path: &str, body: Value) -> (u16, Value) {
    json_of(client.post(app.url(path)).json(&body).send().await.unwrap()).await
}

/// The one answer for a token that cannot be used.
#[track_caller]
fn assert_invalid_token(status: u16, body: &Value) {
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Invalid or expired token")),
        "{body}"
    );
}

/// Uses a link's token, from a browser with no cookies.
async fn verify(app: &TestApp, token: &(impl serde::Serialize + ?Sized)) -> (u16, Value) {
    post(
        app,
        &bare(),
        "/api/auth/email/verify",
        json!({ "token": token }),
    )
    .await
}

async fn reset(
    app: &TestApp,
    token: &(impl serde::Serialize + ?Sized),
    new_password: &str,
) -> (u16, Value) {
    let body = json!({ "token": token, "newPassword": new_password });
    post(app, &bare(), "/api/auth/password/reset", body).await
}

const FORGOT: &str = "/api/auth/password/forgot";

/// Forgot, as the SPA sends it from a fresh browser (an owned URL, so it
/// can run in a task of its own); the raw answer.
async fn ask_forgot(url: String, email: String) -> reqwest::Response {
    bare()
        .post(url)
        .header("origin", crate::helpers::ORIGIN)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
}

async fn forgot(app: &TestApp, email: &(impl serde::Serialize + ?Sized)) -> (u16, Value) {
    post(app, &bare(), FORGOT, json!({ "email": email })).await
}

/// Asks for another verification link, logged in as the app's client.
async fn resend(app: &TestApp) -> (u16, Value) {
    post(
        app,
        &app.client,
        "/api/auth/email/verify/resend",
        Value::Null,
    )
    .await
}

async fn refresh(app: &TestApp, client: &reqwest::Client) -> u16 {
    client
        .post(app.url("/api/auth/refresh"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn registration_mails_a_verification_link_that_verifies_the_address_once() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    let message = mail.next(&email, VERIFY).await;
    assert!(
        message
            .link()
            .starts_with("http://localhost:5173/app/verify-email?token="),
        "{}",
        message.link()
    );
    assert!(
        message.html.contains(&message.link()),
        "the HTML has the link too"
    );
    let token = message.token();
    assert_eq!(token.len(), 43);

    assert_eq!(app.login(&email).await.status(), 200);
    let (_, me) = current_user(&app, &app.client).await;
    assert_eq!(me["user"]["emailVerified"], false);

    // No login needed to use the link; a browser on another machine can.
    let (status, body) = verify(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Email verified");
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(body["user"]["email"], email.as_str());
    let (_, me) = current_user(&app, &app.client).await;
    assert_eq!(me["user"]["emailVerified"], true);

    let (status, body) = verify(&app, &token).await;
    assert_invalid_token(status, &body);
}

#[tokio::test]
async fn odd_tokens_get_the_one_answer_and_never_a_500() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    let good = mail.next(&email, VERIFY).await.token();
    let percent: String = good.bytes().map(|b| format!("%{b:02X}")).collect();
    let bad = [
        String::new(),
        " ".repeat(43),
        format!("{good}="),
        format!("{good} "),
        format!(" {good}"),
        good[..42].to_owned(),
        format!("{good}{good}"),
        percent,
        good.replace(|c: char| c.is_ascii_lowercase(), "é"),
        format!("{}\u{0000}", &good[..42]),
        good.to_uppercase(),
        "A".repeat(5000),
    ];
    for token in &bad {
        for path in ["/api/auth/email/verify", "/api/auth/password/reset"] {
            let body = json!({ "token": token, "newPassword": NEW_PASSWORD });
            let (status, answer) = post(&app, &bare(), path, body).await;
            assert_eq!(
                (status, answer["message"].as_str()),
                (400, Some("Invalid or expired token")),
                "{path} {token:?}"
            );
        }
    }
    // A token of the wrong type, and none at all.
    for body in [json!({ "token": 42 }), json!({ "token": null }), json!({})] {
        let (status, _) = post(&app, &bare(), "/api/auth/email/verify", body.clone()).await;
        assert_eq!(status, 400, "{body}");
    }
    // The real one still works: the odd ones did not use it up.
    let (status, _) = verify(&app, &good).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn forgot_then_reset_ends_every_session_and_the_new_password_logs_in() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    let elsewhere = app.another_browser(&email).await;

    let (status, body) = forgot(&app, &email.to_uppercase()).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["message"],
        "If an account exists for that email, a password reset link has been sent"
    );
    let message = mail.next(&email, RESET).await;
    assert!(
        message
            .link()
            .starts_with("http://localhost:5173/app/reset-password?token=")
    );
    let token = message.token();

    // The new password follows registration's rules.
    let (status, body) = reset(&app, &token, "short").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "newPassword");

    let res = app
        .client
        .post(app.url("/api/auth/password/reset"))
        .json(&json!({ "token": token, "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        cookie_value(&res, "accessToken").as_deref(),
        Some(""),
        "cookies cleared"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "Password has been reset"
    );

    // Every session is gone, the old password too.
    assert_eq!(refresh(&app, &elsewhere).await, 401);
    assert_eq!(app.login(&email).await.status(), 401);
    let client = browser();
    assert_eq!(
        app.login_with(&client, &email, NEW_PASSWORD).await.status(),
        200
    );
    let (_, me) = current_user(&app, &client).await;
    assert_eq!(
        me["user"]["emailVerified"], true,
        "the reset mail proved the address"
    );
    mail.next(&email, CHANGED).await;

    // Used once: never again.
    let (status, body) = reset(&app, &token, "yet another passphrase").await;
    assert_invalid_token(status, &body);
}

#[tokio::test]
async fn forgot_answers_alike_for_unknown_addresses_and_mails_only_real_ones() {
    let (app, mail) = app_with_mail(&[]).await;
    let known = registered(&app).await;
    let unknown = unique_email();
    let ask = |email: String| {
        let url = app.url(FORGOT);
        async move {
            let started = Instant::now();
            let res = ask_forgot(url, email).await;
            let elapsed = started.elapsed();
            (res.status().as_u16(), res.text().await.unwrap(), elapsed)
        }
    };
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    // Interleaved, so both see the same machine.
    for _ in 0..15 {
        let (s1, b1, t1) = ask(known.clone()).await;
        let (s2, b2, t2) = ask(unknown.clone()).await;
        assert_eq!((s1, &b1), (s2, &b2), "same status and body, byte for byte");
        known_times.push(t1);
        unknown_times.push(t2);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known_times), median(&mut unknown_times));
    // The same band: the address-dependent work happens after the answer,
    // so the two medians differ by scheduling noise only.
    let gap = k.abs_diff(u);
    assert!(
        gap < Duration::from_millis(25),
        "median known {k:?} vs unknown {u:?}"
    );
    // Mail: the known address got its hourly budget (3), the unknown none.
    mail.nth(3, &known, RESET).await;
    mail.assert_count_after(Duration::from_millis(500), &known, 4)
        .await; // + verification
    assert!(mail.to(&unknown).is_empty());
}

#[tokio::test]
async fn only_the_newest_reset_link_works_and_it_expires() {
    let (app, mail) = app_with_mail(&[("PASSWORD_RESET_TTL", "2s")]).await;
    let email = registered(&app).await;
    // One after the other: each mail is sent in the background.
    forgot(&app, &email).await;
    let first = mail.nth(1, &email, RESET).await.token();
    forgot(&app, &email).await;
    let second = mail.nth(2, &email, RESET).await.token();
    // Superseded by the second link...
    let (status, body) = reset(&app, &first, NEW_PASSWORD).await;
    assert_invalid_token(status, &body);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // ...which has expired.
    let (status, body) = reset(&app, &second, NEW_PASSWORD).await;
    assert_invalid_token(status, &body);
    assert_eq!(
        app.login(&email).await.status(),
        200,
        "the password did not change"
    );
}

#[tokio::test]
async fn one_reset_link_used_twice_at_the_same_instant_resets_once() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    forgot(&app, &email).await;
    let token = mail.next(&email, RESET).await.token();
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let url = app.url("/api/auth/password/reset");
            let body = json!({ "token": token, "newPassword": format!("{NEW_PASSWORD} {i}") });
            tokio::spawn(async move {
                let res = bare()
                    .post(url)
                    .header("origin", crate::helpers::ORIGIN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (i, res.status().as_u16())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for a in attempts {
        let (i, status) = a.await.unwrap();
        assert!(status == 200 || status == 400, "{status}");
        if status == 200 {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let password = format!("{NEW_PASSWORD} {}", winners[0]);
    assert_eq!(
        app.login_with(&browser(), &email, &password).await.status(),
        200
    );
}

#[tokio::test]
async fn a_password_change_rotates_this_session_and_ends_the_others() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    let other = app.another_browser(&email).await;
    forgot(&app, &email).await;
    let outstanding = mail.next(&email, RESET).await.token();

    // Wrong current password, invalid new one, missing fields.
    let (status, body) = post(
        &app,
        &app.client,
        "/api/auth/password/change",
        json!({ "currentPassword": "not it at all", "newPassword": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Current password is incorrect"))
    );
    let (status, body) = post(
        &app,
        &app.client,
        "/api/auth/password/change",
        json!({ "currentPassword": PASSWORD, "newPassword": "x".repeat(73) }),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "newPassword");
    let (status, body) = post(&app, &app.client, "/api/auth/password/change", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    // Not logged in.
    let (status, _) = post(
        &app,
        &bare(),
        "/api/auth/password/change",
        json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(status, 401);

    let res = app
        .client
        .post(app.url("/api/auth/password/change"))
        .json(&json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        cookie_value(&res, "refreshToken").is_some_and(|v| !v.is_empty()),
        "new cookies"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Password changed");
    assert_eq!(body["user"]["email"], email.as_str());

    assert_eq!(
        refresh(&app, &app.client).await,
        200,
        "this session lives on"
    );
    assert_eq!(refresh(&app, &other).await, 401, "the other one is revoked");
    assert_eq!(
        app.login_with(&browser(), &email, PASSWORD).await.status(),
        401
    );
    assert_eq!(
        app.login_with(&browser(), &email, NEW_PASSWORD)
            .await
            .status(),
        200
    );
    mail.next(&email, CHANGED).await;
    let (status, _) = reset(&app, &outstanding, "a third passphrase").await;
    assert_eq!(status, 400, "reset links from before the change are dead");
}

#[tokio::test]
async fn a_password_change_racing_a_refresh_of_the_same_session_logs_nobody_out() {
    let (app, _mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    for round in 0..6 {
        let (current, next) = if round % 2 == 0 {
            (PASSWORD, NEW_PASSWORD)
        } else {
            (NEW_PASSWORD, PASSWORD)
        };
        let login = app.login_with(&browser(), &email, current).await;
        assert_eq!(login.status(), 200);
        let access = cookie_value(&login, "accessToken").unwrap();
        let refresh_token = cookie_value(&login, "refreshToken").unwrap();
        // The other tab's refresh with the same cookies, at the same instant.
        let other_tab = tokio::spawn(post_with_cookies(
            app.url("/api/auth/refresh"),
            format!("refreshToken={refresh_token}"),
        ));
        let change = bare()
            .post(app.url("/api/auth/password/change"))
            .header("origin", crate::helpers::ORIGIN)
            .header("cookie", format!("accessToken={access}"))
            .json(&json!({ "currentPassword": current, "newPassword": next }))
            .send()
            .await
            .unwrap();
        assert_eq!(change.status(), 200, "round {round}");
        let new_refresh = cookie_value(&change, "refreshToken").unwrap();
        let tab = other_tab.await.unwrap();
        // Whatever the order, neither tab is logged out: what the other tab
        // got still refreshes (a browser then sends the newest cookie it
        // was given; both are within the grace window of each other)...
        if tab.status() == 200 {
            let theirs = cookie_value(&tab, "refreshToken").unwrap();
            let res = post_with_cookies(
                app.url("/api/auth/refresh"),
                format!("refreshToken={theirs}"),
            )
            .await;
            assert_eq!(
                res.status(),
                200,
                "round {round}: the other tab was logged out"
            );
        }
        // ...and so do the changing tab's new cookies.
        let again = post_with_cookies(
            app.url("/api/auth/refresh"),
            format!("refreshToken={new_refresh}"),
        )
        .await;
        assert_eq!(again.status(), 200, "round {round}");
    }
}

#[tokio::test]
async fn failed_password_confirmations_count_as_failed_logins() {
    let (app, _mail) = app_with_mail(&[("RATE_LIMIT_LOGIN_FAILURES", "3")]).await;
    let email = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    for path in [
        "/api/auth/password/change",
        "/api/auth/email/change",
        "/api/auth/password/change",
    ] {
        let body = json!({ "currentPassword": "wrong wrong", "password": "wrong wrong", "newPassword": NEW_PASSWORD, "newEmail": unique_email() });
        let res = app
            .client
            .post(app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    // The limit is spent: even the right password waits.
    assert_eq!(
        app.login_with(&browser(), &email, PASSWORD).await.status(),
        429
    );
    let res = app
        .client
        .delete(app.url("/api/user"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn an_email_change_happens_when_the_new_address_confirms() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    let taken = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    let new_email = unique_email();
    let change = |password: &str, new_email: &str| {
        let body = json!({ "password": password, "newEmail": new_email });
        let app = &app;
        async move { post(app, &app.client, "/api/auth/email/change", body).await }
    };
    assert_eq!(change("wrong wrong", &new_email).await.0, 401);
    let (status, body) = change(PASSWORD, &email.to_uppercase()).await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (400, Some("newEmail"))
    );
    assert_eq!(change(PASSWORD, "not an address").await.0, 400);
    assert_eq!(change(PASSWORD, &taken).await.0, 409);

    let (status, body) = change(PASSWORD, &new_email).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["message"],
        "Check your new address for a confirmation link"
    );
    let notice = mail.next(&email, NOTICE).await;
    assert!(notice.text.contains(&new_email));
    let token = mail.next(&new_email, CONFIRM_NEW).await.token();
    // Nothing changes until the link is used.
    let (_, me) = current_user(&app, &app.client).await;
    assert_eq!(me["user"]["email"], email.as_str());

    let (status, body) = verify(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], new_email.as_str());
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(
        app.login_with(&browser(), &new_email, PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login_with(&browser(), &email, PASSWORD).await.status(),
        401
    );
}

#[tokio::test]
async fn an_email_change_to_an_address_taken_meanwhile_is_a_conflict() {
    let (app, mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    let new_email = unique_email();
    let (status, _) = post(
        &app,
        &app.client,
        "/api/auth/email/change",
        json!({ "password": PASSWORD, "newEmail": new_email }),
    )
    .await;
    assert_eq!(status, 200);
    let token = mail.next(&new_email, CONFIRM_NEW).await.token();
    assert_eq!(
        app.register(&new_email).await.status(),
        201,
        "someone else registers it first"
    );
    let (status, body) = verify(&app, &token).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (409, Some("Email is already registered"))
    );
    let (_, me) = current_user(&app, &app.client).await;
    assert_eq!(me["user"]["email"], email.as_str());
}

#[tokio::test]
async fn deleting_an_account_ends_it_and_frees_the_address() {
    let (app, _mail) = app_with_mail(&[]).await;
    let email = registered(&app).await;
    assert_eq!(app.login(&email).await.status(), 200);
    let other = app.another_browser(&email).await;
    let delete = |password: &str| {
        let req = app
            .client
            .delete(app.url("/api/user"))
            .json(&json!({ "password": password }));
        async move { req.send().await.unwrap() }
    };
    let res = delete("wrong wrong").await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "Password is incorrect"
    );

    let res = delete(PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(cookie_value(&res, "refreshToken").as_deref(), Some(""));
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "Account deleted"
    );
    assert_eq!(refresh(&app, &other).await, 401);
    assert_eq!(
        current_user(&app, &other).await.0,
        401,
        "a live access token finds no user"
    );
    assert_eq!(app.login(&email).await.status(), 401);
    assert_eq!(
        app.register(&email).await.status(),
        201,
        "the address registers again"
    );
}

#[tokio::test]
async fn a_required_verification_is_checked_only_after_the_password() {
    let (app, mail) = app_with_mail(&[("REQUIRE_VERIFIED_EMAIL", "true")]).await;
    let email = registered(&app).await;
    let (status, _) = json_of(app.login_with(&browser(), &email, "wrong wrong").await).await;
    assert_eq!(status, 401, "a guesser sees the usual 401");
    let (status, body) = json_of(app.login(&email).await).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Email not verified"))
    );
    let token = mail.next(&email, VERIFY).await.token();
    assert_eq!(verify(&app, &token).await.0, 200);
    assert_eq!(app.login(&email).await.status(), 200);
}

#[tokio::test]
async fn a_resent_link_replaces_the_last_one_and_resends_are_limited() {
    let (app, mail) = app_with_mail(&[("RATE_LIMIT_MAILS_PER_HOUR", "2")]).await;
    let email = registered(&app).await;
    let first = mail.next(&email, VERIFY).await.token();
    assert_eq!(app.login(&email).await.status(), 200);
    let (status, body) = resend(&app).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (200, Some("Verification email sent"))
    );
    let second = mail.nth(2, &email, VERIFY).await.token();
    assert_eq!(resend(&app).await.0, 200);
    let (status, _) = resend(&app).await;
    assert_eq!(status, 429, "two resends an hour");

    let third = mail.nth(3, &email, VERIFY).await.token();
    for stale in [first, second] {
        let (status, body) = verify(&app, &stale).await;
        assert_invalid_token(status, &body);
    }
    assert_eq!(verify(&app, &third).await.0, 200);
    let (status, body) = resend(&app).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Email is already verified"))
    );
}

#[tokio::test]
async fn a_mail_server_that_never_answers_holds_no_request_up() {
    // Accepts connections and says nothing: lettre waits for a greeting.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[("SMTP_URL", url.as_str()), ("MAIL_SEND_TIMEOUT", "1s")]).await;
    let email = registered(&app).await;
    let started = Instant::now();
    let (status, _) = forgot(&app, &email).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the answer did not wait for mail"
    );

    // Both mails (verification, reset) are given up and counted.
    let series = r#"tokengate_mail_sent_total{kind="password_reset",outcome="timed_out"} 1"#;
    let mut metrics = String::new();
    for _ in 0..60 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains(series) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains(series), "{metrics}");
    assert!(
        metrics.contains(
            r#"tokengate_mail_sent_total{kind="email_verification",outcome="timed_out"} 1"#
        )
    );

    // A mail server that refuses connections: failed, counted, same answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let app = spawn_app_with(&[("SMTP_URL", url.as_str())]).await;
    let email = registered(&app).await;
    let (status, _) = forgot(&app, &email).await;
    assert_eq!(status, 200);
    let series = r#"tokengate_mail_sent_total{kind="password_reset",outcome="failed"} 1"#;
    for _ in 0..60 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.contains(series) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metrics.contains(series), "{metrics}");
}

#[tokio::test]
async fn smtp_credentials_from_the_url_are_used() {
    let mail = Mailbox::start_with(Some(("tokengate", "s3cret p@ss"))).await;
    let url = format!("smtp://tokengate:s3cret%20p%40ss@127.0.0.1:{}", mail.port());
    let app = spawn_app_with(&[("SMTP_URL", url.as_str())]).await;
    let email = registered(&app).await;
    let message = mail.next(&email, VERIFY).await;
    assert_eq!(message.auth_user.as_deref(), Some("tokengate"));

    // Wrong credentials: the server refuses, the mail is counted as failed.
    let url = format!("smtp://tokengate:wrong@127.0.0.1:{}", mail.port());
    let app = spawn_app_with(&[("SMTP_URL", url.as_str())]).await;
    let email = registered(&app).await;
    mail.assert_count_after(Duration::from_millis(1500), &email, 0)
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .contains(r#"tokengate_mail_sent_total{kind="email_verification",outcome="failed"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_account_flows_share_one_per_ip_budget_even_at_the_same_instant() {
    let (app, _mail) = app_with_mail(&[("RATE_LIMIT_PER_IP", "5")]).await;
    let email = registered(&app).await;
    // Twenty forgot requests at once: exactly the budget gets through.
    let asks: Vec<_> = (0..20)
        .map(|_| {
            let (url, email) = (app.url(FORGOT), email.clone());
            tokio::spawn(async move {
                let res = ask_forgot(url, email).await;
                let retry_after = res.headers().get("retry-after").is_some();
                (res.status().as_u16(), retry_after)
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for ask in asks {
        statuses.push(ask.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|(s, _)| *s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|&(s, retry)| s == 200 || (s == 429 && retry)),
        "{statuses:?}"
    );
    // The same budget covers reset and verify: guessing tokens is limited too.
    let guess = "A".repeat(43);
    assert_eq!(reset(&app, &guess, NEW_PASSWORD).await.0, 429);
    assert_eq!(verify(&app, &guess).await.0, 429);
}
