//! Scan-job leases (I9): one instance per due job, expired leases are taken over, and the lease
//! query goes through the partial index instead of walking leased jobs.

use chrono::Duration;
use vigil_store::{ScanJob, Store};

use crate::{
    contract_tests,
    fixture::{market, t0, user},
};

contract_tests!(
    i9_concurrent_instances_lease_each_due_job_once,
    i9_an_expired_lease_is_taken_over_and_the_old_holder_cannot_complete,
    i9_the_lease_query_uses_the_partial_index,
);

async fn job(
    store: &Store,
    owner: vigil_core::UserId,
    due: chrono::DateTime<chrono::Utc>,
) -> ScanJob {
    store
        .scan_job_create(
            owner,
            "dca",
            &[market("BTC-EUR")],
            serde_json::json!({"amount": "10"}),
            3_600,
            due,
        )
        .await
        .unwrap()
}

async fn i9_concurrent_instances_lease_each_due_job_once(store: Store) {
    let alice = user(&store, "alice").await;
    for n in 0..30 {
        job(&store, alice.id, t0() + Duration::seconds(n)).await;
    }
    let not_yet = job(&store, alice.id, t0() + Duration::hours(1)).await;
    let now = t0() + Duration::minutes(1);
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let leased = store
                        .scan_job_lease(&format!("instance-{i}"), now, Duration::minutes(5), 4)
                        .await
                        .unwrap();
                    if leased.is_empty() {
                        return mine;
                    }
                    assert!(leased
                        .iter()
                        .all(|j| j.locked_by.as_deref() == Some(&*format!("instance-{i}"))));
                    mine.extend(leased.into_iter().map(|j| j.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, 30, "every due job leased");
    assert_eq!(all.len(), 30, "no job leased twice");
    assert!(
        !all.contains(&not_yet.id),
        "a job that is not due is not leased"
    );
}

async fn i9_an_expired_lease_is_taken_over_and_the_old_holder_cannot_complete(store: Store) {
    let alice = user(&store, "alice").await;
    let scan = job(&store, alice.id, t0()).await;
    let ttl = Duration::minutes(5);
    let leased = store.scan_job_lease("a", t0(), ttl, 10).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].locked_until, Some(t0() + ttl));
    // While the lease holds, nobody else gets the job.
    assert!(store
        .scan_job_lease("b", t0() + Duration::minutes(4), ttl, 10)
        .await
        .unwrap()
        .is_empty());
    // "a" crashed; after its lease expires "b" takes the job over.
    let later = t0() + Duration::minutes(6);
    let taken = store.scan_job_lease("b", later, ttl, 10).await.unwrap();
    assert_eq!(taken.iter().map(|j| j.id).collect::<Vec<_>>(), [scan.id]);
    assert_eq!(taken[0].locked_by.as_deref(), Some("b"));
    // "a" comes back: its lease is gone, so its completion changes nothing.
    let next = later + Duration::hours(1);
    assert!(!store
        .scan_job_complete(scan.id, "a", next, later)
        .await
        .unwrap());
    assert!(store
        .scan_job_complete(scan.id, "b", next, later)
        .await
        .unwrap());
    // Released and not due until `next`.
    assert!(store
        .scan_job_lease("c", later, ttl, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .scan_job_lease("c", next, ttl, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn i9_the_lease_query_uses_the_partial_index(store: Store) {
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
        plan.iter().any(|line| line.contains("scan_jobs_due_idx")),
        "the lease query does not use the partial index: {plan:#?}"
    );
}
