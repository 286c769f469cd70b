//! (d) The scheduler's lease path: jobs leased and released per second with 1, 4 and 16
//! workers through `Store::scan_job_lease` + `Store::scan_job_release`, beside a bare claim loop
//! of the same SQL shape (one transaction with the expired-lease and the due-job selections,
//! then one release) on a pool of the same size.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures::future::join_all;
use serde::Serialize;
use vigil_store::{Attribution, NewScanJob};

use crate::{
    error::{BenchError, During},
    raw::{RawDb, Value},
    stats::{per_second, percent},
    world::{btc, World, POOL_SIZE},
};

/// One worker count's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SchedulerLevel {
    /// Concurrent workers.
    pub(crate) workers: usize,
    /// Jobs leased and released through the store, per second.
    pub(crate) store_jobs_per_s: u64,
    /// Jobs claimed and released by the bare loop, per second.
    pub(crate) bare_jobs_per_s: u64,
    /// store / bare, in percent.
    pub(crate) ratio_percent: u64,
    /// Transaction attempts the store's retry wrapper repeated after a transient error (busy,
    /// serialization) during the store loop.
    pub(crate) store_retries: u64,
}

/// Marks every job due and unleased again.
async fn reset(raw: &RawDb, world: &World) -> Result<(), BenchError> {
    raw.execute(
        "UPDATE scan_jobs SET locked_by = NULL, locked_until = NULL, next_run_at = $1",
        &[Value::Time(world.now() - TimeDelta::minutes(1))],
    )
    .await?;
    Ok(())
}

/// Runs (d) over `jobs` jobs at each worker count in `levels`.
///
/// # Errors
/// A setup or database error, or a loop that did not see every job exactly once.
pub(crate) async fn scheduler(
    world: &World,
    levels: &[usize],
    jobs: usize,
) -> Result<Vec<SchedulerLevel>, BenchError> {
    let user = world.user("scheduler").await?;
    let by = Attribution::new("bench", world.now());
    for _ in 0..jobs {
        world
            .store
            .scan_job_create(
                &NewScanJob {
                    user_id: user,
                    strategy: "dca".into(),
                    markets: vec![btc()],
                    params: serde_json::json!({}),
                    interval_seconds: 3_600,
                    first_run_at: world.now() - TimeDelta::minutes(1),
                },
                &by,
            )
            .await
            .during("creating a scan job")?;
    }
    world.store.analyze().await.during("ANALYZE")?;
    let raw = RawDb::connect(&world.url, POOL_SIZE).await?;
    let mut out = Vec::new();
    for &workers in levels {
        reset(&raw, world).await?;
        let retries_before = world.store.transient_retries();
        let store_time = store_loop(world, workers, jobs).await?;
        let store_retries = world.store.transient_retries() - retries_before;
        reset(&raw, world).await?;
        let bare_time = bare_loop(&raw, world, workers, jobs).await?;
        let n = u64::try_from(jobs).unwrap_or(0);
        let (store_rate, bare_rate) = (per_second(n, store_time), per_second(n, bare_time));
        out.push(SchedulerLevel {
            workers,
            store_jobs_per_s: store_rate,
            bare_jobs_per_s: bare_rate,
            ratio_percent: percent(store_rate, bare_rate),
            store_retries,
        });
    }
    raw.close().await;
    Ok(out)
}

fn check_count(what: &str, done: usize, jobs: usize) -> Result<(), BenchError> {
    if done == jobs {
        Ok(())
    } else {
        Err(BenchError::Invariant(format!(
            "{what} handled {done} leases of {jobs} due jobs (each job must be leased exactly once)"
        )))
    }
}

async fn store_loop(world: &World, workers: usize, jobs: usize) -> Result<Duration, BenchError> {
    let start = Instant::now();
    let tasks = (0..workers).map(|w| {
        let (store, clock) = (world.store.clone(), world.clock.clone());
        tokio::spawn(async move {
            let worker = format!("bench-{w}");
            let mut done = 0usize;
            loop {
                let now = clock.now();
                let leased = store
                    .scan_job_lease(&worker, now, TimeDelta::minutes(5), 1)
                    .await
                    .during("scan_job_lease")?;
                let Some(lease) = leased.first() else { break };
                let released = store
                    .scan_job_release(lease.job.id, &worker, now + TimeDelta::days(1), now)
                    .await
                    .during("scan_job_release")?;
                if !released {
                    return Err(BenchError::Invariant("a lease was lost mid-run".into()));
                }
                done += 1;
            }
            Ok::<usize, BenchError>(done)
        })
    });
    let mut done = 0;
    for joined in join_all(tasks).await {
        done += joined.during("a scheduler worker")??;
    }
    let elapsed = start.elapsed();
    check_count("the store loop", done, jobs)?;
    Ok(elapsed)
}

/// The two selections of the lease, as the store writes them (crates/store/src/scan_jobs/lease.rs).
fn selections(sqlite: bool) -> [&'static str; 2] {
    if sqlite {
        [
            "SELECT id FROM scan_jobs INDEXED BY scan_jobs_lease_idx \
             WHERE locked_by IS NOT NULL AND locked_until <= $1 AND paused = 0 \
             ORDER BY locked_until LIMIT $2",
            "SELECT id FROM scan_jobs INDEXED BY scan_jobs_due_idx \
             WHERE locked_by IS NULL AND paused = 0 AND next_run_at <= $1 \
             ORDER BY next_run_at LIMIT $2",
        ]
    } else {
        [
            "SELECT id FROM scan_jobs WHERE locked_by IS NOT NULL AND locked_until <= $1 \
             AND paused = FALSE ORDER BY locked_until LIMIT $2 FOR UPDATE SKIP LOCKED",
            "SELECT id FROM scan_jobs WHERE locked_by IS NULL AND paused = FALSE \
             AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        ]
    }
}

async fn bare_loop(
    raw: &RawDb,
    world: &World,
    workers: usize,
    jobs: usize,
) -> Result<Duration, BenchError> {
    let [expired, due] = selections(raw.is_sqlite());
    let claim_expired = format!(
        "UPDATE scan_jobs SET locked_by = $3, locked_until = $4, updated_at = $1 \
         WHERE id IN ({expired}) RETURNING id"
    );
    let claim_due = format!(
        "UPDATE scan_jobs SET locked_by = $3, locked_until = $4, updated_at = $1 \
         WHERE id IN ({due}) RETURNING id"
    );
    let start = Instant::now();
    let tasks = (0..workers).map(|w| {
        let (raw, clock) = (raw.clone(), world.clock.clone());
        let (claim_expired, claim_due) = (claim_expired.clone(), claim_due.clone());
        tokio::spawn(async move {
            let worker = format!("bare-{w}");
            let mut done = 0usize;
            loop {
                let now = clock.now();
                let values = vec![
                    Value::Time(now),
                    Value::Int(1),
                    Value::Text(worker.clone()),
                    Value::Time(now + TimeDelta::minutes(5)),
                ];
                let claimed = raw
                    .transaction(&[
                        (claim_expired.as_str(), values.clone()),
                        (claim_due.as_str(), values),
                    ])
                    .await?;
                let Some(id) = claimed.into_iter().flatten().next() else {
                    break;
                };
                let released = raw
                    .execute(
                        "UPDATE scan_jobs SET locked_by = NULL, locked_until = NULL, \
                         next_run_at = $3, updated_at = $4 WHERE id = $1 AND locked_by = $2",
                        &[
                            uuid_value(&raw, &id)?,
                            Value::Text(worker.clone()),
                            Value::Time(now + TimeDelta::days(1)),
                            Value::Time(now),
                        ],
                    )
                    .await?;
                if released != 1 {
                    return Err(BenchError::Invariant(
                        "a bare claim was lost mid-run".into(),
                    ));
                }
                done += 1;
            }
            Ok::<usize, BenchError>(done)
        })
    });
    let mut done = 0;
    for joined in join_all(tasks).await {
        done += joined.during("a bare claim worker")??;
    }
    let elapsed = start.elapsed();
    check_count("the bare claim loop", done, jobs)?;
    Ok(elapsed)
}

/// A job id as the back end binds it (PostgreSQL: uuid, which text does not compare with).
fn uuid_value(raw: &RawDb, id: &str) -> Result<Value, BenchError> {
    if raw.is_sqlite() {
        Ok(Value::Text(id.to_owned()))
    } else {
        Ok(Value::Uuid(
            uuid::Uuid::parse_str(id).during("a returned job id")?,
        ))
    }
}
