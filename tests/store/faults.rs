//! MongoDB under faults a real server can produce on demand (issue #13).
//! Each test returns at once on SQLite, which has none of these faults.
//!
//! - refused credentials: a server without `--auth` still runs the SASL
//!   conversation and refuses an unknown user;
//! - duplicates under the unique email index, planted behind the store's
//!   back before it builds the index;
//! - a server that drops every insert's connection, with the `failCommand`
//!   fail point (needs `--setParameter enableTestCommands=1`, which the
//!   workflow and `scripts/mongo-replset.sh` set; skipped with a note
//!   where the server refuses `configureFailPoint`).

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use tokengate::store::{Store, StoreError};
use uuid::Uuid;

use crate::backends::{BackendKind, Ctx, error_chain};
use crate::fixtures::{new_user, unique_email};

const PASSWORD: &str = "not-the-password-7f3a";

/// `uri` with the credentials of a user that does not exist.
fn with_wrong_credentials(uri: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a URI with a scheme");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts);
    format!("{scheme}://tokengate-nobody:{PASSWORD}@{rest}")
}

/// `uri` with one more option.
fn with_option(uri: &str, option: &str) -> String {
    if uri.contains('?') {
        format!("{uri}&{option}")
    } else if uri.split_once("://").is_some_and(|(_, r)| r.contains('/')) {
        format!("{uri}?{option}")
    } else {
        format!("{uri}/?{option}")
    }
}

/// Point 8: refused credentials are a configuration error (500, readiness
/// 503, a message that says so), never an eternal "unavailable".
pub async fn refused_credentials_are_a_configuration_error(ctx: Ctx) {
    let Some(store) = ctx
        .another_mongo_store(with_wrong_credentials, |_| {})
        .await
    else {
        return;
    };
    let outcome = store.wait_ready(Duration::from_secs(20)).await;
    match &outcome {
        Err(e @ StoreError::Internal(_)) => {
            let text = error_chain(e);
            assert!(text.contains("configuration error"), "{text}");
            assert!(text.contains("credentials"), "{text}");
            assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(matches!(store.ping().await, Err(StoreError::Internal(_))));
    store.close().await;
}

/// Point 7: an index build over duplicate emails says what to clean, and is
/// not "duplicate email" (the registration's 409).
pub async fn an_index_build_over_duplicate_emails_says_what_to_clean(ctx: Ctx) {
    let Some(db) = ctx.mongo() else {
        return;
    };
    let users = db.collection::<Document>("users");
    users
        .drop_index("users_email_unique")
        .await
        .expect("drop the unique email index");
    let email = unique_email();
    for _ in 0..2 {
        users
            .insert_one(doc! { "_id": Uuid::new_v4().to_string(), "email": &email })
            .await
            .expect("plant a duplicate email");
    }
    let store = ctx
        .another_mongo_store(|uri| uri.to_owned(), |_| {})
        .await
        .expect("a MongoDB backend");
    match store.wait_ready(Duration::from_secs(20)).await {
        Err(e @ StoreError::Internal(_)) => {
            let text = error_chain(&e);
            assert!(
                text.contains("existing duplicate emails in `users`; clean them or drop the index"),
                "{text}"
            );
        }
        other => panic!("expected the duplicates to be named, got {other:?}"),
    }
    store.close().await;
}

/// Point 1 (and the fallback's budget): a server that drops the connection
/// of every insert. In a transaction the driver labels that transient and
/// its convenient API would retry for 120 s; the store answers Unavailable
/// within its budget, and leaves no user without a setting.
pub async fn a_registration_against_failing_inserts_ends_within_the_budget(ctx: Ctx) {
    if ctx.kind == BackendKind::Sqlite {
        return;
    }
    let app = format!("tokengate-faults-{}", Uuid::new_v4().simple());
    let budget = Duration::from_secs(2);
    let store = ctx
        .another_mongo_store(
            |uri| with_option(uri, &format!("appName={app}")),
            |s| {
                s.operation_timeout = budget;
                s.mongo_server_selection_timeout = Duration::from_secs(1);
            },
        )
        .await
        .expect("a MongoDB backend");
    store
        .wait_ready(Duration::from_secs(20))
        .await
        .expect("the store gets ready");
    let admin = ctx.mongo().expect("MongoDB").client().database("admin");
    let on = admin
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": "alwaysOn",
            "data": { "failCommands": ["insert"], "closeConnection": true, "appName": &app },
        })
        .await;
    if let Err(e) = on {
        eprintln!(
            "note: {} refuses configureFailPoint ({}); start it with --setParameter \
             enableTestCommands=1 to run this test",
            ctx.kind.name(),
            e.kind
        );
        store.close().await;
        return;
    }
    let doomed = new_user(&unique_email());
    let started = Instant::now();
    let outcome = store.create_user(&doomed).await;
    let elapsed = started.elapsed();
    let _ = admin
        .run_command(doc! { "configureFailPoint": "failCommand", "mode": "off" })
        .await;

    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(
        elapsed < budget + Duration::from_secs(1),
        "took {elapsed:?} with a budget of {budget:?}"
    );
    // Whatever landed, no user is left without a setting.
    if ctx
        .store
        .find_user(&doomed.user.id)
        .await
        .expect("find_user")
        .is_some()
    {
        assert_eq!(ctx.count_report_settings(&doomed.user.id).await, 1);
    }
    // And the store recovers without a restart once inserts work again.
    store
        .create_user(&new_user(&unique_email()))
        .await
        .expect("registration works again");
    store.close().await;
}
