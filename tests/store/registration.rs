//! "Both or neither": a registration whose setting cannot be written leaves
//! no user, and one refused for its email leaves no setting.
//!
//! A report setting for the new user's id is planted behind the store's
//! back, so the unique index on the setting's user id refuses the setting.
//! On SQLite and on a replica set this checks the transaction's rollback; on
//! a standalone MongoDB the fallback, which writes the setting first and so
//! stops before the user is written.

use tokengate::store::StoreError;

use crate::backends::Ctx;
use crate::fixtures::{new_user, registered, unique_email};

pub async fn a_failed_second_write_leaves_no_user(ctx: Ctx) {
    let address = unique_email();
    let doomed = new_user(&address);
    ctx.plant_report_setting(&doomed.user.id).await;

    match ctx.store.create_user(&doomed).await {
        Err(StoreError::Internal(_)) => {}
        other => panic!("expected an internal error from the refused second write, got {other:?}"),
    }
    assert_eq!(
        ctx.store
            .find_user(&doomed.user.id)
            .await
            .expect("find_user"),
        None,
        "the user was removed again"
    );
    assert!(
        ctx.store
            .find_credentials_by_email(&doomed.user.email)
            .await
            .expect("find_credentials_by_email")
            .is_none()
    );
    assert_eq!(
        ctx.count_report_settings(&doomed.user.id).await,
        1,
        "only the planted setting remains"
    );
    let planted = ctx
        .store
        .report_setting(&doomed.user.id)
        .await
        .expect("report_setting")
        .expect("the planted setting");
    assert_ne!(
        planted.id, doomed.report_setting.id,
        "the new setting was not written"
    );

    // The email is free again: nothing half-written holds it.
    let retry = new_user(&address);
    ctx.store
        .create_user(&retry)
        .await
        .expect("registering the email again");
    assert!(
        ctx.store
            .report_setting(&retry.user.id)
            .await
            .expect("report_setting")
            .is_some()
    );
}

/// On a standalone MongoDB the fallback writes the setting before the user;
/// a taken email must take that setting away again.
pub async fn a_taken_email_leaves_no_stray_setting(ctx: Ctx) {
    let first = registered(&ctx.store).await;
    let second = new_user(first.user.email.as_str());
    match ctx.store.create_user(&second).await {
        Err(StoreError::DuplicateEmail) => {}
        other => panic!("expected DuplicateEmail, got {other:?}"),
    }
    assert_eq!(ctx.count_report_settings(&second.user.id).await, 0);
    assert_eq!(ctx.count_report_settings(&first.user.id).await, 1);
}
