//! jsonwebtoken's cryptography comes from a `CryptoProvider`; this one
//! implements HS256 only, with `ring` (already in the tree for TLS), so no
//! RSA/EC code is linked in and no other algorithm can verify even by
//! mistake.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};

/// Installs the HS256-only provider as jsonwebtoken's process-wide default.
/// If another provider got there first, ours is not the one in use: that is
/// a bug of the build, and start-up stops instead of signing with it.
pub(super) fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if HS256_ONLY.install_default().is_err() {
            panic!("another jsonwebtoken CryptoProvider was installed before tokengate's HS256 provider");
        }
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
