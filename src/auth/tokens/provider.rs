//! jsonwebtoken's cryptography comes from a `CryptoProvider`; this one
//! implements exactly HS256 and EdDSA (Ed25519), both with `ring` (already in
//! the tree for TLS), so no RSA/EC code is linked in and no other algorithm
//! can sign or verify even by mistake. Each factory also refuses a key of
//! the other family: an HMAC secret never verifies an EdDSA token, and an
//! Ed25519 public key never serves as an HMAC secret.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// Installs the HS256 + EdDSA provider as jsonwebtoken's process-wide
/// default. If another provider got there first, ours is not the one in use:
/// that is a bug of the build, and start-up stops instead of signing with it.
pub(super) fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if HS256_AND_EDDSA.install_default().is_err() {
            panic!(
                "another jsonwebtoken CryptoProvider was installed before tokengate's HS256/EdDSA provider"
            );
        }
    });
}

static HS256_AND_EDDSA: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, JwtError> {
    match (alg, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(Box::new(hmac_key(key.as_bytes()))),
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => Ok(Box::new(Ed25519Signer(
            // PKCS#8 v1 (OpenSSL's) or v2 (ring's).
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes())
                .map_err(|_| ErrorKind::InvalidEddsaKey)?,
        ))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, JwtError> {
    match (alg, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => {
            Ok(Box::new(hmac_key(key.try_get_as_bytes()?)))
        }
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => {
            let public = key.try_get_as_bytes()?;
            if public.len() != ED25519_PUBLIC_KEY_LEN {
                return Err(ErrorKind::InvalidEddsaKey.into());
            }
            Ok(Box::new(Ed25519Verifier(public.to_vec())))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// The length of a raw Ed25519 public key (the JWK's `x`).
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// The raw public key of a PKCS#8 Ed25519 private key.
pub(crate) fn ed25519_public_key(pkcs8: &[u8]) -> Option<Vec<u8>> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .ok()
        .map(|pair| pair.public_key().as_ref().to_vec())
}

struct Hs256(ring::hmac::Key);

fn hmac_key(bytes: &[u8]) -> Hs256 {
    Hs256(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
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

struct Ed25519Signer(Ed25519KeyPair);

impl signature::Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(msg).as_ref().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

struct Ed25519Verifier(Vec<u8>);

impl signature::Verifier<Vec<u8>> for Ed25519Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(msg, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Ed25519Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}
