//! The account lifecycle: one-time tokens (newest only, single use, also
//! under concurrency), password change and reset, email confirmation and
//! account deletion.

use chrono::{DateTime, Utc};

use tokengate::domain::{
    AccountToken, AccountTokenSecret, EmailAddress, SessionId, TokenHash, TokenPurpose, UserId,
};
use tokengate::store::{EmailConfirmation, PasswordChange, SharedStore};

use crate::backends::Ctx;
use crate::fixtures::{email, find, minutes, now, registered, stored_session, unique_email};

fn token(
    user_id: &UserId,
    purpose: TokenPurpose,
    to: &EmailAddress,
    expires_at: DateTime<Utc>,
) -> (AccountTokenSecret, AccountToken) {
    let secret = AccountTokenSecret::generate().expect("random");
    let t = AccountToken {
        hash: secret.hash(),
        user_id: user_id.clone(),
        purpose,
        email: to.clone(),
        created_at: now(),
        expires_at,
    };
    (secret, t)
}

async fn issued(
    store: &SharedStore,
    user_id: &UserId,
    purpose: TokenPurpose,
    to: &EmailAddress,
) -> TokenHash {
    let (_, t) = token(user_id, purpose, to, now() + minutes(30));
    store.issue_account_token(&t).await.expect("issue");
    t.hash
}

async fn confirm(store: &SharedStore, hash: &TokenHash) -> EmailConfirmation {
    store.confirm_email(hash, now()).await.expect("confirm")
}

async fn is_live(store: &SharedStore, hash: &TokenHash, purpose: TokenPurpose) -> bool {
    store
        .find_account_token(hash, purpose, now())
        .await
        .expect("find")
        .is_some()
}

/// A reset with `hash` changes nothing.
async fn assert_reset_refused(store: &SharedStore, hash: &TokenHash) {
    let outcome = store
        .reset_password(hash, "$2b$04$refused", now())
        .await
        .expect("reset");
    assert_eq!(outcome, None);
}

async fn hash_of(store: &SharedStore, user_id: &UserId) -> String {
    let user = store.find_user(user_id).await.expect("find").expect("user");
    store
        .find_credentials_by_email(&user.email)
        .await
        .expect("credentials")
        .expect("user")
        .password_hash
}

pub async fn tokens_are_found_live_by_hash_and_purpose_only(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let (_, t) = token(
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
        now() + minutes(30),
    );
    ctx.store.issue_account_token(&t).await.expect("issue");
    let found = ctx
        .store
        .find_account_token(&t.hash, TokenPurpose::PasswordReset, now())
        .await
        .expect("find");
    assert_eq!(found, Some(t.clone()));
    // Another purpose, an unknown hash, or after its expiry: nothing.
    for (hash, purpose, at) in [
        (&t.hash, TokenPurpose::EmailVerification, now()),
        (
            &AccountTokenSecret::generate().unwrap().hash(),
            TokenPurpose::PasswordReset,
            now(),
        ),
        (&t.hash, TokenPurpose::PasswordReset, t.expires_at),
    ] {
        assert_eq!(
            ctx.store
                .find_account_token(hash, purpose, at)
                .await
                .expect("find"),
            None
        );
    }
    // The store keeps the hash, never the token: the secret is unknown to it.
    assert_eq!(t.hash.as_str().len(), 64);
}

pub async fn only_the_newest_token_of_a_purpose_is_valid(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let mail = &user.user.email;
    let first = issued(&ctx.store, id, TokenPurpose::PasswordReset, mail).await;
    let verification = issued(&ctx.store, id, TokenPurpose::EmailVerification, mail).await;
    let second = issued(&ctx.store, id, TokenPurpose::PasswordReset, mail).await;
    let store = &ctx.store;
    let reset = TokenPurpose::PasswordReset;
    assert!(!is_live(store, &first, reset).await, "superseded");
    assert!(is_live(store, &second, reset).await);
    assert!(
        is_live(store, &verification, TokenPurpose::EmailVerification).await,
        "other purposes stay"
    );
    // The superseded one cannot be used either.
    assert_reset_refused(&ctx.store, &first).await;
}

pub async fn a_reset_token_is_single_use_even_when_used_twice_at_once(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let hash = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let (store, hash) = (ctx.store.clone(), hash.clone());
            tokio::spawn(async move {
                store
                    .reset_password(&hash, &format!("$2b$04$attempt{i}"), now())
                    .await
                    .expect("reset")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("reset task"));
    }
    let winners: Vec<_> = outcomes.iter().flatten().collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(winners[0], id);
    assert!(hash_of(&ctx.store, id).await.starts_with("$2b$04$attempt"));
    // And again later: used.
    assert_reset_refused(&ctx.store, &hash).await;
}

pub async fn a_reset_sets_the_password_verifies_the_address_and_ends_every_session(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let sessions = [
        stored_session(&ctx.store, id).await,
        stored_session(&ctx.store, id).await,
    ];
    let other = registered(&ctx.store).await;
    let bystander = stored_session(&ctx.store, &other.user.id).await;
    let hash = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;
    let at = now();
    assert_eq!(
        ctx.store
            .reset_password(&hash, "$2b$04$reset", at)
            .await
            .expect("reset"),
        Some(id.clone())
    );
    assert_eq!(hash_of(&ctx.store, id).await, "$2b$04$reset");
    let after = ctx.store.find_user(id).await.expect("find").expect("user");
    assert!(after.email_verified);
    for s in &sessions {
        assert_eq!(find(&ctx.store, s).await.revoked_at, Some(at));
    }
    assert_eq!(find(&ctx.store, &bystander).await.revoked_at, None);
    // An expired token does nothing.
    let (_, old) = token(
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
        at - minutes(1),
    );
    ctx.store.issue_account_token(&old).await.expect("issue");
    assert_reset_refused(&ctx.store, &old.hash).await;
    assert_eq!(hash_of(&ctx.store, id).await, "$2b$04$reset");
}

pub async fn a_password_change_keeps_the_callers_session_only(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let mine = stored_session(&ctx.store, id).await;
    let thief = stored_session(&ctx.store, id).await;
    let reset = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;
    let verify = issued(
        &ctx.store,
        id,
        TokenPurpose::EmailVerification,
        &user.user.email,
    )
    .await;
    let at = now();
    let change = PasswordChange {
        user_id: id.clone(),
        expected_hash: user.password_hash.clone(),
        new_hash: "$2b$04$changed".into(),
        keep_session: mine.id.clone(),
        now: at,
    };
    assert!(ctx.store.change_password(&change).await.expect("change"));
    assert_eq!(hash_of(&ctx.store, id).await, "$2b$04$changed");
    assert_eq!(find(&ctx.store, &mine).await.revoked_at, None);
    assert_eq!(find(&ctx.store, &thief).await.revoked_at, Some(at));
    assert!(
        !is_live(&ctx.store, &reset, TokenPurpose::PasswordReset).await,
        "resets die"
    );
    assert!(is_live(&ctx.store, &verify, TokenPurpose::EmailVerification).await);

    // A change against a hash that is no longer current changes nothing.
    let stale = PasswordChange {
        new_hash: "$2b$04$stale".into(),
        keep_session: SessionId::generate(),
        ..change
    };
    assert!(!ctx.store.change_password(&stale).await.expect("change"));
    assert_eq!(hash_of(&ctx.store, id).await, "$2b$04$changed");
}

pub async fn a_verification_link_verifies_the_address_it_was_sent_to(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    assert!(
        !ctx.store
            .find_user(id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    let hash = issued(
        &ctx.store,
        id,
        TokenPurpose::EmailVerification,
        &user.user.email,
    )
    .await;
    match ctx
        .store
        .confirm_email(&hash, now())
        .await
        .expect("confirm")
    {
        EmailConfirmation::Verified(u) => {
            assert!(u.email_verified);
            assert_eq!(u.email, user.user.email);
        }
        other => panic!("expected Verified, got {other:?}"),
    }
    assert_eq!(
        confirm(&ctx.store, &hash).await,
        EmailConfirmation::Invalid,
        "single use"
    );
    // A reset token is not an email token.
    let reset = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;
    assert_eq!(
        confirm(&ctx.store, &reset).await,
        EmailConfirmation::Invalid
    );
    assert!(
        is_live(&ctx.store, &reset, TokenPurpose::PasswordReset).await,
        "trying it as an email token did not use it"
    );
    // A verification sent to an address the account no longer has.
    let stale = issued(
        &ctx.store,
        id,
        TokenPurpose::EmailVerification,
        &email(&unique_email()),
    )
    .await;
    assert_eq!(
        confirm(&ctx.store, &stale).await,
        EmailConfirmation::Invalid
    );
}

pub async fn an_email_change_applies_when_its_link_is_used_unless_taken(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let new_address = email(&unique_email());
    let change = issued(&ctx.store, id, TokenPurpose::EmailChange, &new_address).await;
    let reset = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;

    // Someone registers the new address first: 409, nothing changes, and
    // the link stays usable.
    let squatter = crate::fixtures::new_user(new_address.as_str());
    ctx.store.create_user(&squatter).await.expect("create");
    assert_eq!(confirm(&ctx.store, &change).await, EmailConfirmation::Taken);
    assert_eq!(
        ctx.store.find_user(id).await.unwrap().unwrap().email,
        user.user.email
    );
    assert!(
        ctx.store
            .delete_user(&squatter.user.id)
            .await
            .expect("delete")
    );

    match ctx
        .store
        .confirm_email(&change, now())
        .await
        .expect("confirm")
    {
        EmailConfirmation::Changed { user: u, previous } => {
            assert_eq!(u.email, new_address);
            assert!(u.email_verified);
            assert_eq!(previous, user.user.email);
        }
        other => panic!("expected Changed, got {other:?}"),
    }
    let by_new = ctx
        .store
        .find_credentials_by_email(&new_address)
        .await
        .unwrap();
    assert_eq!(by_new.map(|c| c.user.id), Some(id.clone()));
    assert_eq!(
        ctx.store
            .find_credentials_by_email(&user.user.email)
            .await
            .unwrap()
            .map(|c| c.user.id),
        None
    );
    // Links sent to the old address die with the change.
    assert!(!is_live(&ctx.store, &reset, TokenPurpose::PasswordReset).await);
}

pub async fn deleting_a_user_leaves_nothing_and_frees_the_email(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let s = stored_session(&ctx.store, id).await;
    let hash = issued(
        &ctx.store,
        id,
        TokenPurpose::PasswordReset,
        &user.user.email,
    )
    .await;
    let other = registered(&ctx.store).await;
    let bystander = stored_session(&ctx.store, &other.user.id).await;

    assert!(ctx.store.delete_user(id).await.expect("delete"));
    assert_eq!(ctx.store.find_user(id).await.expect("find"), None);
    assert_eq!(ctx.store.find_session(&s.id).await.expect("find"), None);
    assert_eq!(ctx.store.report_setting(id).await.expect("setting"), None);
    assert!(!is_live(&ctx.store, &hash, TokenPurpose::PasswordReset).await);
    assert_reset_refused(&ctx.store, &hash).await;
    assert!(!ctx.store.delete_user(id).await.expect("delete again"));
    // Another user is untouched; the address registers again.
    assert!(
        ctx.store
            .find_session(&bystander.id)
            .await
            .expect("find")
            .is_some()
    );
    ctx.store
        .create_user(&crate::fixtures::new_user(user.user.email.as_str()))
        .await
        .expect("the email is free again");
}

pub async fn used_and_expired_tokens_are_purged(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let id = &user.user.id;
    let mail = &user.user.email;
    let (_, expired) = token(
        id,
        TokenPurpose::EmailVerification,
        mail,
        now() - minutes(5),
    );
    ctx.store
        .issue_account_token(&expired)
        .await
        .expect("issue");
    let used = issued(&ctx.store, id, TokenPurpose::PasswordReset, mail).await;
    ctx.store
        .reset_password(&used, "$2b$04$p", now())
        .await
        .expect("reset");
    let (_, live) = token(
        id,
        TokenPurpose::EmailChange,
        &email(&unique_email()),
        now() + minutes(30),
    );
    ctx.store.issue_account_token(&live).await.expect("issue");

    let purged = ctx.store.purge_account_tokens(now()).await.expect("purge");
    // MongoDB's TTL monitor may have removed the expired one already.
    if ctx.store.backend() == "sqlite" {
        assert_eq!(purged, 2);
    } else {
        assert!(purged <= 2, "{purged}");
    }
    assert!(is_live(&ctx.store, &live.hash, TokenPurpose::EmailChange).await);
}
