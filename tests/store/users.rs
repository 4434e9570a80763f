//! Registration and user lookups.

use tokengate::domain::{Frequency, UserId};
use tokengate::store::StoreError;

use crate::backends::Ctx;
use crate::fixtures::{email, new_user, registered, unique_email};

pub async fn ping_and_backend_name(ctx: Ctx) {
    ctx.store.ping().await.expect("ping");
    let expected = if ctx.kind == crate::backends::BackendKind::Sqlite {
        "sqlite"
    } else {
        "mongodb"
    };
    assert_eq!(ctx.store.backend(), expected);
}

pub async fn create_user_stores_the_user_and_the_default_setting(ctx: Ctx) {
    let new = new_user(&unique_email());
    ctx.store.create_user(&new).await.expect("create the user");

    let user = ctx.store.find_user(&new.user.id).await.expect("find_user");
    assert_eq!(user, Some(new.user.clone()));

    let setting = ctx
        .store
        .report_setting(&new.user.id)
        .await
        .expect("report_setting")
        .expect("the user has a report setting");
    assert_eq!(setting, new.report_setting);
    assert_eq!(setting.frequency, Frequency::Monthly);
    assert!(setting.is_enabled);
}

pub async fn lookups_by_email_and_by_id(ctx: Ctx) {
    let a = registered(&ctx.store).await;
    let b = registered(&ctx.store).await;
    let c = registered(&ctx.store).await;
    for new in [&a, &b, &c] {
        let found = ctx
            .store
            .find_credentials_by_email(&new.user.email)
            .await
            .expect("find_credentials_by_email")
            .expect("found by email");
        assert_eq!(found.user, new.user);
        assert_eq!(found.password_hash, new.password_hash);
        let by_id = ctx.store.find_user(&new.user.id).await.expect("find_user");
        assert_eq!(by_id.as_ref(), Some(&new.user));
    }
    // Emails are compared in their stored (lowercased) form.
    let shouted = email(&format!("  {}  ", a.user.email.as_str().to_uppercase()));
    let found = ctx
        .store
        .find_credentials_by_email(&shouted)
        .await
        .expect("find_credentials_by_email");
    assert_eq!(found.map(|c| c.user.id), Some(a.user.id));
}

pub async fn unknown_users_are_none(ctx: Ctx) {
    let nobody = UserId::generate();
    assert_eq!(ctx.store.find_user(&nobody).await.expect("find_user"), None);
    assert!(
        ctx.store
            .find_credentials_by_email(&email(&unique_email()))
            .await
            .expect("find_credentials_by_email")
            .is_none()
    );
    assert_eq!(
        ctx.store
            .report_setting(&nobody)
            .await
            .expect("report_setting"),
        None
    );
}

pub async fn duplicate_email_is_refused_case_insensitively(ctx: Ctx) {
    let address = unique_email();
    let first = new_user(&address);
    ctx.store
        .create_user(&first)
        .await
        .expect("first registration");

    let second = new_user(&format!(" {} ", address.to_uppercase()));
    assert_eq!(second.user.email, first.user.email, "emails are normalised");
    match ctx.store.create_user(&second).await {
        Err(StoreError::DuplicateEmail) => {}
        other => panic!("expected DuplicateEmail, got {other:?}"),
    }

    // Nothing of the second registration was written...
    assert_eq!(
        ctx.store
            .find_user(&second.user.id)
            .await
            .expect("find_user"),
        None
    );
    assert_eq!(
        ctx.store
            .report_setting(&second.user.id)
            .await
            .expect("report_setting"),
        None
    );
    assert_eq!(ctx.count_report_settings(&second.user.id).await, 0);
    // ...and the first is intact.
    let owner = ctx
        .store
        .find_credentials_by_email(&first.user.email)
        .await
        .expect("find_credentials_by_email")
        .expect("the first user");
    assert_eq!(owner.user.id, first.user.id);
    assert!(
        ctx.store
            .report_setting(&first.user.id)
            .await
            .expect("report_setting")
            .is_some()
    );
}

/// Concurrent registrations of one email: exactly one wins, the others get
/// DuplicateEmail and leave nothing behind.
pub async fn concurrent_registrations_of_one_email(ctx: Ctx) {
    let address = unique_email();
    let attempts: Vec<_> = (0..8).map(|_| new_user(&address)).collect();
    let handles: Vec<_> = attempts
        .iter()
        .cloned()
        .map(|new| {
            let store = ctx.store.clone();
            tokio::spawn(async move { store.create_user(&new).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (new, handle) in attempts.iter().zip(handles) {
        match handle.await.expect("registration task") {
            Ok(()) => winners.push(new.user.id.clone()),
            Err(StoreError::DuplicateEmail) => {
                assert_eq!(
                    ctx.store.find_user(&new.user.id).await.expect("find_user"),
                    None
                );
                assert_eq!(ctx.count_report_settings(&new.user.id).await, 0);
            }
            Err(other) => panic!("expected success or DuplicateEmail, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one registration wins");
    let owner = ctx
        .store
        .find_credentials_by_email(&email(&address))
        .await
        .expect("find_credentials_by_email")
        .expect("the winner");
    assert_eq!(owner.user.id, winners[0]);
    assert_eq!(ctx.count_report_settings(&winners[0]).await, 1);
}

pub async fn a_password_hash_is_replaced_only_if_unchanged(ctx: Ctx) {
    let a = registered(&ctx.store).await;
    let b = registered(&ctx.store).await;
    let hash_of = |new: &tokengate::domain::NewUser| {
        let (store, email) = (ctx.store.clone(), new.user.email.clone());
        async move {
            store
                .find_credentials_by_email(&email)
                .await
                .expect("find_credentials_by_email")
                .expect("found")
                .password_hash
        }
    };
    // A stale expected hash changes nothing.
    let swapped = ctx
        .store
        .replace_password_hash(&a.user.id, "$2b$04$not-the-stored-hash", "$2b$12$new")
        .await
        .expect("replace_password_hash");
    assert!(!swapped);
    assert_eq!(hash_of(&a).await, a.password_hash);
    // Two rehashes racing from the same hash: exactly one wins.
    let (one, two) = tokio::join!(
        ctx.store
            .replace_password_hash(&a.user.id, &a.password_hash, "$2b$12$first"),
        ctx.store
            .replace_password_hash(&a.user.id, &a.password_hash, "$2b$12$second"),
    );
    let (one, two) = (one.expect("first"), two.expect("second"));
    assert!(one ^ two, "exactly one swap succeeds ({one}, {two})");
    let now = hash_of(&a).await;
    assert_eq!(now, if one { "$2b$12$first" } else { "$2b$12$second" });
    // Another user's hash, and an unknown user, are untouched.
    assert_eq!(hash_of(&b).await, b.password_hash);
    let unknown = ctx
        .store
        .replace_password_hash(&UserId::generate(), &b.password_hash, "$2b$12$x")
        .await
        .expect("replace_password_hash");
    assert!(!unknown);
}
