//! The reconciler beyond unknown outcomes: abandoned claims end as `REJECTED` only after their
//! age, a resting order is followed to `CANCELED` with its fills, a real `220` (our
//! `clientOrderId` already on an open order) is recorded as `SUBMITTED` and never as failed, and
//! `run` keeps resolving until it is shut down, and orders that stay open do not starve the
//! newer ones behind them.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use rust_decimal_macros::dec;
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{CancelOrder, CreateOrder, OrderId};
use vigil_core::{Clock, ExecutionState, Price, Quantity, Side};
use vigil_engine::{AlertKind, ExecutionOutcome, Reconciler, ReconcilerConfig, Step};

use crate::support::{btc, each_backend, CrashAt, PauseAt, Setup, Spec};

#[tokio::test]
async fn i3_an_abandoned_claim_is_rejected_only_after_its_age() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let crashing = h.executor_with(Arc::new(CrashAt(Step::AfterClaim)));
        crashing.execute(h.user, proposal).await.unwrap_err();
        let claimed = h.execution(proposal).await;
        assert_eq!(claimed.state, ExecutionState::Claimed);

        h.advance(TimeDelta::minutes(4));
        let report = h.reconciler.reconcile_once().await;
        assert!(
            report.abandoned.is_empty(),
            "a young claim may be live: {report:?}"
        );
        assert_eq!(h.execution(proposal).await.state, ExecutionState::Claimed);

        h.advance(TimeDelta::minutes(2));
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.abandoned, vec![claimed.id]);
        let ended = h.execution(proposal).await;
        assert_eq!(ended.state, ExecutionState::Rejected);
        assert!(ended.failure.as_deref().unwrap().contains("abandoned"));
        assert_eq!(h.alerts.of_kind(AlertKind::Abandoned).len(), 1);
        assert!(h.orders().is_empty());
    })
    .await;
}

#[tokio::test]
async fn i3_a_resting_order_is_followed_to_canceled() {
    each_backend(Setup::default(), |h| async move {
        // 0.0002 BTC at 30,000 (6 EUR) rests far below the demo price of 60,000.
        let proposal = h
            .approved(Spec::default().limit(dec!(0.0002), dec!(30000)))
            .await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Placed(placed) = outcome else {
            panic!("expected a placed order, got {outcome:?}");
        };
        assert_eq!(placed.notional.value(), dec!(6));
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.open, vec![placed.id], "{report:?}");

        let order_id = OrderId::parse(placed.exchange_order_id.as_deref().unwrap()).unwrap();
        h.clients
            .cancel
            .cancel_order(&CancelOrder::by_order_id(btc(), order_id))
            .await
            .unwrap();
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.canceled, vec![placed.id], "{report:?}");
        let ended = h.execution(proposal).await;
        assert_eq!(ended.state, ExecutionState::Canceled);
        assert!(ended.filled_notional.is_zero());
        assert!(h
            .store
            .fill_list_for_execution(placed.id)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

#[tokio::test]
async fn i1_a_220_means_our_order_exists_and_is_never_recorded_as_failed() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let pause = PauseAt::new(Step::AfterSubmitting);
        let executor = h.executor_with(pause.clone());
        let user = h.user;
        let task = tokio::spawn(async move { executor.execute(user, proposal).await });
        pause.reached().await;
        // As if an earlier copy of this very request had reached the exchange: an open order
        // with the execution's clientOrderId already exists when the executor sends.
        let execution = h.execution(proposal).await;
        let resting = CreateOrder::limit(
            btc(),
            Side::Buy,
            Quantity::positive("amount", dec!(0.0002)).unwrap(),
            Price::positive("price", dec!(30000)).unwrap(),
            execution.client_order_id,
        )
        .unwrap();
        let existing = h
            .clients
            .trading
            .create_order(resting)
            .await
            .result
            .unwrap();
        pause.resume();
        let outcome = task.await.unwrap().unwrap();
        let ExecutionOutcome::Placed(placed) = &outcome else {
            panic!("a 220 must be recorded as SUBMITTED, got {outcome:?}");
        };
        assert_eq!(
            placed.exchange_order_id.as_deref(),
            Some(existing.key.order_id.as_str())
        );
        let events = h.store.execution_events(placed.id).await.unwrap();
        assert!(
            events.iter().any(|e| e.event == "reconciled_found"),
            "{events:?}"
        );
        // The executor's own request was refused (220): one order with that id in the log.
        assert_eq!(h.orders_for(execution.client_order_id), 1);
    })
    .await;
}

#[tokio::test]
async fn i3_run_keeps_reconciling_until_shut_down() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let crashing = h.executor_with(Arc::new(CrashAt(Step::AfterSend)));
        crashing.execute(h.user, proposal).await.unwrap_err();
        let unknown = h.execution(proposal).await;
        let shutdown = CancellationToken::new();
        let reconciler = h.reconciler.clone();
        // The observer sees every pass's report: the loop `vigil run` counts its metrics with.
        let (passes_tx, mut passes) = tokio::sync::mpsc::unbounded_channel();
        let running = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                reconciler
                    .run(Duration::from_millis(20), shutdown, move |report| {
                        let _sent = passes_tx.send(report.clone());
                    })
                    .await;
            })
        };
        // Bounded wait for the pass that resolves the execution (not a timing assertion: the
        // bound only keeps a broken run from hanging the suite).
        let resolving = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(report) = passes.recv().await {
                if report.found.contains(&unknown.id) {
                    return report;
                }
            }
            panic!("the loop ended without resolving the execution");
        })
        .await
        .expect("run never resolved the execution");
        assert!(resolving.problems.is_empty(), "{resolving:?}");
        let resolved = h.execution(proposal).await;
        assert!(matches!(
            resolved.state,
            ExecutionState::Submitted | ExecutionState::Filled
        ));
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), running)
            .await
            .expect("run did not stop after shutdown")
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn i3_resting_orders_do_not_starve_the_orders_behind_them() {
    each_backend(Setup::default(), |h| async move {
        // Pages of 2: three orders resting far below the price come first in claim order.
        let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
        let reconciler = Reconciler::new(
            h.store.clone(),
            h.clients.read_only.clone(),
            clock,
            ReconcilerConfig {
                batch_limit: 2,
                ..ReconcilerConfig::default()
            },
        )
        .unwrap();
        let mut resting = Vec::new();
        for _ in 0..3 {
            let proposal = h
                .approved(Spec::default().limit(dec!(0.0002), dec!(30000)))
                .await;
            let outcome = h.executor.execute(h.user, proposal).await.unwrap();
            let ExecutionOutcome::Placed(placed) = outcome else {
                panic!("expected a placed order, got {outcome:?}");
            };
            resting.push(placed.id);
            h.advance(TimeDelta::minutes(6)); // past the cooldown
        }
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Placed(market_order) = outcome else {
            panic!("expected a placed order, got {outcome:?}");
        };

        let first = reconciler.reconcile_once().await;
        assert_eq!(first.open, resting[..2], "{first:?}");
        assert_eq!(h.execution(proposal).await.state, ExecutionState::Submitted);
        // The next pass goes on after the first page instead of starting again from the
        // oldest (which would follow the same two open orders forever).
        let second = reconciler.reconcile_once().await;
        assert_eq!(second.open, resting[2..], "{second:?}");
        assert_eq!(second.filled, vec![market_order.id], "{second:?}");
        assert_eq!(h.execution(proposal).await.state, ExecutionState::Filled);
        // Then it wraps around to the oldest again.
        let third = reconciler.reconcile_once().await;
        assert_eq!(third.open, resting[..2], "{third:?}");
    })
    .await;
}

/// #18 case 2, for the fill follower: a `SUBMITTED` execution whose order id leads to an order
/// that does not carry its clientOrderId (here one placed outside Vigil, which fills at once).
/// Nothing of that order is written under the execution: no fill, no `FILLED`; a critical
/// alert says why.
#[tokio::test]
async fn i3_an_order_that_does_not_carry_our_client_order_id_is_never_followed() {
    each_backend(Setup::default(), |h| async move {
        let foreign = h
            .clients
            .trading
            .create_order(
                CreateOrder::market(
                    btc(),
                    Side::Buy,
                    vigil_core::OrderSize::Quote(vigil_core::Notional::from_whole(10)),
                    vigil_core::ClientOrderId::new(),
                )
                .unwrap(),
            )
            .await
            .result
            .unwrap();
        let proposal = h.approved(Spec::default()).await;
        let ours = crate::operator_support::placed_execution(
            &h.store,
            h.user,
            proposal,
            &btc(),
            Side::Buy,
            vigil_core::ClientOrderId::new(),
            vigil_core::Notional::from_whole(10),
            h.now(),
            &foreign.key.order_id.to_string(),
        )
        .await;
        let report = h.reconciler.reconcile_once().await;
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.execution_id == Some(ours.id)),
            "{report:?}"
        );
        let after = h.store.execution_get(ours.id).await.unwrap();
        assert_eq!(after.state, ExecutionState::Submitted, "{after:?}");
        assert!(
            h.store
                .fill_list_for_execution(ours.id)
                .await
                .unwrap()
                .is_empty(),
            "a fill of another order was written under this execution"
        );
        assert!(!h.alerts.of_kind(AlertKind::InvariantBroken).is_empty());
    })
    .await;
}
