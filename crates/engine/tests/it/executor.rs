//! The executor, one call at a time: idempotency (I1), the allowlist (I5), the per-order and
//! daily caps (I7), expiry at entry and at `SUBMITTING` (edge 1), a balance that dropped between
//! approval and execution (edge 3), and the refusals at entry. Each test executes through the
//! real client against the simulator and counts orders in the simulator's log.

use chrono::TimeDelta;
use rust_decimal_macros::dec;
use vigil_core::{ExecutionState, ProposalId, ProposalStatus, Refusal, Side};
use vigil_engine::{ExecuteError, ExecutionOutcome, Step};

use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{btc, each_backend, eth, PauseAt, Setup, Spec, OPERATOR};

#[tokio::test]
async fn i1_executing_twice_and_after_completion_places_one_order() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let first = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Placed(placed) = &first else {
            panic!("expected a placed order, got {first:?}");
        };
        assert_eq!(placed.state, ExecutionState::Submitted);
        assert!(placed.exchange_order_id.is_some());

        let second = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::AlreadyClaimed(again) = &second else {
            panic!("expected the existing execution, got {second:?}");
        };
        assert_eq!(again.id, placed.id);

        // After the order completed (the reconciler follows it to FILLED), still one order.
        let report = h.reconciler.reconcile_once().await;
        assert_eq!(report.filled, vec![placed.id], "{report:?}");
        let third = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::AlreadyClaimed(done) = &third else {
            panic!("expected the existing execution, got {third:?}");
        };
        assert_eq!((done.id, done.state), (placed.id, ExecutionState::Filled));

        let orders = h.orders();
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!(h.orders_for(placed.client_order_id), 1);
        assert_eq!(orders[0].operator_id, OPERATOR);
        assert_eq!(
            orders[0].order_id,
            placed.exchange_order_id.clone().unwrap()
        );
        let proposal_now = h.store.proposal_get(proposal).await.unwrap();
        assert_eq!(proposal_now.status, ProposalStatus::Executed);
    })
    .await;
}

#[tokio::test]
async fn i3_fills_are_recorded_once_with_their_fees() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let placed = outcome.execution().unwrap().clone();
        let first = h.reconciler.reconcile_once().await;
        assert!(first.fills_recorded >= 1, "{first:?}");
        let second = h.reconciler.reconcile_once().await;
        assert_eq!(
            second.fills_recorded, 0,
            "fills must be recorded idempotently"
        );
        let fills = h.store.fill_list_for_execution(placed.id).await.unwrap();
        assert_eq!(fills.len() as u32, first.fills_recorded);
        let fee: rust_decimal::Decimal = fills.iter().map(|f| f.fee).sum();
        let fee_paid = h.orders()[0].fee_paid;
        assert_eq!(fee, fee_paid, "the recorded fees are the exchange's");
        let filled = h.store.execution_get(placed.id).await.unwrap();
        assert_eq!(filled.state, ExecutionState::Filled);
        assert_eq!(
            filled.filled_notional.value(),
            h.orders()[0].filled_amount_quote
        );
    })
    .await;
}

#[tokio::test]
async fn i5_an_empty_allowlist_refuses_everything() {
    each_backend(Setup::default().allowlist(vec![]), |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Refused { refusal, execution } = &outcome else {
            panic!("expected a refusal, got {outcome:?}");
        };
        assert_eq!(refusal, &Refusal::MarketNotAllowlisted { market: btc() });
        let execution = execution.as_ref().unwrap();
        assert_eq!(execution.state, ExecutionState::Rejected);
        assert_eq!(execution.refusal.as_ref(), Some(refusal));
        assert!(h.orders().is_empty());
    })
    .await;
}

#[tokio::test]
async fn i5_an_unlisted_market_is_refused_and_a_listed_one_passes() {
    each_backend(Setup::default(), |h| async move {
        let unlisted = h.approved(Spec::default().market(eth())).await;
        let outcome = h.executor.execute(h.user, unlisted).await.unwrap();
        assert_eq!(
            outcome.refusal(),
            Some(&Refusal::MarketNotAllowlisted { market: eth() })
        );
        assert!(h.orders().is_empty());

        let listed = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, listed).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        assert_eq!(h.orders().len(), 1);
        assert_eq!(h.orders()[0].market, "BTC-EUR");
    })
    .await;
}

#[tokio::test]
async fn i7_an_order_above_the_per_order_cap_is_refused() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default().eur(26)).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let Some(Refusal::CapPerOrder { limit, requested }) = outcome.refusal() else {
            panic!("expected cap_per_order, got {outcome:?}");
        };
        assert_eq!((limit.value(), requested.value()), (dec!(25), dec!(26)));
        assert!(h.orders().is_empty());
    })
    .await;
}

#[tokio::test]
async fn i7_the_daily_cap_counts_every_order_of_the_day() {
    let setup = Setup::default().policy(|p| {
        p.cooldown_minutes = 0;
        p.daily_notional_max = vigil_core::Notional::from_whole(50);
    });
    each_backend(setup, |h| async move {
        for _ in 0..2 {
            let p = h.approved(Spec::default().eur(20)).await;
            let outcome = h.executor.execute(h.user, p).await.unwrap();
            assert!(
                matches!(outcome, ExecutionOutcome::Placed(_)),
                "{outcome:?}"
            );
        }
        let third = h.approved(Spec::default().eur(20)).await;
        let outcome = h.executor.execute(h.user, third).await.unwrap();
        let Some(Refusal::CapDaily {
            used, requested, ..
        }) = outcome.refusal()
        else {
            panic!("expected cap_daily, got {outcome:?}");
        };
        assert_eq!((used.value(), requested.value()), (dec!(40), dec!(20)));
        assert_eq!(h.orders().len(), 2);

        // The next UTC day starts from zero.
        h.advance(TimeDelta::days(1));
        let next_day = h.approved(Spec::default().eur(20)).await;
        let outcome = h.executor.execute(h.user, next_day).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        assert_eq!(h.orders().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn edge1_an_expired_proposal_is_refused_at_entry() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h
            .approved(Spec::default().ttl(TimeDelta::minutes(10)))
            .await;
        h.advance(TimeDelta::minutes(10));
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let ExecutionOutcome::Refused { refusal, execution } = &outcome else {
            panic!("expected a refusal, got {outcome:?}");
        };
        assert_eq!(refusal.code(), "proposal_expired");
        assert!(
            execution.is_none(),
            "nothing is claimed for an expired proposal"
        );
        assert!(h.orders().is_empty());
    })
    .await;
}

#[tokio::test]
async fn edge1_a_proposal_that_expires_while_paused_is_refused_at_submitting() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h
            .approved(Spec::default().ttl(TimeDelta::minutes(10)))
            .await;
        let pause = PauseAt::new(Step::AfterPreflight);
        let executor = h.executor_with(pause.clone());
        let user = h.user;
        let task = tokio::spawn(async move { executor.execute(user, proposal).await });
        pause.reached().await;
        h.advance(TimeDelta::minutes(11));
        pause.resume();
        let outcome = task.await.unwrap().unwrap();
        let ExecutionOutcome::Refused { refusal, execution } = &outcome else {
            panic!("expected a refusal, got {outcome:?}");
        };
        assert_eq!(refusal.code(), "proposal_expired");
        assert_eq!(execution.as_ref().unwrap().state, ExecutionState::Rejected);
        assert!(h.orders().is_empty());
    })
    .await;
}

/// Fail-open edge (#11): the last check before sending judges expiry again. The proposal
/// expires after `SUBMITTING` was committed but while the signed request is still inside its
/// access window (so the exchange would take it): nothing is sent.
#[tokio::test]
async fn edge1_a_proposal_that_expires_after_submitting_is_not_sent() {
    each_backend(Setup::default(), |h| async move {
        let proposal = h.approved(Spec::default().ttl(TimeDelta::minutes(1))).await;
        h.advance(TimeDelta::seconds(58));
        let pause = PauseAt::new(Step::AfterSubmitting);
        let executor = h.executor_with(pause.clone());
        let user = h.user;
        let task = tokio::spawn(async move { executor.execute(user, proposal).await });
        pause.reached().await;
        // Expired, but the request signed two seconds ago is well inside its 10 s window.
        h.advance(TimeDelta::seconds(3));
        pause.resume();
        let outcome = task.await.unwrap().unwrap();
        let ExecutionOutcome::Failed(failed) = &outcome else {
            panic!("the last check must fail closed on expiry, got {outcome:?}");
        };
        assert_eq!(failed.state, ExecutionState::Failed);
        assert!(
            failed
                .failure
                .as_deref()
                .unwrap()
                .contains("proposal_expired"),
            "{:?}",
            failed.failure
        );
        assert!(h.orders().is_empty(), "an expired proposal was sent");
        assert_eq!(
            h.alerts.of_kind(vigil_engine::AlertKind::SendAborted).len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn edge3_a_balance_that_dropped_after_approval_is_refused_without_an_order() {
    let setup = Setup::default().policy(|p| p.cooldown_minutes = 0);
    each_backend(setup, |h| async move {
        let first = h.approved(Spec::default().eur(20)).await;
        let second = h.approved(Spec::default().eur(20)).await;
        let outcome = h.executor.execute(h.user, first).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        let posts = h.sim.handle.request_count("POST /v2/order");
        // Both were approved with 1,000 EUR on the account; now 12 EUR are left, and the first
        // order (not yet followed by the reconciler) still counts as holding its 20 EUR. The
        // balance is read fresh for every execution, so the second is refused.
        h.sim
            .handle
            .set_balance(h.sim.account, "EUR", dec!(32))
            .unwrap();
        let outcome = h.executor.execute(h.user, second).await.unwrap();
        let Some(Refusal::InsufficientBalance {
            asset,
            available,
            required,
        }) = outcome.refusal()
        else {
            panic!("expected insufficient_balance, got {outcome:?}");
        };
        assert_eq!(
            (asset.as_str(), available.as_str(), required.as_str()),
            ("EUR", "12", "20")
        );
        assert_eq!(h.orders().len(), 1);
        assert_eq!(h.sim.handle.request_count("POST /v2/order"), posts);
    })
    .await;
}

#[tokio::test]
async fn a_fact_the_exchange_cannot_give_refuses_rather_than_guesses() {
    each_backend(Setup::default(), |h| async move {
        let broken = FaultRule::new(
            "GET /v2/balance",
            FaultKind::Error {
                error_code: 101,
                http_status: 500,
                message: None,
            },
        );
        h.sim.handle.set_faults(FaultPlan::single(broken)).unwrap();
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        let Some(Refusal::FactUnavailable { fact }) = outcome.refusal() else {
            panic!("expected fact_unavailable, got {outcome:?}");
        };
        assert!(fact.contains("balance"), "{fact}");
        assert_eq!(h.sim.handle.request_count("POST /v2/order"), 0);
    })
    .await;
}

#[tokio::test]
async fn refusals_at_entry_name_the_reason_and_claim_nothing() {
    each_backend(Setup::default(), |h| async move {
        // Another user's proposal.
        let bob = h.store.user_create("bob", false, h.now()).await.unwrap();
        let bobs = h
            .approved(Spec {
                user: Some(bob.id),
                ..Spec::default()
            })
            .await;
        let outcome = h.executor.execute(h.user, bobs).await.unwrap();
        assert_eq!(outcome.refusal(), Some(&Refusal::ProposalNotOwned));
        assert!(outcome.execution().is_none());

        // A proposal that is not approved.
        let pending = vigil_core::Proposal::new(
            vigil_core::proposal::ProposalDraft {
                user_id: h.user,
                market: btc(),
                side: Side::Buy,
                order_type: vigil_core::OrderType::Market,
                size: vigil_core::OrderSize::Quote(vigil_core::Notional::from_whole(10)),
                limit_price: None,
                source: vigil_core::ProposalSource::Person("test".into()),
                rationale: "pending".into(),
                ttl: TimeDelta::hours(1),
            },
            h.now(),
        )
        .unwrap();
        h.store.proposal_insert(&pending).await.unwrap();
        let outcome = h.executor.execute(h.user, pending.id).await.unwrap();
        assert_eq!(
            outcome.refusal(),
            Some(&Refusal::ProposalNotApproved {
                status: ProposalStatus::Pending
            })
        );

        // Unknown ids are errors, not refusals.
        let unknown = ProposalId::new();
        let err = h.executor.execute(h.user, unknown).await.unwrap_err();
        assert!(
            matches!(err, ExecuteError::ProposalNotFound { proposal_id } if proposal_id == unknown)
        );
        let err = h
            .executor
            .execute(vigil_core::UserId::new(), pending.id)
            .await
            .unwrap_err();
        assert!(matches!(err, ExecuteError::UserNotFound { .. }), "{err:?}");
        assert!(h.orders().is_empty());
        assert!(h.in_state(ExecutionState::Claimed).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn market_rules_refuse_an_order_below_the_minimum_before_sending() {
    let setup =
        Setup::default().policy(|p| p.order_notional_max = vigil_core::Notional::from_whole(25));
    each_backend(setup, |h| async move {
        // The demo market's minimum is 5 EUR.
        let proposal = h.approved(Spec::default().eur(4)).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert_eq!(
            outcome.refusal().map(Refusal::code),
            Some("below_minimum_notional")
        );
        assert_eq!(h.sim.handle.request_count("POST /v2/order"), 0);
    })
    .await;
}

/// The test client, but never waiting for the rate-limit budget.
fn impatient_client(sim: &vigil_testkit::sim::SpawnedSim) -> vigil_bitvavo::ClientConfig {
    let mut config = crate::support::client_config(sim);
    config.rate_limit_wait_max = std::time::Duration::ZERO;
    config
}

#[tokio::test]
async fn an_exchange_rate_limit_fails_the_order_and_then_refuses_before_sending() {
    let setup = Setup {
        client: impatient_client,
        ..Setup::default()
    };
    each_backend(setup, |h| async move {
        let limited = FaultRule::new(
            "POST /v2/order",
            FaultKind::Error {
                error_code: 110,
                http_status: 429,
                message: None,
            },
        )
        .times(1);
        h.sim.handle.set_faults(FaultPlan::single(limited)).unwrap();
        let first = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, first).await.unwrap();
        let ExecutionOutcome::Failed(failed) = &outcome else {
            panic!("a 429 refuses the order definitively, got {outcome:?}");
        };
        assert!(
            failed.failure.as_deref().unwrap().contains("110"),
            "{failed:?}"
        );

        // The trade key now stays away until the limit resets: the next order request cannot be
        // prepared, and the execution is refused with nothing sent.
        let posts = h.sim.handle.request_count("POST /v2/order");
        let second = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, second).await.unwrap();
        let Some(Refusal::ExchangeUnavailable { detail }) = outcome.refusal() else {
            panic!("expected exchange_unavailable, got {outcome:?}");
        };
        assert!(detail.contains("rate limited"), "{detail}");
        assert_eq!(h.sim.handle.request_count("POST /v2/order"), posts);
        assert!(h.orders().is_empty());
    })
    .await;
}
