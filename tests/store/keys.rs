//! JWT signing keys: stored and read back whole, oldest generation first;
//! a generation (or kid) taken is refused without error; of instances racing
//! to add the same next generation exactly one wins; and the key manager's
//! rotation and sealing work on the backend.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokengate::auth::keys::{self, KeyPolicy, KeyState, Sealer};
use tokengate::store::StoredSigningKey;

use crate::backends::Ctx;

/// Millisecond precision, as both backends keep times.
fn at_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

fn key(generation: i64, kid: &str) -> StoredSigningKey {
    let now = at_ms(Utc::now());
    StoredSigningKey {
        kid: kid.to_owned(),
        generation,
        algorithm: "EdDSA".into(),
        public_key: vec![generation as u8; 32],
        private_key: vec![0xA5; 111],
        encryption: "A256GCM".into(),
        created_at: now,
        activates_at: now + TimeDelta::seconds(generation * 60),
    }
}

fn policy() -> KeyPolicy {
    KeyPolicy {
        jwks_max_age: Duration::from_secs(300),
        refresh_interval: Duration::from_secs(60),
        token_lifetime: Duration::from_secs(905),
        rotation: None,
    }
}

pub async fn keys_round_trip_oldest_generation_first(ctx: Ctx) {
    assert!(ctx.store.signing_keys().await.expect("read").is_empty());
    let (one, two) = (key(1, "kid-one"), key(2, "kid-two"));
    assert!(ctx.store.insert_signing_key(&two).await.expect("insert"));
    assert!(ctx.store.insert_signing_key(&one).await.expect("insert"));
    assert_eq!(ctx.store.signing_keys().await.expect("read"), [one, two]);
}

pub async fn a_taken_generation_or_kid_is_refused(ctx: Ctx) {
    let first = key(1, "kid-first");
    assert!(ctx.store.insert_signing_key(&first).await.expect("insert"));
    assert!(
        !ctx.store
            .insert_signing_key(&key(1, "kid-other"))
            .await
            .expect("same generation")
    );
    assert!(
        !ctx.store
            .insert_signing_key(&key(2, "kid-first"))
            .await
            .expect("same kid")
    );
    assert_eq!(ctx.store.signing_keys().await.expect("read"), [first]);
}

pub async fn racing_inserts_of_one_generation_have_one_winner(ctx: Ctx) {
    let inserts = (0..8).map(|i| {
        let store = ctx.store.clone();
        tokio::spawn(async move { store.insert_signing_key(&key(1, &format!("kid-{i}"))).await })
    });
    let mut won = 0;
    for insert in inserts.collect::<Vec<_>>() {
        if insert.await.expect("task").expect("insert") {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    assert_eq!(ctx.store.signing_keys().await.expect("read").len(), 1);
}

/// Several instances starting at once make one first key; a forced rotation
/// adds the next generation, published now and signing after the delay; the
/// sealed private key loads with the right KEK only.
pub async fn the_key_manager_makes_one_key_and_rotates(ctx: Ctx) {
    let sealer = Sealer::new(Some([42; 32]));
    let starts = (0..4).map(|_| {
        let store = ctx.store.clone();
        tokio::spawn(async move { keys::ensure_key(&store, &Sealer::new(Some([42; 32]))).await })
    });
    let mut made = 0;
    for start in starts.collect::<Vec<_>>() {
        if start.await.expect("task").expect("ensure").is_some() {
            made += 1;
        }
    }
    assert_eq!(made, 1);
    let loaded = keys::load(&ctx.store, &sealer, &policy())
        .await
        .expect("load");
    let first = loaded.signing.expect("a signing key").kid;
    assert_eq!(loaded.published.len(), 1);
    assert!(
        keys::load(&ctx.store, &Sealer::new(Some([7; 32])), &policy())
            .await
            .is_err()
    );

    let next = keys::rotate_now(&ctx.store, &sealer, &policy())
        .await
        .expect("rotate");
    assert_eq!(next.generation, 2);
    let stored = ctx.store.signing_keys().await.expect("read");
    let states = keys::states(&stored, Utc::now(), &policy());
    assert_eq!(states, [KeyState::Current, KeyState::Pending]);
    let loaded = keys::load(&ctx.store, &sealer, &policy())
        .await
        .expect("load");
    assert_eq!(loaded.signing.expect("still the first").kid, first);
    assert_eq!(
        loaded.published.len(),
        2,
        "the new key is published before it signs"
    );
}
