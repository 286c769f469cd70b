//! Edge 2, exchange timeouts and ambiguous answers (I3): the order call's outcome is unknown, the
//! execution stays `SUBMITTING`, nothing is ever sent again, the market stays blocked for the
//! user, and the reconciler resolves it by `clientOrderId`: found → `SUBMITTED`; absent → `FAILED`
//! only once the signed request's access window plus the margin has passed, never before. The
//! simulator's fault plan produces each case; the `ManualClock` walks up to the window's end.

use chrono::TimeDelta;
use vigil_core::{ExecutionState, Refusal};
use vigil_engine::{AlertKind, ExecutionOutcome};
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{each_backend, Harness, Setup, Spec};

/// The default access window (10 s) plus the reconciler's default margin (30 s).
fn window_and_margin() -> TimeDelta {
    TimeDelta::seconds(40)
}

fn once(kind: FaultKind) -> FaultPlan {
    FaultPlan::single(FaultRule::new("POST /v2/order", kind).times(1))
}

/// Executes a proposal under `fault` and checks the common part: unknown outcome, flagged,
/// nothing sent again, the market blocked.
async fn unknown_outcome(h: &Harness, fault: FaultKind) -> vigil_core::Execution {
    h.sim.handle.set_faults(once(fault)).unwrap();
    let proposal = h.approved(Spec::default()).await;
    let outcome = h.executor.execute(h.user, proposal).await.unwrap();
    let ExecutionOutcome::OutcomeUnknown(execution) = outcome else {
        panic!("expected an unknown outcome, got {outcome:?}");
    };
    assert_eq!(execution.state, ExecutionState::Submitting);
    assert!(execution.outcome_unknown);
    assert!(execution.signed_at.is_some());
    assert!(!h.alerts.of_kind(AlertKind::OutcomeUnknown).is_empty());
    let posts = h.sim.handle.request_count("POST /v2/order");

    // Executing the same proposal again sends nothing (I1).
    let again = h.executor.execute(h.user, proposal).await.unwrap();
    assert!(matches!(&again, ExecutionOutcome::AlreadyClaimed(e) if e.id == execution.id));
    // Another proposal on the market is blocked while the outcome is unknown (I3).
    let other = h.approved(Spec::default()).await;
    let blocked = h.executor.execute(h.user, other).await.unwrap();
    assert_eq!(
        blocked.refusal(),
        Some(&Refusal::UnresolvedExecution {
            execution_id: execution.id
        })
    );
    assert_eq!(
        h.sim.handle.request_count("POST /v2/order"),
        posts,
        "nothing sent again"
    );
    execution
}

/// The reconciler finds an order that WAS placed, at once, without waiting for the window.
async fn found_by_client_order_id(h: &Harness, execution: &vigil_core::Execution) {
    assert_eq!(h.orders_for(execution.client_order_id), 1);
    let report = h.reconciler.reconcile_once().await;
    assert_eq!(report.found, vec![execution.id], "{report:?}");
    let now = h.store.execution_get(execution.id).await.unwrap();
    assert!(
        matches!(
            now.state,
            ExecutionState::Submitted | ExecutionState::Filled
        ),
        "{now:?}"
    );
    assert!(!now.outcome_unknown);
    assert_eq!(
        now.exchange_order_id.as_deref(),
        Some(h.orders()[0].order_id.as_str())
    );
    assert_eq!(h.orders_for(execution.client_order_id), 1);
}

/// The reconciler leaves an order that was NOT placed alone until the window closes, then
/// declares it not placed; the market is free again afterwards.
async fn not_placed_after_the_window(h: &Harness, execution: &vigil_core::Execution) {
    assert_eq!(h.orders_for(execution.client_order_id), 0);
    let report = h.reconciler.reconcile_once().await;
    assert_eq!(report.waiting, vec![execution.id], "{report:?}");
    let signed_at = execution.signed_at.unwrap();
    // Just before the window (plus margin) closes: still SUBMITTING.
    let until_close = signed_at + window_and_margin() - h.now();
    h.advance(until_close - TimeDelta::milliseconds(1));
    let report = h.reconciler.reconcile_once().await;
    assert_eq!(report.waiting, vec![execution.id], "{report:?}");
    assert!(report.not_placed.is_empty());
    let still = h.store.execution_get(execution.id).await.unwrap();
    assert_eq!(still.state, ExecutionState::Submitting);
    // At the close: declared not placed.
    h.advance(TimeDelta::milliseconds(1));
    let report = h.reconciler.reconcile_once().await;
    assert_eq!(report.not_placed, vec![execution.id], "{report:?}");
    let failed = h.store.execution_get(execution.id).await.unwrap();
    assert_eq!(failed.state, ExecutionState::Failed);
    assert!(
        failed.failure.as_deref().unwrap().starts_with("not placed"),
        "{failed:?}"
    );
    assert!(!h.alerts.of_kind(AlertKind::DeclaredNotPlaced).is_empty());
    assert_eq!(h.orders_for(execution.client_order_id), 0);
    // The market is no longer blocked.
    let next = h.approved(Spec::default()).await;
    let outcome = h.executor.execute(h.user, next).await.unwrap();
    assert!(
        matches!(outcome, ExecutionOutcome::Placed(_)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn i3_edge2a_accepted_then_dropped_is_found_by_client_order_id() {
    each_backend(Setup::default(), |h| async move {
        let execution = unknown_outcome(&h, FaultKind::AcceptThenDrop).await;
        found_by_client_order_id(&h, &execution).await;
    })
    .await;
}

#[tokio::test]
async fn i3_edge2b_a_request_that_never_arrived_fails_only_after_the_window() {
    each_backend(Setup::default(), |h| async move {
        let execution = unknown_outcome(&h, FaultKind::DropRequest).await;
        not_placed_after_the_window(&h, &execution).await;
    })
    .await;
}

#[tokio::test]
async fn i3_edge2c_errors_101_and_109_are_unknown_and_reconciled() {
    let setup = Setup::default().policy(|p| p.cooldown_minutes = 0);
    each_backend(setup, |h| async move {
        for (code, status) in [(101, 500), (109, 503)] {
            let execution = unknown_outcome(
                &h,
                FaultKind::Error {
                    error_code: code,
                    http_status: status,
                    message: None,
                },
            )
            .await;
            not_placed_after_the_window(&h, &execution).await;
            // The order placed by the last step of that check is followed to its end.
            h.reconciler.reconcile_once().await;
        }
        let before = h.orders().len();
        let execution = unknown_outcome(
            &h,
            FaultKind::AcceptThenError {
                error_code: 101,
                http_status: 500,
            },
        )
        .await;
        assert_eq!(
            h.orders().len(),
            before + 1,
            "101 after acceptance: the order exists"
        );
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.found, vec![execution.id], "{report:?}");
        assert_eq!(h.orders_for(execution.client_order_id), 1);
    })
    .await;
}

/// #18 cases 1 and 3: a create answered with errorCode 240 ("no order found", with HTTP 400,
/// 403, 500 or 503) or with a 429 that carries 101 or 109 ("may or may not have succeeded")
/// after the exchange DID place the order: the execution is an unknown outcome, never FAILED,
/// and the reconciler finds the order by its clientOrderId. Orders counted in the simulator.
#[tokio::test]
async fn i3_a_create_answered_240_or_429_with_101_109_is_unknown_and_its_order_is_found() {
    let setup = Setup::default().policy(|p| {
        p.cooldown_minutes = 0;
        p.daily_notional_max = vigil_core::Notional::from_whole(500);
    });
    each_backend(setup, |h| async move {
        for (error_code, http_status) in [
            (240, 400),
            (240, 403),
            (240, 500),
            (240, 503),
            (101, 429),
            (109, 429),
        ] {
            let before = h.orders().len();
            let execution = unknown_outcome(
                &h,
                FaultKind::AcceptThenError {
                    error_code,
                    http_status,
                },
            )
            .await;
            assert_eq!(
                h.orders().len(),
                before + 1,
                "errorCode {error_code} (HTTP {http_status}) after acceptance: the order exists"
            );
            let report = h.reconciler.reconcile_once().await;
            assert_eq!(
                report.found,
                vec![execution.id],
                "{error_code}/{http_status}: {report:?}"
            );
            let found = h.store.execution_get(execution.id).await.unwrap();
            assert!(
                matches!(
                    found.state,
                    ExecutionState::Submitted | ExecutionState::Filled
                ),
                "the found order is followed, never FAILED: {found:?}"
            );
            assert_eq!(h.orders_for(execution.client_order_id), 1);
            // Follow it to its end so the next round starts on a clear market.
            h.reconciler.reconcile_once().await;
            // A 429 makes the client stay away for a while; let that pass.
            h.advance(TimeDelta::minutes(3));
        }
    })
    .await;
}

/// #18 case 2: the exchange places our order but answers HTTP 200 with ANOTHER order (here
/// the previous one, which is filled). The answer is never adopted: the execution stays
/// `SUBMITTING` with an unknown outcome and a critical alert, the reconciler resolves it by OUR
/// clientOrderId only, and no fill of the other order is written under it.
#[tokio::test]
async fn i3_a_create_answered_with_another_order_is_not_adopted() {
    let setup = Setup::default().policy(|p| p.cooldown_minutes = 0);
    each_backend(setup, |h| async move {
        let first = h.approved(Spec::default()).await;
        let placed = h.executor.execute(h.user, first).await.unwrap();
        let ExecutionOutcome::Placed(first) = placed else {
            panic!("the first order is placed normally, got {placed:?}");
        };
        h.reconciler.reconcile_once().await;

        let execution = unknown_outcome(&h, FaultKind::AcceptThenAnswerAnother).await;
        assert!(execution.exchange_order_id.is_none(), "{execution:?}");
        assert!(
            !h.alerts.of_kind(AlertKind::InvariantBroken).is_empty(),
            "an answer with another order is a critical alert"
        );
        assert_eq!(
            h.orders_for(execution.client_order_id),
            1,
            "our order exists"
        );

        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.found, vec![execution.id], "{report:?}");
        let ours = h
            .orders()
            .into_iter()
            .find(|o| {
                o.client_order_id.as_deref() == Some(execution.client_order_id.to_string().as_str())
            })
            .unwrap();
        let resolved = h.store.execution_get(execution.id).await.unwrap();
        assert_eq!(
            resolved.exchange_order_id.as_deref(),
            Some(ours.order_id.as_str())
        );
        assert_ne!(resolved.exchange_order_id, first.exchange_order_id);
        h.reconciler.reconcile_once().await;
        for fill in h.store.fill_list_for_execution(execution.id).await.unwrap() {
            assert_eq!(
                fill.order_id, ours.order_id,
                "a fill of another order was written"
            );
        }
        let first_fills = h.store.fill_list_for_execution(first.id).await.unwrap();
        assert!(first_fills
            .iter()
            .all(|f| Some(&f.order_id) == first.exchange_order_id.as_ref()));
    })
    .await;
}

#[tokio::test]
async fn i3_edge2_a_definite_refusal_fails_without_reconciling() {
    each_backend(Setup::default(), |h| async move {
        h.sim
            .handle
            .set_faults(once(FaultKind::Error {
                error_code: 216,
                http_status: 400,
                message: None,
            }))
            .unwrap();
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Failed(failed) = &outcome else {
            panic!("expected a definite failure, got {outcome:?}");
        };
        assert!(
            failed.failure.as_deref().unwrap().contains("216"),
            "{failed:?}"
        );
        assert!(!failed.outcome_unknown);
        assert!(h.orders().is_empty());
        let report = h.reconciler.reconcile_once().await;
        assert!(report.is_clean() && report.found.is_empty(), "{report:?}");
    })
    .await;
}

#[tokio::test]
async fn i3_without_the_exchange_clock_nothing_is_declared_not_placed() {
    each_backend(Setup::default(), |h| async move {
        let execution = unknown_outcome(&h, FaultKind::DropRequest).await;
        h.advance(TimeDelta::minutes(5));
        // GET /time fails: the offset to the exchange's clock cannot be measured this pass.
        let broken_clock = FaultRule::new(
            "GET /v2/time",
            FaultKind::Error {
                error_code: 101,
                http_status: 500,
                message: None,
            },
        );
        h.sim
            .handle
            .set_faults(FaultPlan::single(broken_clock))
            .unwrap();
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.waiting, vec![execution.id], "{report:?}");
        assert!(report.not_placed.is_empty());
        assert!(!report.problems.is_empty());
        let still = h.store.execution_get(execution.id).await.unwrap();
        assert_eq!(still.state, ExecutionState::Submitting);
        // With the clock back, the next pass concludes.
        h.sim.handle.clear_faults();
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.not_placed, vec![execution.id], "{report:?}");
    })
    .await;
}
