//! Access and refresh tokens: JWTs with `kid`, `exp`, `iss`, `aud` and `typ`
//! checks. The two kinds share one claim set and one code path, told apart
//! by [`Kind`]: its own keys and its own `typ`.
//!
//! Every token names its key (`kid`), and every key is pinned to one
//! algorithm: the verifier looks the key up by `kid` and accepts only that
//! key's algorithm, so a token cannot pick how it is checked (no `none`, no
//! HS256 "signed" with an Ed25519 public key). Refresh tokens are HS256 with
//! the refresh secret; access tokens HS256 with the access secret, or EdDSA
//! (Ed25519) with keys from [`crate::auth::keys`]. An HS256 key's `kid` is a
//! short hash of its secret, so a previous secret (`JWT_SECRET_PREVIOUS`)
//! still verifies the tokens it signed while new ones use the current one.

mod provider;
mod verified;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::{Session, SessionId, TokenId, UserId};
use crate::settings::{JwtAlgorithm, JwtSettings};

use verified::Verified;

pub use provider::ED25519_PUBLIC_KEY_LEN;

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

/// An Ed25519 private key as the token service uses it: PKCS#8 DER, never
/// printed.
pub struct Ed25519Private {
    pub kid: String,
    pub pkcs8: SecretSlice<u8>,
}

impl std::fmt::Debug for Ed25519Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Private")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key: what the JWKS serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ed25519Public {
    pub kid: String,
    /// The raw 32-byte key (the JWK's `x`, base64url-encoded).
    pub x: Vec<u8>,
}

/// The Ed25519 keys of the moment: the one that signs (if any) and every
/// one that may have signed a live token.
#[derive(Debug, Default)]
pub struct Ed25519KeySet {
    pub signing: Option<Ed25519Private>,
    pub published: Vec<Ed25519Public>,
}

/// A key's id by RFC 7638: the base64url SHA-256 thumbprint of its JWK.
pub fn ed25519_kid(x: &[u8]) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x)
    );
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, jwk.as_bytes()))
}

/// An HMAC secret's id: a short hash of it. 72 bits of a SHA-256 tell keys
/// apart and say nothing useful about a secret of 256 bits.
pub fn hs256_kid(secret: &[u8]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(b"tokengate hs256 kid\0");
    context.update(secret);
    format!(
        "hs-{}",
        URL_SAFE_NO_PAD.encode(&context.finish().as_ref()[..9])
    )
}

/// The raw public key of a PKCS#8 Ed25519 private key; `None` if it is not one.
pub fn ed25519_public_key(pkcs8: &[u8]) -> Option<Vec<u8>> {
    provider::ed25519_public_key(pkcs8)
}

/// One HMAC secret, pinned to HS256.
struct HmacKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl HmacKey {
    fn new(secret: &[u8]) -> Self {
        Self {
            kid: hs256_kid(secret),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// One kind's HMAC secrets: the current one signs; it or the previous one
/// verifies, chosen by `kid`.
struct HmacKeys {
    current: HmacKey,
    previous: Option<HmacKey>,
}

impl HmacKeys {
    fn new(current: &SecretString, previous: Option<&SecretString>) -> Self {
        Self {
            current: HmacKey::new(current.expose_secret().as_bytes()),
            previous: previous.map(|p| HmacKey::new(p.expose_secret().as_bytes())),
        }
    }

    /// A token without `kid` was signed before tokens carried one: only the
    /// current secret may verify it (as it always did).
    fn find(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            None => Some(&self.current.decoding),
            Some(kid) if kid == self.current.kid => Some(&self.current.decoding),
            Some(kid) => self
                .previous
                .as_ref()
                .filter(|p| p.kid == kid)
                .map(|p| &p.decoding),
        }
    }
}

/// The Ed25519 keys in use, swapped whole when the key manager reloads them.
#[derive(Default)]
struct Ed25519Keys {
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    published: Vec<Ed25519Public>,
}

/// A handle on the token service's Ed25519 keys.
#[derive(Clone)]
pub struct KeySlot {
    keys: Arc<RwLock<Arc<Ed25519Keys>>>,
    verified: Arc<Verified>,
}

impl KeySlot {
    /// Replaces the Ed25519 keys, all at once. A signing key that is not a
    /// PKCS#8 Ed25519 key is refused (nothing changes); a published key of
    /// the wrong length is left out.
    pub fn install(&self, set: Ed25519KeySet) -> Result<(), TokenError> {
        let signing = match set.signing {
            Some(private) => {
                if ed25519_public_key(private.pkcs8.expose_secret()).is_none() {
                    return Err(TokenError::Signing);
                }
                Some((
                    private.kid,
                    EncodingKey::from_ed_der(private.pkcs8.expose_secret()),
                ))
            }
            None => None,
        };
        let published: Vec<Ed25519Public> = set
            .published
            .into_iter()
            .filter(|k| k.x.len() == ED25519_PUBLIC_KEY_LEN)
            .collect();
        let mut verifying = HashMap::new();
        for k in &published {
            let key = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&k.x))
                .map_err(|_| TokenError::Invalid)?;
            verifying.insert(k.kid.clone(), key);
        }
        let keys = Arc::new(Ed25519Keys {
            signing,
            verifying,
            published,
        });
        match self.keys.write() {
            Ok(mut slot) => *slot = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        // Tokens verified under the old set answer again under the new one.
        self.verified.clear();
        Ok(())
    }
}

/// Called (cheaply, without waiting) when an access token names a key this
/// instance does not know: the key manager then reloads from the store.
pub type UnknownKidHook = Box<dyn Fn() + Send + Sync>;

pub struct TokenService {
    algorithm: JwtAlgorithm,
    access: HmacKeys,
    refresh: HmacKeys,
    ed25519: Arc<RwLock<Arc<Ed25519Keys>>>,
    /// Access tokens already verified (checked `exp` only).
    verified: Arc<Verified>,
    on_unknown_kid: OnceLock<UnknownKidHook>,
    /// Per algorithm, with and without the `exp` check, built once.
    validations: [[Validation; 2]; 2],
    issuer: String,
    audience: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

fn validation(settings: &JwtSettings, alg: Algorithm, expiry: Expiry) -> Validation {
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.leeway = settings.leeway.as_secs();
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_exp = expiry == Expiry::Checked;
    validation
}

impl TokenService {
    pub fn new(settings: &JwtSettings) -> Self {
        provider::install_crypto_provider();
        let both = |alg| {
            [
                validation(settings, alg, Expiry::Checked),
                validation(settings, alg, Expiry::Ignored),
            ]
        };
        Self {
            algorithm: settings.algorithm,
            access: HmacKeys::new(&settings.secret, settings.secret_previous.as_ref()),
            refresh: HmacKeys::new(
                &settings.refresh_secret,
                settings.refresh_secret_previous.as_ref(),
            ),
            ed25519: Arc::default(),
            verified: Arc::new(Verified::new(verified::CAPACITY, settings.leeway)),
            on_unknown_kid: OnceLock::new(),
            validations: [both(Algorithm::HS256), both(Algorithm::EdDSA)],
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        }
    }

    /// How access tokens are signed.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// Where the Ed25519 keys live: the key manager installs new ones
    /// through it while the service runs.
    pub fn key_slot(&self) -> KeySlot {
        KeySlot {
            keys: Arc::clone(&self.ed25519),
            verified: Arc::clone(&self.verified),
        }
    }

    /// The public keys that may have signed a live access token (empty
    /// under HS256): the JWKS.
    pub fn published_keys(&self) -> Vec<Ed25519Public> {
        if self.algorithm != JwtAlgorithm::EdDsa {
            return Vec::new();
        }
        self.ed25519_keys().published.clone()
    }

    /// The `kid` new access tokens are signed with, if any.
    pub fn signing_kid(&self) -> Option<String> {
        match self.algorithm {
            JwtAlgorithm::Hs256 => Some(self.access.current.kid.clone()),
            JwtAlgorithm::EdDsa => self.ed25519_keys().signing.as_ref().map(|(k, _)| k.clone()),
        }
    }

    /// Sets what to do on an unknown `kid` (once; later calls are ignored).
    pub fn on_unknown_kid(&self, hook: UnknownKidHook) {
        let _ = self.on_unknown_kid.set(hook);
    }

    fn ed25519_keys(&self) -> Arc<Ed25519Keys> {
        match self.ed25519.read() {
            Ok(keys) => Arc::clone(&keys),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
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

    /// Verifies an access token, or finds it among those already verified
    /// (the same bytes, not yet expired).
    pub fn verify_access(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.verify_access_at(token, Utc::now())
    }

    /// `verify_access` with the clock of the cache's expiry check given.
    fn verify_access_at(&self, token: &str, now: DateTime<Utc>) -> Result<AccessToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let digest = Verified::digest(token);
        if let Some(verdict) = self.verified.get(&digest, now) {
            return verdict;
        }
        let verified = self.access_with(token, Expiry::Checked)?;
        self.verified.insert(digest, verified.clone());
        Ok(verified)
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
        let hmac = |keys: &HmacKeys| {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(keys.current.kid.clone());
            encode(&header, &claims, &keys.current.encoding)
        };
        let token = match (kind, self.algorithm) {
            (Kind::Refresh, _) => hmac(&self.refresh),
            (Kind::Access, JwtAlgorithm::Hs256) => hmac(&self.access),
            (Kind::Access, JwtAlgorithm::EdDsa) => {
                let keys = self.ed25519_keys();
                let (kid, key) = keys.signing.as_ref().ok_or(TokenError::Signing)?;
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(kid.clone());
                encode(&header, &claims, key)
            }
        }
        .map_err(|_| TokenError::Signing)?;
        Ok(Signed {
            token,
            expires_at: seconds(claims.exp),
        })
    }

    fn verify(&self, kind: Kind, token: &str, expiry: Expiry) -> Result<Claims, TokenError> {
        // Real tokens are a few hundred bytes; refuse to parse anything huge.
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.as_deref();
        // The key, and with it the one algorithm accepted, come from the
        // `kid` alone; the header's `alg` must then agree (checked by
        // `decode` against the pinned validation).
        let ed25519;
        let (key, alg) = match (kind, self.algorithm) {
            (Kind::Refresh, _) => (self.refresh.find(kid), Algorithm::HS256),
            (Kind::Access, JwtAlgorithm::Hs256) => (self.access.find(kid), Algorithm::HS256),
            (Kind::Access, JwtAlgorithm::EdDsa) => {
                let kid = kid.ok_or(TokenError::Invalid)?;
                ed25519 = self.ed25519_keys();
                let key = ed25519.verifying.get(kid);
                if key.is_none()
                    && let Some(hook) = self.on_unknown_kid.get()
                {
                    hook();
                }
                (key, Algorithm::EdDSA)
            }
        };
        let key = key.ok_or(TokenError::Invalid)?;
        let validation = &self.validations[usize::from(alg == Algorithm::EdDSA)]
            [usize::from(expiry == Expiry::Ignored)];
        let claims = decode::<Claims>(token, key, validation)
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

/// Real tokens are a few hundred bytes; anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 4096;

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
            algorithm: JwtAlgorithm::Hs256,
            secret_previous: None,
            refresh_secret_previous: None,
            jwks_max_age: Duration::from_secs(300),
            key_refresh_interval: Duration::from_secs(60),
            key_rotation: None,
            key_encryption_key: None,
            private_key_file: None,
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

    /// A fresh PKCS#8 Ed25519 key and its public half.
    fn ed25519_key() -> (Ed25519Private, Ed25519Public) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let x = ed25519_public_key(&pkcs8).unwrap();
        let kid = ed25519_kid(&x);
        (
            Ed25519Private {
                kid: kid.clone(),
                pkcs8: pkcs8.into(),
            },
            Ed25519Public { kid, x },
        )
    }

    /// An EdDSA token service signing with a fresh key; that key's public half.
    fn eddsa() -> (TokenService, Ed25519Public) {
        let tokens = TokenService::new(&JwtSettings {
            algorithm: JwtAlgorithm::EdDsa,
            ..settings()
        });
        let (private, public) = ed25519_key();
        tokens
            .key_slot()
            .install(Ed25519KeySet {
                signing: Some(private),
                published: vec![public.clone()],
            })
            .unwrap();
        (tokens, public)
    }

    fn header_of(token: &str) -> serde_json::Value {
        let head = token.split('.').next().unwrap();
        serde_json::from_slice(&B64.decode(head).unwrap()).unwrap()
    }

    fn access_claims() -> serde_json::Value {
        let now = Utc::now().timestamp();
        serde_json::json!({
            "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
            "iat": now, "exp": now + 600, "typ": "access", "iss": "tokengate", "aud": "tokengate-spa"
        })
    }

    #[test]
    fn every_token_names_its_key() {
        for tokens in [TokenService::new(&settings()), eddsa().0] {
            let s = session(Utc::now());
            let access = tokens.issue_access(&s.user_id, &s.id, Utc::now()).unwrap();
            let refresh = tokens.sign_refresh(&s).unwrap();
            let (ah, rh) = (header_of(&access.token), header_of(&refresh.token));
            assert_eq!(ah["kid"], tokens.signing_kid().unwrap().as_str());
            assert_eq!(ah["alg"], tokens.algorithm().as_str());
            assert_eq!(rh["alg"], "HS256", "refresh tokens stay HS256");
            assert_eq!(
                rh["kid"],
                hs256_kid(b"test-refresh-secret-0123456789abcdef").as_str()
            );
            assert!(tokens.verify_access(&access.token).is_ok());
            assert!(tokens.verify_refresh(&refresh.token).is_ok());
        }
    }

    #[test]
    fn eddsa_round_trip_and_the_jwks_lists_the_key() {
        let (tokens, public) = eddsa();
        let (user, sid) = (UserId::generate(), SessionId::generate());
        let signed = tokens.issue_access(&user, &sid, Utc::now()).unwrap();
        assert_eq!(tokens.verify_access(&signed.token).unwrap().user_id, user);
        assert_eq!(tokens.published_keys(), [public]);
        assert!(
            TokenService::new(&settings()).published_keys().is_empty(),
            "nothing is published under HS256"
        );
    }

    #[test]
    fn an_unknown_kid_is_refused_and_reported() {
        let (tokens, _) = eddsa();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        tokens.on_unknown_kid(Box::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }));
        // Properly signed, by a key this service has never published.
        let (stranger, _) = eddsa();
        let token = stranger
            .issue_access(&UserId::generate(), &SessionId::generate(), Utc::now())
            .unwrap()
            .token;
        assert_eq!(tokens.verify_access(&token), Err(TokenError::Invalid));
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        // HS256: a kid that is neither secret's hash.
        let hs = TokenService::new(&settings());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("hs-unknown".into());
        let token = encode(
            &header,
            &access_claims(),
            &EncodingKey::from_secret(b"test-access-secret-0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(hs.verify_access(&token), Err(TokenError::Invalid));
        // An EdDSA access token must name its key.
        let (private, _) = ed25519_key();
        let no_kid = encode(
            &Header::new(Algorithm::EdDSA),
            &access_claims(),
            &EncodingKey::from_ed_der(private.pkcs8.expose_secret()),
        )
        .unwrap();
        assert_eq!(tokens.verify_access(&no_kid), Err(TokenError::Invalid));
    }

    #[test]
    fn an_alg_that_does_not_match_the_key_is_refused() {
        let (tokens, public) = eddsa();
        // The right kid, but the header says HS256 and the token is an
        // HMAC with the access secret: the key's algorithm is EdDSA.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(public.kid.clone());
        let token = encode(
            &header,
            &access_claims(),
            &EncodingKey::from_secret(b"test-access-secret-0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(tokens.verify_access(&token), Err(TokenError::Invalid));
        // And the other way: an EdDSA token under the HS256 secret's kid.
        let hs = TokenService::new(&settings());
        let (private, _) = ed25519_key();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(hs256_kid(b"test-access-secret-0123456789abcdef"));
        let token = encode(
            &header,
            &access_claims(),
            &EncodingKey::from_ed_der(private.pkcs8.expose_secret()),
        )
        .unwrap();
        assert_eq!(hs.verify_access(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn hs256_forged_with_the_public_key_as_secret_is_refused() {
        // Algorithm confusion: everyone has the public key from the JWKS.
        let (tokens, public) = eddsa();
        for (as_secret, kid) in [
            (public.x.clone(), Some(public.kid.clone())),
            (B64.encode(&public.x).into_bytes(), Some(public.kid.clone())),
            (public.x.clone(), None),
        ] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid;
            let token = encode(
                &header,
                &access_claims(),
                &EncodingKey::from_secret(&as_secret),
            )
            .unwrap();
            assert_eq!(tokens.verify_access(&token), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn alg_none_is_refused_whatever_the_kid() {
        let (tokens, public) = eddsa();
        let hs = TokenService::new(&settings());
        let hs_kid = hs256_kid(b"test-access-secret-0123456789abcdef");
        for (service, kid) in [(&tokens, public.kid.as_str()), (&hs, hs_kid.as_str())] {
            for alg in ["none", "None", "NONE"] {
                let header =
                    serde_json::json!({ "alg": alg, "typ": "JWT", "kid": kid }).to_string();
                for sig in ["", "AAAA"] {
                    let token = forge(&header, &access_claims(), sig);
                    assert_eq!(service.verify_access(&token), Err(TokenError::Invalid));
                }
            }
        }
    }

    #[test]
    fn previous_secrets_verify_by_kid_while_new_tokens_use_the_current_ones() {
        let old = settings();
        let new = JwtSettings {
            secret: SecretString::from("the-new-access-secret-0123456789abcdef"),
            refresh_secret: SecretString::from("the-new-refresh-secret-0123456789abcdef"),
            secret_previous: Some(old.secret.clone()),
            refresh_secret_previous: Some(old.refresh_secret.clone()),
            ..old.clone()
        };
        let (before, after) = (TokenService::new(&old), TokenService::new(&new));
        let s = session(Utc::now());
        let old_access = before
            .issue_access(&s.user_id, &s.id, Utc::now())
            .unwrap()
            .token;
        let old_refresh = before.sign_refresh(&s).unwrap().token;
        assert!(after.verify_access(&old_access).is_ok());
        assert!(after.verify_refresh(&old_refresh).is_ok());
        let new_access = after
            .issue_access(&s.user_id, &s.id, Utc::now())
            .unwrap()
            .token;
        assert_ne!(header_of(&new_access)["kid"], header_of(&old_access)["kid"]);
        assert!(before.verify_access(&new_access).is_err());
        // Once the previous secret is dropped, its tokens stop verifying.
        let later = TokenService::new(&JwtSettings {
            secret_previous: None,
            refresh_secret_previous: None,
            ..new.clone()
        });
        assert_eq!(later.verify_access(&old_access), Err(TokenError::Invalid));
        assert_eq!(later.verify_refresh(&old_refresh), Err(TokenError::Invalid));
        // A kid-less token (signed before kids existed) is checked against
        // the current secret only.
        let legacy = encode(
            &Header::new(Algorithm::HS256),
            &access_claims(),
            &EncodingKey::from_secret(b"test-access-secret-0123456789abcdef"),
        )
        .unwrap();
        assert!(before.verify_access(&legacy).is_ok());
        assert!(after.verify_access(&legacy).is_err());
    }

    #[test]
    fn a_verified_token_is_remembered_only_byte_for_byte_and_until_it_expires() {
        for tokens in [TokenService::new(&settings()), eddsa().0] {
            let signed = tokens
                .issue_access(&UserId::generate(), &SessionId::generate(), Utc::now())
                .unwrap();
            let first = tokens.verify_access(&signed.token).unwrap();
            assert_eq!(tokens.verified.len(), 1);
            assert_eq!(tokens.verify_access(&signed.token).unwrap(), first);
            assert_eq!(tokens.verified.len(), 1, "the second check was a hit");
            // Any other bytes go through the full check.
            assert_eq!(
                tokens.verify_access(&flip_signature(&signed.token)),
                Err(TokenError::Invalid)
            );
            assert_eq!(
                tokens.verify_access(&format!("{} ", signed.token)),
                Err(TokenError::Invalid)
            );
            // The hit answers as the full check would: inside the leeway,
            // then expired (and forgotten).
            let leeway = chrono::Duration::seconds(5);
            assert!(
                tokens
                    .verify_access_at(&signed.token, signed.expires_at + leeway)
                    .is_ok()
            );
            let later = signed.expires_at + leeway + chrono::Duration::seconds(1);
            assert_eq!(
                tokens.verify_access_at(&signed.token, later),
                Err(TokenError::Expired)
            );
            assert_eq!(tokens.verified.len(), 0);
        }
    }

    #[test]
    fn a_removed_ed25519_key_stops_verifying_its_tokens_even_those_verified_before() {
        let (tokens, _) = eddsa();
        let issue = || {
            tokens
                .issue_access(&UserId::generate(), &SessionId::generate(), Utc::now())
                .unwrap()
                .token
        };
        let (never_checked, remembered) = (issue(), issue());
        // Verified once, so remembered by the verified-token cache.
        assert!(tokens.verify_access(&remembered).is_ok());
        let (next, next_public) = ed25519_key();
        tokens
            .key_slot()
            .install(Ed25519KeySet {
                signing: Some(next),
                published: vec![next_public],
            })
            .unwrap();
        assert_eq!(
            tokens.verify_access(&never_checked),
            Err(TokenError::Invalid)
        );
        assert_eq!(tokens.verify_access(&remembered), Err(TokenError::Invalid));
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
                    Just("EdDSA".to_owned()),
                    Just("RS256".to_owned()), ".{0,8}"
                ],
                typ in prop_oneof![Just("access".to_owned()), Just("refresh".to_owned()), ".{0,8}"],
                exp_offset in -1000i64..100_000,
                sig in segment(),
            ) {
                let tokens = TokenService::new(&settings());
                let (ed, public) = eddsa();
                let now = Utc::now().timestamp();
                let claims = serde_json::json!({
                    "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
                    "jti": TokenId::generate().to_string(), "iat": now, "exp": now + exp_offset,
                    "typ": typ, "iss": "tokengate", "aud": "tokengate-spa"
                });
                let hs_kid = hs256_kid(b"test-access-secret-0123456789abcdef");
                for kid in [None, Some(hs_kid.as_str()), Some(public.kid.as_str())] {
                    let header = serde_json::json!({ "alg": alg, "typ": "JWT", "kid": kid }).to_string();
                    let token = forge(&header, &claims, &sig);
                    prop_assert!(tokens.verify_access(&token).is_err());
                    prop_assert!(tokens.verify_refresh(&token).is_err());
                    prop_assert!(ed.verify_access(&token).is_err());
                }
            }
        }
    }
}
