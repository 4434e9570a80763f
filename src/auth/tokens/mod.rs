//! Access and refresh tokens: HS256 JWTs with pinned algorithm, `exp`, `iss`,
//! `aud` and `typ` checks. The two kinds share one claim set and one code
//! path, told apart by [`Kind`]: its own secret and its own `typ`.

mod hs256;

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::domain::{Session, SessionId, TokenId, UserId};
use crate::settings::JwtSettings;

/// The two kinds of token; a token of one kind never passes as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn typ(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        }
    }
}

/// Whether verification checks `exp` (logout finds the session of an
/// expired token, so it may ignore it; nothing else may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Checked,
    Ignored,
}

/// The claims of both kinds, in the order they are serialised. Only refresh
/// tokens carry a `jti`. Serialisation is deterministic (fixed field order)
/// and HS256 is deterministic, so the same claims give the same token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
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
    #[error("token expiry out of range")]
    OutOfRange,
}

/// One kind's keys.
struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

pub struct TokenService {
    access: Keys,
    refresh: Keys,
    validation: Validation,
    /// The same checks without `exp`, built once.
    validation_ignoring_expiry: Validation,
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl TokenService {
    pub fn new(settings: &JwtSettings) -> Self {
        hs256::install_crypto_provider();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = settings.leeway.as_secs();
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            access: Keys::new(settings.secret_bytes()),
            refresh: Keys::new(settings.refresh_secret_bytes()),
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
    pub fn refresh_expiry(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, TokenError> {
        crate::domain::after(now, self.refresh_ttl).ok_or(TokenError::OutOfRange)
    }

    pub fn issue_access(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Signed, TokenError> {
        let expires_at =
            crate::domain::after(now, self.access_ttl).ok_or(TokenError::OutOfRange)?;
        self.sign(Kind::Access, user_id, session_id, None, now, expires_at)
    }

    /// Signs the session's current refresh token from the stored record.
    /// Calling it twice for the same record gives the same string.
    pub fn sign_refresh(&self, session: &Session) -> Result<Signed, TokenError> {
        self.sign(
            Kind::Refresh,
            &session.user_id,
            &session.id,
            Some(&session.current_jti),
            session.current_issued_at,
            session.expires_at,
        )
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.access_with(token, Expiry::Checked)
    }

    /// Like `verify_access` but accepts an expired token (logout uses it).
    pub fn verify_access_ignoring_expiry(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.access_with(token, Expiry::Ignored)
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshToken, TokenError> {
        self.refresh_with(token, Expiry::Checked)
    }

    /// Like `verify_refresh` but accepts an expired token: logout uses it to
    /// find the session to revoke. The signature, `iss`, `aud` and `typ` are
    /// still checked.
    pub fn verify_refresh_ignoring_expiry(&self, token: &str) -> Result<RefreshToken, TokenError> {
        self.refresh_with(token, Expiry::Ignored)
    }

    fn access_with(&self, token: &str, expiry: Expiry) -> Result<AccessToken, TokenError> {
        let claims = self.verify(Kind::Access, token, expiry)?;
        Ok(AccessToken {
            user_id: UserId::parse(&claims.sub).ok_or(TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid)?,
            expires_at: seconds(claims.exp),
        })
    }

    fn refresh_with(&self, token: &str, expiry: Expiry) -> Result<RefreshToken, TokenError> {
        let claims = self.verify(Kind::Refresh, token, expiry)?;
        Ok(RefreshToken {
            user_id: UserId::parse(&claims.sub).ok_or(TokenError::Invalid)?,
            session_id: SessionId::parse(&claims.sid).ok_or(TokenError::Invalid)?,
            jti: claims
                .jti
                .as_deref()
                .and_then(TokenId::parse)
                .ok_or(TokenError::Invalid)?,
            expires_at: seconds(claims.exp),
        })
    }

    fn keys(&self, kind: Kind) -> &Keys {
        match kind {
            Kind::Access => &self.access,
            Kind::Refresh => &self.refresh,
        }
    }

    fn sign(
        &self,
        kind: Kind,
        user_id: &UserId,
        session_id: &SessionId,
        jti: Option<&TokenId>,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Signed, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            jti: jti.map(TokenId::to_string),
            iat: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            typ: kind.typ().into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.keys(kind).encoding,
        )
        .map_err(|_| TokenError::Signing)?;
        Ok(Signed {
            token,
            expires_at: seconds(claims.exp),
        })
    }

    fn verify(&self, kind: Kind, token: &str, expiry: Expiry) -> Result<Claims, TokenError> {
        // Real tokens are a few hundred bytes; refuse to parse anything huge.
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let validation = match expiry {
            Expiry::Checked => &self.validation,
            Expiry::Ignored => &self.validation_ignoring_expiry,
        };
        let claims = decode::<Claims>(token, &self.keys(kind).decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if claims.typ != kind.typ() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

fn seconds(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
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
    fn absurd_lifetimes_are_an_error_not_a_panic() {
        let tokens = TokenService::new(&JwtSettings {
            access_ttl: Duration::MAX,
            refresh_ttl: Duration::from_secs(999_999_999 * 86_400),
            ..settings()
        });
        let now = Utc::now();
        assert_eq!(
            tokens
                .issue_access(&UserId::generate(), &SessionId::generate(), now)
                .unwrap_err(),
            TokenError::OutOfRange
        );
        assert_eq!(tokens.refresh_expiry(now), Err(TokenError::OutOfRange));
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
