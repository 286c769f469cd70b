//! Scan jobs and their leases (I9): one worker per due job, expired leases are taken over, a
//! worker that lost its lease can neither renew, release nor record, each due run is recorded
//! exactly once, and the lease queries go through the partial indexes instead of walking
//! leased jobs.
//!
//! Method: workers are tasks on a multi-threaded runtime calling the same public API the
//! scheduler uses (`scan_job_lease`, `scan_job_renew`, `scan_job_run_finish`); time is passed
//! in explicitly, so "expired" is a choice of `now`, never a sleep. Results are counted in the
//! tables (`scan_job_runs`, `proposals`), not in the workers' own bookkeeping.

use chrono::Duration;
use vigil_core::{proposal::ProposalDraft, OrderSize, OrderType, Proposal, ProposalSource, Side};
use vigil_store::{
    Attribution, AuditFilter, LeasedJob, NewScanJob, ProposalFilter, RunFinish, RunReport, ScanJob,
    ScanJobFilter, ScanRunOutcome, Store, StoreError,
};

use crate::fixture::{eur, market, t0, user};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    i9_concurrent_workers_run_each_due_job_exactly_once,
    i9_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew_release_or_record,
    i9_renewal_keeps_the_lease_until_it_lapses,
    i9_a_due_run_is_recorded_at_most_once,
    i9_the_lease_queries_use_the_partial_indexes,
    i9_a_job_paused_during_a_run_gets_no_proposals_from_it,
    scan_jobs_are_created_paused_resumed_and_removed_with_audit,
    scan_job_input_is_validated_with_field_names,
);

fn ops() -> Attribution {
    Attribution::new("cli:ops", t0())
}

fn ttl() -> Duration {
    Duration::minutes(5)
}

async fn job(store: &Store, owner: vigil_core::UserId, due: vigil_core::Timestamp) -> ScanJob {
    store
        .scan_job_create(
            &NewScanJob {
                user_id: owner,
                strategy: "dca".into(),
                markets: vec![market("BTC-EUR")],
                params: serde_json::json!({"amount_quote": "10"}),
                interval_seconds: 3_600,
                first_run_at: due,
            },
            &ops(),
        )
        .await
        .unwrap()
}

fn proposal_for(leased: &LeasedJob, amount: u32) -> Proposal {
    Proposal::new(
        ProposalDraft {
            user_id: leased.job.user_id,
            market: leased.job.markets[0].clone(),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(eur(amount)),
            limit_price: None,
            source: ProposalSource::Strategy("dca".into()),
            rationale: "dca: buy 10 EUR every hour".into(),
            ttl: Duration::minutes(30),
        },
        leased.due_at,
    )
    .unwrap()
}

fn report(leased: &LeasedJob, proposals: Vec<Proposal>) -> RunReport {
    RunReport {
        outcome: if proposals.is_empty() {
            ScanRunOutcome::NoSignal
        } else {
            ScanRunOutcome::Proposed
        },
        detail: None,
        started_at: leased.due_at,
        proposals,
        next_run_at: leased.due_at + Duration::hours(1),
    }
}

async fn i9_concurrent_workers_run_each_due_job_exactly_once(store: Store) {
    let alice = user(&store, "alice").await;
    let mut jobs = Vec::new();
    for n in 0..30 {
        jobs.push(job(&store, alice.id, t0() + Duration::seconds(n)).await);
    }
    let not_yet = job(&store, alice.id, t0() + Duration::hours(1)).await;
    let now = t0() + Duration::minutes(1);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let worker = format!("instance-{i}");
                let mut ran = 0;
                loop {
                    let leased = store.scan_job_lease(&worker, now, ttl(), 4).await.unwrap();
                    if leased.is_empty() {
                        return ran;
                    }
                    for l in &leased {
                        assert_eq!(l.worker, worker);
                        assert_eq!(l.job.locked_by.as_deref(), Some(worker.as_str()));
                        let proposal = proposal_for(l, 10);
                        let finish = store
                            .scan_job_run_finish(l, report(l, vec![proposal]), now)
                            .await
                            .unwrap();
                        assert!(matches!(finish, RunFinish::Recorded { .. }));
                        ran += 1;
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 30, "every due job ran once");
    for j in &jobs {
        let runs = store.scan_job_runs_list(j.id, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "job {} has {} runs", j.id, runs.len());
        assert_eq!(runs[0].due_at, j.next_run_at);
        assert_eq!(runs[0].proposals, 1);
        let after = store.scan_job_get(j.id).await.unwrap();
        assert_eq!(after.locked_by, None, "the lease was released");
        assert_eq!(after.next_run_at, j.next_run_at + Duration::hours(1));
    }
    assert!(store
        .scan_job_runs_list(not_yet.id, 10)
        .await
        .unwrap()
        .is_empty());
    let proposals = store
        .proposal_list(&ProposalFilter {
            user: Some(alice.id),
            ..ProposalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(proposals.len(), 30, "one proposal per run, none twice");
}

async fn i9_an_expired_lease_is_taken_over_and_the_old_holder_cannot_renew_release_or_record(
    store: Store,
) {
    let alice = user(&store, "alice").await;
    let scan = job(&store, alice.id, t0()).await;
    let leased = store.scan_job_lease("a", t0(), ttl(), 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    let a = leased[0].clone();
    assert_eq!(a.lease_until, t0() + ttl());
    assert_eq!(a.due_at, t0());
    // While the lease holds, nobody else gets the job.
    assert!(store
        .scan_job_lease("b", t0() + Duration::minutes(4), ttl(), 10)
        .await
        .unwrap()
        .is_empty());
    // "a" stalls; after its lease expires "b" takes the job over, for the same due time.
    let later = t0() + Duration::minutes(6);
    let taken = store.scan_job_lease("b", later, ttl(), 10).await.unwrap();
    assert_eq!(
        taken.iter().map(|l| l.job.id).collect::<Vec<_>>(),
        [scan.id]
    );
    let b = taken[0].clone();
    assert_eq!((b.worker.as_str(), b.due_at), ("b", t0()));
    // "a" comes back: it cannot renew, release or record, and its proposal is not written.
    assert!(!store
        .scan_job_renew(scan.id, "a", later, ttl())
        .await
        .unwrap());
    assert!(!store
        .scan_job_release(scan.id, "a", later + Duration::hours(1), later)
        .await
        .unwrap());
    let stale = store
        .scan_job_run_finish(&a, report(&a, vec![proposal_for(&a, 10)]), later)
        .await
        .unwrap();
    assert_eq!(stale, RunFinish::LeaseLost);
    assert!(store
        .proposal_list(&ProposalFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .scan_job_runs_list(scan.id, 10)
        .await
        .unwrap()
        .is_empty());
    // The raw record operation refuses too.
    let run = vigil_store::ScanJobRun {
        id: uuid::Uuid::new_v4(),
        job_id: scan.id,
        user_id: alice.id,
        worker: "a".into(),
        due_at: t0(),
        started_at: t0(),
        finished_at: later,
        outcome: ScanRunOutcome::NoSignal,
        proposals: 0,
        detail: None,
    };
    let recorded = store
        .user_section(alice.id, move |txn| {
            let run = run.clone();
            Box::pin(async move { txn.scan_job_run_record_in_txn(&run, later).await })
        })
        .await
        .unwrap();
    assert!(!recorded);
    // "b" holds it and records.
    let finish = store
        .scan_job_run_finish(&b, report(&b, vec![proposal_for(&b, 10)]), later)
        .await
        .unwrap();
    let RunFinish::Recorded { run, proposals, .. } = finish else {
        panic!("the holder could not record: {finish:?}");
    };
    assert_eq!((run.worker.as_str(), run.due_at), ("b", t0()));
    assert_eq!(proposals.len(), 1);
    // Released and not due until the next hour.
    assert!(store
        .scan_job_lease("c", later, ttl(), 10)
        .await
        .unwrap()
        .is_empty());
    let next = store
        .scan_job_lease("c", t0() + Duration::hours(1), ttl(), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
}

async fn i9_renewal_keeps_the_lease_until_it_lapses(store: Store) {
    let alice = user(&store, "alice").await;
    let scan = job(&store, alice.id, t0()).await;
    store.scan_job_lease("a", t0(), ttl(), 10).await.unwrap();
    let renewed_at = t0() + Duration::minutes(4);
    assert!(store
        .scan_job_renew(scan.id, "a", renewed_at, ttl())
        .await
        .unwrap());
    assert_eq!(
        store.scan_job_get(scan.id).await.unwrap().locked_until,
        Some(renewed_at + ttl())
    );
    // Past the first lease time, but inside the renewed one: nobody else gets it.
    assert!(store
        .scan_job_lease("b", t0() + Duration::minutes(6), ttl(), 10)
        .await
        .unwrap()
        .is_empty());
    // A renewal after the lease lapsed fails even though nobody took the job yet: the worker
    // cannot know whether another one ran it meanwhile.
    let lapsed = renewed_at + ttl() + Duration::seconds(1);
    assert!(!store
        .scan_job_renew(scan.id, "a", lapsed, ttl())
        .await
        .unwrap());
    assert!(matches!(
        store
            .scan_job_renew(scan.id, "a", t0(), Duration::zero())
            .await,
        Err(StoreError::InvalidInput(_))
    ));
}

async fn i9_a_due_run_is_recorded_at_most_once(store: Store) {
    let alice = user(&store, "alice").await;
    job(&store, alice.id, t0()).await;
    let first = store.scan_job_lease("a", t0(), ttl(), 1).await.unwrap();
    // A buggy worker that does not move the due time on.
    let again = RunReport {
        next_run_at: first[0].due_at,
        ..report(&first[0], Vec::new())
    };
    store
        .scan_job_run_finish(&first[0], again.clone(), t0())
        .await
        .unwrap();
    let second = store.scan_job_lease("b", t0(), ttl(), 1).await.unwrap();
    assert_eq!(second[0].due_at, first[0].due_at);
    let refused = store
        .scan_job_run_finish(&second[0], again, t0())
        .await
        .unwrap_err();
    match refused {
        StoreError::ConstraintViolation { constraint, .. } => {
            assert_eq!(constraint, "scan_job_runs_job_due_key");
        }
        other => panic!("expected the unique due-run constraint, got {other:?}"),
    }
}

async fn i9_the_lease_queries_use_the_partial_indexes(store: Store) {
    let alice = user(&store, "alice").await;
    // Realistic shape: many leased jobs, few unleased ones, fresh statistics.
    for n in 0..400 {
        job(&store, alice.id, t0() + Duration::seconds(n)).await;
    }
    store
        .scan_job_lease("busy", t0() + Duration::hours(1), Duration::hours(1), 1_000)
        .await
        .unwrap();
    for n in 0..5 {
        job(&store, alice.id, t0() + Duration::seconds(n)).await;
    }
    store.analyze().await.unwrap();
    let plan = store
        .scan_job_lease_plan(t0() + Duration::hours(1))
        .await
        .unwrap();
    assert!(
        plan.due
            .iter()
            .any(|line| line.contains("scan_jobs_due_idx")),
        "the due-job selection does not use its partial index: {plan:#?}"
    );
    assert!(
        plan.expired
            .iter()
            .any(|line| line.contains("scan_jobs_lease_idx")),
        "the expired-lease selection does not use its partial index: {plan:#?}"
    );
}

async fn i9_a_job_paused_during_a_run_gets_no_proposals_from_it(store: Store) {
    let alice = user(&store, "alice").await;
    let scan = job(&store, alice.id, t0()).await;
    let leased = store.scan_job_lease("a", t0(), ttl(), 1).await.unwrap();
    store.scan_job_pause(scan.id, &ops()).await.unwrap();
    let finish = store
        .scan_job_run_finish(
            &leased[0],
            report(&leased[0], vec![proposal_for(&leased[0], 10)]),
            t0(),
        )
        .await
        .unwrap();
    let RunFinish::Recorded { run, proposals, .. } = finish else {
        panic!("the holder of a paused job's lease records the skip: {finish:?}");
    };
    assert_eq!(run.outcome, ScanRunOutcome::Skipped);
    assert!(proposals.is_empty());
    assert!(store
        .proposal_list(&ProposalFilter::default())
        .await
        .unwrap()
        .is_empty());
    // Paused: not leased again, even when due.
    assert!(store
        .scan_job_lease("b", t0() + Duration::days(1), ttl(), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn scan_jobs_are_created_paused_resumed_and_removed_with_audit(store: Store) {
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let scan = job(&store, alice.id, t0()).await;
    job(&store, bob.id, t0()).await;
    assert_eq!(store.scan_job_get(scan.id).await.unwrap(), scan);
    let mine = store
        .scan_job_list(&ScanJobFilter {
            user: Some(alice.id),
            ..ScanJobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(mine, std::slice::from_ref(&scan));
    assert_eq!(
        store
            .scan_job_list(&ScanJobFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );

    let paused = store.scan_job_pause(scan.id, &ops()).await.unwrap();
    assert!(paused.paused);
    // Pausing twice changes nothing and records nothing.
    store.scan_job_pause(scan.id, &ops()).await.unwrap();
    let leased = store.scan_job_lease("w", t0(), ttl(), 10).await.unwrap();
    assert_eq!(leased.len(), 1, "only bob's job is leased");
    assert_eq!(leased[0].job.user_id, bob.id);
    assert!(!store.scan_job_resume(scan.id, &ops()).await.unwrap().paused);
    assert_eq!(
        store.scan_job_lease("w", t0(), ttl(), 10).await.unwrap()[0]
            .job
            .id,
        scan.id
    );

    let removed = store.scan_job_remove(scan.id, &ops()).await.unwrap();
    assert_eq!(removed.id, scan.id);
    assert!(matches!(
        store.scan_job_get(scan.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.scan_job_remove(scan.id, &ops()).await,
        Err(StoreError::NotFound { .. })
    ));
    let mut actions: Vec<_> = store
        .audit_list(&AuditFilter {
            target: Some(format!("scan_job:{}", scan.id)),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.actor, "cli:ops");
            e.action
        })
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "scan_job.create",
            "scan_job.pause",
            "scan_job.remove",
            "scan_job.resume"
        ]
    );
}

async fn scan_job_input_is_validated_with_field_names(store: Store) {
    let alice = user(&store, "alice").await;
    let bad = NewScanJob {
        user_id: alice.id,
        strategy: "Not A Name".into(),
        markets: vec![market("BTC-EUR"), market("BTC-EUR")],
        params: serde_json::json!([1, 2]),
        interval_seconds: 0,
        first_run_at: t0(),
    };
    let Err(StoreError::InvalidInput(problems)) = store.scan_job_create(&bad, &ops()).await else {
        panic!("invalid job accepted");
    };
    let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["interval_seconds", "markets", "strategy", "params"]
    );
    let unknown_user = NewScanJob {
        user_id: vigil_core::UserId::new(),
        strategy: "dca".into(),
        markets: vec![market("BTC-EUR")],
        params: serde_json::json!({}),
        interval_seconds: 60,
        first_run_at: t0(),
    };
    assert!(matches!(
        store.scan_job_create(&unknown_user, &ops()).await,
        Err(StoreError::NotFound { what: "user", .. })
    ));
}
