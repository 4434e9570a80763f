//! The stored shape of each record and its mapping to and from the domain.
//!
//! Field names are camelCase; `_id` is the UUID string of the domain id;
//! times are BSON dates (milliseconds, the precision `domain::now()` keeps).
//! Optional values are stored as `null`, so a filter `{ field: null }` matches
//! "not set".

use chrono::{DateTime, Utc};
use mongodb::bson::DateTime as BsonDateTime;
use serde::{Deserialize, Serialize};

use crate::domain::Session;
use crate::domain::{
    EmailAddress, Frequency, NewUser, ReportSetting, ReportSettingId, SessionId, TokenId, User,
    UserCredentials, UserId, UserName,
};
use crate::store::{StoreError, StoreResult};

/// Collection names.
pub(super) const USERS: &str = "users";
pub(super) const REPORT_SETTINGS: &str = "reportSettings";
pub(super) const SESSIONS: &str = "sessions";

/// Field names as queries spell them; a unit test checks that they match the
/// serialised documents.
pub(super) mod field {
    pub const ID: &str = "_id";
    pub const EMAIL: &str = "email";
    pub const PASSWORD_HASH: &str = "passwordHash";
    pub const EMAIL_VERIFIED: &str = "emailVerified";
    pub const USER_ID: &str = "userId";
    pub const FREQUENCY: &str = "frequency";
    pub const IS_ENABLED: &str = "isEnabled";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const CURRENT_JTI: &str = "currentJti";
    pub const CURRENT_ISSUED_AT: &str = "currentIssuedAt";
    pub const PREVIOUS_JTI: &str = "previousJti";
    pub const ROTATED_AT: &str = "rotatedAt";
    pub const LAST_USED_AT: &str = "lastUsedAt";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const REVOKED_AT: &str = "revokedAt";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub profile_picture: Option<String>,
    /// Absent in documents written before email verification existed.
    #[serde(default)]
    pub email_verified: bool,
    pub created_at: BsonDateTime,
    pub updated_at: BsonDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ReportSettingDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub frequency: Frequency,
    pub is_enabled: bool,
    pub created_at: BsonDateTime,
    pub updated_at: BsonDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub current_jti: String,
    pub current_issued_at: BsonDateTime,
    pub previous_jti: Option<String>,
    pub rotated_at: Option<BsonDateTime>,
    pub created_at: BsonDateTime,
    pub last_used_at: BsonDateTime,
    pub expires_at: BsonDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<BsonDateTime>,
}

pub(super) fn bson_time(t: DateTime<Utc>) -> BsonDateTime {
    BsonDateTime::from_millis(t.timestamp_millis())
}

fn chrono_time(t: BsonDateTime, what: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.timestamp_millis())
        .ok_or_else(|| StoreError::internal(format!("stored {what} is out of range")))
}

fn optional_chrono_time(t: Option<BsonDateTime>, what: &str) -> StoreResult<Option<DateTime<Utc>>> {
    t.map(|t| chrono_time(t, what)).transpose()
}

impl UserDoc {
    pub fn from_new(new: &NewUser) -> Self {
        let u = &new.user;
        Self {
            id: u.id.as_str().to_owned(),
            name: u.name.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            password_hash: new.password_hash.clone(),
            profile_picture: u.profile_picture.clone(),
            email_verified: u.email_verified,
            created_at: bson_time(u.created_at),
            updated_at: bson_time(u.updated_at),
        }
    }

    pub fn into_credentials(self) -> StoreResult<UserCredentials> {
        let password_hash = self.password_hash.clone();
        Ok(UserCredentials {
            user: self.into_user()?,
            password_hash,
        })
    }

    pub fn into_user(self) -> StoreResult<User> {
        Ok(User {
            id: UserId::from_trusted(self.id),
            name: UserName::from_trusted(self.name),
            email: EmailAddress::from_trusted(self.email),
            profile_picture: self.profile_picture,
            email_verified: self.email_verified,
            created_at: chrono_time(self.created_at, "user createdAt")?,
            updated_at: chrono_time(self.updated_at, "user updatedAt")?,
        })
    }
}

impl ReportSettingDoc {
    /// The new user's setting, created (and last updated) with the user.
    pub fn from_new(new: &NewUser) -> Self {
        let r = &new.report_setting;
        let at = bson_time(new.user.created_at);
        Self {
            id: r.id.as_str().to_owned(),
            user_id: r.user_id.as_str().to_owned(),
            frequency: r.frequency,
            is_enabled: r.is_enabled,
            created_at: at,
            updated_at: at,
        }
    }

    /// The default setting of `user_id`, made now: what a reader writes for
    /// a user whose setting is missing.
    pub fn default_for(user_id: &UserId, now: DateTime<Utc>) -> Self {
        let r = ReportSetting::default_for(user_id.clone());
        let at = bson_time(now);
        Self {
            id: r.id.as_str().to_owned(),
            user_id: r.user_id.as_str().to_owned(),
            frequency: r.frequency,
            is_enabled: r.is_enabled,
            created_at: at,
            updated_at: at,
        }
    }

    pub fn into_domain(self) -> ReportSetting {
        ReportSetting {
            id: ReportSettingId::from_trusted(self.id),
            user_id: UserId::from_trusted(self.user_id),
            frequency: self.frequency,
            is_enabled: self.is_enabled,
        }
    }
}

impl SessionDoc {
    pub fn from_domain(s: &Session) -> Self {
        Self {
            id: s.id.as_str().to_owned(),
            user_id: s.user_id.as_str().to_owned(),
            current_jti: s.current_jti.as_str().to_owned(),
            current_issued_at: bson_time(s.current_issued_at),
            previous_jti: s.previous_jti.as_ref().map(|j| j.as_str().to_owned()),
            rotated_at: s.rotated_at.map(bson_time),
            created_at: bson_time(s.created_at),
            last_used_at: bson_time(s.last_used_at),
            expires_at: bson_time(s.expires_at),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            revoked_at: s.revoked_at.map(bson_time),
        }
    }

    pub fn into_domain(self) -> StoreResult<Session> {
        Ok(Session {
            id: SessionId::from_trusted(self.id),
            user_id: UserId::from_trusted(self.user_id),
            current_jti: TokenId::from_trusted(self.current_jti),
            current_issued_at: chrono_time(self.current_issued_at, "session currentIssuedAt")?,
            previous_jti: self.previous_jti.map(TokenId::from_trusted),
            rotated_at: optional_chrono_time(self.rotated_at, "session rotatedAt")?,
            created_at: chrono_time(self.created_at, "session createdAt")?,
            last_used_at: chrono_time(self.last_used_at, "session lastUsedAt")?,
            expires_at: chrono_time(self.expires_at, "session expiresAt")?,
            user_agent: self.user_agent,
            ip: self.ip,
            revoked_at: optional_chrono_time(self.revoked_at, "session revokedAt")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::Duration;
    use mongodb::bson::{self, Bson, Document};

    use super::*;
    use crate::domain::now;

    fn new_user() -> NewUser {
        let at = now();
        let id = UserId::generate();
        NewUser {
            user: User {
                id: id.clone(),
                name: UserName::parse("Ada Lovelace").unwrap(),
                email: EmailAddress::parse("Ada@Example.com").unwrap(),
                profile_picture: Some("https://example.com/ada.png".into()),
                email_verified: false,
                created_at: at,
                updated_at: at + Duration::milliseconds(5),
            },
            password_hash: "$2b$04$abcdefghijklmnopqrstuv".into(),
            report_setting: ReportSetting::default_for(id),
        }
    }

    fn session(previous: bool) -> Session {
        let at = now();
        Session {
            id: SessionId::generate(),
            user_id: UserId::generate(),
            current_jti: TokenId::generate(),
            current_issued_at: at,
            previous_jti: previous.then(TokenId::generate),
            rotated_at: previous.then_some(at - Duration::seconds(3)),
            created_at: at - Duration::hours(1),
            last_used_at: at,
            expires_at: at + Duration::days(7),
            user_agent: previous.then(|| "Mozilla/5.0".to_owned()),
            ip: previous.then(|| "203.0.113.7".to_owned()),
            revoked_at: previous.then_some(at + Duration::milliseconds(1)),
        }
    }

    fn keys(doc: &Document) -> BTreeSet<&str> {
        doc.keys().map(String::as_str).collect()
    }

    #[test]
    fn user_round_trips_through_bson() {
        let new = new_user();
        let stored = bson::to_document(&UserDoc::from_new(&new)).unwrap();
        assert_eq!(stored.get_str(field::ID).unwrap(), new.user.id.as_str());
        assert_eq!(stored.get_str(field::EMAIL).unwrap(), "ada@example.com");
        assert!(matches!(
            stored.get(field::CREATED_AT),
            Some(Bson::DateTime(_))
        ));
        assert_eq!(
            keys(&stored),
            BTreeSet::from([
                field::ID,
                "name",
                field::EMAIL,
                "passwordHash",
                "profilePicture",
                field::EMAIL_VERIFIED,
                field::CREATED_AT,
                field::UPDATED_AT,
            ])
        );
        let back: UserDoc = bson::from_document(stored.clone()).unwrap();
        let credentials = back.into_credentials().unwrap();
        assert_eq!(credentials.user, new.user);
        assert_eq!(credentials.password_hash, new.password_hash);
        // A user stored before verification existed reads as unverified.
        let mut older = stored;
        older.remove(field::EMAIL_VERIFIED);
        let back: UserDoc = bson::from_document(older).unwrap();
        assert!(!back.into_user().unwrap().email_verified);
    }

    #[test]
    fn missing_profile_picture_is_stored_as_null() {
        let mut new = new_user();
        new.user.profile_picture = None;
        let stored = bson::to_document(&UserDoc::from_new(&new)).unwrap();
        assert_eq!(stored.get("profilePicture"), Some(&Bson::Null));
        let back: UserDoc = bson::from_document(stored).unwrap();
        assert_eq!(back.into_user().unwrap(), new.user);
    }

    #[test]
    fn report_setting_round_trips_with_uppercase_frequency() {
        let new = new_user();
        let stored = bson::to_document(&ReportSettingDoc::from_new(&new)).unwrap();
        assert_eq!(stored.get_str(field::FREQUENCY).unwrap(), "MONTHLY");
        assert!(stored.get_bool(field::IS_ENABLED).unwrap());
        assert_eq!(
            stored.get_str(field::USER_ID).unwrap(),
            new.user.id.as_str()
        );
        assert_eq!(
            keys(&stored),
            BTreeSet::from([
                field::ID,
                field::USER_ID,
                field::FREQUENCY,
                field::IS_ENABLED,
                field::CREATED_AT,
                field::UPDATED_AT,
            ])
        );
        let back: ReportSettingDoc = bson::from_document(stored).unwrap();
        assert_eq!(back.into_domain(), new.report_setting);
    }

    #[test]
    fn unknown_frequency_is_refused_when_read() {
        let new = new_user();
        let mut stored = bson::to_document(&ReportSettingDoc::from_new(&new)).unwrap();
        stored.insert(field::FREQUENCY, "HOURLY");
        assert!(bson::from_document::<ReportSettingDoc>(stored).is_err());
    }

    #[test]
    fn session_round_trips_with_and_without_optional_fields() {
        for full in [false, true] {
            let s = session(full);
            let stored = bson::to_document(&SessionDoc::from_domain(&s)).unwrap();
            assert_eq!(
                keys(&stored),
                BTreeSet::from([
                    field::ID,
                    field::USER_ID,
                    field::CURRENT_JTI,
                    field::CURRENT_ISSUED_AT,
                    field::PREVIOUS_JTI,
                    field::ROTATED_AT,
                    field::CREATED_AT,
                    field::LAST_USED_AT,
                    field::EXPIRES_AT,
                    "userAgent",
                    "ip",
                    field::REVOKED_AT,
                ])
            );
            assert!(matches!(
                stored.get(field::EXPIRES_AT),
                Some(Bson::DateTime(_))
            ));
            if !full {
                assert_eq!(stored.get(field::REVOKED_AT), Some(&Bson::Null));
                assert_eq!(stored.get(field::PREVIOUS_JTI), Some(&Bson::Null));
            }
            let back: SessionDoc = bson::from_document(stored).unwrap();
            assert_eq!(back.into_domain().unwrap(), s);
        }
    }

    #[test]
    fn times_keep_milliseconds() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(bson_time(t).timestamp_millis(), 1_700_000_000_123);
        assert_eq!(chrono_time(bson_time(t), "t").unwrap(), t);
    }

    #[test]
    fn out_of_range_times_are_internal_errors() {
        let far = BsonDateTime::from_millis(i64::MAX);
        assert!(matches!(
            chrono_time(far, "t"),
            Err(StoreError::Internal(_))
        ));
    }
}
