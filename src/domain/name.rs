use super::ParseError;

/// A display name: 1 to 255 Unicode characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(ParseError::new("Name is required"));
        }
        if chars > Self::MAX_CHARS {
            return Err(ParseError::new(format!(
                "Name must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ParseError::new("Name must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert!(UserName::parse(&"é".repeat(255)).is_ok());
        assert!(UserName::parse(&"é".repeat(256)).is_err());
    }

    #[test]
    fn trims_and_requires_content() {
        assert_eq!(UserName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse("").is_err());
    }

    #[test]
    fn refuses_control_characters() {
        assert!(UserName::parse("Ada\u{0}Lovelace").is_err());
    }
}
