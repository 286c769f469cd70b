//! The kill switches (I4): the global and the user's switch block at entry, and a switch flipped
//! while an execution waits between its claim and `SUBMITTING` blocks it in the very transaction
//! that would commit `SUBMITTING` (the execution is paused there by a step hook).

use vigil_core::{ExecutionState, Refusal};
use vigil_engine::{ExecutionOutcome, Step};
use vigil_store::KillSwitchScope;

use crate::support::{each_backend, PauseAt, Setup, Spec};

#[tokio::test]
async fn i4_the_global_and_the_user_switch_block_at_entry() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        for (scope, want) in [
            (KillSwitchScope::Global, Refusal::KillSwitchGlobal),
            (KillSwitchScope::User(h.user), Refusal::KillSwitchUser),
        ] {
            h.kill(scope, true).await;
            let outcome = h.executor.execute(h.user, proposal).await.unwrap();
            let ExecutionOutcome::Refused { refusal, execution } = &outcome else {
                panic!("expected a refusal, got {outcome:?}");
            };
            assert_eq!(refusal, &want);
            assert!(
                execution.is_none(),
                "nothing is claimed behind a kill switch"
            );
            h.kill(scope, false).await;
        }
        // Both on: the global one is named.
        h.kill(KillSwitchScope::Global, true).await;
        h.kill(KillSwitchScope::User(h.user), true).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert_eq!(outcome.refusal(), Some(&Refusal::KillSwitchGlobal));
        assert!(h.orders().is_empty());
        assert!(h
            .store
            .execution_get_by_proposal(h.user, proposal)
            .await
            .unwrap()
            .is_none());

        // Off again: the same proposal executes (it was never claimed).
        h.kill(KillSwitchScope::Global, false).await;
        h.kill(KillSwitchScope::User(h.user), false).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        assert_eq!(h.orders().len(), 1);
    })
    .await;
}

async fn flipped_while_paused(h: &crate::support::Harness, scope: KillSwitchScope, want: Refusal) {
    let proposal = h.approved(Spec::default()).await;
    let pause = PauseAt::new(Step::AfterPreflight);
    let executor = h.executor_with(pause.clone());
    let user = h.user;
    let task = tokio::spawn(async move { executor.execute(user, proposal).await });
    pause.reached().await;
    // The execution passed entry and preflight; the switch goes on now.
    h.kill(scope, true).await;
    pause.resume();
    let outcome = task.await.unwrap().unwrap();
    let ExecutionOutcome::Refused { refusal, execution } = &outcome else {
        panic!("expected a refusal at SUBMITTING, got {outcome:?}");
    };
    assert_eq!(refusal, &want);
    let execution = execution.as_ref().unwrap();
    assert_eq!(execution.state, ExecutionState::Rejected);
    assert!(
        execution.signed_at.is_none(),
        "SUBMITTING was never committed"
    );
    assert!(h.orders().is_empty());
    assert_eq!(h.sim.handle.request_count("POST /v2/order"), 0);
    h.kill(scope, false).await;
}

#[tokio::test]
async fn i4_a_user_switch_flipped_while_paused_blocks_at_submitting() {
    each_backend(Setup::default(), |h| async move {
        flipped_while_paused(&h, KillSwitchScope::User(h.user), Refusal::KillSwitchUser).await;
    })
    .await;
}

#[tokio::test]
async fn i4_a_global_switch_flipped_while_paused_blocks_at_submitting() {
    each_backend(Setup::default(), |h| async move {
        flipped_while_paused(&h, KillSwitchScope::Global, Refusal::KillSwitchGlobal).await;
    })
    .await;
}

#[tokio::test]
async fn i4_a_switch_flipped_after_submitting_aborts_the_send_and_alerts() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let pause = PauseAt::new(Step::AfterSubmitting);
        let executor = h.executor_with(pause.clone());
        let user = h.user;
        let task = tokio::spawn(async move { executor.execute(user, proposal).await });
        pause.reached().await;
        h.kill(KillSwitchScope::Global, true).await;
        pause.resume();
        let outcome = task.await.unwrap().unwrap();
        let ExecutionOutcome::Failed(failed) = &outcome else {
            panic!("the last check must fail closed, got {outcome:?}");
        };
        assert_eq!(failed.state, ExecutionState::Failed);
        assert!(failed.failure.as_deref().unwrap().contains("kill switch"));
        assert!(h.orders().is_empty());
        assert_eq!(
            h.alerts.of_kind(vigil_engine::AlertKind::SendAborted).len(),
            1
        );
    })
    .await;
}
