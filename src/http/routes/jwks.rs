//! `GET /.well-known/jwks.json`: the public keys that may have signed a live
//! access token, for other services to verify tokengate's tokens without
//! being able to sign one. Empty under HS256 (a shared secret is never
//! published). Cacheable: `Cache-Control: public, max-age=<jwt.jwks_max_age>`;
//! a new key is listed here at least that long before it signs.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// One public key (RFC 8037 OKP, Ed25519).
#[derive(Debug, Serialize, ToSchema)]
pub struct Jwk {
    /// Always `OKP`.
    #[schema(example = "OKP")]
    pub kty: &'static str,
    /// Always `Ed25519`.
    #[schema(example = "Ed25519")]
    pub crv: &'static str,
    /// The public key, base64url without padding.
    pub x: String,
    /// The key's id (its RFC 7638 thumbprint), as in the tokens' `kid` header.
    pub kid: String,
    /// Always `EdDSA`.
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
}

/// A JSON Web Key Set (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200,
        description = "The public keys that may have signed a live access token (empty under HS256)",
        content_type = "application/json", body = JwkSet,
        headers(("Cache-Control" = String, description = "public, max-age=<jwt.jwks_max_age in seconds>")))))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let keys = state
        .auth
        .tokens()
        .published_keys()
        .into_iter()
        .map(|k| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            x: URL_SAFE_NO_PAD.encode(&k.x),
            kid: k.kid,
            alg: "EdDSA",
            use_: "sig",
        })
        .collect();
    let max_age = state.settings.jwt.jwks_max_age.as_secs();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, format!("public, max-age={max_age}")))
        .json(JwkSet { keys })
}
