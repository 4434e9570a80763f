//! Ed25519 signing keys for access tokens (`JWT_ALGORITHM=EdDSA`): made,
//! sealed, kept in the store, rotated and loaded.
//!
//! - **In the store**, so every instance signs with the same keys. The first
//!   instance to start makes one; of several starting at once, the store's
//!   unique generation number lets one insert win and the others re-read.
//! - **Sealed** with AES-256-GCM under the key-encryption key from
//!   `JWT_KEY_ENCRYPTION_KEY` (the `kid` is the associated data, so a sealed
//!   key cannot be passed off as another). Without one (allowed in the local
//!   profile only) keys are stored unencrypted and start-up says so in a
//!   warning. A private key is never logged, served or printed.
//! - **Rotated** without logging anyone out: a new key (the next generation)
//!   is published in the JWKS at once but signs only from `activates_at`,
//!   one JWKS cache lifetime plus one key refresh interval later, so every
//!   verifier that follows the cache headers knows it before it sees a token
//!   from it. The key it replaces stays published until the last token it
//!   signed has expired (access lifetime + leeway).
//! - **Loaded** by each instance at start, every `key_refresh_interval`, and
//!   soon after a token names an unknown `kid` (at most every few seconds).
//!
//! A deployer who manages the key may instead give a PKCS#8 PEM file
//! (`JWT_PRIVATE_KEY_FILE`): then nothing is generated or stored.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretSlice};

use super::tokens::{
    Ed25519KeySet, Ed25519Private, Ed25519Public, KeySlot, TokenService, ed25519_kid,
    ed25519_public_key,
};
use crate::settings::{JwtAlgorithm, JwtSettings, Profile, Settings};
use crate::store::{SharedStore, StoreError, StoredSigningKey};

/// The `encryption` of a sealed key: AES-256-GCM, `nonce || ciphertext || tag`.
pub const SEALED_AES256GCM: &str = "A256GCM";
/// The `encryption` of an unsealed key (local profile without a KEK).
pub const UNSEALED: &str = "none";
const EDDSA: &str = "EdDSA";
/// How often an unknown `kid` may make an instance reload its keys.
const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the signing keys could not be read or written")]
    Store(#[from] StoreError),
    #[error("signing key {kid} cannot be used: {reason}")]
    Unusable { kid: String, reason: &'static str },
    #[error("{0}")]
    Config(String),
    #[error("no random numbers: a key could not be made")]
    Random,
}

/// The timing rules of rotation.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// How long a verifier may cache the JWKS.
    pub jwks_max_age: Duration,
    /// How often an instance reloads the keys.
    pub refresh_interval: Duration,
    /// How long after its signing key is replaced a token may still verify.
    pub token_lifetime: Duration,
    /// Make a new key this often (`None`: only on demand).
    pub rotation: Option<Duration>,
}

impl KeyPolicy {
    pub fn from_settings(jwt: &JwtSettings) -> Self {
        Self {
            jwks_max_age: jwt.jwks_max_age,
            refresh_interval: jwt.key_refresh_interval,
            token_lifetime: jwt.access_ttl + jwt.leeway,
            rotation: jwt.key_rotation,
        }
    }

    /// A new key is published this long before it signs: every instance
    /// has loaded it and every cached JWKS has expired by then.
    pub fn publish_delay(&self) -> Duration {
        self.jwks_max_age + self.refresh_interval
    }
}

/// Where a key is in its life at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published; signs from `activates_at`.
    Pending,
    /// Signs new tokens.
    Current,
    /// Replaced; published until the last token it signed has expired.
    Retired { published_until: DateTime<Utc> },
    /// Replaced and no token it signed is alive: no longer published.
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Current => "current",
            KeyState::Retired { .. } => "retired",
            KeyState::Expired => "expired",
        }
    }

    pub fn is_published(self) -> bool {
        !matches!(self, KeyState::Expired)
    }
}

/// The state of each key (given oldest generation first) at `now`. The
/// current key is the newest that has activated; a key is retired when a
/// later one activates, and published for `token_lifetime` after that.
pub fn states(keys: &[StoredSigningKey], now: DateTime<Utc>, policy: &KeyPolicy) -> Vec<KeyState> {
    let current = keys.iter().rposition(|k| k.activates_at <= now);
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            if k.activates_at > now {
                return KeyState::Pending;
            }
            if Some(i) == current {
                return KeyState::Current;
            }
            // Replaced by the first later key that has activated.
            let replaced_at = keys[i + 1..]
                .iter()
                .map(|later| later.activates_at)
                .filter(|at| *at <= now)
                .min()
                .unwrap_or(now);
            let until = crate::domain::after(replaced_at, policy.token_lifetime)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if now < until {
                KeyState::Retired {
                    published_until: until,
                }
            } else {
                KeyState::Expired
            }
        })
        .collect()
}

/// Seals and opens private keys with the key-encryption key, if any.
pub struct Sealer {
    kek: Option<LessSafeKey>,
    random: SystemRandom,
}

impl Sealer {
    pub fn new(kek: Option<[u8; 32]>) -> Self {
        Self {
            kek: kek.map(|bytes| {
                LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key"),
                )
            }),
            random: SystemRandom::new(),
        }
    }

    pub fn encrypts(&self) -> bool {
        self.kek.is_some()
    }

    fn aad(kid: &str) -> Vec<u8> {
        format!("tokengate signing key {kid}").into_bytes()
    }

    /// The stored form of `pkcs8` and its `encryption` label.
    fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<(Vec<u8>, &'static str), KeyError> {
        let Some(kek) = &self.kek else {
            return Ok((pkcs8.to_vec(), UNSEALED));
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let mut sealed = pkcs8.to_vec();
        kek.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(Self::aad(kid)),
            &mut sealed,
        )
        .map_err(|_| KeyError::Random)?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok((stored, SEALED_AES256GCM))
    }

    /// The PKCS#8 private key of a stored key.
    fn open(&self, key: &StoredSigningKey) -> Result<SecretSlice<u8>, KeyError> {
        let unusable = |reason| KeyError::Unusable {
            kid: key.kid.clone(),
            reason,
        };
        let pkcs8: Vec<u8> = match key.encryption.as_str() {
            UNSEALED => key.private_key.clone(),
            SEALED_AES256GCM => {
                let kek = self.kek.as_ref().ok_or_else(|| {
                    unusable("it is encrypted and JWT_KEY_ENCRYPTION_KEY is not set")
                })?;
                if key.private_key.len() < NONCE_LEN {
                    return Err(unusable("the sealed key is truncated"));
                }
                let (nonce, sealed) = key.private_key.split_at(NONCE_LEN);
                let nonce = Nonce::try_assume_unique_for_key(nonce)
                    .map_err(|_| unusable("the sealed key is truncated"))?;
                let mut buffer = sealed.to_vec();
                let plain = kek
                    .open_in_place(nonce, Aad::from(Self::aad(&key.kid)), &mut buffer)
                    .map_err(|_| {
                        unusable("it does not decrypt with JWT_KEY_ENCRYPTION_KEY (another key?)")
                    })?;
                plain.to_vec()
            }
            _ => return Err(unusable("unknown encryption")),
        };
        match ed25519_public_key(&pkcs8) {
            Some(public) if public == key.public_key => Ok(pkcs8.into()),
            Some(_) => Err(unusable("its private and public keys do not match")),
            None => Err(unusable("it is not a PKCS#8 Ed25519 key")),
        }
    }
}

/// A fresh key of `generation`, sealed, activating at `activates_at`.
fn generate(
    sealer: &Sealer,
    generation: i64,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> Result<StoredSigningKey, KeyError> {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&sealer.random)
        .map_err(|_| KeyError::Random)?;
    let public = ed25519_public_key(pkcs8.as_ref()).ok_or(KeyError::Random)?;
    let kid = ed25519_kid(&public);
    let (private_key, encryption) = sealer.seal(&kid, pkcs8.as_ref())?;
    Ok(StoredSigningKey {
        kid,
        generation,
        algorithm: EDDSA.into(),
        public_key: public,
        private_key,
        encryption: encryption.into(),
        created_at: now,
        activates_at,
    })
}

/// Inserts the key after the newest one, activating `delay` from now;
/// re-reads and tries again (a few times) if another instance took that
/// generation first. `None` when `wanted` says no key is needed after all.
async fn add_next(
    store: &SharedStore,
    sealer: &Sealer,
    delay: impl Fn(&[StoredSigningKey]) -> Option<Duration>,
) -> Result<Option<StoredSigningKey>, KeyError> {
    for _ in 0..5 {
        let keys = store.signing_keys().await?;
        let Some(delay) = delay(&keys) else {
            return Ok(None);
        };
        let now = crate::domain::now();
        let generation = keys.last().map_or(1, |k| k.generation + 1);
        let activates_at = crate::domain::after(now, delay).unwrap_or(now);
        let key = generate(sealer, generation, now, activates_at)?;
        if store.insert_signing_key(&key).await? {
            return Ok(Some(key));
        }
    }
    Err(KeyError::Config(
        "could not add a signing key: other instances kept taking its generation".into(),
    ))
}

/// The first key, when the store has none: it signs at once (no verifier
/// can have cached a JWKS without it, since there was none).
pub async fn ensure_key(
    store: &SharedStore,
    sealer: &Sealer,
) -> Result<Option<StoredSigningKey>, KeyError> {
    add_next(store, sealer, |keys| {
        keys.is_empty().then_some(Duration::ZERO)
    })
    .await
}

/// Adds the next key if the newest one is older than the rotation period.
pub async fn rotate_if_due(
    store: &SharedStore,
    sealer: &Sealer,
    policy: &KeyPolicy,
) -> Result<Option<StoredSigningKey>, KeyError> {
    let Some(period) = policy.rotation else {
        return Ok(None);
    };
    add_next(store, sealer, |keys| {
        let newest = keys.last()?;
        let due = crate::domain::after(newest.activates_at, period)?;
        (due <= crate::domain::now()).then(|| policy.publish_delay())
    })
    .await
}

/// Adds the next key now (`tokengate keys rotate`); it signs after the
/// publish delay.
pub async fn rotate_now(
    store: &SharedStore,
    sealer: &Sealer,
    policy: &KeyPolicy,
) -> Result<StoredSigningKey, KeyError> {
    add_next(store, sealer, |_| Some(policy.publish_delay()))
        .await?
        .ok_or_else(|| KeyError::Config("no key was added".into()))
}

/// The keys to install from the store at `now`: the current one's private
/// key (opened) and every published public key.
pub async fn load(
    store: &SharedStore,
    sealer: &Sealer,
    policy: &KeyPolicy,
) -> Result<Ed25519KeySet, KeyError> {
    let keys = store.signing_keys().await?;
    let now = crate::domain::now();
    let states = states(&keys, now, policy);
    let mut set = Ed25519KeySet::default();
    for (key, state) in keys.iter().zip(states) {
        if key.algorithm != EDDSA || !state.is_published() {
            continue;
        }
        set.published.push(Ed25519Public {
            kid: key.kid.clone(),
            x: key.public_key.clone(),
        });
        if state == KeyState::Current {
            set.signing = Some(Ed25519Private {
                kid: key.kid.clone(),
                pkcs8: sealer.open(key)?,
            });
        }
    }
    Ok(set)
}

/// A PKCS#8 Ed25519 private key from a PEM file (`-----BEGIN PRIVATE KEY-----`).
pub fn read_pem(path: &Path) -> Result<Ed25519Private, KeyError> {
    let fail =
        |why: &str| KeyError::Config(format!("JWT_PRIVATE_KEY_FILE {}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e.to_string()))?;
    let body = text
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .ok_or_else(|| fail("no -----BEGIN PRIVATE KEY----- block (PKCS#8 PEM)"))?;
    let der: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let pkcs8 = base64::engine::general_purpose::STANDARD
        .decode(der)
        .map_err(|_| fail("the PEM body is not base64"))?;
    let public = ed25519_public_key(&pkcs8).ok_or_else(|| fail("not a PKCS#8 Ed25519 key"))?;
    Ok(Ed25519Private {
        kid: ed25519_kid(&public),
        pkcs8: pkcs8.into(),
    })
}

/// Loads the access-token keys into `tokens` at start-up and, with keys in
/// the store, returns the task that keeps them current. Nothing to do under
/// HS256.
pub async fn start(
    settings: &Settings,
    store: &SharedStore,
    tokens: &TokenService,
) -> Result<Option<tokio::task::JoinHandle<()>>, KeyError> {
    let jwt = &settings.jwt;
    if jwt.algorithm != JwtAlgorithm::EdDsa {
        return Ok(None);
    }
    let slot = tokens.key_slot();
    if let Some(path) = &jwt.private_key_file {
        let private = read_pem(path)?;
        let x = ed25519_public_key(private.pkcs8.expose_secret()).unwrap_or_default();
        let kid = private.kid.clone();
        install(
            &slot,
            Ed25519KeySet {
                published: vec![Ed25519Public {
                    kid: kid.clone(),
                    x,
                }],
                signing: Some(private),
            },
        )?;
        tracing::info!(kid, "signing access tokens with the imported Ed25519 key");
        return Ok(None);
    }
    let sealer = Arc::new(sealer_for(settings)?);
    let policy = KeyPolicy::from_settings(jwt);
    if let Some(key) = ensure_key(store, &sealer).await? {
        tracing::info!(kid = key.kid, "made the first Ed25519 signing key");
    }
    refresh(store, &sealer, &policy, &slot).await?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&wake);
    tokens.on_unknown_kid(Box::new(move || notify.notify_one()));
    Ok(Some(tokio::spawn(keep_current(
        Arc::clone(store),
        sealer,
        policy,
        slot,
        wake,
    ))))
}

/// The sealer of the settings' key-encryption key; warns (local profile)
/// or refuses (production) to go without one.
pub fn sealer_for(settings: &Settings) -> Result<Sealer, KeyError> {
    let kek = settings
        .jwt
        .key_encryption_key_bytes()
        .map_err(|e| KeyError::Config(e.to_string()))?;
    if kek.is_none() {
        if settings.profile == Profile::Production {
            return Err(KeyError::Config(
                "JWT_KEY_ENCRYPTION_KEY is required in production with JWT_ALGORITHM=EdDSA".into(),
            ));
        }
        tracing::warn!(
            "JWT_KEY_ENCRYPTION_KEY is not set: the Ed25519 private signing keys are stored \
             UNENCRYPTED in the store (allowed in the local profile only; set it to 32 random \
             bytes, base64, e.g. `openssl rand -base64 32`)"
        );
    }
    Ok(Sealer::new(kek))
}

fn install(slot: &KeySlot, set: Ed25519KeySet) -> Result<(), KeyError> {
    let kid = set
        .signing
        .as_ref()
        .map(|k| k.kid.clone())
        .unwrap_or_default();
    slot.install(set).map_err(|_| KeyError::Unusable {
        kid,
        reason: "it is not a PKCS#8 Ed25519 key",
    })
}

/// Adds a key if rotation is due, then installs what the store holds.
async fn refresh(
    store: &SharedStore,
    sealer: &Sealer,
    policy: &KeyPolicy,
    slot: &KeySlot,
) -> Result<(), KeyError> {
    if let Some(key) = rotate_if_due(store, sealer, policy).await? {
        tracing::info!(
            kid = key.kid,
            activates_at = %key.activates_at,
            "rotation: published a new Ed25519 signing key"
        );
    }
    install(slot, load(store, sealer, policy).await?)
}

/// Reloads every refresh interval, and soon after an unknown `kid` (at most
/// once per cooldown). A failed reload keeps the keys in use and is logged.
async fn keep_current(
    store: SharedStore,
    sealer: Arc<Sealer>,
    policy: KeyPolicy,
    slot: KeySlot,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut tick = tokio::time::interval(policy.refresh_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => tokio::time::sleep(UNKNOWN_KID_COOLDOWN.min(policy.refresh_interval)).await,
        }
        if let Err(e) = refresh(&store, &sealer, &policy, &slot).await {
            tracing::warn!(
                error = %crate::telemetry::error_chain(&e),
                "the signing keys could not be reloaded; keeping those in use"
            );
        }
    }
}

/// `tokengate keys list|rotate`: what the command line does, with the
/// service's settings and store. Prints to stdout; never private material.
pub async fn command(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    use anyhow::{Context, bail};
    if settings.jwt.private_key_file.is_some() {
        bail!("JWT_PRIVATE_KEY_FILE is set: that key is managed outside tokengate");
    }
    let store = crate::store::connect(&settings.store)
        .await
        .context("the store could not be opened")?;
    let policy = KeyPolicy::from_settings(&settings.jwt);
    let result = match args.first().map(String::as_str) {
        Some("list") => list(&store, &policy).await,
        Some("rotate") => {
            if settings.jwt.algorithm != JwtAlgorithm::EdDsa {
                eprintln!(
                    "tokengate: note: JWT_ALGORITHM is {}; the stored keys sign only with EdDSA",
                    settings.jwt.algorithm.as_str()
                );
            }
            let sealer = sealer_for(settings)?;
            let key = rotate_now(&store, &sealer, &policy).await?;
            println!(
                "added key {} (generation {}): published now, signs from {}",
                key.kid,
                key.generation,
                key.activates_at.to_rfc3339()
            );
            Ok(())
        }
        _ => Err(anyhow::anyhow!("usage: tokengate keys list|rotate")),
    };
    store.close().await;
    result
}

async fn list(store: &SharedStore, policy: &KeyPolicy) -> anyhow::Result<()> {
    let keys = store.signing_keys().await?;
    let now = crate::domain::now();
    println!("generation\tkid\tstate\tcreated\tsigns_from\tpublished_until\tencryption");
    for (key, state) in keys.iter().zip(states(&keys, now, policy)) {
        let until = match state {
            KeyState::Retired { published_until } => published_until.to_rfc3339(),
            KeyState::Expired => "-".into(),
            _ => "(while current)".into(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            key.generation,
            key.kid,
            state.as_str(),
            key.created_at.to_rfc3339(),
            key.activates_at.to_rfc3339(),
            until,
            key.encryption
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> KeyPolicy {
        KeyPolicy {
            jwks_max_age: Duration::from_secs(300),
            refresh_interval: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(905),
            rotation: None,
        }
    }

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn key(sealer: &Sealer, generation: i64, activates: i64) -> StoredSigningKey {
        generate(sealer, generation, at(0), at(activates)).unwrap()
    }

    #[test]
    fn a_key_is_pending_then_current_then_retired_then_expired() {
        let s = Sealer::new(None);
        let keys = [key(&s, 1, 0), key(&s, 2, 1000)];
        let p = policy();
        assert_eq!(
            states(&keys, at(10), &p),
            [KeyState::Current, KeyState::Pending]
        );
        assert_eq!(
            states(&keys, at(1000), &p),
            [
                KeyState::Retired {
                    published_until: at(1905)
                },
                KeyState::Current
            ]
        );
        assert_eq!(
            states(&keys, at(1905), &p),
            [KeyState::Expired, KeyState::Current]
        );
    }

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_kid() {
        let sealer = Sealer::new(Some([7; 32]));
        let k = key(&sealer, 1, 0);
        assert_eq!(k.encryption, SEALED_AES256GCM);
        let pkcs8 = sealer.open(&k).unwrap();
        assert_eq!(
            ed25519_public_key(pkcs8.expose_secret()).unwrap(),
            k.public_key
        );
        // The stored bytes are not the plain key.
        assert!(
            !k.private_key
                .windows(16)
                .any(|w| pkcs8.expose_secret().windows(16).any(|p| p == w))
        );
        assert!(Sealer::new(Some([8; 32])).open(&k).is_err(), "another KEK");
        assert!(Sealer::new(None).open(&k).is_err(), "no KEK");
        let mut renamed = k.clone();
        renamed.kid = "someone-else".into();
        assert!(sealer.open(&renamed).is_err(), "the kid is bound");
        let mut flipped = k.clone();
        let last = flipped.private_key.len() - 1;
        flipped.private_key[last] ^= 1;
        assert!(sealer.open(&flipped).is_err(), "tampering is detected");
    }

    #[test]
    fn unsealed_keys_are_marked_and_still_checked() {
        let sealer = Sealer::new(None);
        let k = key(&sealer, 1, 0);
        assert_eq!(k.encryption, UNSEALED);
        assert!(sealer.open(&k).is_ok());
        let mut other = k.clone();
        other.public_key = key(&sealer, 2, 0).public_key;
        assert!(sealer.open(&other).is_err(), "public key mismatch");
    }

    #[test]
    fn debug_output_never_shows_private_material() {
        let k = key(&Sealer::new(None), 1, 0);
        let shown = format!("{k:?}");
        assert!(shown.contains(&k.kid));
        assert!(!shown.contains("private_key"), "{shown}");
    }
}
