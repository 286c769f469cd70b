//! The operations both front ends share (`vigil_ops::Operations`), on both back ends with a
//! ManualClock: a proposal off the allowlist is refused with nothing written; deciding sees only
//! what the actor may see, marks an expired proposal EXPIRED and records the actor's reason; a
//! policy raise waits for the stability window and is written only over the policy the window
//! judged; a user's own switch set by an admin stays on.

use std::sync::Arc;

use chrono::TimeDelta;
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Clock, Notional, OrderSize, OrderType, Policy, ProposalSource, ProposalStatus, Side,
};
use vigil_ops::{Actor, OperationError, Operations, Visibility};
use vigil_store::{AuditFilter, Authority, KillSwitchScope, PolicyLimits, ProposalFilter};

use crate::support::{btc, careful_policy, each_backend, eth, Harness, Setup};

fn operations(h: &Harness) -> Operations {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    Operations::new(h.store.clone(), clock)
}

fn draft(h: &Harness, market: vigil_core::Market) -> ProposalDraft {
    ProposalDraft {
        user_id: h.user,
        market,
        side: Side::Buy,
        order_type: OrderType::Market,
        size: OrderSize::Quote(Notional::from_whole(25)),
        limit_price: None,
        source: ProposalSource::Person("alice".into()),
        rationale: "operations test".into(),
        ttl: TimeDelta::minutes(30),
    }
}

fn admin() -> Actor {
    Actor::new("cli:ops", Authority::Admin)
}

async fn proposal_count(h: &Harness) -> usize {
    h.store
        .proposal_list(&ProposalFilter::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn i5_a_proposal_for_a_market_off_the_allowlist_is_refused_and_nothing_is_written() {
    each_backend(Setup::default(), |h| async move {
        let refused = operations(&h)
            .create_proposal(draft(&h, eth()), "allow it first")
            .await
            .unwrap_err();
        match refused {
            OperationError::Invalid(problems) => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                assert_eq!(problems[0].field, "market");
                assert!(
                    problems[0].to_string().contains("allow it first"),
                    "{}",
                    problems[0]
                );
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(proposal_count(&h).await, 0);
        let created = operations(&h)
            .create_proposal(draft(&h, btc()), "allow it first")
            .await
            .unwrap();
        assert_eq!(created.status, ProposalStatus::Pending);
        let stored = h.store.proposal_get(created.id).await.unwrap();
        assert_eq!(stored, created, "the answer equals every later read");
    })
    .await;
}

#[tokio::test]
async fn deciding_sees_only_the_actors_proposals_and_records_the_reason() {
    each_backend(Setup::default(), |h| async move {
        let ops = operations(&h);
        let proposal = ops.create_proposal(draft(&h, btc()), "").await.unwrap();
        let bob = h.store.user_create("bob", false, h.now()).await.unwrap();
        let hidden = ops
            .decide_proposal(
                proposal.id,
                Visibility::Own(bob.id),
                ProposalAction::Approve,
                &Actor::new("api:bob", Authority::Owner),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(hidden, OperationError::ProposalNotFound(id) if id == proposal.id),
            "{hidden:?}"
        );
        assert_eq!(
            h.store.proposal_get(proposal.id).await.unwrap().status,
            ProposalStatus::Pending,
            "another user's attempt changed nothing"
        );
        let actor = Actor::new("api:alice", Authority::Owner).because(Some("looks right".into()));
        let approved = ops
            .decide_proposal(
                proposal.id,
                Visibility::Own(h.user),
                ProposalAction::Approve,
                &actor,
            )
            .await
            .unwrap();
        assert_eq!(approved.proposal.status, ProposalStatus::Approved);
        let audit = h
            .store
            .audit_list(&AuditFilter {
                actor: Some("api:alice".into()),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert!(
            audit
                .iter()
                .any(|e| e.reason.as_deref() == Some("looks right")),
            "{audit:?}"
        );
        let again = ops
            .decide_proposal(
                proposal.id,
                Visibility::Everyone,
                ProposalAction::Reject,
                &admin(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                again,
                OperationError::ProposalNotPending {
                    status: ProposalStatus::Approved,
                    ..
                }
            ),
            "{again:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_proposal_is_marked_expired_and_refused() {
    each_backend(Setup::default(), |h| async move {
        let ops = operations(&h);
        let proposal = ops.create_proposal(draft(&h, btc()), "").await.unwrap();
        h.advance(TimeDelta::minutes(31));
        let refused = ops
            .decide_proposal(
                proposal.id,
                Visibility::Everyone,
                ProposalAction::Approve,
                &admin(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(refused, OperationError::ProposalExpired { id, .. } if id == proposal.id),
            "{refused:?}"
        );
        assert_eq!(
            h.store.proposal_get(proposal.id).await.unwrap().status,
            ProposalStatus::Expired
        );
    })
    .await;
}

fn raised() -> Policy {
    Policy {
        order_notional_max: Notional::from_whole(50),
        daily_notional_max: Notional::from_whole(200),
        ..careful_policy()
    }
}

/// The admin's raise of the user's caps from `before` (as the admin read it) to [`raised`].
async fn raise(
    ops: &Operations,
    h: &Harness,
    before: &Policy,
) -> Result<vigil_ops::operations::PolicyReplaced, OperationError> {
    ops.replace_policy(
        h.user,
        before,
        &raised(),
        &admin(),
        PolicyLimits::Operator,
        None,
    )
    .await
}

#[tokio::test]
async fn a_raise_waits_for_the_window_and_is_written_only_over_the_judged_policy() {
    each_backend(Setup::default(), |h| async move {
        let ops = operations(&h);
        // A new user: their caps have not had a day of operation.
        let refused = raise(&ops, &h, &careful_policy()).await.unwrap_err();
        assert!(
            matches!(refused, OperationError::CapChange(_)),
            "{refused:?}"
        );
        assert_eq!(h.store.policy_get(h.user).await.unwrap(), careful_policy());

        h.advance(TimeDelta::hours(25));
        // Judged against a policy that is not the one in force: nothing is written.
        let stale = Policy {
            cooldown_minutes: 7,
            ..careful_policy()
        };
        let conflict = raise(&ops, &h, &stale).await.unwrap_err();
        assert!(
            matches!(
                conflict,
                OperationError::Store(vigil_store::StoreError::PolicyConflict { .. })
            ),
            "{conflict:?}"
        );
        assert_eq!(h.store.policy_get(h.user).await.unwrap(), careful_policy());

        let replaced = raise(&ops, &h, &careful_policy()).await.unwrap();
        assert_eq!(replaced.policy, raised());
        assert_eq!(h.store.policy_get(h.user).await.unwrap(), raised());
    })
    .await;
}

#[tokio::test]
async fn i4_a_switch_an_admin_turned_on_stays_on_for_its_owner() {
    each_backend(Setup::default(), |h| async move {
        let ops = operations(&h);
        let scope = KillSwitchScope::User(h.user);
        assert!(!ops.set_kill_switch(scope, true, &admin()).await.unwrap());
        let owner = Actor::new("api:alice", Authority::Owner);
        let refused = ops.set_kill_switch(scope, false, &owner).await.unwrap_err();
        assert!(
            matches!(
                refused,
                OperationError::Store(vigil_store::StoreError::NotPermitted { .. })
            ),
            "{refused:?}"
        );
        assert!(h.store.kill_switch_read(h.user).await.unwrap().user);
        assert!(ops.set_kill_switch(scope, false, &admin()).await.unwrap());
        assert!(!h.store.kill_switch_read(h.user).await.unwrap().user);
    })
    .await;
}
