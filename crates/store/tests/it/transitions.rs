//! Compare-and-set transitions: one winner per race, one event row per transition (I11), rows
//! only from the core transition table, and the reconciler's lists.

use chrono::Duration;
use vigil_core::{ExecutionEvent, ExecutionState, Notional, Side};
use vigil_store::{Store, StoreError};

use crate::fixture::{claimed, eur, submit, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    fifty_concurrent_transitions_from_one_state_have_one_winner,
    i11_every_transition_leaves_exactly_one_event_row,
    i11_refused_transitions_leave_no_event_row,
    i3_lists_for_the_reconciler_and_the_fill_follower,
);

async fn fifty_concurrent_transitions_from_one_state_have_one_winner(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let at = t0() + Duration::seconds(i);
            tokio::spawn(async move {
                store
                    .execution_transition(
                        execution.id,
                        ExecutionState::Claimed,
                        &submit(at, eur(10)),
                        at,
                    )
                    .await
            })
        })
        .collect();
    let mut won = 0;
    let mut lost = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(e) => {
                assert_eq!(e.state, ExecutionState::Submitting);
                won += 1;
            }
            Err(StoreError::ExecutionConflict { expected, current }) => {
                assert_eq!(expected, ExecutionState::Claimed);
                assert_eq!(
                    current.state,
                    ExecutionState::Submitting,
                    "the conflict carries the truth"
                );
                lost += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, lost), (1, 49));
    let events = store.execution_events(execution.id).await.unwrap();
    assert_eq!(events.len(), 2, "the claim and the one winning transition");
}

async fn i11_every_transition_leaves_exactly_one_event_row(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let steps: Vec<(ExecutionState, ExecutionEvent)> = vec![
        (ExecutionState::Claimed, submit(t0(), eur(10))),
        (
            ExecutionState::Submitting,
            ExecutionEvent::OutcomeUnknown {
                detail: "timeout".into(),
            },
        ),
        (
            ExecutionState::Submitting,
            ExecutionEvent::ReconciledFound {
                exchange_order_id: "ord-1".into(),
            },
        ),
        (
            ExecutionState::Submitted,
            ExecutionEvent::Filled {
                filled_notional: eur(10),
            },
        ),
    ];
    let mut last = execution.clone();
    for (n, (expected, event)) in steps.iter().enumerate() {
        let at = t0() + Duration::seconds(i64::try_from(n).unwrap() + 1);
        let stored = store
            .execution_transition(execution.id, *expected, event, at)
            .await
            .unwrap();
        // The row is exactly what the core transition table computes.
        assert_eq!(stored, last.apply(event, at).unwrap());
        assert_eq!(store.execution_get(execution.id).await.unwrap(), stored);
        let events = store.execution_events(execution.id).await.unwrap();
        assert_eq!(events.len(), n + 2, "one new event per transition");
        let newest = events.last().unwrap();
        assert_eq!(newest.seq as usize, n + 2);
        assert_eq!(newest.event, event.name());
        assert_eq!(newest.from_state, Some(*expected));
        assert_eq!(newest.to_state, stored.state);
        assert_eq!(newest.at, at);
        assert_eq!(
            serde_json::from_value::<ExecutionEvent>(newest.payload.clone()).unwrap(),
            *event
        );
        last = stored;
    }
    assert_eq!(last.state, ExecutionState::Filled);
    assert_eq!(last.exchange_order_id.as_deref(), Some("ord-1"));
    assert!(!last.outcome_unknown);
    let events = store.execution_events(execution.id).await.unwrap();
    assert_eq!(events[0].event, "claimed");
    assert_eq!(events[0].from_state, None);
    let seqs: Vec<u32> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

async fn i11_refused_transitions_leave_no_event_row(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    // Illegal in the table: accepted without SUBMITTING (I2).
    let err = store
        .execution_transition(
            execution.id,
            ExecutionState::Claimed,
            &ExecutionEvent::Accepted {
                exchange_order_id: "x".into(),
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err:?}");
    // Wrong expected state.
    let err = store
        .execution_transition(
            execution.id,
            ExecutionState::Submitting,
            &ExecutionEvent::OutcomeUnknown { detail: "x".into() },
            t0(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ExecutionConflict { .. }),
        "{err:?}"
    );
    // Unknown execution.
    let err = store
        .execution_transition(
            vigil_core::ExecutionId::new(),
            ExecutionState::Claimed,
            &ExecutionEvent::Abandoned,
            t0(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "execution",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.execution_events(execution.id).await.unwrap().len(), 1);
    assert_eq!(
        store.execution_get(execution.id).await.unwrap(),
        execution,
        "nothing changed"
    );
}

async fn i3_lists_for_the_reconciler_and_the_fill_follower(store: Store) {
    let alice = user(&store, "alice").await;
    let old_claim = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let new_claim = claimed(
        &store,
        &alice,
        "ETH-EUR",
        Side::Buy,
        t0() + Duration::minutes(10),
    )
    .await;
    let unknown = claimed(&store, &alice, "SOL-EUR", Side::Buy, t0()).await;
    store
        .execution_transition(
            unknown.id,
            ExecutionState::Claimed,
            &submit(t0(), eur(10)),
            t0(),
        )
        .await
        .unwrap();
    store
        .execution_transition(
            unknown.id,
            ExecutionState::Submitting,
            &ExecutionEvent::OutcomeUnknown {
                detail: "timeout".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    let placed = claimed(&store, &alice, "ADA-EUR", Side::Sell, t0()).await;
    store
        .execution_transition(
            placed.id,
            ExecutionState::Claimed,
            &submit(t0(), eur(10)),
            t0(),
        )
        .await
        .unwrap();
    store
        .execution_transition(
            placed.id,
            ExecutionState::Submitting,
            &ExecutionEvent::Accepted {
                exchange_order_id: "o-9".into(),
            },
            t0(),
        )
        .await
        .unwrap();

    let unresolved = store.execution_list_unresolved(100).await.unwrap();
    assert_eq!(
        unresolved.iter().map(|e| e.id).collect::<Vec<_>>(),
        [unknown.id]
    );
    assert!(unresolved[0].outcome_unknown);
    let abandoned = store
        .execution_list_claimed_before(t0() + Duration::minutes(5), 100)
        .await
        .unwrap();
    assert_eq!(
        abandoned.iter().map(|e| e.id).collect::<Vec<_>>(),
        [old_claim.id]
    );
    assert!(!abandoned.iter().any(|e| e.id == new_claim.id));
    let submitted = store.execution_list_submitted(None, 100).await.unwrap();
    assert_eq!(
        submitted.iter().map(|e| e.id).collect::<Vec<_>>(),
        [placed.id]
    );
    assert_eq!(submitted[0].notional, Notional::from_whole(10));
}
