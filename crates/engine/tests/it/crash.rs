//! I2/I3 crash tests, in process: the executor "dies" at each step boundary (a hook that stops it
//! there, writing nothing more, and a dropped future), then the reconciler runs. Afterwards I1
//! (at most one order for the proposal, in the simulator's log), I2 (an order exists only if
//! `SUBMITTING` was committed first) and I3 (nothing stays `CLAIMED` or `SUBMITTING`) hold. The
//! multi-process `SIGKILL` version with the real binary uses the `failpoints` feature.

use chrono::TimeDelta;
use vigil_core::ExecutionState;
use vigil_engine::{ExecuteError, ExecutionOutcome, Step};

use crate::support::{each_backend, CrashAt, Harness, PauseAt, Setup, Spec};

/// Past the abandon age of CLAIMED rows (5 min) and the access window plus margin (40 s).
fn long_enough() -> TimeDelta {
    TimeDelta::minutes(6)
}

async fn invariants_after_recovery(h: &Harness, proposal: vigil_core::ProposalId, step: Step) {
    let report = h.reconciler.reconcile_once().await;
    assert!(report.waiting.is_empty(), "{step}: {report:?}");
    let execution = h.execution(proposal).await;
    // I3: nothing is stuck.
    assert!(
        !matches!(
            execution.state,
            ExecutionState::Claimed | ExecutionState::Submitting
        ),
        "{step}: stuck in {}",
        execution.state
    );
    assert!(h.in_state(ExecutionState::Claimed).await.is_empty());
    assert!(h.in_state(ExecutionState::Submitting).await.is_empty());
    // I1: at most one order for the proposal.
    let orders = h.orders_for(execution.client_order_id);
    assert!(orders <= 1, "{step}: {orders} orders");
    // I2: an order exists only after a committed SUBMITTING, and the record agrees with the log.
    let events = h.store.execution_events(execution.id).await.unwrap();
    let committed = events.iter().any(|e| e.event == "submit_committed");
    if orders == 1 {
        assert!(committed, "{step}: an order without SUBMITTING");
        assert!(
            matches!(
                execution.state,
                ExecutionState::Submitted | ExecutionState::Filled | ExecutionState::Canceled
            ),
            "{step}: the order exists but the execution is {}",
            execution.state
        );
    } else {
        assert!(
            matches!(
                execution.state,
                ExecutionState::Rejected | ExecutionState::Failed
            ),
            "{step}: no order but the execution is {}",
            execution.state
        );
    }
    // Executing again never places a second order.
    let again = h.executor.execute(h.user, proposal).await.unwrap();
    assert!(
        matches!(again, ExecutionOutcome::AlreadyClaimed(_)),
        "{again:?}"
    );
    assert!(h.orders_for(execution.client_order_id) <= 1);
}

#[tokio::test]
async fn i2_i3_a_crash_at_each_step_boundary_leaves_nothing_stuck() {
    let setup = Setup::default().policy(|p| p.cooldown_minutes = 0);
    each_backend(setup, |h| async move {
        for step in Step::ALL {
            let proposal = h.approved(Spec::default().eur(10)).await;
            let crashing = h.executor_with(std::sync::Arc::new(CrashAt(step)));
            let err = crashing.execute(h.user, proposal).await.unwrap_err();
            assert!(
                matches!(err, ExecuteError::Interrupted { step: s, .. } if s == step),
                "{err:?}"
            );
            let left = h.execution(proposal).await;
            let expected = match step {
                Step::AfterClaim | Step::AfterPreflight => ExecutionState::Claimed,
                Step::AfterSubmitting | Step::AfterSend => ExecutionState::Submitting,
            };
            assert_eq!(left.state, expected, "{step}");
            let sent = h.orders_for(left.client_order_id);
            assert_eq!(sent, usize::from(step == Step::AfterSend), "{step}");
            h.advance(long_enough());
            invariants_after_recovery(&h, proposal, step).await;
        }
    })
    .await;
}

#[tokio::test]
async fn i2_i3_a_dropped_execute_future_leaves_nothing_stuck() {
    let setup = Setup::default().policy(|p| p.cooldown_minutes = 0);
    each_backend(setup, |h| async move {
        for step in [Step::AfterPreflight, Step::AfterSubmitting] {
            let proposal = h.approved(Spec::default().eur(10)).await;
            let pause = PauseAt::new(step);
            let executor = h.executor_with(pause.clone());
            let user = h.user;
            let task = tokio::spawn(async move { executor.execute(user, proposal).await });
            pause.reached().await;
            // The process "dies" while the execution waits at the boundary.
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            h.advance(long_enough());
            invariants_after_recovery(&h, proposal, step).await;
            assert!(h.orders().is_empty(), "{step}: nothing was sent");
        }
    })
    .await;
}
