//! `GET /.well-known/jwks.json` and EdDSA access tokens: what the JWKS
//! serves and how it is cached, that its key really verifies our tokens
//! (checked here with ring directly, not through our verifier), keys kept
//! encrypted in the store and shared by the instances on it, an imported PEM
//! key, and rotation across two real processes on one store.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::{Server, fresh_db};

const JWKS: &str = "/.well-known/jwks.json";
/// 32 bytes of 0x2a, base64.
const KEK: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn decode_segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

async fn jwks_of(client: &reqwest::Client, url: String) -> (reqwest::header::HeaderMap, Value) {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (headers, res.json().await.unwrap())
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Checks an EdDSA token's signature with the JWK's `x`, using ring alone.
fn verifies_with(token: &str, jwk: &Value) -> bool {
    let (message, signature) = token.rsplit_once('.').unwrap();
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    let signature = B64.decode(signature).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, x)
        .verify(message.as_bytes(), &signature)
        .is_ok()
}

async fn access_token(app: &TestApp) -> String {
    let (_, login) = app.signed_in().await;
    login["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn under_hs256_the_jwks_is_empty_and_cacheable() {
    let app = spawn_app_with(&[("JWT_ALGORITHM", "HS256")]).await;
    let (headers, body) = jwks_of(&bare(), app.url(JWKS)).await;
    assert_eq!(body, json!({ "keys": [] }));
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // Not under the API base path: no /api/.well-known.
    assert_eq!(
        bare()
            .get(app.url("/api/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn an_eddsa_access_token_verifies_with_the_published_key() {
    let app = spawn_app_with(&[
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_KEY_ENCRYPTION_KEY", KEK),
        ("JWT_JWKS_MAX_AGE", "2m"),
    ])
    .await;
    let token = access_token(&app).await;
    let header = decode_segment(&token, 0);
    assert_eq!(header["alg"], "EdDSA");
    let (headers, jwks) = jwks_of(&bare(), app.url(JWKS)).await;
    assert_eq!(headers["cache-control"], "public, max-age=120");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(jwk["kid"], header["kid"]);
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(B64.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
    // Nothing private: exactly the public members.
    let mut members: Vec<_> = jwk.as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
    // The kid is the key's RFC 7638 thumbprint.
    let thumbprint = B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            jwk["x"].as_str().unwrap()
        )
        .as_bytes(),
    ));
    assert_eq!(jwk["kid"], thumbprint);
    assert!(verifies_with(&token, jwk));
    let res = bare()
        .get(app.url("/api/user/current-user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn forged_eddsa_tokens_are_refused_over_http() {
    let app = spawn_app_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let token = access_token(&app).await;
    let (header, claims) = (decode_segment(&token, 0), decode_segment(&token, 1));
    let (_, jwks) = jwks_of(&bare(), app.url(JWKS)).await;
    let x = B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
    let status = |t: String| {
        let url = app.url("/api/user/current-user");
        async move {
            bare()
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let hs256 = |h: &Value, secret: &[u8]| {
        let message = format!(
            "{}.{}",
            B64.encode(h.to_string()),
            B64.encode(claims.to_string())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        format!(
            "{message}.{}",
            B64.encode(ring::hmac::sign(&key, message.as_bytes()))
        )
    };
    assert_eq!(status(token.clone()).await, 200);
    // Algorithm confusion: HS256 keyed with the public key, under its kid.
    let confused = json!({ "alg": "HS256", "typ": "JWT", "kid": header["kid"] });
    assert_eq!(status(hs256(&confused, &x)).await, 401);
    // The access secret no longer signs access tokens under EdDSA.
    let with_secret = json!({ "alg": "HS256", "typ": "JWT" });
    assert_eq!(
        status(hs256(
            &with_secret,
            b"DEVELOPMENT-ONLY-access-token-secret-do-not-deploy"
        ))
        .await,
        401
    );
    // alg none under the right kid.
    let none = json!({ "alg": "none", "typ": "JWT", "kid": header["kid"] });
    let unsigned = format!(
        "{}.{}.",
        B64.encode(none.to_string()),
        B64.encode(claims.to_string())
    );
    assert_eq!(status(unsigned).await, 401);
    // An unknown kid.
    let mut renamed = header.clone();
    renamed["kid"] = json!("not-a-key-we-have");
    let signature = token.rsplit_once('.').unwrap().1;
    let other = format!(
        "{}.{}.{signature}",
        B64.encode(renamed.to_string()),
        B64.encode(claims.to_string())
    );
    assert_eq!(status(other).await, 401);
}

/// The private key is stored sealed (AES-256-GCM) when a KEK is set, and
/// two instances on one store sign with the one key the first one made.
#[tokio::test]
async fn keys_are_made_once_stored_encrypted_and_shared() {
    let settings = test_settings(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_KEY_ENCRYPTION_KEY", KEK)]);
    let db = settings.store.sqlite_path.clone();
    let first = spawn_with_settings(settings.clone()).await;
    let second = spawn_with_settings(settings).await;
    let (_, a) = jwks_of(&bare(), first.url(JWKS)).await;
    let (_, b) = jwks_of(&bare(), second.url(JWKS)).await;
    assert_eq!(a, b);
    assert_eq!(kids(&a).len(), 1);
    let token = access_token(&first).await;
    let res = bare()
        .get(second.url("/api/user/current-user"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let conn = rusqlite::Connection::open(&db).unwrap();
    let (encryption, private, public): (String, Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT encryption, private_key, public_key FROM signing_keys",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(encryption, "A256GCM");
    // nonce (12) + PKCS#8 v2 Ed25519 (83, as ring makes it) + tag (16).
    assert_eq!(private.len(), 12 + 83 + 16);
    // A PKCS#8 Ed25519 key holds its public key in the clear; the sealed
    // form does not.
    assert!(!private.windows(32).any(|w| w == public.as_slice()));
}

#[tokio::test]
async fn an_imported_pem_key_signs_and_nothing_is_stored() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    let path: PathBuf =
        std::env::temp_dir().join(format!("tokengate-key-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&path, pem).unwrap();
    let settings = test_settings(&[
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_PRIVATE_KEY_FILE", path.to_str().unwrap()),
    ]);
    let db = settings.store.sqlite_path.clone();
    let app = spawn_with_settings(settings).await;
    let token = access_token(&app).await;
    let (_, jwks) = jwks_of(&bare(), app.url(JWKS)).await;
    let public = ring::signature::KeyPair::public_key(
        &ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap(),
    )
    .as_ref()
    .to_vec();
    assert_eq!(jwks["keys"][0]["x"], B64.encode(&public));
    assert!(verifies_with(&token, &jwks["keys"][0]));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM signing_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);
    let _ = std::fs::remove_file(path);
}

/// `tokengate keys <args>` with the servers' store and key settings.
async fn keys_cli(db: &std::path::Path, args: &[&str]) -> String {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .env_clear()
        .env("APP_CONFIG_DIR", &config)
        .env("SQLITE_PATH", db)
        .env("JWT_ALGORITHM", "EdDSA")
        .env("JWT_KEY_ENCRYPTION_KEY", KEK)
        .env("JWT_JWKS_MAX_AGE", "1s")
        .env("APP_JWT__KEY_REFRESH_INTERVAL", "1s")
        .env("RUST_LOG", "warn")
        .arg("keys")
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "keys {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn login_on(server: &Server, email: &str) -> String {
    let res = bare()
        .post(server.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["accessToken"].as_str().unwrap().to_owned()
}

async fn current_user_status(server: &Server, token: &str) -> u16 {
    current_user_with_bearer(&server.url(""), token).await
}

/// Two real processes on one SQLite file: a rotation forced with the CLI is
/// published by both before it signs, a token A signs with the new key
/// verifies on B, and tokens of the old key keep verifying.
#[tokio::test]
async fn a_rotation_on_one_instance_verifies_on_the_other() {
    let db = fresh_db();
    let vars = [
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_KEY_ENCRYPTION_KEY", KEK),
        ("JWT_JWKS_MAX_AGE", "1s"),
        ("APP_JWT__KEY_REFRESH_INTERVAL", "1s"),
    ];
    let a = Server::start_on(db.clone(), &vars).await;
    let b = Server::start_on(db.clone(), &vars).await;
    let email = unique_email();
    let res = bare()
        .post(a.url("/api/auth/register"))
        .json(&json!({ "name": "Ada Lovelace", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let before = login_on(&a, &email).await;
    let old_kid = decode_segment(&before, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(current_user_status(&b, &before).await, 200);

    let said = keys_cli(&db, &["rotate"]).await;
    let new_kid = kids(&jwks_of(&bare(), a.url(JWKS)).await.1);
    assert!(said.contains("added key"), "{said}");

    // Both instances publish the new key (within a refresh interval) ...
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut published_before_signing = false;
    let after = loop {
        let (_, on_b) = jwks_of(&bare(), b.url(JWKS)).await;
        let token = login_on(&a, &email).await;
        let kid = decode_segment(&token, 0)["kid"]
            .as_str()
            .unwrap()
            .to_owned();
        if kid != old_kid {
            break token;
        }
        // ... and while A still signs with the old one, B already lists
        // the new one next to it.
        if kids(&on_b).len() == 2 {
            published_before_signing = true;
        }
        assert!(
            Instant::now() < deadline,
            "A never signed with the new key; jwks {new_kid:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        published_before_signing,
        "the new key signed before B published it"
    );
    let kid = decode_segment(&after, 0)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        current_user_status(&b, &after).await,
        200,
        "B verifies A's new token"
    );
    assert_eq!(
        current_user_status(&a, &before).await,
        200,
        "the retired key still verifies"
    );
    assert_eq!(current_user_status(&b, &before).await, 200);
    let (_, on_b) = jwks_of(&bare(), b.url(JWKS)).await;
    assert_eq!(kids(&on_b), [old_kid.clone(), kid.clone()]);

    let listed = keys_cli(&db, &["list"]).await;
    assert!(
        listed.contains(&format!("\t{old_kid}\tretired\t")),
        "{listed}"
    );
    assert!(listed.contains(&format!("\t{kid}\tcurrent\t")), "{listed}");
    assert!(!listed.to_lowercase().contains("private"), "{listed}");
}
