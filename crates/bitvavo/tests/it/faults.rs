//! Every fault the simulator can inject is classified as the executor needs it, and the
//! simulator's order log confirms what really happened: an `Ambiguous` order may or may not
//! exist (both cases are shown), a `Refused` or `RateLimited` one does not, and a `NotSent` one
//! never reached anything.

use std::{sync::Arc, time::Duration};

use vigil_bitvavo::{BitvavoError, ClientConfig, RateLimitSource};
use vigil_core::{ClientOrderId, Clock, SystemClock};
use vigil_testkit::sim::{self, FaultKind, FaultPlan, FaultRule, SpawnedSim};

use crate::support::{clients, clients_with, config, demo_keys, orders_in_log, resting_buy, SEED};

/// Places one order under `plan` and returns the error and how many orders with its
/// clientOrderId the simulator holds afterwards.
async fn create_under(plan: FaultPlan) -> (BitvavoError, usize, SpawnedSim) {
    let sim = sim::spawn(SEED, plan.clone()).await;
    let trade = clients(&sim).trading;
    let coid = ClientOrderId::new();
    let outcome = trade.create_order(resting_buy(coid)).await;
    assert!(
        outcome.stamp.is_some(),
        "the stamp comes back even on error"
    );
    let err = outcome
        .result
        .expect_err(&format!("seed {SEED}, plan {plan:?}: expected an error"));
    let placed = orders_in_log(&sim, coid);
    (err, placed, sim)
}

fn on_create(kind: FaultKind) -> FaultPlan {
    FaultPlan::single(FaultRule::new("POST /v2/order", kind).times(1))
}

fn error(code: u16, status: u16) -> FaultKind {
    FaultKind::Error {
        error_code: code,
        http_status: status,
        message: None,
    }
}

#[tokio::test]
async fn error_101_with_500_is_ambiguous() {
    let (err, _, _sim) = create_under(on_create(error(101, 500))).await;
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
    assert!(err.order_may_exist());
}

#[tokio::test]
async fn error_101_after_the_order_was_accepted_is_ambiguous_and_the_order_exists() {
    let kind = FaultKind::AcceptThenError {
        error_code: 101,
        http_status: 500,
    };
    let (err, placed, _sim) = create_under(on_create(kind)).await;
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
    assert_eq!(
        placed, 1,
        "seed {SEED}: the order was accepted before the error"
    );
}

#[tokio::test]
async fn error_109_is_ambiguous() {
    let (err, _, _sim) = create_under(on_create(error(109, 503))).await;
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
}

#[tokio::test]
async fn accept_then_drop_is_ambiguous_and_the_order_is_in_the_log() {
    let (err, placed, _sim) = create_under(on_create(FaultKind::AcceptThenDrop)).await;
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
    assert_eq!(placed, 1, "seed {SEED}");
}

#[tokio::test]
async fn drop_without_placing_is_ambiguous_to_the_client_but_no_order_exists() {
    let (err, placed, sim) = create_under(on_create(FaultKind::DropRequest)).await;
    // The client cannot tell this from accept-then-drop.
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
    assert_eq!(placed, 0, "seed {SEED}");
    assert!(sim.handle.order_log().is_empty());
}

#[tokio::test]
async fn definite_codes_are_refused_with_that_code() {
    for (code, status) in [(304, 403), (309, 403), (216, 400), (205, 400), (107, 400)] {
        let (err, placed, _sim) = create_under(on_create(error(code, status))).await;
        let wanted = (i64::from(code), status);
        assert!(
            matches!(&err, BitvavoError::Refused { code, http_status, .. } if (*code, *http_status) == wanted),
            "seed {SEED}: {code}: {err}"
        );
        assert!(!err.order_may_exist());
        assert_eq!(placed, 0);
    }
}

/// Every 5xx to a create is an unknown outcome, even with a code that reads like a refusal
/// (107, 108: "resubmit"; 205): the status contradicts a clean refusal, so the reconciler
/// decides by clientOrderId instead of the client guessing (#18 case 1).
#[tokio::test]
async fn a_5xx_to_a_create_is_unknown_whatever_its_code() {
    for (code, status) in [(107, 503), (108, 503), (205, 500), (216, 503)] {
        let (err, placed, _sim) = create_under(on_create(error(code, status))).await;
        assert!(
            matches!(err, BitvavoError::Ambiguous { .. }),
            "seed {SEED}: {code}/{status}: {err}"
        );
        assert!(err.order_may_exist());
        assert_eq!(
            placed, 0,
            "the fault placed nothing; the reconciler will conclude that"
        );
    }
}

#[tokio::test]
async fn rate_limit_ban_110_is_rate_limited_and_the_key_then_stays_away() {
    let sim = sim::spawn(SEED, on_create(error(110, 429))).await;
    let mut cfg = config(&sim);
    cfg.rate_limit_wait_max = Duration::ZERO;
    let both = clients_with(&sim, &cfg, Arc::new(SystemClock));
    let trade = both.trading;

    let coid = ClientOrderId::new();
    let first = trade.create_order(resting_buy(coid)).await;
    let err = first.result.unwrap_err();
    let BitvavoError::RateLimited { retry_at, by, .. } = &err else {
        panic!("seed {SEED}: {err}")
    };
    assert_eq!(*by, RateLimitSource::Exchange { code: Some(110) });
    assert!(*retry_at > SystemClock.now());
    assert!(!err.order_may_exist());
    assert_eq!(orders_in_log(&sim, coid), 0);

    // The ban is remembered: the next order is refused by the client's own budget, before
    // signing, and never reaches the exchange.
    let sent = sim.handle.request_count("POST /v2/order");
    let second = trade.create_order(resting_buy(ClientOrderId::new())).await;
    assert!(second.stamp.is_none(), "refused before signing");
    let err = second.result.unwrap_err();
    assert!(
        matches!(
            err,
            BitvavoError::RateLimited {
                by: RateLimitSource::OwnBudget,
                ..
            }
        ),
        "seed {SEED}: {err}"
    );
    assert_eq!(
        sim.handle.request_count("POST /v2/order"),
        sent,
        "nothing sent during the ban"
    );

    // Bitvavo counts per key: the read-only key is not banned.
    both.read_only
        .balance(&vigil_bitvavo::BalanceQuery::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn legacy_ban_105_is_rate_limited() {
    let (err, _, _sim) = create_under(on_create(error(105, 429))).await;
    assert!(
        matches!(
            err,
            BitvavoError::RateLimited {
                by: RateLimitSource::Exchange { code: Some(105) },
                ..
            }
        ),
        "seed {SEED}: {err}"
    );
}

#[tokio::test]
async fn client_order_id_in_use_220_is_its_own_outcome() {
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let trade = clients(&sim).trading;
    let coid = ClientOrderId::new();
    trade.create_order(resting_buy(coid)).await.result.unwrap();
    let err = trade
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(err, BitvavoError::ClientOrderIdInUse { .. }),
        "seed {SEED}: {err}"
    );
    assert!(err.order_may_exist(), "the executor must look the order up");
    assert_eq!(orders_in_log(&sim, coid), 1);
}

#[tokio::test]
async fn an_answer_slower_than_the_request_timeout_is_ambiguous_and_the_order_exists() {
    let sim = sim::spawn(SEED, on_create(FaultKind::DelayResponse { ms: 3_000 })).await;
    let mut cfg = config(&sim);
    cfg.request_timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    let trade = clients_with(&sim, &cfg, Arc::new(SystemClock)).trading;
    let coid = ClientOrderId::new();
    let err = trade
        .create_order(resting_buy(coid))
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
    assert!(err.to_string().contains("request_timeout"), "{err}");
    assert_eq!(orders_in_log(&sim, coid), 1);
}

#[tokio::test]
async fn a_slow_read_beyond_the_timeout_is_ambiguous_too() {
    let plan = FaultPlan::single(
        FaultRule::new("GET /v2/balance", FaultKind::Latency { ms: 3_000 }).times(1),
    );
    let sim = sim::spawn(SEED, plan).await;
    let mut cfg = config(&sim);
    cfg.request_timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    let read = clients_with(&sim, &cfg, Arc::new(SystemClock)).read_only;
    let err = read
        .balance(&vigil_bitvavo::BalanceQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BitvavoError::Ambiguous { .. }),
        "seed {SEED}: {err}"
    );
}

#[tokio::test]
async fn connecting_to_a_closed_port_is_not_sent() {
    // Bind a port, note it, close it: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sim = sim::spawn(SEED, FaultPlan::none()).await;
    let cfg = ClientConfig::new(format!("http://127.0.0.1:{port}"), crate::support::OPERATOR);
    let (read_key, trade_key) = demo_keys(&sim);
    let both = vigil_bitvavo::BitvavoClients::new(&cfg, read_key, trade_key, Arc::new(SystemClock))
        .unwrap();
    let err = both
        .trading
        .create_order(resting_buy(ClientOrderId::new()))
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, BitvavoError::NotSent { .. }), "{err}");
    assert!(!err.order_may_exist());
    let err = both.read_only.server_time().await.unwrap_err();
    assert!(matches!(err, BitvavoError::NotSent { .. }), "{err}");
}

#[tokio::test]
async fn reads_under_errors_and_drops_are_classified_the_same_way() {
    let plan = FaultPlan::default()
        .with(FaultRule::new("GET /v2/order", FaultKind::DropRequest).times(1))
        .with(FaultRule::new("GET /v2/balance", error(101, 500)).times(1))
        .with(FaultRule::new("GET /v2/markets", error(500, 503)).times(1));
    let sim = sim::spawn(SEED, plan).await;
    let read = clients(&sim).read_only;
    let lookup = vigil_bitvavo::GetOrder::by_client_order_id(
        crate::support::btc_eur(),
        ClientOrderId::new(),
    );
    assert!(matches!(
        read.order(&lookup).await,
        Err(BitvavoError::Ambiguous { .. })
    ));
    // Asked again, the lookup reaches the exchange: no such order (240), a definite answer.
    let err = read.order(&lookup).await.unwrap_err();
    assert!(err.is_order_not_found(), "seed {SEED}: {err}");
    assert!(matches!(
        read.balance(&vigil_bitvavo::BalanceQuery::default()).await,
        Err(BitvavoError::Ambiguous { .. })
    ));
    assert!(matches!(
        read.markets(&vigil_bitvavo::MarketsQuery::default()).await,
        Err(BitvavoError::Ambiguous { .. })
    ));
}
