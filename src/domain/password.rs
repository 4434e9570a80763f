use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;

/// A password fit for bcrypt: at least 8 Unicode characters and at most 72
/// bytes of UTF-8, bcrypt's input limit (longer input is refused, never
/// silently truncated). Its `Debug` never shows the value.
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 72;

    pub fn parse(raw: String) -> Result<Self, ParseError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(ParseError::new(format!(
                "Password must be at least {} characters",
                Self::MIN_CHARS
            )));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(ParseError::new(format!(
                "Password must be at most {} bytes of UTF-8",
                Self::MAX_BYTES
            )));
        }
        if raw.contains('\0') {
            return Err(ParseError::new("Password must not contain NUL characters"));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_use_characters_then_bytes() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        // 8 characters, 16 bytes: fine.
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("a".repeat(72)).is_ok());
        assert!(Password::parse("a".repeat(73)).is_err());
        // 37 two-byte characters = 74 bytes: over bcrypt's limit.
        assert!(Password::parse("é".repeat(37)).is_err());
    }

    #[test]
    fn debug_hides_the_value() {
        let p = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
