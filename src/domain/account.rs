//! One-time account tokens: the secrets in password-reset, email-verification
//! and email-change links.
//!
//! A token is 32 random bytes, base64url without padding (43 characters).
//! The link carries the token; the store keeps only its SHA-256
//! ([`TokenHash`]), so a copy of the database cannot be turned into working
//! links. Each is single use, expires, and only the newest of a user's
//! tokens for one purpose is valid.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{EmailAddress, UserId};

/// What a token may be used for; one purpose never passes for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    PasswordReset,
    /// Proves the user reads the address the account has.
    EmailVerification,
    /// Proves the user reads the new address an email change names.
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailVerification => "email_verification",
            TokenPurpose::EmailChange => "email_change",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [
            TokenPurpose::PasswordReset,
            TokenPurpose::EmailVerification,
            TokenPurpose::EmailChange,
        ]
        .into_iter()
        .find(|p| p.as_str() == stored)
    }
}

/// The SHA-256 of a token, lowercase hex: what the store keeps and looks up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from a store.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

/// A token as it travels in a link: never logged (`Debug` hides it).
pub struct AccountTokenSecret(SecretString);

impl AccountTokenSecret {
    /// Base64url of 32 bytes, without padding.
    pub const LEN: usize = 43;

    /// A fresh token from the operating system's generator.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let bytes: [u8; 32] = ring::rand::generate(&ring::rand::SystemRandom::new())?.expose();
        Ok(Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// A token from a request: exactly the 43 characters of the alphabet,
    /// nothing else (no padding, no whitespace, no percent-encoding).
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && URL_SAFE_NO_PAD.decode(raw).is_ok_and(|b| b.len() == 32);
        well_formed.then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn hash(&self) -> TokenHash {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.0.expose_secret().as_bytes());
        TokenHash(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token for a link.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for AccountTokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountTokenSecret(..)")
    }
}

/// A token as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the link went to: the account's address for a
    /// verification, the new address for an email change, the account's
    /// address for a reset.
    pub email: EmailAddress,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash_to_64_hex_digits() {
        let token = AccountTokenSecret::generate().unwrap();
        assert_eq!(token.expose().len(), AccountTokenSecret::LEN);
        let parsed = AccountTokenSecret::parse(token.expose()).unwrap();
        assert_eq!(parsed.hash(), token.hash());
        assert_eq!(token.hash().as_str().len(), 64);
        assert!(
            token
                .hash()
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(AccountTokenSecret::generate().unwrap().hash(), token.hash());
        assert_eq!(format!("{token:?}"), "AccountTokenSecret(..)");
    }

    #[test]
    fn anything_but_the_exact_form_is_refused() {
        let good = AccountTokenSecret::generate().unwrap();
        let good = good.expose();
        for bad in [
            String::new(),
            good[..42].to_owned(),
            format!("{good}A"),
            format!("{good}="),
            format!(" {}", &good[1..]),
            format!("{}%41", &good[..40]),
            format!("{}+", &good[..42]),
            format!("{}/", &good[..42]),
            format!("{}é", &good[..41]),
            format!("{}\0", &good[..42]),
        ] {
            assert!(AccountTokenSecret::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn purposes_round_trip_and_unknown_ones_do_not() {
        for p in [
            TokenPurpose::PasswordReset,
            TokenPurpose::EmailVerification,
            TokenPurpose::EmailChange,
        ] {
            assert_eq!(TokenPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(TokenPurpose::parse("PASSWORD_RESET"), None);
    }
}
