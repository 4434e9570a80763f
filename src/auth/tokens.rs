//! Access and refresh tokens: HS256 JWTs with pinned algorithm, `exp`, `iss`,
//! `aud` and `typ` checks.
//!
//! jsonwebtoken's cryptography comes from a `CryptoProvider`; ours implements
//! HS256 only, with `ring` (already in the tree for TLS), so no RSA/EC code is
//! linked in and no other algorithm can verify even by mistake.

use std::sync::Once;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation, decode, encode,
};
use serde::{Deserialize, Serialize};

use crate::domain::{SessionId, TokenId, UserId};
use crate::settings::JwtSettings;
use crate::store::Session;

const ACCESS: &str = "access";
const REFRESH: &str = "refresh";

/// Claims of an access token, in the order they are serialised.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    typ: String,
    iss: String,
    aud: String,
}

/// Claims of a refresh token. Serialisation is deterministic (fixed field
/// order) and HS256 is deterministic, so the same claims give the same token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshClaims {
    sub: String,
    sid: String,
    jti: String,
    iat: i64,
    exp: i64,
    typ: String,
    iss: String,
    aud: String,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub expires_at: DateTime<Utc>,
}

/// A verified refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub jti: TokenId,
    pub expires_at: DateTime<Utc>,
}

/// A freshly signed token and when it expires.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
    #[error("token could not be signed")]
    Signing,
}

pub struct TokenService {
    access_encoding: EncodingKey,
    access_decoding: DecodingKey,
    refresh_encoding: EncodingKey,
    refresh_decoding: DecodingKey,
    validation: Validation,
    /// The same checks without `exp`: logout finds the session of an
    /// expired token with it.
    validation_ignoring_expiry: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl TokenService {
    pub fn new(settings: &JwtSettings) -> Self {
        install_crypto_provider();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = settings.leeway.as_secs();
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            access_encoding: EncodingKey::from_secret(settings.secret_bytes()),
            access_decoding: DecodingKey::from_secret(settings.secret_bytes()),
            refresh_encoding: EncodingKey::from_secret(settings.refresh_secret_bytes()),
            refresh_decoding: DecodingKey::from_secret(settings.refresh_secret_bytes()),
            validation_ignoring_expiry: Validation {
                validate_exp: false,
                ..validation.clone()
            },
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        }
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn refresh_ttl(&self) -> Duration {
        self.refresh_ttl
    }

    /// When a refresh token issued at `now` expires.
    pub fn refresh_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.refresh_ttl
    }

    pub fn issue_access(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Signed, TokenError> {
        let expires_at = now + self.access_ttl;
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            typ: ACCESS.into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.access_encoding,
        )
        .map_err(|_| TokenError::Signing)?;
        Ok(Signed {
            token,
            expires_at: seconds(claims.exp),
        })
    }

    /// Signs the session's current refresh token from the stored record.
    /// Calling it twice for the same record gives the same string.
    pub fn sign_refresh(&self, session: &Session) -> Result<Signed, TokenError> {
        let claims = RefreshClaims {
            sub: session.user_id.to_string(),
            sid: session.id.to_string(),
            jti: session.current_jti.to_string(),
            iat: session.current_issued_at.timestamp(),
            exp: session.expires_at.timestamp(),
            typ: REFRESH.into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.refresh_encoding,
        )
        .map_err(|_| TokenError::Signing)?;
        Ok(Signed {
            token,
            expires_at: seconds(claims.exp),
        })
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.access_with(token, &self.validation)
    }

    fn access_with(&self, token: &str, validation: &Validation) -> Result<AccessToken, TokenError> {
        let claims: AccessClaims = self.verify(token, &self.access_decoding, validation)?;
        if claims.typ != ACCESS {
            return Err(TokenError::Invalid);
        }
        Ok(AccessToken {
            user_id: UserId::parse(&claims.sub).ok_or(TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid)?,
            expires_at: seconds(claims.exp),
        })
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshToken, TokenError> {
        self.refresh_with(token, &self.validation)
    }

    /// Like `verify_refresh` but accepts an expired token: logout uses it to
    /// find the session to revoke. The signature, `iss`, `aud` and `typ` are
    /// still checked.
    pub fn verify_refresh_ignoring_expiry(&self, token: &str) -> Result<RefreshToken, TokenError> {
        self.refresh_with(token, &self.validation_ignoring_expiry)
    }

    /// Like `verify_access` but accepts an expired token (logout uses it).
    pub fn verify_access_ignoring_expiry(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.access_with(token, &self.validation_ignoring_expiry)
    }

    fn refresh_with(
        &self,
        token: &str,
        validation: &Validation,
    ) -> Result<RefreshToken, TokenError> {
        let claims: RefreshClaims = self.verify(token, &self.refresh_decoding, validation)?;
        if claims.typ != REFRESH {
            return Err(TokenError::Invalid);
        }
        Ok(RefreshToken {
            user_id: UserId::parse(&claims.sub).ok_or(TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid)?,
            jti: TokenId::parse(&claims.jti).ok_or(TokenError::Invalid)?,
            expires_at: seconds(claims.exp),
        })
    }

    fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<T, TokenError> {
        // Real tokens are a few hundred bytes; refuse to parse anything huge.
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        decode::<T>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

fn seconds(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

// ----- the HS256-only crypto provider -----

fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only if another provider was installed first; ours is then
        // not used, which the tests in this module would catch.
        let _ = HS256_ONLY.install_default();
    });
}

static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: hs256_signer,
    verifier_factory: hs256_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

struct Hs256(ring::hmac::Key);

fn hmac_key(bytes: &[u8]) -> Hs256 {
    Hs256(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
}

fn hs256_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, JwtError> {
    if *alg != Algorithm::HS256 || key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(hmac_key(key.as_bytes())))
}

fn hs256_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, JwtError> {
    if *alg != Algorithm::HS256 || key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(hmac_key(key.try_get_as_bytes()?)))
}

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(ring::hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    /// `ring::hmac::verify` compares in constant time.
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        ring::hmac::verify(&self.0, msg, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use secrecy::SecretString;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: SecretString::from("test-access-secret-0123456789abcdef"),
            refresh_secret: SecretString::from("test-refresh-secret-0123456789abcdef"),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(7 * 86_400),
            session_max_lifetime: Duration::from_secs(30 * 86_400),
            issuer: "tokengate".into(),
            audience: "tokengate-spa".into(),
            leeway: Duration::from_secs(5),
            refresh_grace_period: Duration::from_secs(10),
            expose_access_token: true,
        }
    }

    fn session(now: DateTime<Utc>) -> Session {
        Session::open(
            UserId::generate(),
            now,
            now + chrono::Duration::days(7),
            None,
            None,
        )
    }

    /// The token with the first character of its signature changed (all
    /// six bits of a leading base64 character count).
    fn flip_signature(token: &str) -> String {
        let at = token.rfind('.').unwrap() + 1;
        let first = if token[at..].starts_with('A') {
            "B"
        } else {
            "A"
        };
        format!("{}{first}{}", &token[..at], &token[at + 1..])
    }

    fn forge(header: &str, claims: &serde_json::Value, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            B64.encode(header),
            B64.encode(claims.to_string()),
            sig
        )
    }

    #[test]
    fn access_round_trip() {
        let tokens = TokenService::new(&settings());
        let (user, sid) = (UserId::generate(), SessionId::generate());
        let signed = tokens.issue_access(&user, &sid, Utc::now()).unwrap();
        let verified = tokens.verify_access(&signed.token).unwrap();
        assert_eq!(verified.user_id, user);
        assert_eq!(verified.session_id, sid);
    }

    #[test]
    fn refresh_signing_is_deterministic() {
        let tokens = TokenService::new(&settings());
        let s = session(crate::domain::now());
        assert_eq!(
            tokens.sign_refresh(&s).unwrap().token,
            tokens.sign_refresh(&s).unwrap().token
        );
        let verified = tokens
            .verify_refresh(&tokens.sign_refresh(&s).unwrap().token)
            .unwrap();
        assert_eq!(verified.jti, s.current_jti);
    }

    #[test]
    fn token_kinds_are_not_interchangeable() {
        let tokens = TokenService::new(&settings());
        let s = session(Utc::now());
        let access = tokens
            .issue_access(&s.user_id, &s.id, Utc::now())
            .unwrap()
            .token;
        let refresh = tokens.sign_refresh(&s).unwrap().token;
        assert_eq!(tokens.verify_refresh(&access), Err(TokenError::Invalid));
        assert_eq!(tokens.verify_access(&refresh), Err(TokenError::Invalid));
    }

    #[test]
    fn typ_is_checked_even_with_the_right_key() {
        // A refresh-shaped token signed with the access secret.
        let st = settings();
        let mut same_keys = st.clone();
        same_keys.refresh_secret = st.secret.clone();
        let forger = TokenService::new(&same_keys);
        let s = session(Utc::now());
        let refresh_as_access = forger.sign_refresh(&s).unwrap().token;
        assert_eq!(
            TokenService::new(&st).verify_access(&refresh_as_access),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn expired_tokens_are_refused_beyond_the_leeway() {
        let tokens = TokenService::new(&settings());
        let long_ago = Utc::now() - chrono::Duration::seconds(900 + 6);
        let signed = tokens
            .issue_access(&UserId::generate(), &SessionId::generate(), long_ago)
            .unwrap();
        assert_eq!(
            tokens.verify_access(&signed.token),
            Err(TokenError::Expired)
        );
        let just = Utc::now() - chrono::Duration::seconds(900 + 2);
        let signed = tokens
            .issue_access(&UserId::generate(), &SessionId::generate(), just)
            .unwrap();
        assert!(
            tokens.verify_access(&signed.token).is_ok(),
            "inside the 5 s leeway"
        );
    }

    #[test]
    fn logout_can_still_read_expired_tokens_but_nothing_forged() {
        let tokens = TokenService::new(&settings());
        let long_ago = Utc::now() - chrono::Duration::days(30);
        let (user, sid) = (UserId::generate(), SessionId::generate());
        let access = tokens.issue_access(&user, &sid, long_ago).unwrap().token;
        assert_eq!(tokens.verify_access(&access), Err(TokenError::Expired));
        assert_eq!(
            tokens
                .verify_access_ignoring_expiry(&access)
                .unwrap()
                .session_id,
            sid
        );
        let mut old = session(long_ago);
        old.expires_at = long_ago + chrono::Duration::days(7);
        let refresh = tokens.sign_refresh(&old).unwrap().token;
        assert_eq!(tokens.verify_refresh(&refresh), Err(TokenError::Expired));
        assert_eq!(
            tokens
                .verify_refresh_ignoring_expiry(&refresh)
                .unwrap()
                .session_id,
            old.id
        );
        // Expiry is the only check relaxed: kinds and signatures still hold.
        assert!(tokens.verify_refresh_ignoring_expiry(&access).is_err());
        assert!(tokens.verify_access_ignoring_expiry(&refresh).is_err());
        let forged = flip_signature(&access);
        assert!(tokens.verify_access_ignoring_expiry(&forged).is_err());
    }

    #[test]
    fn wrong_issuer_audience_or_secret_is_refused() {
        let st = settings();
        let tokens = TokenService::new(&st);
        let (user, sid) = (UserId::generate(), SessionId::generate());
        for other in [
            JwtSettings {
                issuer: "someone-else".into(),
                ..st.clone()
            },
            JwtSettings {
                audience: "another-app".into(),
                ..st.clone()
            },
            JwtSettings {
                secret: SecretString::from("a-different-secret-0123456789abcdef"),
                ..st.clone()
            },
        ] {
            let token = TokenService::new(&other)
                .issue_access(&user, &sid, Utc::now())
                .unwrap()
                .token;
            assert_eq!(tokens.verify_access(&token), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn other_algorithms_are_refused() {
        let tokens = TokenService::new(&settings());
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
            "iat": now, "exp": now + 600, "typ": "access", "iss": "tokengate", "aud": "tokengate-spa"
        });
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"HS384","typ":"JWT"}"#,
        ] {
            for sig in ["", "AAAA"] {
                let token = forge(header, &claims, sig);
                assert_eq!(
                    tokens.verify_access(&token),
                    Err(TokenError::Invalid),
                    "{header} / {sig:?}"
                );
            }
        }
        // The same claims, properly signed, pass: the refusals above are the header's doing.
        let good = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"test-access-secret-0123456789abcdef"),
        )
        .unwrap();
        assert!(tokens.verify_access(&good).is_ok());
    }

    #[test]
    fn missing_claims_are_refused() {
        let tokens = TokenService::new(&settings());
        let key = EncodingKey::from_secret(b"test-access-secret-0123456789abcdef");
        let now = Utc::now().timestamp();
        let full = serde_json::json!({
            "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
            "iat": now, "exp": now + 600, "typ": "access", "iss": "tokengate", "aud": "tokengate-spa"
        });
        for field in ["sub", "sid", "exp", "typ", "iss", "aud"] {
            let mut claims = full.clone();
            claims.as_object_mut().unwrap().remove(field);
            let token = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
            assert!(
                tokens.verify_access(&token).is_err(),
                "token without {field} was accepted"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn segment() -> impl Strategy<Value = String> {
            proptest::collection::vec(any::<u8>(), 0..96).prop_map(|b| B64.encode(b))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_strings_never_authenticate(s in ".{0,600}") {
                let tokens = TokenService::new(&settings());
                prop_assert!(tokens.verify_access(&s).is_err());
                prop_assert!(tokens.verify_refresh(&s).is_err());
                prop_assert!(tokens.verify_access_ignoring_expiry(&s).is_err());
            }

            #[test]
            fn random_jwt_shaped_strings_never_authenticate(
                h in segment(), c in segment(), sig in segment()
            ) {
                let tokens = TokenService::new(&settings());
                let token = format!("{h}.{c}.{sig}");
                prop_assert!(tokens.verify_access(&token).is_err());
                prop_assert!(tokens.verify_refresh_ignoring_expiry(&token).is_err());
            }

            #[test]
            fn valid_looking_headers_and_claims_with_forged_signatures_never_authenticate(
                alg in prop_oneof![
                    Just("HS256".to_owned()), Just("none".to_owned()), Just("HS512".to_owned()),
                    Just("RS256".to_owned()), ".{0,8}"
                ],
                typ in prop_oneof![Just("access".to_owned()), Just("refresh".to_owned()), ".{0,8}"],
                exp_offset in -1000i64..100_000,
                sig in segment(),
            ) {
                let tokens = TokenService::new(&settings());
                let now = Utc::now().timestamp();
                let claims = serde_json::json!({
                    "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
                    "jti": TokenId::generate().to_string(), "iat": now, "exp": now + exp_offset,
                    "typ": typ, "iss": "tokengate", "aud": "tokengate-spa"
                });
                let header = serde_json::json!({ "alg": alg, "typ": "JWT" }).to_string();
                let token = forge(&header, &claims, &sig);
                prop_assert!(tokens.verify_access(&token).is_err());
                prop_assert!(tokens.verify_refresh(&token).is_err());
            }
        }
    }
}
