//! Verifying tokengate access tokens in your own actix-web API, with
//! jsonwebtoken and the JWKS (the README's Rust snippet). The JWKS is cached
//! and refetched when a token names an unknown `kid`, at most once per
//! cooldown, so a rotated key is picked up and a flood of made-up `kid`s
//! costs one fetch per cooldown, not one per request.
//!
//! In your crate: `jsonwebtoken = { version = "11", features = ["rust_crypto"] }`
//! (or `aws_lc_rs`). tokengate's own build links ring only, so here the
//! example is compiled by `cargo test --all-targets` but not run.
//!
//! Run: `cargo run --example verify_actix -- http://127.0.0.1:8080/.well-known/jwks.json`

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    typ: String,
}

struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: Mutex<(HashMap<String, DecodingKey>, Option<Instant>)>,
    max_age: Duration,
    cooldown: Duration,
}

impl Jwks {
    async fn fetch(&self) -> Result<(), reqwest::Error> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        *self.keys.lock().unwrap() = (keys, Some(Instant::now()));
        Ok(())
    }

    /// The key for `kid`: from the cache while it is fresh; refetched when
    /// stale, or when `kid` is unknown and the last fetch is older than the cooldown.
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        let (cached, fetched) = {
            let guard = self.keys.lock().unwrap();
            (guard.0.get(kid).cloned(), guard.1)
        };
        let age = fetched.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > self.max_age);
        let may_refetch = age.is_none_or(|a| a > self.cooldown);
        if (stale || (cached.is_none() && may_refetch)) && self.fetch().await.is_ok() {
            return self.keys.lock().unwrap().0.get(kid).cloned();
        }
        cached
    }

    async fn verify(&self, token: &str) -> Option<Claims> {
        let kid = decode_header(token).ok()?.kid?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::EdDSA); // pinned: never from the token
        validation.set_issuer(&["tokengate"]);
        validation.set_audience(&["tokengate-spa"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Claims>(token, &key, &validation).ok()?.claims;
        (claims.typ == "access").then_some(claims)
    }
}

async fn me(req: HttpRequest, jwks: web::Data<Jwks>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) => match jwks.verify(token).await {
            Some(claims) => HttpResponse::Ok().json(serde_json::json!({ "userId": claims.sub })),
            None => HttpResponse::Unauthorized().finish(),
        },
        None => HttpResponse::Unauthorized().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/.well-known/jwks.json".into());
    let jwks = web::Data::new(Jwks {
        url,
        client: reqwest::Client::new(),
        keys: Mutex::new((HashMap::new(), None)),
        max_age: Duration::from_secs(300), // tokengate's Cache-Control max-age
        cooldown: Duration::from_secs(30),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(jwks.clone())
            .route("/me", web::get().to(me))
    })
    .bind(("127.0.0.1", 9090))?
    .run()
    .await
}
