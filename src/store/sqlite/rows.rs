//! Rows to domain records and back: times as Unix milliseconds.

use chrono::{DateTime, Utc};
use rusqlite::Row;

use crate::domain::{
    EmailAddress, Frequency, ReportSetting, ReportSettingId, Session, SessionId, TokenId, User,
    UserId, UserName,
};

/// The columns `session_from` reads, in its order. Macros, so each
/// statement is one literal (`concat!`) and no SQL is formatted per call.
macro_rules! session_columns {
    () => {
        "id, user_id, current_jti, current_issued_at, previous_jti, rotated_at, \
         created_at, last_used_at, expires_at, user_agent, ip, revoked_at"
    };
}
pub(super) use session_columns;

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn time_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_column(idx, "timestamp out of range"))
}

pub(super) fn optional_time_at(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = row.get(idx)?;
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| bad_column(idx, "timestamp out of range"))
    })
    .transpose()
}

pub(super) fn bad_column(idx: usize, why: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        rusqlite::types::Type::Integer,
        why.to_owned().into(),
    )
}

/// The columns `user_from` reads, in its order.
macro_rules! user_columns {
    () => {
        "id, name, email, profile_picture, created_at, updated_at, email_verified"
    };
}
pub(super) use user_columns;

/// Reads [`user_columns!`] from column `first` on.
pub(super) fn user_from(row: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_trusted(row.get(first)?),
        name: UserName::from_trusted(row.get(first + 1)?),
        email: EmailAddress::from_trusted(row.get(first + 2)?),
        profile_picture: row.get(first + 3)?,
        created_at: time_at(row, first + 4)?,
        updated_at: time_at(row, first + 5)?,
        email_verified: row.get(first + 6)?,
    })
}

pub(super) fn report_setting_from(row: &Row<'_>) -> rusqlite::Result<ReportSetting> {
    let frequency: String = row.get(2)?;
    Ok(ReportSetting {
        id: ReportSettingId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        frequency: Frequency::parse(&frequency)
            .ok_or_else(|| bad_column(2, "unknown frequency"))?,
        is_enabled: row.get(3)?,
    })
}

pub(super) fn session_from(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        current_jti: TokenId::from_trusted(row.get(2)?),
        current_issued_at: time_at(row, 3)?,
        previous_jti: row.get::<_, Option<String>>(4)?.map(TokenId::from_trusted),
        rotated_at: optional_time_at(row, 5)?,
        created_at: time_at(row, 6)?,
        last_used_at: time_at(row, 7)?,
        expires_at: time_at(row, 8)?,
        user_agent: row.get(9)?,
        ip: row.get(10)?,
        revoked_at: optional_time_at(row, 11)?,
    })
}
