//! Report settings: partial updates, and the repair of a missing one.

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

/// Issue #13: a user whose setting is missing (a registration cut short on
/// a store without transactions, a crash between two writes, an operator)
/// used to get 500 at login and 404 on GET/PUT /api/report/setting for
/// ever. Readers now repair it with the defaults.
pub async fn a_missing_setting_is_repaired_with_the_defaults(ctx: Ctx) {
    let new = registered(&ctx.store).await;
    let id = &new.user.id;
    let daily = ReportSettingPatch {
        frequency: Some(Frequency::Daily),
        is_enabled: Some(false),
    };
    ctx.store
        .update_report_setting(id, daily, now())
        .await
        .expect("update")
        .expect("the setting exists");

    ctx.delete_report_setting(id).await;
    assert_eq!(ctx.count_report_settings(id).await, 0);
    let repaired = ctx
        .store
        .report_setting(id)
        .await
        .expect("report_setting")
        .expect("a repaired setting, not None");
    assert_eq!(
        (repaired.frequency, repaired.is_enabled),
        (Frequency::Monthly, true),
        "the defaults"
    );
    assert_eq!(&repaired.user_id, id);
    assert_eq!(ctx.count_report_settings(id).await, 1);
    let again = ctx
        .store
        .report_setting(id)
        .await
        .expect("report_setting")
        .expect("the setting");
    assert_eq!(again, repaired, "a repair happens once");

    ctx.delete_report_setting(id).await;
    let weekly = ReportSettingPatch {
        frequency: Some(Frequency::Weekly),
        is_enabled: None,
    };
    let updated = ctx
        .store
        .update_report_setting(id, weekly, now())
        .await
        .expect("update")
        .expect("a repaired and updated setting, not None");
    assert_eq!(
        (updated.frequency, updated.is_enabled),
        (Frequency::Weekly, true),
        "the patch over the defaults"
    );
    assert_eq!(ctx.count_report_settings(id).await, 1);
}

/// Unknown users stay unknown: no repair writes a setting without a user.
pub async fn an_unknown_user_gets_no_repaired_setting(ctx: Ctx) {
    let ghost = UserId::generate();
    assert_eq!(ctx.store.report_setting(&ghost).await.expect("read"), None);
    assert_eq!(ctx.count_report_settings(&ghost).await, 0);
}

/// Concurrent repairs of one user (a login and a GET at once) produce one
/// setting, and every reader sees it.
pub async fn concurrent_repairs_make_one_setting(ctx: Ctx) {
    let new = registered(&ctx.store).await;
    ctx.delete_report_setting(&new.user.id).await;
    let mut readers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = ctx.store.clone();
        let id = new.user.id.clone();
        readers.spawn(async move {
            if i % 2 == 0 {
                store.report_setting(&id).await
            } else {
                store
                    .update_report_setting(&id, ReportSettingPatch::default(), now())
                    .await
            }
        });
    }
    let mut ids = Vec::new();
    while let Some(outcome) = readers.join_next().await {
        let setting = outcome
            .expect("reader task")
            .expect("no error from a concurrent repair")
            .expect("a setting");
        ids.push(setting.id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "everyone saw the same setting: {ids:?}");
    assert_eq!(ctx.count_report_settings(&new.user.id).await, 1);
}
