use garde::Validate;

use super::ParseError;

/// An email address, trimmed and lowercased: the form in which it is stored and
/// compared, so uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// garde's rules applied to the normalised form.
#[derive(Validate)]
#[garde(transparent)]
struct Rules<'a>(#[garde(email, length(bytes, max = EmailAddress::MAX_BYTES))] &'a str);

impl EmailAddress {
    /// RFC 5321 limits a forward path to 254 octets.
    pub const MAX_BYTES: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(ParseError::new("Email is required"));
        }
        Rules(&normalised)
            .validate()
            .map_err(|_| ParseError::new("Email must be a valid email address"))?;
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from a store, which only ever holds parsed emails.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = EmailAddress::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn refuses_invalid_addresses() {
        for raw in [
            "",
            "   ",
            "alice",
            "alice@",
            "@example.com",
            "a b@example.com",
            "alice@@example.com",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn refuses_overlong_addresses() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert!(EmailAddress::parse(&raw).is_err());
    }
}
