//! Report settings: partial updates.

use tokengate::domain::{Frequency, ReportSettingPatch, UserId};

use crate::backends::Ctx;
use crate::fixtures::{now, registered};

pub async fn update_applies_a_partial_patch(ctx: Ctx) {
    let new = registered(&ctx.store).await;
    let id = &new.user.id;

    let weekly = ReportSettingPatch {
        frequency: Some(Frequency::Weekly),
        is_enabled: None,
    };
    let after = ctx
        .store
        .update_report_setting(id, weekly, now())
        .await
        .expect("update frequency")
        .expect("the setting exists");
    assert_eq!(after.frequency, Frequency::Weekly);
    assert!(after.is_enabled, "left-out fields keep their value");
    assert_eq!(after.id, new.report_setting.id);
    assert_eq!(&after.user_id, id);

    let disable = ReportSettingPatch {
        frequency: None,
        is_enabled: Some(false),
    };
    let after = ctx
        .store
        .update_report_setting(id, disable, now())
        .await
        .expect("update is_enabled")
        .expect("the setting exists");
    assert_eq!(after.frequency, Frequency::Weekly);
    assert!(!after.is_enabled);

    let both = ReportSettingPatch {
        frequency: Some(Frequency::Daily),
        is_enabled: Some(true),
    };
    let after = ctx
        .store
        .update_report_setting(id, both, now())
        .await
        .expect("update both")
        .expect("the setting exists");
    assert_eq!(
        (after.frequency, after.is_enabled),
        (Frequency::Daily, true)
    );

    let unchanged = ctx
        .store
        .update_report_setting(id, ReportSettingPatch::default(), now())
        .await
        .expect("empty patch")
        .expect("the setting exists");
    assert_eq!(unchanged, after);

    let read = ctx
        .store
        .report_setting(id)
        .await
        .expect("report_setting")
        .expect("the setting exists");
    assert_eq!(read, after, "the update is what a later read sees");
}

pub async fn updating_an_unknown_users_setting_is_none(ctx: Ctx) {
    let patch = ReportSettingPatch {
        frequency: Some(Frequency::Daily),
        is_enabled: None,
    };
    let result = ctx
        .store
        .update_report_setting(&UserId::generate(), patch, now())
        .await
        .expect("update");
    assert_eq!(result, None);
}

pub async fn settings_are_per_user(ctx: Ctx) {
    let a = registered(&ctx.store).await;
    let b = registered(&ctx.store).await;
    let patch = ReportSettingPatch {
        frequency: Some(Frequency::Daily),
        is_enabled: Some(false),
    };
    ctx.store
        .update_report_setting(&a.user.id, patch, now())
        .await
        .expect("update a");
    let b_setting = ctx
        .store
        .report_setting(&b.user.id)
        .await
        .expect("report_setting")
        .expect("b's setting");
    assert_eq!(b_setting, b.report_setting);
}
