//! A run's proposals and the user's policy: in the run's final transaction, a proposal is
//! approved only where the policy auto-approves (auto_approve on, trading enabled, market on
//! the allowlist, quote amount within the per-order cap), and each such approval is audited;
//! everything else waits `PENDING` with its reason.

use chrono::Duration;
use vigil_core::{
    proposal::ProposalDraft, ManualApproval, Notional, OrderSize, OrderType, Policy, Proposal,
    ProposalSource, ProposalStatus, Side,
};
use vigil_store::{
    Attribution, AuditFilter, LeasedJob, NewScanJob, RunFinish, RunReport, ScanRunOutcome, Store,
};

use crate::fixture::{eur, market, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    a_run_auto_approves_only_what_the_policy_allows,
    without_auto_approve_every_proposal_waits,
);

fn ops() -> Attribution {
    Attribution::new("ops", t0())
}

async fn leased_job(store: &Store, owner: vigil_core::UserId) -> LeasedJob {
    store
        .scan_job_create(
            &NewScanJob {
                user_id: owner,
                strategy: "sma_cross".into(),
                markets: vec![market("BTC-EUR"), market("ETH-EUR")],
                params: serde_json::json!({}),
                interval_seconds: 900,
                first_run_at: t0(),
            },
            &ops(),
        )
        .await
        .unwrap();
    store
        .scan_job_lease("w", t0(), Duration::minutes(5), 1)
        .await
        .unwrap()
        .remove(0)
}

fn buy(leased: &LeasedJob, market_text: &str, amount: u32) -> Proposal {
    Proposal::new(
        ProposalDraft {
            user_id: leased.job.user_id,
            market: market(market_text),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(eur(amount)),
            limit_price: None,
            source: ProposalSource::Strategy("sma_cross".into()),
            rationale: "golden cross".into(),
            ttl: Duration::minutes(15),
        },
        t0(),
    )
    .unwrap()
}

async fn finish(store: &Store, leased: &LeasedJob, proposals: Vec<Proposal>) -> RunFinish {
    let report = RunReport {
        outcome: ScanRunOutcome::Proposed,
        detail: None,
        started_at: t0(),
        proposals,
        next_run_at: t0() + Duration::minutes(15),
    };
    store
        .scan_job_run_finish(leased, report, t0())
        .await
        .unwrap()
}

async fn a_run_auto_approves_only_what_the_policy_allows(store: Store) {
    let alice = user(&store, "alice").await;
    let policy = Policy {
        trading_enabled: true,
        auto_approve: true,
        order_notional_max: Notional::from_whole(25),
        ..Policy::default()
    };
    store
        .policy_set(
            alice.id,
            &policy,
            &ops(),
            vigil_store::PolicyLimits::Operator,
        )
        .await
        .unwrap();
    store
        .allowlist_add(alice.id, &market("BTC-EUR"), &ops())
        .await
        .unwrap();
    let leased = leased_job(&store, alice.id).await;
    let within = buy(&leased, "BTC-EUR", 25);
    let above = buy(&leased, "BTC-EUR", 26);
    let not_allowed = buy(&leased, "ETH-EUR", 10);
    let outcome = finish(
        &store,
        &leased,
        vec![within.clone(), above.clone(), not_allowed.clone()],
    )
    .await;
    assert_eq!(outcome.approved(), [within.id]);
    let RunFinish::Recorded {
        run,
        proposals,
        waiting,
    } = outcome
    else {
        panic!("not recorded");
    };
    assert_eq!(run.proposals, 3);
    assert_eq!(proposals.len(), 3);
    assert!(matches!(
        waiting.as_slice(),
        [
            (a, ManualApproval::AboveOrderCap { .. }),
            (b, ManualApproval::NotAllowlisted)
        ] if *a == above.id && *b == not_allowed.id
    ));
    let status = |p: &Proposal| {
        let store = store.clone();
        let id = p.id;
        async move { store.proposal_get(id).await.unwrap().status }
    };
    assert_eq!(status(&within).await, ProposalStatus::Approved);
    assert_eq!(status(&above).await, ProposalStatus::Pending);
    assert_eq!(status(&not_allowed).await, ProposalStatus::Pending);
    let audit = store
        .audit_list(&AuditFilter {
            target: Some(format!("proposal:{}", within.id)),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, "policy:auto_approve");
    assert_eq!(audit[0].action, "proposal.approve");
}

async fn without_auto_approve_every_proposal_waits(store: Store) {
    let alice = user(&store, "alice").await;
    store
        .allowlist_add(alice.id, &market("BTC-EUR"), &ops())
        .await
        .unwrap();
    let leased = leased_job(&store, alice.id).await;
    let small = buy(&leased, "BTC-EUR", 5);
    let outcome = finish(&store, &leased, vec![small.clone()]).await;
    assert!(outcome.approved().is_empty());
    assert_eq!(
        store.proposal_get(small.id).await.unwrap().status,
        ProposalStatus::Pending
    );
}
