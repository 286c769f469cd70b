//! The exchange-side dead man's switch against the simulator, whose clock is moved by hand:
//! while the switch re-arms, resting orders survive past the first expiry; when re-arming
//! stops without a clean shutdown (a crash), the exchange cancels them; a clean shutdown
//! disarms it and they stay. And `cancel_open_orders` for the kill switch.

use std::time::Duration;

use chrono::TimeDelta;
use rust_decimal_macros::dec;
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{CreateOrder, GetOrder, OrderStatus};
use vigil_core::{ClientOrderId, Price, Quantity, Side};
use vigil_engine::{
    cancel_open_orders::{cancel_open_orders, CancelScope},
    DeadMansSwitch, ExecutionOutcome,
};
use vigil_store::Attribution;

use crate::{
    operator_support::eventually,
    support::{btc, each_backend, Harness, Setup, Spec},
};

const ARM: &str = "POST /v2/cancelOrdersAfter";

/// A limit buy far below the flat demo price of 60,000: it rests.
async fn resting_order(h: &Harness) -> ClientOrderId {
    let id = ClientOrderId::new();
    let order = CreateOrder::limit(
        btc(),
        Side::Buy,
        Quantity::positive("amount", dec!(0.0002)).unwrap(),
        Price::positive("price", dec!(30000)).unwrap(),
        id,
    )
    .unwrap();
    h.clients.trading.create_order(order).await.result.unwrap();
    id
}

async fn is_open(h: &Harness, id: ClientOrderId) -> bool {
    let order = h
        .clients
        .read_only
        .order(&GetOrder::by_client_order_id(btc(), id))
        .await
        .unwrap();
    matches!(
        order.status,
        OrderStatus::New | OrderStatus::PartiallyFilled
    )
}

fn switch(h: &Harness) -> DeadMansSwitch {
    DeadMansSwitch::new(
        h.clients.cancel.clone(),
        Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .unwrap()
}

/// Waits for `n` more arm requests than `before`.
async fn armed_again(h: &Harness, before: u64) -> u64 {
    eventually("the switch re-armed", || {
        h.sim.handle.request_count(ARM) > before
    })
    .await;
    h.sim.handle.request_count(ARM)
}

#[tokio::test]
async fn re_arming_keeps_orders_and_a_crash_lets_the_exchange_cancel_them() {
    each_backend(Setup::default(), |h| async move {
        let order = resting_order(&h).await;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(switch(&h).run(shutdown.clone()));
        let mut count = armed_again(&h, 0).await;
        // 6 s pass on the exchange; the switch re-arms from there, so 11 s after the first arm
        // (past its 10 s expiry) the order is still open.
        h.advance(TimeDelta::seconds(6));
        count = armed_again(&h, count).await;
        h.advance(TimeDelta::seconds(5));
        assert!(
            is_open(&h, order).await,
            "re-arming must push the expiry out"
        );
        // The process dies: no disarm. Past the last expiry the exchange cancels the order.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(h.sim.handle.request_count(ARM) >= count);
        // Twice past the expiry: even an arm request still in flight at the abort has run out.
        h.advance(TimeDelta::seconds(11));
        h.clients.read_only.server_time().await.unwrap();
        h.advance(TimeDelta::seconds(11));
        assert!(
            !is_open(&h, order).await,
            "the exchange cancels when re-arming stops"
        );
    })
    .await;
}

#[tokio::test]
async fn a_clean_shutdown_disarms_and_orders_stay() {
    each_backend(Setup::default(), |h| async move {
        let order = resting_order(&h).await;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(switch(&h).run(shutdown.clone()));
        armed_again(&h, 0).await;
        shutdown.cancel();
        task.await.unwrap();
        h.advance(TimeDelta::seconds(400));
        assert!(
            is_open(&h, order).await,
            "a disarmed switch cancels nothing"
        );
    })
    .await;
}

#[test]
fn settings_outside_bitvavo_s_limits_are_refused() {
    // Only the validation is exercised here; no exchange is involved.
    let problems = |interval: u64, expiry: u64| {
        let clients = vigil_bitvavo::BitvavoClients::new(
            &vigil_bitvavo::ClientConfig::new("http://127.0.0.1:9", 1),
            vigil_bitvavo::ReadOnlyKey::new(
                "9a01f108ca025ea832ad30bacc7248be2723ea68ebe62a7c422126728f37c2e3",
                "a".to_owned().into(),
            )
            .unwrap(),
            vigil_bitvavo::TradeKey::new(
                "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09",
                "b".to_owned().into(),
            )
            .unwrap(),
            std::sync::Arc::new(vigil_core::SystemClock),
        )
        .unwrap();
        DeadMansSwitch::new(
            clients.cancel,
            Duration::from_secs(interval),
            Duration::from_secs(expiry),
        )
        .err()
    };
    assert!(problems(30, 60).is_none());
    assert!(problems(1, 5).is_some(), "expiry below 10 s");
    assert!(problems(1, 301).is_some(), "expiry above 300 s");
    assert!(problems(40, 60).is_some(), "interval above half the expiry");
}

#[tokio::test]
async fn i4_the_kill_switch_cancels_the_account_s_open_orders() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h
            .approved(Spec::default().limit(dec!(0.0002), dec!(30000)))
            .await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Placed(placed) = outcome else {
            panic!("{outcome:?}")
        };
        let stray = resting_order(&h).await;
        let report = cancel_open_orders(
            &h.store,
            &h.clients.read_only,
            &h.clients.cancel,
            CancelScope::Account,
        )
        .await
        .unwrap();
        assert_eq!(report.cancelled.len(), 2, "{report:?}");
        let ours = report
            .cancelled
            .iter()
            .find(|o| o.execution_id == Some(placed.id))
            .unwrap();
        assert_eq!(ours.user_id, Some(h.user));
        assert!(report
            .cancelled
            .iter()
            .any(|o| o.client_order_id == Some(stray) && o.execution_id.is_none()));
        assert!(!is_open(&h, placed.client_order_id).await);
        assert!(!is_open(&h, stray).await);
    })
    .await;
}

#[tokio::test]
async fn i4_a_user_s_kill_switch_cancels_only_that_user_s_orders() {
    each_backend(Setup::default(), |h| async move {
        let bob = h.store.user_create("bob", false, h.now()).await.unwrap();
        let by = Attribution::new("test", h.now());
        h.store
            .policy_set(
                bob.id,
                &crate::support::careful_policy(),
                &by,
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
        h.store.allowlist_add(bob.id, &btc(), &by).await.unwrap();
        let mut placed = Vec::new();
        for user in [h.user, bob.id] {
            let proposal = h
                .approved(Spec {
                    user: Some(user),
                    ..Spec::default().limit(dec!(0.0002), dec!(30000))
                })
                .await;
            let outcome = h.executor.execute(user, proposal).await.unwrap();
            let ExecutionOutcome::Placed(e) = outcome else {
                panic!("{outcome:?}")
            };
            placed.push(e);
        }
        let report = cancel_open_orders(
            &h.store,
            &h.clients.read_only,
            &h.clients.cancel,
            CancelScope::User(bob.id),
        )
        .await
        .unwrap();
        assert_eq!(report.cancelled.len(), 1, "{report:?}");
        assert_eq!(report.cancelled[0].execution_id, Some(placed[1].id));
        assert_eq!(report.left_open, 1);
        assert!(
            is_open(&h, placed[0].client_order_id).await,
            "alice's order stays"
        );
        assert!(!is_open(&h, placed[1].client_order_id).await);
    })
    .await;
}
