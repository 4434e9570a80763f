//! Sessions: create, find, the rotation compare-and-swap, touch, revoke,
//! list, purge.

use std::collections::HashSet;

use chrono::TimeDelta;

use chrono::{DateTime, Utc};
use tokengate::domain::{Session, SessionId, TokenId};
use tokengate::store::CurrentRotation;

use crate::backends::Ctx;
use crate::fixtures::{days, find, minutes, now, registered, rotation, session, stored_session};

pub async fn create_and_find(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let at = now();
    // Every optional field set, so all of them are shown to round-trip.
    let mut full = session(&user.user.id, at - minutes(30), at + days(7));
    full.previous_jti = Some(TokenId::generate());
    full.rotated_at = Some(at - minutes(1));
    full.current_issued_at = at - minutes(1);
    full.last_used_at = at;
    ctx.store.create_session(&full).await.expect("create");
    assert_eq!(find(&ctx.store, &full).await, full);

    let mut bare = session(&user.user.id, at, at + days(7));
    bare.user_agent = None;
    bare.ip = None;
    ctx.store.create_session(&bare).await.expect("create");
    assert_eq!(find(&ctx.store, &bare).await, bare);

    let missing = ctx
        .store
        .find_session(&SessionId::generate())
        .await
        .expect("find_session");
    assert_eq!(missing, None);
}

pub async fn rotate_with_the_current_token(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let before = stored_session(&ctx.store, &user.user.id).await;
    let at = now() + minutes(1);
    let r = rotation(&before, at);
    assert!(ctx.store.rotate_session(&r).await.expect("rotate"));

    let after = find(&ctx.store, &before).await;
    assert_eq!(after.current_jti, r.new_jti);
    assert_eq!(after.previous_jti, Some(before.current_jti.clone()));
    assert_eq!(after.rotated_at, Some(at));
    assert_eq!(after.current_issued_at, at);
    assert_eq!(after.last_used_at, at);
    assert_eq!(after.expires_at, r.new_expires_at);
    // What a rotation does not touch.
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.user_id, before.user_id);
    assert_eq!(after.user_agent, before.user_agent);
    assert_eq!(after.ip, before.ip);
    assert_eq!(after.revoked_at, None);

    // The new token rotates in turn; the previous is then the one before.
    let second = rotation(&after, at + minutes(1));
    assert!(
        ctx.store
            .rotate_session(&second)
            .await
            .expect("rotate again")
    );
    let last = find(&ctx.store, &before).await;
    assert_eq!(last.current_jti, second.new_jti);
    assert_eq!(last.previous_jti, Some(r.new_jti));
}

pub async fn rotate_with_a_stale_token_fails(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let s = stored_session(&ctx.store, &user.user.id).await;
    let first = rotation(&s, now());
    assert!(ctx.store.rotate_session(&first).await.expect("rotate"));

    // The same (now previous) token again, and a token never issued.
    let replay = rotation(&s, now());
    assert!(!ctx.store.rotate_session(&replay).await.expect("replay"));
    let mut unknown = rotation(&s, now());
    unknown.expected_jti = TokenId::generate();
    assert!(
        !ctx.store
            .rotate_session(&unknown)
            .await
            .expect("unknown jti")
    );

    let stored = find(&ctx.store, &s).await;
    assert_eq!(
        stored.current_jti, first.new_jti,
        "a failed rotation changes nothing"
    );
    assert_eq!(stored.previous_jti, Some(s.current_jti.clone()));

    let mut elsewhere = rotation(&s, now());
    elsewhere.session_id = SessionId::generate();
    elsewhere.expected_jti = first.new_jti.clone();
    assert!(
        !ctx.store
            .rotate_session(&elsewhere)
            .await
            .expect("unknown session")
    );
}

pub async fn rotate_a_revoked_or_expired_session_fails(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let at = now();

    let revoked = stored_session(&ctx.store, &user.user.id).await;
    assert!(
        ctx.store
            .revoke_session(&revoked.id, None, at)
            .await
            .expect("revoke")
    );
    assert!(
        !ctx.store
            .rotate_session(&rotation(&revoked, at + minutes(1)))
            .await
            .expect("rotate revoked")
    );

    // Expiry is judged at the rotation's `now` (a time after the expiry,
    // rather than a stored date in the past, so MongoDB's TTL monitor cannot
    // remove the document while the test runs).
    let s = session(&user.user.id, at, at + minutes(10));
    ctx.store.create_session(&s).await.expect("create");
    assert!(
        !ctx.store
            .rotate_session(&rotation(&s, at + minutes(11)))
            .await
            .expect("rotate after expiry")
    );
    assert!(
        !ctx.store
            .rotate_session(&rotation(&s, s.expires_at))
            .await
            .expect("rotate at the expiry instant"),
        "a session is expired at its expiry instant"
    );
    assert_eq!(
        find(&ctx.store, &s).await,
        s,
        "failed rotations change nothing"
    );
    assert!(
        ctx.store
            .rotate_session(&rotation(&s, s.expires_at - TimeDelta::milliseconds(1)))
            .await
            .expect("rotate just before expiry")
    );
}

/// Many refreshes racing with one token: exactly one rotation succeeds.
pub async fn rotation_race_has_exactly_one_winner(ctx: Ctx) {
    const RACERS: usize = 16;
    let user = registered(&ctx.store).await;
    let s = stored_session(&ctx.store, &user.user.id).await;
    let at = now();
    let rotations: Vec<_> = (0..RACERS).map(|_| rotation(&s, at)).collect();
    let handles: Vec<_> = rotations
        .iter()
        .cloned()
        .map(|r| {
            let store = ctx.store.clone();
            tokio::spawn(async move { store.rotate_session(&r).await })
        })
        .collect();
    let mut winners = Vec::new();
    for (r, handle) in rotations.iter().zip(handles) {
        if handle.await.expect("rotation task").expect("rotate") {
            winners.push(r.new_jti.clone());
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {RACERS} racing rotations wins"
    );
    let stored = find(&ctx.store, &s).await;
    assert_eq!(stored.current_jti, winners[0]);
    assert_eq!(stored.previous_jti, Some(s.current_jti));
}

pub async fn touch_moves_last_used_forward_only(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let s = stored_session(&ctx.store, &user.user.id).await;
    let later = s.last_used_at + minutes(5);
    ctx.store.touch_session(&s.id, later).await.expect("touch");
    let touched = find(&ctx.store, &s).await;
    assert_eq!(touched.last_used_at, later);
    let mut expected = s.clone();
    expected.last_used_at = later;
    assert_eq!(touched, expected, "touch changes nothing else");

    ctx.store
        .touch_session(&s.id, s.last_used_at - minutes(5))
        .await
        .expect("touch with an older time");
    assert_eq!(find(&ctx.store, &s).await.last_used_at, later);

    ctx.store
        .touch_session(&SessionId::generate(), later)
        .await
        .expect("touching an unknown session is not an error");
}

pub async fn revoke_own_versus_another_users_session(ctx: Ctx) {
    let owner = registered(&ctx.store).await;
    let other = registered(&ctx.store).await;
    let s = stored_session(&ctx.store, &owner.user.id).await;
    let at = now();

    assert!(
        !ctx.store
            .revoke_session(&s.id, Some(&other.user.id), at)
            .await
            .expect("revoke as another user"),
        "another user cannot revoke it"
    );
    assert!(find(&ctx.store, &s).await.is_live(at));

    assert!(
        ctx.store
            .revoke_session(&s.id, Some(&owner.user.id), at)
            .await
            .expect("revoke as the owner")
    );
    let revoked = find(&ctx.store, &s).await;
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(!revoked.is_live(at));

    assert!(
        !ctx.store
            .revoke_session(&s.id, Some(&owner.user.id), at + minutes(1))
            .await
            .expect("revoke again"),
        "a revoked session is not revoked twice"
    );
    assert_eq!(
        find(&ctx.store, &s).await.revoked_at,
        Some(at),
        "the first time stays"
    );

    // Without an owner (logout with a refresh token): any live session.
    let t = stored_session(&ctx.store, &other.user.id).await;
    assert!(
        ctx.store
            .revoke_session(&t.id, None, at)
            .await
            .expect("revoke")
    );
    assert!(
        !ctx.store
            .revoke_session(&SessionId::generate(), None, at)
            .await
            .expect("revoke unknown")
    );
}

pub async fn revoke_all_revokes_only_the_users_live_sessions(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let other = registered(&ctx.store).await;
    let at = now();
    for _ in 0..3 {
        stored_session(&ctx.store, &user.user.id).await;
    }
    let already = stored_session(&ctx.store, &user.user.id).await;
    ctx.store
        .revoke_session(&already.id, None, at - minutes(1))
        .await
        .expect("revoke one first");
    let short = session(&user.user.id, at - minutes(20), at + minutes(10));
    ctx.store.create_session(&short).await.expect("create");
    let theirs = stored_session(&ctx.store, &other.user.id).await;

    // At `at + 11m` the short session has expired: not counted.
    let when = at + minutes(11);
    let revoked = ctx
        .store
        .revoke_all_sessions(&user.user.id, when)
        .await
        .expect("revoke all");
    assert_eq!(revoked, 3);
    assert!(
        ctx.store
            .list_sessions(&user.user.id, when)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        find(&ctx.store, &already).await.revoked_at,
        Some(at - minutes(1)),
        "an earlier revocation keeps its time"
    );
    assert!(
        find(&ctx.store, &theirs).await.is_live(when),
        "other users are untouched"
    );
    assert_eq!(
        ctx.store
            .revoke_all_sessions(&user.user.id, when)
            .await
            .expect("revoke all again"),
        0
    );
}

pub async fn list_returns_live_sessions_newest_first(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let other = registered(&ctx.store).await;
    let at = now();
    let oldest = session(&user.user.id, at - minutes(30), at + days(7));
    let newest = session(&user.user.id, at - minutes(10), at + days(7));
    let middle = session(&user.user.id, at - minutes(20), at + days(7));
    let revoked = session(&user.user.id, at - minutes(5), at + days(7));
    let expiring = session(&user.user.id, at - minutes(1), at + minutes(1));
    let theirs = session(&other.user.id, at - minutes(2), at + days(7));
    for s in [&oldest, &newest, &middle, &revoked, &expiring, &theirs] {
        ctx.store.create_session(s).await.expect("create");
    }
    ctx.store
        .revoke_session(&revoked.id, None, at)
        .await
        .expect("revoke");

    let listed = ctx
        .store
        .list_sessions(&user.user.id, at + minutes(2))
        .await
        .expect("list");
    let ids: Vec<_> = listed.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        ids,
        vec![newest.id.clone(), middle.id.clone(), oldest.id.clone()]
    );
    assert_eq!(listed[0], newest, "listed sessions are complete records");

    let earlier = ctx
        .store
        .list_sessions(&user.user.id, at)
        .await
        .expect("list");
    assert_eq!(
        earlier.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![expiring.id, newest.id, middle.id, oldest.id],
        "liveness is judged at the given time"
    );
    assert!(
        ctx.store
            .list_sessions(&tokengate::domain::UserId::generate(), at)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn purge_deletes_expired_and_revoked_sessions(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let at = now();
    // Every expiry is in the future, so MongoDB's TTL monitor leaves these
    // alone; the purge is asked about a cutoff in the future instead.
    let cutoff = at + days(2);
    let expires_before = session(&user.user.id, at, at + days(1));
    let expires_at_cutoff = session(&user.user.id, at, cutoff);
    let revoked_before = session(&user.user.id, at, at + days(7));
    let revoked_after = session(&user.user.id, at, at + days(7));
    let live = session(&user.user.id, at, at + days(7));
    for s in [
        &expires_before,
        &expires_at_cutoff,
        &revoked_before,
        &revoked_after,
        &live,
    ] {
        ctx.store.create_session(s).await.expect("create");
    }
    ctx.store
        .revoke_session(&revoked_before.id, None, at + days(1))
        .await
        .expect("revoke");
    ctx.store
        .revoke_session(&revoked_after.id, None, cutoff + minutes(1))
        .await
        .expect("revoke");

    let purged = ctx.store.purge_sessions(cutoff).await.expect("purge");
    assert_eq!(purged, 3);
    let mut left = HashSet::new();
    for s in [
        &expires_before,
        &expires_at_cutoff,
        &revoked_before,
        &revoked_after,
        &live,
    ] {
        if ctx.store.find_session(&s.id).await.expect("find").is_some() {
            left.insert(s.id.clone());
        }
    }
    assert_eq!(
        left,
        HashSet::from([revoked_after.id.clone(), live.id.clone()])
    );
    assert_eq!(
        ctx.store.purge_sessions(cutoff).await.expect("purge again"),
        0
    );
}

fn current_rotation(s: &Session, at: DateTime<Utc>) -> CurrentRotation {
    CurrentRotation {
        session_id: s.id.clone(),
        user_id: s.user_id.clone(),
        expected_jti: s.current_jti.clone(),
        new_jti: TokenId::generate(),
        now: at,
        sliding_expires_at: at + days(7),
        max_lifetime: std::time::Duration::from_secs(30 * 86_400),
    }
}

pub async fn rotate_current_returns_the_rotated_session(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let before = stored_session(&ctx.store, &user.user.id).await;
    let at = now() + minutes(1);
    let r = current_rotation(&before, at);
    let rotated = ctx
        .store
        .rotate_current(&r)
        .await
        .expect("rotate")
        .expect("the current token rotates");
    assert_eq!(
        rotated,
        find(&ctx.store, &before).await,
        "what it returns is what is stored"
    );
    assert_eq!(rotated.current_jti, r.new_jti);
    assert_eq!(rotated.previous_jti, Some(before.current_jti.clone()));
    assert_eq!((rotated.rotated_at, rotated.last_used_at), (Some(at), at));
    assert_eq!(rotated.current_issued_at, at);
    assert_eq!(rotated.expires_at, at + days(7));
    assert_eq!(rotated.created_at, before.created_at);

    // The same token again, another user's claim, a revoked or an expired
    // session: nothing rotates, nothing changes.
    assert_eq!(ctx.store.rotate_current(&r).await.expect("rotate"), None);
    let mut other = current_rotation(&rotated, at);
    other.user_id = registered(&ctx.store).await.user.id;
    assert_eq!(
        ctx.store.rotate_current(&other).await.expect("rotate"),
        None
    );
    let late = current_rotation(&rotated, rotated.expires_at);
    assert_eq!(ctx.store.rotate_current(&late).await.expect("rotate"), None);
    assert_eq!(find(&ctx.store, &before).await, rotated);
    assert!(
        ctx.store
            .revoke_session(&rotated.id, None, at)
            .await
            .expect("revoke")
    );
    let revoked = current_rotation(&rotated, at + minutes(1));
    assert_eq!(
        ctx.store.rotate_current(&revoked).await.expect("rotate"),
        None
    );
}

pub async fn rotate_current_never_slides_past_the_maximum_lifetime(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let created = now() - days(29);
    let s = session(&user.user.id, created, now() + days(1));
    ctx.store.create_session(&s).await.expect("create");
    let at = now();
    let rotated = ctx
        .store
        .rotate_current(&current_rotation(&s, at))
        .await
        .expect("rotate")
        .expect("rotates");
    assert_eq!(
        rotated.expires_at,
        created + days(30),
        "capped at creation + 30 days"
    );
}

pub async fn rotate_current_race_has_exactly_one_winner(ctx: Ctx) {
    let user = registered(&ctx.store).await;
    let s = stored_session(&ctx.store, &user.user.id).await;
    let at = now();
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (store, r) = (ctx.store.clone(), current_rotation(&s, at));
            tokio::spawn(async move { store.rotate_current(&r).await.expect("rotate") })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        if let Some(rotated) = racer.await.expect("task") {
            winners.push(rotated);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(find(&ctx.store, &s).await, winners[0]);
}
