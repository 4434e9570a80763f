use std::fmt;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// A fresh random (v4 UUID) identifier.
            pub fn generate() -> Self {
                Self(Uuid::new_v4().to_string())
            }

            /// Parses an identifier from outside (a path, a token claim):
            /// only a canonical hyphenated UUID is accepted.
            pub fn parse(raw: &str) -> Option<Self> {
                let uuid = Uuid::try_parse(raw).ok()?;
                let canonical = uuid.hyphenated().to_string();
                (canonical == raw).then_some(Self(canonical))
            }

            /// For values read back from a store.
            pub fn from_trusted(stored: String) -> Self {
                Self(stored)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user's id (`_id`, the `sub` claim).
    UserId
);
id_type!(
    /// A login session's id (the `sid` claim).
    SessionId
);
id_type!(
    /// A refresh token's id (the `jti` claim).
    TokenId
);
id_type!(
    /// A report setting's id.
    ReportSettingId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_canonical_uuids() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(SessionId::parse(&id.as_str().to_uppercase()), None);
        assert_eq!(SessionId::parse("not-a-uuid"), None);
        assert_eq!(SessionId::parse(""), None);
    }
}
