//! The OpenAPI document: against the route table (every route, no other),
//! the statuses and schemas of the contract, the security schemes, the base
//! path and cookie names it follows, and the docs page.

use std::collections::BTreeSet;

use actix_web::http::Method;
use serde_json::{Value, json};
use tokengate::http::routes;

use crate::helpers::{TestApp, bare, reqwest_method, spawn_app, spawn_app_with};

/// The statuses the contract gives each route: its success and every error.
/// Every route of the table must be listed here, so a new route cannot be
/// added without saying what it answers.
fn contract_statuses(method: &Method, path: &str) -> &'static [u16] {
    // JSON body: 400 malformed/invalid, 413 too large, 415 not JSON. State
    // changing: 403 under the CSRF rule. Store behind it: 503.
    match (method.as_str(), path) {
        ("POST", "/api/auth/register") => &[201, 400, 403, 409, 413, 415, 429, 503],
        ("POST", "/api/auth/login") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/refresh") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/logout") => &[200, 400, 403, 413, 415, 503],
        ("POST", "/api/auth/logout-all") => &[200, 400, 401, 403, 413, 415, 503],
        ("GET", "/api/auth/cookie-check") => &[200],
        ("POST", "/api/auth/password/change") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/password/forgot") => &[200, 400, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/password/reset") => &[200, 400, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/email/verify") => &[200, 400, 403, 409, 413, 415, 429, 503],
        ("POST", "/api/auth/email/verify/resend") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("POST", "/api/auth/email/change") => &[200, 400, 401, 403, 409, 413, 415, 429, 503],
        ("DELETE", "/api/user") => &[200, 400, 401, 403, 413, 415, 429, 503],
        ("GET", "/api/auth/sessions") => &[200, 401, 503],
        ("DELETE", "/api/auth/sessions/{id}") => &[200, 400, 401, 403, 404, 413, 415, 503],
        ("GET", "/api/user/current-user") => &[200, 401, 503],
        ("GET", "/api/report/setting") => &[200, 401, 404, 503],
        ("PUT", "/api/report/setting") => &[200, 400, 401, 403, 404, 413, 415, 503],
        ("GET", "/api/openapi.json") => &[200],
        ("GET", "/api/docs") => &[200, 404],
        ("GET", "/health/live") => &[200],
        ("GET", "/health/ready") => &[200, 503],
        ("GET", "/metrics") => &[200],
        ("GET", "/.well-known/jwks.json") => &[200],
        _ => panic!("{method} {path} is in the route table but not in contract_statuses"),
    }
}

/// Routes that need an access token (cookie or Bearer).
const PROTECTED: &[&str] = &[
    "POST /api/auth/logout-all",
    "POST /api/auth/password/change",
    "POST /api/auth/email/verify/resend",
    "POST /api/auth/email/change",
    "DELETE /api/user",
    "GET /api/auth/sessions",
    "DELETE /api/auth/sessions/{id}",
    "GET /api/user/current-user",
    "GET /api/report/setting",
    "PUT /api/report/setting",
];

async fn openapi(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&k.as_str())
                })
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn served(base_path: &str) -> BTreeSet<(String, String)> {
    routes::route_table()
        .iter()
        .map(|r| (r.method.to_string(), r.full_path(base_path)))
        .collect()
}

#[tokio::test]
async fn the_document_has_every_route_of_the_table_and_no_other() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let table = served("/api");
    let documented = documented(&doc);
    let missing: Vec<_> = table.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the document: {missing:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );

    // The table really is what is served: every route answers something other
    // than the JSON 404 of unknown paths (and 405 of unknown methods).
    for route in routes::route_table() {
        let url = app.url(&route.full_path("/api").replace("{id}", "x"));
        let res = bare()
            .request(reqwest_method(&route.method), url)
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), 405, "{} {}", route.method, route.path);
        assert_ne!(res.status(), 404, "{} {}", route.method, route.path);
    }
}

/// A response, or the shared response it refers to.
fn resolve_response<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn every_route_documents_the_error_statuses_of_the_contract() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    for route in routes::route_table() {
        let path = route.full_path("/api");
        let op = &doc["paths"][&path][route.method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        let documented: BTreeSet<u16> = responses.keys().map(|s| s.parse().unwrap()).collect();
        for status in contract_statuses(&route.method, &path) {
            assert!(
                documented.contains(status),
                "{} {path} does not document {status} (has {documented:?})",
                route.method
            );
        }
        for (status, response) in responses {
            // Shared error responses are references to components.
            let response = resolve_response(&doc, response);
            assert!(
                !response["description"].as_str().unwrap_or("").is_empty(),
                "{} {path} {status} has no description",
                route.method
            );
            // Errors are the one ErrorBody shape (the 503 of /health/ready
            // is a plain message).
            let code: u16 = status.parse().unwrap();
            if code >= 400 && path != "/health/ready" {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{} {path} {status}",
                    route.method
                );
            }
            if code == 429 || (code == 503 && path != "/health/ready") {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{} {path} {status} should document Retry-After",
                    route.method
                );
            }
        }
    }
}

#[tokio::test]
async fn request_and_response_schemas_exist_and_security_schemes_are_the_cookies() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");

    // Every reference resolves.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    let responses = doc["components"]["responses"]
        .as_object()
        .expect("shared responses");
    for r in &all {
        let resolves = match (
            r.strip_prefix("#/components/schemas/"),
            r.strip_prefix("#/components/responses/"),
        ) {
            (Some(name), _) => schemas.contains_key(name),
            (_, Some(name)) => responses.contains_key(name),
            _ => panic!("unexpected reference {r}"),
        };
        assert!(resolves, "{r} does not resolve");
    }

    // The bodies of the contract, by operation.
    let body = |method: &str, path: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    let ok = |method: &str, path: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    let schema = |name: &str| format!("#/components/schemas/{name}");
    assert_eq!(
        body("post", "/api/auth/register"),
        Some(schema("RegisterRequest"))
    );
    assert_eq!(
        body("post", "/api/auth/login"),
        Some(schema("LoginRequest"))
    );
    assert_eq!(
        body("put", "/api/report/setting"),
        Some(schema("UpdateReportSettingRequest"))
    );
    assert_eq!(
        ok("post", "/api/auth/register", "201"),
        Some(schema("RegisterResponse"))
    );
    assert_eq!(
        ok("post", "/api/auth/login", "200"),
        Some(schema("LoginResponse"))
    );
    assert_eq!(
        ok("post", "/api/auth/refresh", "200"),
        Some(schema("RefreshResponse"))
    );
    assert_eq!(
        ok("get", "/api/auth/sessions", "200"),
        Some(schema("SessionsResponse"))
    );
    assert_eq!(
        ok("get", "/api/user/current-user", "200"),
        Some(schema("CurrentUserResponse"))
    );
    assert_eq!(
        ok("get", "/api/report/setting", "200"),
        Some(schema("ReportSettingResponse"))
    );
    assert_eq!(
        ok("put", "/api/report/setting", "200"),
        Some(schema("ReportSettingResponse"))
    );

    // What the handler requires, the schema requires.
    let required = |name: &str| {
        schemas[name]["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(required("RegisterRequest"), ["name", "email", "password"]);
    assert_eq!(required("LoginRequest"), ["email", "password"]);
    let user = required("UserDto");
    for field in [
        "_id",
        "name",
        "email",
        "profilePicture",
        "emailVerified",
        "createdAt",
        "updatedAt",
    ] {
        assert!(
            user.contains(&field.to_owned()),
            "User.{field} is not required"
        );
    }
    assert!(
        !schemas["UserDto"].to_string().contains("password"),
        "the User schema must not mention a password"
    );

    // The cookie security schemes, and the Bearer alternative.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["accessCookie"],
        json!({ "type": "apiKey", "in": "cookie", "name": "accessToken" })
    );
    assert_eq!(
        schemes["refreshCookie"],
        json!({ "type": "apiKey", "in": "cookie", "name": "refreshToken" })
    );
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");

    for route in routes::route_table() {
        let path = route.full_path("/api");
        let key = format!("{} {path}", route.method);
        let security = &doc["paths"][&path][route.method.as_str().to_lowercase()]["security"];
        if PROTECTED.contains(&key.as_str()) {
            assert_eq!(
                security,
                &json!([{ "accessCookie": [] }, { "bearer": [] }]),
                "{key}"
            );
        }
    }
    assert_eq!(
        doc["paths"]["/api/auth/refresh"]["post"]["security"],
        json!([{ "refreshCookie": [] }])
    );
}

#[tokio::test]
async fn the_document_follows_the_base_path_and_cookie_names() {
    let app = spawn_app_with(&[
        ("APP_SERVER__BASE_PATH", "/auth-api"),
        ("COOKIE_SECURE", "true"),
        ("APP_COOKIES__NAME_PREFIX", "true"),
    ])
    .await;
    assert_eq!(app.get("/api/openapi.json").await.status(), 404);
    let doc = openapi(&app, "/auth-api/openapi.json").await;
    assert_eq!(documented(&doc), served("/auth-api"));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["accessCookie"]["name"], "__Host-accessToken");
    assert_eq!(schemes["refreshCookie"]["name"], "__Secure-refreshToken");
}

#[tokio::test]
async fn the_docs_page_is_served_locally_only() {
    let app = spawn_app().await;
    let res = app.get("/api/docs").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("/api/openapi.json"));

    let app = spawn_app_with(&[("APP_SERVER__API_DOCS", "false")]).await;
    assert_eq!(app.get("/api/docs").await.status(), 404);
}

/// docs/API.md, written by hand, has a `### METHOD /path` heading for every
/// operation the service documents, so the prose cannot fall behind the
/// document.
#[tokio::test]
async fn docs_api_md_has_a_heading_for_every_operation() {
    let app = spawn_app().await;
    let doc = openapi(&app, "/api/openapi.json").await;
    let operations = documented(&doc);
    assert!(!operations.is_empty(), "the document has no operations");

    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/API.md");
    let (text, unreadable) = match std::fs::read_to_string(&file) {
        Ok(text) => (text, None),
        Err(e) => (String::new(), Some(e)),
    };
    let headings: BTreeSet<&str> = text.lines().map(str::trim_end).collect();
    let missing: Vec<String> = operations
        .iter()
        .map(|(method, path)| format!("### {method} {path}"))
        .filter(|heading| !headings.contains(heading.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lacks a heading for {} of the {} operations of the OpenAPI document{}:\n{}",
        file.display(),
        missing.len(),
        operations.len(),
        unreadable.map_or(String::new(), |e| format!(" (cannot read it: {e})")),
        missing.join("\n")
    );
}
