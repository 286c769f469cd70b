//! Authentication and key permissions, as the exchange enforces them: a request that arrives
//! after its access window (the exchange's clock ahead, or the request held up on the way) and a
//! wrong secret are refused with their codes and place nothing; a view-only key used as the
//! trade key gets 310.
//!
//! That a `ReadOnlyClient` cannot create orders at all is a compile-time property: it has no
//! such method. The `compile_fail` doctests in `src/client/mod.rs` prove it (and that a
//! `TradingClient` cannot read balances or market data).

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;
use vigil_bitvavo::{BalanceQuery, BitvavoClients, BitvavoError, TradeKey};
use vigil_core::{ClientOrderId, SystemClock};
use vigil_sim::{KeyConfig, Permission};
use vigil_testkit::sim::{self, FaultKind, FaultPlan, FaultRule, SimConfig};

use crate::support::{clients, clients_with, config, demo_keys, orders_in_log, resting_buy, SEED};

/// A third key of the demo account, with the View permission only (simulator test value).
const SECOND_VIEW_KEY: &str = "5c1d0f0e9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d";
const SECOND_VIEW_SECRET: &str = "second-view-only-secret-for-the-simulator-only";

#[tokio::test]
async fn exchange_clock_ahead_of_the_window_is_refused_304_and_nothing_is_placed() {
    let plan = FaultPlan::single(
        FaultRule::new("POST /v2/order", FaultKind::ClockSkew { offset_ms: 20_000 }).times(1),
    );
    let sim = sim::spawn(SEED, plan).await;
    let trade = clients(&sim).trading;
    let coid = ClientOrderId::new();
    let err = trade
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap_err();
    assert_eq!(err.error_code(), Some(304), "seed {SEED}: {err}");
    assert!(
        matches!(
            err,
            BitvavoError::Refused {
                http_status: 403,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.order_may_exist());
    assert_eq!(orders_in_log(&sim, coid), 0);
}

#[tokio::test]
async fn a_request_delayed_past_its_window_is_refused_304() {
    let plan = FaultPlan::single(
        FaultRule::new("POST /v2/order", FaultKind::Latency { ms: 400 }).times(1),
    );
    let sim = sim::spawn(SEED, plan).await;
    let mut cfg = config(&sim);
    cfg.access_window = Duration::from_millis(100);
    let trade = clients_with(&sim, &cfg, Arc::new(SystemClock)).trading;
    let coid = ClientOrderId::new();
    let outcome = trade.create_order(resting_buy(coid)).await;
    assert_eq!(outcome.stamp.unwrap().access_window_ms, 100);
    let err = outcome.result.unwrap_err();
    assert_eq!(err.error_code(), Some(304), "seed {SEED}: {err}");
    assert_eq!(orders_in_log(&sim, coid), 0);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_309_and_never_shown() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let wrong = "this-is-not-the-secret-of-the-trade-key";
    let (read, _) = demo_keys(&sim);
    let trade = TradeKey::new(sim.trade_key, SecretString::from(wrong.to_owned())).unwrap();
    let both = BitvavoClients::new(&config(&sim), read, trade, Arc::new(SystemClock)).unwrap();
    let coid = ClientOrderId::new();
    let err = both
        .trading
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap_err();
    assert_eq!(err.error_code(), Some(309), "seed {SEED}: {err}");
    assert!(
        err.to_string().contains("secret"),
        "the message says what to check: {err}"
    );
    let shown = format!("{err} {err:?} {both:?}");
    assert!(!shown.contains(wrong));
    assert!(!shown.contains(sim.trade_secret) && !shown.contains(sim.view_secret));
    assert_eq!(orders_in_log(&sim, coid), 0);
}

#[tokio::test]
async fn i10_a_view_only_key_cannot_trade_310() {
    let mut sim_config = SimConfig::demo(SEED);
    sim_config.accounts[0].keys.push(KeyConfig::new(
        SECOND_VIEW_KEY,
        SECOND_VIEW_SECRET,
        &[Permission::View],
    ));
    let sim = sim::spawn_with(sim_config).await;
    let (read, _) = demo_keys(&sim);
    // Misconfigured: a view-only key given as the trade key.
    let trade = TradeKey::new(
        SECOND_VIEW_KEY,
        SecretString::from(SECOND_VIEW_SECRET.to_owned()),
    )
    .unwrap();
    let both = BitvavoClients::new(&config(&sim), read, trade, Arc::new(SystemClock)).unwrap();
    let coid = ClientOrderId::new();
    let err = both
        .trading
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap_err();
    assert_eq!(err.error_code(), Some(310), "seed {SEED}: {err}");
    assert!(matches!(err, BitvavoError::Refused { .. }));
    assert!(err.to_string().contains("Trade permission"), "{err}");
    assert_eq!(orders_in_log(&sim, coid), 0);
    // The read-only key (view only) reads fine.
    both.read_only
        .balance(&BalanceQuery::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn i10_the_read_only_key_signs_reads_and_the_trade_key_signs_orders() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let both = clients(&sim);
    both.read_only
        .balance(&BalanceQuery::default())
        .await
        .unwrap();
    let coid = ClientOrderId::new();
    both.trading
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap();
    let log = sim.handle.order_log();
    assert_eq!(log.len(), 1);
    assert_eq!(
        log[0].api_key, sim.trade_key,
        "orders are placed with the trade key only"
    );
    // Building the pair from one key is refused (checked in unit tests too).
    let (read, _) = demo_keys(&sim);
    let same = TradeKey::new(sim.view_key, SecretString::from("other".to_owned())).unwrap();
    let err = BitvavoClients::new(&config(&sim), read, same, Arc::new(SystemClock)).unwrap_err();
    assert!(err.to_string().contains("I10"), "{err}");
}
