use serde::{Deserialize, Serialize};

use super::{ReportSettingId, UserId};

/// How often a user's report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "DAILY" => Some(Frequency::Daily),
            "WEEKLY" => Some(Frequency::Weekly),
            "MONTHLY" => Some(Frequency::Monthly),
            _ => None,
        }
    }
}

/// A user's report setting; every user has exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSetting {
    pub id: ReportSettingId,
    pub user_id: UserId,
    pub frequency: Frequency,
    pub is_enabled: bool,
}

impl ReportSetting {
    /// The setting every new user starts with.
    pub fn default_for(user_id: UserId) -> Self {
        Self {
            id: ReportSettingId::generate(),
            user_id,
            frequency: Frequency::Monthly,
            is_enabled: true,
        }
    }
}

/// A partial update: fields left out keep their value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportSettingPatch {
    pub frequency: Option<Frequency>,
    pub is_enabled: Option<bool>,
}
