//! I1 claims: one execution per (user, proposal), whoever asks and however many at once.

use std::collections::BTreeSet;

use chrono::Duration;
use vigil_core::{proposal::ProposalAction, ExecutionState, ProposalStatus, Side};
use vigil_store::{ClaimOutcome, ExecutionFilter, Store, StoreError};

use crate::fixture::{self, approved_proposal, execution_for, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    i1_fifty_concurrent_claims_make_one_execution,
    i1_claim_of_a_pending_proposal_writes_nothing,
    i1_claim_of_another_users_proposal_is_not_found,
    claim_with_a_used_client_order_id_is_a_named_violation,
    claim_refuses_an_execution_that_is_not_fresh,
    approved_work_is_the_unexpired_approved_proposals_without_an_execution,
);

async fn i1_fifty_concurrent_claims_make_one_execution(store: Store) {
    let alice = user(&store, "alice").await;
    let proposal = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;

    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, execution) = (store.clone(), execution_for(&proposal, t0()));
            tokio::spawn(async move { store.execution_claim(&execution).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut answered_with = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            ClaimOutcome::Claimed(e) => winners.push(e),
            ClaimOutcome::AlreadyClaimed(e) => answered_with.push(e.id),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins");
    assert_eq!(answered_with.len(), 49);
    let winner = &winners[0];
    assert!(
        answered_with.iter().all(|id| *id == winner.id),
        "every loser is answered with the winner's execution"
    );

    let stored = store
        .execution_list(&ExecutionFilter {
            user: Some(alice.id),
            ..ExecutionFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(&stored[0], winner);
    assert_eq!(stored[0].state, ExecutionState::Claimed);
    assert_eq!(
        store.execution_events(winner.id).await.unwrap().len(),
        1,
        "the claim writes exactly one event"
    );
    let proposal = store.proposal_get(proposal.id).await.unwrap();
    assert_eq!(proposal.status, ProposalStatus::Executed);
    assert_eq!(
        store
            .execution_get_by_proposal(alice.id, proposal.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        winner.id
    );
}

async fn i1_claim_of_a_pending_proposal_writes_nothing(store: Store) {
    let alice = user(&store, "alice").await;
    let proposal = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    // Put it back to pending (a rollback), then try to claim.
    store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Approved,
            vigil_core::proposal::ProposalAction::Revert,
            t0(),
            None,
        )
        .await
        .unwrap();
    let err = store
        .execution_claim(&execution_for(&proposal, t0()))
        .await
        .unwrap_err();
    match err {
        StoreError::ProposalConflict { expected, current } => {
            assert_eq!(expected, ProposalStatus::Approved);
            assert_eq!(current.status, ProposalStatus::Pending);
        }
        other => panic!("expected a proposal conflict, got {other:?}"),
    }
    assert!(store
        .execution_get_by_proposal(alice.id, proposal.id)
        .await
        .unwrap()
        .is_none());
}

async fn i1_claim_of_another_users_proposal_is_not_found(store: Store) {
    let alice = user(&store, "alice").await;
    let mallory = user(&store, "mallory").await;
    let proposal = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let mut execution = execution_for(&proposal, t0());
    execution.user_id = mallory.id;
    let err = store.execution_claim(&execution).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                what: "proposal",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        store.proposal_get(proposal.id).await.unwrap().status,
        ProposalStatus::Approved,
        "nothing was written"
    );
}

async fn claim_with_a_used_client_order_id_is_a_named_violation(store: Store) {
    let alice = user(&store, "alice").await;
    let first = fixture::claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let proposal = approved_proposal(&store, &alice, "ETH-EUR", Side::Buy, t0()).await;
    let mut second = execution_for(&proposal, t0());
    second.client_order_id = first.client_order_id;
    let err = store.execution_claim(&second).await.unwrap_err();
    match err {
        StoreError::ConstraintViolation { constraint, .. } => {
            assert_eq!(
                constraint,
                vigil_store::constraint::EXECUTION_CLIENT_ORDER_ID
            );
        }
        other => panic!("expected the client order id constraint, got {other:?}"),
    }
    assert_eq!(
        store.proposal_get(proposal.id).await.unwrap().status,
        ProposalStatus::Approved,
        "the failed claim left the proposal untouched"
    );
}

async fn claim_refuses_an_execution_that_is_not_fresh(store: Store) {
    let alice = user(&store, "alice").await;
    let proposal = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let mut execution = execution_for(&proposal, t0());
    execution.state = ExecutionState::Submitting;
    execution.signed_at = Some(t0());
    let err = store.execution_claim(&execution).await.unwrap_err();
    let StoreError::InvalidInput(problems) = err else {
        panic!("expected invalid input, got {err:?}");
    };
    let fields: BTreeSet<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.contains("state"), "{problems:?}");
}

/// What `vigil run`'s executor loop takes from the database: approved, unexpired, no execution,
/// oldest first, for every user; a pending, rejected, claimed or expired proposal is not work.
async fn approved_work_is_the_unexpired_approved_proposals_without_an_execution(store: Store) {
    let (alice, bob) = (user(&store, "alice").await, user(&store, "bob").await);
    let older = approved_proposal(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let newer = approved_proposal(
        &store,
        &bob,
        "ETH-EUR",
        Side::Buy,
        t0() + Duration::seconds(1),
    )
    .await;
    let claimed = approved_proposal(&store, &alice, "BTC-EUR", Side::Sell, t0()).await;
    store
        .execution_claim(&execution_for(&claimed, t0()))
        .await
        .unwrap();
    let back_to_pending = approved_proposal(&store, &bob, "BTC-EUR", Side::Buy, t0()).await;
    store
        .proposal_transition(
            back_to_pending.id,
            ProposalStatus::Approved,
            ProposalAction::Revert,
            t0(),
            None,
        )
        .await
        .unwrap();

    let ids =
        |found: Vec<vigil_core::Proposal>| found.into_iter().map(|p| p.id).collect::<Vec<_>>();
    let now = t0() + Duration::minutes(1);
    assert_eq!(
        ids(store.proposals_awaiting_execution(now, 100).await.unwrap()),
        [older.id, newer.id],
        "approved and unexecuted, oldest first, whoever owns them"
    );
    assert_eq!(
        ids(store.proposals_awaiting_execution(now, 1).await.unwrap()),
        [older.id]
    );
    // The fixture's proposals live an hour; at their expiry they are no longer work.
    assert_eq!(
        ids(store
            .proposals_awaiting_execution(older.expires_at, 100)
            .await
            .unwrap()),
        [newer.id]
    );
    assert!(store
        .proposals_awaiting_execution(newer.expires_at, 100)
        .await
        .unwrap()
        .is_empty());
}
