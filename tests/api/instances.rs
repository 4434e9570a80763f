//! Several instances on one store behave as one: three real processes on
//! one SQLite file, requests sent round-robin.

use serde_json::json;

use crate::helpers::{PASSWORD, bare, cookie_value, post_with_cookies, unique_email};
use crate::process::{Server, fresh_db};

/// Three instances of the binary sharing one store: one SQLite file, or,
/// where `TEST_MONGO_URI` names a MongoDB (CI's workflow), a fresh database
/// on it.
async fn three(extra: &[(&str, &str)]) -> Vec<Server> {
    let db = fresh_db();
    let mongo = std::env::var("TEST_MONGO_URI")
        .ok()
        .filter(|u| !u.is_empty());
    let database = format!("tokengate_instances_{}", uuid::Uuid::new_v4().simple());
    let mut vars = extra.to_vec();
    if let Some(uri) = &mongo {
        vars.extend([
            ("MONGO_URI", uri.as_str()),
            ("MONGO_DATABASE", database.as_str()),
        ]);
    }
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(Server::start_on(db.clone(), &vars).await);
    }
    servers
}

async fn login(server: &Server, email: &str, password: &str) -> reqwest::Response {
    bare()
        .post(server.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn register(server: &Server, email: &str) {
    let res = bare()
        .post(server.url("/api/auth/register"))
        .json(&json!({ "name": "Ada Lovelace", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

/// Refreshes with exactly this refresh token on `server`; the new token.
async fn refresh(server: &Server, token: &str) -> (u16, Option<String>) {
    let res = post_with_cookies(
        server.url("/api/auth/refresh"),
        format!("refreshToken={token}"),
    )
    .await;
    let status = res.status().as_u16();
    (
        status,
        cookie_value(&res, "refreshToken").filter(|t| !t.is_empty()),
    )
}

#[tokio::test]
async fn the_failed_login_limit_is_global() {
    let servers = three(&[("RATE_LIMIT_LOGIN_FAILURES", "10"), ("RUST_LOG", "warn")]).await;
    let email = unique_email();
    register(&servers[0], &email).await;
    for i in 0..10 {
        let res = login(&servers[i % 3], &email, "wrong guess!").await;
        assert_eq!(res.status(), 401, "failure {} on instance {}", i + 1, i % 3);
    }
    // The 11th is refused whichever instance gets it, right password too.
    for server in &servers {
        assert_eq!(login(server, &email, "wrong guess!").await.status(), 429);
        assert_eq!(login(server, &email, PASSWORD).await.status(), 429);
    }
}

#[tokio::test]
async fn a_refresh_chain_across_instances_never_looks_like_reuse() {
    let servers = three(&[("RUST_LOG", "warn")]).await;
    let email = unique_email();
    register(&servers[0], &email).await;
    let res = login(&servers[0], &email, PASSWORD).await;
    let mut token = cookie_value(&res, "refreshToken").unwrap();
    for i in 1..=9 {
        let (status, next) = refresh(&servers[i % 3], &token).await;
        assert_eq!(status, 200, "refresh {i} on instance {}", i % 3);
        token = next.expect("a new refresh token");
    }
}

#[tokio::test]
async fn a_grace_replay_on_another_instance_converges_on_one_token() {
    let servers = three(&[("REFRESH_GRACE_PERIOD", "10s"), ("RUST_LOG", "warn")]).await;
    let email = unique_email();
    register(&servers[0], &email).await;
    let first = cookie_value(&login(&servers[0], &email, PASSWORD).await, "refreshToken").unwrap();
    // Instance A rotates; B and C get the replaced token within the window.
    let (status, current) = refresh(&servers[0], &first).await;
    assert_eq!(status, 200);
    for server in &servers[1..] {
        let (status, replayed) = refresh(server, &first).await;
        assert_eq!(status, 200);
        assert_eq!(
            replayed, current,
            "the same current token, from any instance"
        );
    }
    // And the session lives on.
    assert_eq!(refresh(&servers[2], &current.unwrap()).await.0, 200);
}

#[tokio::test]
async fn a_replay_outside_the_grace_window_revokes_the_session_everywhere() {
    let servers = three(&[("REFRESH_GRACE_PERIOD", "0"), ("RUST_LOG", "warn")]).await;
    let email = unique_email();
    register(&servers[0], &email).await;
    let first = cookie_value(&login(&servers[0], &email, PASSWORD).await, "refreshToken").unwrap();
    let (status, current) = refresh(&servers[0], &first).await;
    assert_eq!(status, 200);
    // The replaced token comes back on instance B: reuse.
    assert_eq!(refresh(&servers[1], &first).await.0, 401);
    // The session is revoked for every instance: the current token is dead.
    let current = current.unwrap();
    for server in &servers {
        assert_eq!(refresh(server, &current).await.0, 401);
    }
}
