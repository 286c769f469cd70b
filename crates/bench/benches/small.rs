//! Criterion micro-benchmarks of small pieces of the order path that need no IO: the
//! HMAC-SHA256 request signature of an order create, and the guards a `SUBMITTING` section
//! re-checks (`vigil_core::guard::evaluate_without_market`) over a facts snapshot. They show
//! that neither is where an execute's milliseconds go (see BENCHMARKS.md).
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::{collections::BTreeSet, hint::black_box};

use chrono::{DateTime, TimeDelta};
use criterion::{criterion_group, criterion_main, Criterion};
use vigil_core::{
    guard::{evaluate_without_market, GuardFacts, MarketActivity, OrderIntent},
    Market, Notional, OrderSize, OrderType, Policy, Side,
};

fn signing(c: &mut Criterion) {
    let secret = "fedcba9876543210".repeat(8).into_bytes();
    let body = br#"{"market":"BTC-EUR","side":"buy","orderType":"market","amountQuote":"10","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":7}"#;
    c.bench_function("sign an order create (HMAC-SHA256)", |b| {
        b.iter(|| {
            vigil_bitvavo::signing::signature(
                black_box(&secret),
                black_box(1_764_300_000_000),
                &http::Method::POST,
                "/v2/order",
                black_box(body),
            )
        });
    });
}

fn guards(c: &mut Criterion) {
    // Constants that parse; a benchmark without its fixture cannot run, so it stops here.
    let Ok(now) = DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z").map(|t| t.to_utc()) else {
        panic!("the fixture time parses");
    };
    let Ok(market) = Market::parse("BTC-EUR") else {
        panic!("BTC-EUR is a market");
    };
    let facts = GuardFacts {
        now,
        global_kill_switch: false,
        user_kill_switch: false,
        policy: Policy {
            trading_enabled: true,
            ..Policy::default()
        },
        allowlist: BTreeSet::from([market.clone()]),
        activity: MarketActivity {
            last_order_at: Some(now - TimeDelta::hours(2)),
            last_buy_at: Some(now - TimeDelta::hours(2)),
            last_sell_at: None,
            unresolved: None,
        },
        day_used: Notional::from_whole(20),
    };
    let intent = OrderIntent {
        market,
        side: Side::Buy,
        order_type: OrderType::Market,
        size: OrderSize::Quote(Notional::from_whole(10)),
        limit_price: None,
        expires_at: now + TimeDelta::hours(1),
    };
    c.bench_function("guards re-checked in the SUBMITTING section", |b| {
        b.iter(|| evaluate_without_market(black_box(&facts), black_box(&intent)));
    });
}

criterion_group!(benches, signing, guards);
criterion_main!(benches);
