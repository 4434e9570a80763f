//! Random bodies, headers and tokens against the real server: never a 5xx,
//! always the JSON error shape, never authenticated. A bounded number of
//! cases, so it runs in every test run.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::helpers::*;

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("name"),
            Just("email"),
            Just("password"),
            Just("frequency"),
            Just("isEnabled")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::hash_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("email".to_owned()),
                    Just("password".to_owned()),
                    Just("frequency".to_owned()),
                    Just("isEnabled".to_owned()),
                    ".{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Bytes(Vec<u8>),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        json_value().prop_map(Body::Json),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
    ]
}

const PATHS: &[(&str, &str)] = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("PUT", "/api/report/setting"),
    ("GET", "/api/user/current-user"),
    ("DELETE", "/api/auth/sessions/x"),
];

#[test]
fn random_requests_never_break_the_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..PATHS.len(),
        body(),
        prop_oneof![Just("application/json"), Just("text/plain"), Just("")],
        prop_oneof![Just(None), ".{0,200}".prop_map(Some)],
    );
    runner
        .run(&strategy, |(path, body, content_type, token)| {
            let (method, path) = PATHS[path];
            let res = rt.block_on(async {
                let mut req = bare()
                    .request(method.parse().unwrap(), app.url(path))
                    .header("origin", ORIGIN);
                if !content_type.is_empty() {
                    req = req.header("content-type", content_type);
                }
                if let Some(token) = &token
                    && let Ok(value) = reqwest::header::HeaderValue::from_str(&format!(
                        "accessToken={token}; refreshToken={token}"
                    ))
                {
                    req = req.header("cookie", value);
                }
                req = match &body {
                    Body::Json(v) => req.body(v.to_string()),
                    Body::Bytes(b) => req.body(b.clone()),
                };
                req.send().await.unwrap()
            });
            let status = res.status().as_u16();
            prop_assert!(status < 500, "{method} {path} -> {status}");
            let protected = path.contains("current-user")
                || path.contains("report")
                || path.contains("sessions");
            prop_assert!(
                !(protected && status == 200),
                "a random token authenticated: {method} {path}"
            );
            let json: Value = rt
                .block_on(res.json())
                .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
            prop_assert!(json["message"].is_string());
            Ok(())
        })
        .unwrap();
}
