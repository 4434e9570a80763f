//! Rate limits shared by every instance on one store.

use std::time::Duration;

use tokengate::domain::now;
use tokengate::store::{RateLimit, RateVerdict};

use crate::backends::Ctx;
use crate::fixtures::unique_email;

/// 5 requests per 15 minutes.
const FIVE: RateLimit = RateLimit {
    interval: Duration::from_secs(180),
    window: Duration::from_secs(900),
};

pub async fn a_shared_limit_allows_its_budget_then_says_how_long_to_wait(ctx: Ctx) {
    let key = unique_email();
    let at = now();
    for i in 0..5 {
        let verdict = ctx
            .store
            .spend_rate_limit(&key, FIVE, at)
            .await
            .expect("spend");
        assert_eq!(verdict, RateVerdict::Allowed, "request {i}");
    }
    match ctx
        .store
        .spend_rate_limit(&key, FIVE, at)
        .await
        .expect("spend")
    {
        RateVerdict::Limited { retry_after } => {
            assert_eq!(retry_after, Duration::from_secs(180));
        }
        RateVerdict::Allowed => panic!("the sixth request was allowed"),
    }
    // Another key has its own budget.
    let other = unique_email();
    assert_eq!(
        ctx.store
            .spend_rate_limit(&other, FIVE, at)
            .await
            .expect("spend"),
        RateVerdict::Allowed
    );
    // A refund gives exactly one request back.
    ctx.store
        .refund_rate_limit(&key, FIVE)
        .await
        .expect("refund");
    assert_eq!(
        ctx.store
            .spend_rate_limit(&key, FIVE, at)
            .await
            .expect("spend"),
        RateVerdict::Allowed
    );
    assert!(matches!(
        ctx.store
            .spend_rate_limit(&key, FIVE, at)
            .await
            .expect("spend"),
        RateVerdict::Limited { .. }
    ));
    // One interval later, one more fits.
    let later = at + chrono::Duration::seconds(180);
    assert_eq!(
        ctx.store
            .spend_rate_limit(&key, FIVE, later)
            .await
            .expect("spend"),
        RateVerdict::Allowed
    );
}

pub async fn simultaneous_spends_never_exceed_the_budget(ctx: Ctx) {
    let key = unique_email();
    let at = now();
    let spends = (0..20).map(|_| {
        let (store, key) = (ctx.store.clone(), key.clone());
        tokio::spawn(async move { store.spend_rate_limit(&key, FIVE, at).await })
    });
    let mut allowed = 0;
    for spend in spends.collect::<Vec<_>>() {
        if spend.await.expect("task").expect("spend") == RateVerdict::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "20 simultaneous requests against a budget of 5");
}

pub async fn refilled_counters_are_purged(ctx: Ctx) {
    let (full, fresh) = (unique_email(), unique_email());
    let at = now();
    ctx.store
        .spend_rate_limit(&full, FIVE, at)
        .await
        .expect("spend");
    let later = at + chrono::Duration::seconds(200);
    ctx.store
        .spend_rate_limit(&fresh, FIVE, later)
        .await
        .expect("spend");
    // At `later`, `full`'s one request has refilled; `fresh`'s has not.
    let purged = ctx.store.purge_rate_limits(later).await.expect("purge");
    assert!(purged >= 1, "purged {purged}");
    // Purged or not, both behave as they should.
    for _ in 0..5 {
        assert_eq!(
            ctx.store
                .spend_rate_limit(&full, FIVE, later)
                .await
                .expect("spend"),
            RateVerdict::Allowed
        );
    }
    assert!(matches!(
        ctx.store
            .spend_rate_limit(&fresh, FIVE, later + chrono::Duration::seconds(1))
            .await
            .expect("spend"),
        RateVerdict::Allowed
    ));
}
