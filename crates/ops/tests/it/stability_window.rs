//! The cap stability window, with a ManualClock: raising a cap needs 24 stable hours (no FAILED
//! or unknown-outcome execution, no cap change); lowering is always allowed; an admin may
//! override with a reason, which is recorded.

use std::sync::Arc;

use chrono::TimeDelta;
use vigil_core::{Clock, Notional, Policy};
use vigil_engine::ExecutionOutcome;
use vigil_ops::{
    stability_window::{CapChangeError, CapDecision, Instability, StabilityOverride},
    StabilityWindow,
};
use vigil_store::STABILITY_OVERRIDE_ACTION as OVERRIDE_ACTION;
use vigil_store::{Attribution, AuditFilter};
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{careful_policy, each_backend, Harness, Setup, Spec};

fn window(h: &Harness) -> StabilityWindow {
    let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
    StabilityWindow::new(h.store.clone(), clock)
}

/// How long after its creation a user's raise is first possible: the harness creates the user
/// at the clock's start.
const A_DAY_OF_OPERATION: TimeDelta = TimeDelta::hours(25);

fn raised() -> Policy {
    Policy {
        order_notional_max: Notional::from_whole(50),
        daily_notional_max: Notional::from_whole(200),
        ..careful_policy()
    }
}

fn lowered() -> Policy {
    Policy {
        order_notional_max: Notional::from_whole(10),
        ..careful_policy()
    }
}

fn faulty(kind: FaultKind) -> Setup {
    Setup {
        sim: Setup::default().sim.with_faults(FaultPlan::single(
            FaultRule::new("POST /v2/order", kind).times(1),
        )),
        ..Setup::default()
    }
}

#[tokio::test]
async fn a_raise_is_allowed_after_a_stable_day_and_lowering_always() {
    each_backend(Setup::default(), |h| async move {
        h.advance(A_DAY_OF_OPERATION);
        let decision = window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .unwrap();
        assert!(
            matches!(decision, CapDecision::Allowed { ref raises } if raises.len() == 2),
            "{decision:?}"
        );
        let decision = window(&h)
            .check_cap_change(h.user, &careful_policy(), &lowered(), None)
            .await
            .unwrap();
        assert_eq!(decision, CapDecision::NoRaise);
    })
    .await;
}

#[tokio::test]
async fn a_new_user_may_raise_only_after_a_day_of_operation() {
    each_backend(Setup::default(), |h| async move {
        let err = window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .unwrap_err();
        let CapChangeError::Refused { status, .. } = &err else {
            panic!("{err}")
        };
        assert!(
            matches!(status.instabilities[..], [Instability::NewUser { .. }]),
            "{err}"
        );
        assert!(err.to_string().contains("24 hours of operation"), "{err}");
        // Lowering is allowed from the first minute.
        assert_eq!(
            window(&h)
                .check_cap_change(h.user, &careful_policy(), &lowered(), None)
                .await
                .unwrap(),
            CapDecision::NoRaise
        );
        h.advance(A_DAY_OF_OPERATION);
        let decision = window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .unwrap();
        assert!(
            matches!(decision, CapDecision::Allowed { .. }),
            "{decision:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_cap_change_blocks_a_raise_for_24_hours() {
    each_backend(Setup::default(), |h| async move {
        h.advance(A_DAY_OF_OPERATION);
        h.store
            .policy_set(
                h.user,
                &lowered(),
                &Attribution::new("ops", h.now()),
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
        h.advance(TimeDelta::hours(23));
        let err = window(&h)
            .check_cap_change(h.user, &lowered(), &careful_policy(), None)
            .await
            .unwrap_err();
        let CapChangeError::Refused { status, .. } = &err else {
            panic!("{err}")
        };
        assert!(
            matches!(status.instabilities[0], Instability::CapChange { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("--override-stability-window"),
            "{err}"
        );
        // Lowering further is still allowed.
        let ten_to_five = Policy {
            order_notional_max: Notional::from_whole(5),
            ..lowered()
        };
        assert_eq!(
            window(&h)
                .check_cap_change(h.user, &lowered(), &ten_to_five, None)
                .await
                .unwrap(),
            CapDecision::NoRaise
        );
        h.advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
        let decision = window(&h)
            .check_cap_change(h.user, &lowered(), &careful_policy(), None)
            .await
            .unwrap();
        assert!(
            matches!(decision, CapDecision::Allowed { .. }),
            "{decision:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_execution_blocks_a_raise_for_24_hours() {
    let setup = faulty(FaultKind::Error {
        error_code: 216,
        http_status: 400,
        message: None,
    });
    each_backend(setup, |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Failed(_)),
            "{outcome:?}"
        );
        h.advance(TimeDelta::hours(12));
        let err = window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("FAILED"), "{err}");
        h.advance(TimeDelta::hours(12) + TimeDelta::seconds(1));
        let decision = window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .unwrap();
        assert!(
            matches!(decision, CapDecision::Allowed { .. }),
            "{decision:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_unknown_outcome_blocks_a_raise_even_once_resolved() {
    each_backend(faulty(FaultKind::AcceptThenDrop), |h| async move {
        h.advance(A_DAY_OF_OPERATION);
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::OutcomeUnknown(_)),
            "{outcome:?}"
        );
        let status = window(&h).status(h.user).await.unwrap();
        assert!(
            matches!(
                status.instabilities[..],
                [Instability::UnknownOutcome {
                    resolved: false,
                    ..
                }]
            ),
            "{status:?}"
        );
        h.advance(TimeDelta::minutes(1));
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.found.len(), 1, "{report:?}");
        let status = window(&h).status(h.user).await.unwrap();
        assert!(
            matches!(
                status.instabilities[..],
                [Instability::UnknownOutcome { resolved: true, .. }]
            ),
            "{status:?}"
        );
        assert!(window(&h)
            .check_cap_change(h.user, &careful_policy(), &raised(), None)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn an_admin_may_override_with_a_reason_and_it_is_recorded() {
    each_backend(Setup::default(), |h| async move {
        h.store
            .policy_set(
                h.user,
                &lowered(),
                &Attribution::new("ops", h.now()),
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
        let alice = h.store.user_get(h.user).await.unwrap();
        let not_admin = StabilityOverride {
            admin: alice,
            reason: "trust me".into(),
        };
        let err = window(&h)
            .check_cap_change(h.user, &lowered(), &raised(), Some(&not_admin))
            .await
            .unwrap_err();
        assert!(matches!(err, CapChangeError::InvalidOverride(_)), "{err}");

        h.advance(TimeDelta::minutes(1));
        let root = h.store.user_create("root", true, h.now()).await.unwrap();
        let blank = StabilityOverride {
            admin: root.clone(),
            reason: "  ".into(),
        };
        assert!(matches!(
            window(&h)
                .check_cap_change(h.user, &lowered(), &raised(), Some(&blank))
                .await,
            Err(CapChangeError::InvalidOverride(_))
        ));
        let valid = StabilityOverride {
            admin: root,
            reason: "exchange incident understood; desk approved".into(),
        };
        let decision = window(&h)
            .check_cap_change(h.user, &lowered(), &raised(), Some(&valid))
            .await
            .unwrap();
        assert!(
            matches!(decision, CapDecision::Overridden { .. }),
            "{decision:?}"
        );
        let by = Attribution::new("root", h.now());
        let reason = decision.audit_reason(None).unwrap();
        assert!(reason.contains("OVERRIDDEN by admin root"), "{reason}");
        h.store
            .policy_replace(
                h.user,
                Some(&lowered()),
                &raised(),
                &by.clone().because(reason),
                vigil_store::PolicyLimits::Operator,
                decision.override_entry(h.user, &by).as_ref(),
            )
            .await
            .unwrap();
        let entries = h
            .store
            .audit_list(&AuditFilter {
                target: Some(format!("user:{}", h.user)),
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let over = entries
            .iter()
            .find(|e| e.action == OVERRIDE_ACTION)
            .unwrap();
        assert_eq!(
            over.reason.as_deref(),
            Some("exchange incident understood; desk approved")
        );
        assert_eq!(
            over.after.as_ref().unwrap()["raises"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let set = entries.iter().find(|e| e.action == "policy.set").unwrap();
        assert!(set.reason.as_deref().unwrap().contains("OVERRIDDEN"));
    })
    .await;
}
