//! Rollback (`vigil proposals revert`): allowed only when no order was ever placed, proven
//! against the simulator; the dry run changes nothing; the change is in `audit_log` with its
//! evidence; everything else is refused with the reason.

use std::sync::Arc;

use vigil_core::{Clock, ProposalId, ProposalStatus};
use vigil_engine::ExecutionOutcome;
use vigil_ops::{
    rollback::{ExchangeEvidence, RollbackError, Verdict},
    RevertTo, Rollback,
};
use vigil_store::{Attribution, AuditFilter};
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{each_backend, eth, Harness, Setup, Spec};

fn rollback(h: &Harness, with_exchange: bool) -> Rollback {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    Rollback::new(
        h.store.clone(),
        with_exchange.then(|| h.clients.read_only.clone()),
        clock,
    )
}

async fn status(h: &Harness, id: ProposalId) -> ProposalStatus {
    h.store.proposal_get(id).await.unwrap().status
}

#[tokio::test]
async fn i1_an_approved_proposal_without_an_order_goes_back_to_pending_and_is_audited() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let plan = rollback(&h, true)
            .plan(proposal, RevertTo::Pending)
            .await
            .unwrap();
        assert!(plan.allowed(), "{plan}");
        assert_eq!(plan.exchange, ExchangeEvidence::NotNeeded);
        assert_eq!(
            status(&h, proposal).await,
            ProposalStatus::Approved,
            "a dry run changes nothing"
        );

        let by = Attribution::new("alice", h.now()).because("approved by mistake");
        let (_, after) = rollback(&h, true)
            .apply(proposal, RevertTo::Pending, &by)
            .await
            .unwrap();
        assert_eq!(after.status, ProposalStatus::Pending);
        let entries = h
            .store
            .audit_list(&AuditFilter {
                target: Some(format!("proposal:{proposal}")),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "proposal.revert");
        assert_eq!(entries[0].actor, "alice");
        let reason = entries[0].reason.as_deref().unwrap();
        assert!(
            reason.contains("approved by mistake") && reason.contains("no execution"),
            "{reason}"
        );
        // The executor refuses it now (it is no longer approved), and nothing is placed.
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Refused { .. }),
            "{outcome:?}"
        );
        assert!(h.orders().is_empty());
    })
    .await;
}

#[tokio::test]
async fn i1_a_proposal_with_a_placed_order_is_refused() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(matches!(outcome, ExecutionOutcome::Placed(_)));
        let err = rollback(&h, true)
            .apply(proposal, RevertTo::Cancelled, &Attribution::new("alice", h.now()))
            .await
            .unwrap_err();
        let RollbackError::Refused(plan) = &err else {
            panic!("{err}")
        };
        assert!(matches!(&plan.verdict, Verdict::Refused { reason } if reason.contains("an order was placed")), "{err}");
        assert_eq!(status(&h, proposal).await, ProposalStatus::Executed);
    })
    .await;
}

#[tokio::test]
async fn i1_an_executed_proposal_whose_execution_was_rejected_can_only_be_cancelled() {
    // ETH-EUR is not on the allowlist: the execution is REJECTED (I5), no order exists.
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default().market(eth())).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Refused { .. }),
            "{outcome:?}"
        );
        assert_eq!(status(&h, proposal).await, ProposalStatus::Executed);

        let to_pending = rollback(&h, true)
            .plan(proposal, RevertTo::Pending)
            .await
            .unwrap();
        assert!(!to_pending.allowed(), "{to_pending}");
        let plan = rollback(&h, true)
            .plan(proposal, RevertTo::Cancelled)
            .await
            .unwrap();
        assert!(plan.allowed(), "{plan}");
        assert!(
            matches!(plan.exchange, ExchangeEvidence::NotFound { .. }),
            "{plan}"
        );

        // Without the exchange, no proof that nothing was placed: refused.
        let blind = rollback(&h, false)
            .plan(proposal, RevertTo::Cancelled)
            .await
            .unwrap();
        assert!(!blind.allowed(), "{blind}");

        let (_, after) = rollback(&h, true)
            .apply(
                proposal,
                RevertTo::Cancelled,
                &Attribution::new("alice", h.now()),
            )
            .await
            .unwrap();
        assert_eq!(after.status, ProposalStatus::Cancelled);
    })
    .await;
}

#[tokio::test]
async fn i1_a_failed_execution_whose_order_exists_on_the_exchange_is_refused() {
    let plan = FaultPlan::single(
        FaultRule::new(
            "POST /v2/order",
            FaultKind::AcceptThenError {
                error_code: 216,
                http_status: 400,
            },
        )
        .times(1),
    );
    let setup = Setup {
        sim: Setup::default().sim.with_faults(plan),
        ..Setup::default()
    };
    each_backend(setup, |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Failed(_)),
            "{outcome:?}"
        );
        let plan = rollback(&h, true)
            .plan(proposal, RevertTo::Cancelled)
            .await
            .unwrap();
        assert!(
            matches!(plan.exchange, ExchangeEvidence::Found { .. }),
            "{plan}"
        );
        assert!(!plan.allowed());
        assert!(
            plan.to_string().contains("EXISTS on the exchange"),
            "{plan}"
        );
    })
    .await;
}
