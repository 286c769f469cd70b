//! Leasing scan jobs (I9): a due job is run by at most one worker at a time, and a crashed
//! worker's lease expires so another picks the job up.
//!
//! The lease query must not walk jobs that are already leased: due jobs are selected through
//! the partial index `scan_jobs_due_idx` (`WHERE locked_by IS NULL AND paused = false`), so its
//! cost follows the number of unleased jobs, not the table, and expired leases through the
//! second partial index, `scan_jobs_lease_idx` (`WHERE locked_by IS NOT NULL`). SQLite is told
//! so with `INDEXED BY` (the query then fails rather than silently scanning); PostgreSQL uses
//! `FOR UPDATE SKIP LOCKED`, so workers leasing at the same time take different jobs instead of
//! queueing behind each other. [`Store::scan_job_lease_plan`] shows both plans; a test checks
//! they name their index on both back ends.
//!
//! "Holding a lease" means `locked_by` is the worker AND `locked_until` is still ahead of the
//! worker's clock. Workers of several instances compare their own clocks with each other's
//! lease times, so instances need clocks within a small fraction of the lease time of each
//! other (NTP is plenty; the default lease is minutes).

use chrono::Duration;
use vigil_core::{ScanJobId, Timestamp};

use super::{scan_job, ScanJob, COLUMNS};
use crate::{
    db::{args, BackendKind},
    error::StoreError,
    rows,
    txn_retry::{run_transaction, StoreTxn, TxnMode},
    Store,
};

/// A job leased by one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedJob {
    /// The job, as it was when leased (`locked_by` and `locked_until` set).
    pub job: ScanJob,
    /// The worker holding the lease.
    pub worker: String,
    /// The due time this lease runs: the job's `next_run_at` when it was leased. The run is
    /// recorded under it, at most once.
    pub due_at: Timestamp,
    /// When the lease expires unless renewed.
    pub lease_until: Timestamp,
}

/// The database's plans for the two selections of [`Store::scan_job_lease`], one line per plan
/// step (`EXPLAIN` / `EXPLAIN QUERY PLAN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasePlan {
    /// Due, unleased jobs: should name `scan_jobs_due_idx`.
    pub due: Vec<String>,
    /// Expired leases: should name `scan_jobs_lease_idx`.
    pub expired: Vec<String>,
}

/// The due, unleased jobs, in due order, through the partial index. `$1` = now, `$2` = limit.
fn due_selection(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Postgres => {
            "SELECT id FROM scan_jobs WHERE locked_by IS NULL AND paused = FALSE \
             AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED"
        }
        BackendKind::Sqlite => {
            "SELECT id FROM scan_jobs INDEXED BY scan_jobs_due_idx \
             WHERE locked_by IS NULL AND paused = 0 AND next_run_at <= $1 \
             ORDER BY next_run_at LIMIT $2"
        }
    }
}

/// Leases whose holder's time ran out, through the lease index. `$1` = now, `$2` = limit.
fn expired_selection(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Postgres => {
            "SELECT id FROM scan_jobs WHERE locked_by IS NOT NULL AND locked_until <= $1 \
             AND paused = FALSE ORDER BY locked_until LIMIT $2 FOR UPDATE SKIP LOCKED"
        }
        BackendKind::Sqlite => {
            "SELECT id FROM scan_jobs INDEXED BY scan_jobs_lease_idx \
             WHERE locked_by IS NOT NULL AND locked_until <= $1 AND paused = 0 \
             ORDER BY locked_until LIMIT $2"
        }
    }
}

/// Releases `worker`'s lease and sets the next due time; false when the lease is not the
/// worker's (taken over, or the job was removed).
pub(crate) async fn release(
    txn: &mut StoreTxn,
    id: ScanJobId,
    worker: &str,
    next_run_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = txn
        .conn()
        .execute(
            "scan_job_release",
            "UPDATE scan_jobs SET locked_by = NULL, locked_until = NULL, next_run_at = $3, \
             updated_at = $4 WHERE id = $1 AND locked_by = $2",
            args![id.as_uuid(), worker, next_run_at, now],
        )
        .await?;
    Ok(changed > 0)
}

fn check_ttl(ttl: Duration) -> Result<(), StoreError> {
    if ttl <= Duration::zero() {
        return Err(StoreError::InvalidInput(vec![
            vigil_core::ValidationError::new(
                "lease_ttl_seconds",
                ttl.num_seconds(),
                "a lease time greater than zero",
            ),
        ]));
    }
    Ok(())
}

impl StoreTxn {
    /// Releases `worker`'s lease on a job inside the caller's transaction and sets when the job
    /// is next due. Returns false, changing nothing, when the lease is not the worker's any
    /// more (it expired and another worker took the job, or the job was removed).
    ///
    /// # Errors
    /// A database error.
    pub async fn scan_job_release_in_txn(
        &mut self,
        id: ScanJobId,
        worker: &str,
        next_run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        release(self, id, worker, next_run_at, now).await
    }
}

impl Store {
    /// Leases up to `max` jobs for `worker` until `now + ttl`: first jobs whose lease expired
    /// (their holder crashed), then due unleased jobs in due order. Each job is leased by at
    /// most one worker at a time (I9). Leasing does not move `next_run_at`.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a lease time of zero or less;
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn scan_job_lease(
        &self,
        worker: &str,
        now: Timestamp,
        ttl: Duration,
        max: u32,
    ) -> Result<Vec<LeasedJob>, StoreError> {
        check_ttl(ttl)?;
        let (worker, backend) = (worker.to_owned(), self.backend());
        let until = crate::to_stored_precision(now + ttl);
        run_transaction(&self.inner, "scan_job_lease", TxnMode::Write, move |txn| {
            let worker = worker.clone();
            Box::pin(async move {
                let mut conn = txn.conn();
                let mut leased = Vec::new();
                for selection in [expired_selection(backend), due_selection(backend)] {
                    let room = rows::limit(max) - i64::try_from(leased.len()).unwrap_or(0);
                    if room <= 0 {
                        break;
                    }
                    let sql = format!(
                        "UPDATE scan_jobs SET locked_by = $3, locked_until = $4, updated_at = $1 \
                         WHERE id IN ({selection}) RETURNING {COLUMNS}"
                    );
                    let found = conn
                        .fetch_all(
                            "scan_job_lease",
                            &sql,
                            args![now, room, worker.as_str(), until],
                        )
                        .await?;
                    for row in &found {
                        let job = scan_job(row)?;
                        leased.push(LeasedJob {
                            worker: worker.clone(),
                            due_at: job.next_run_at,
                            lease_until: until,
                            job,
                        });
                    }
                }
                leased.sort_by_key(|l| l.due_at);
                Ok(leased)
            })
        })
        .await
    }

    /// Extends `worker`'s lease on a job to `now + ttl`, while the worker still holds it.
    /// Returns false when the lease was lost (it expired, another worker took it over, or the
    /// job was removed): the worker must then stop the run without writing anything.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a lease time of zero or less; a database error.
    pub async fn scan_job_renew(
        &self,
        id: ScanJobId,
        worker: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        check_ttl(ttl)?;
        let worker = worker.to_owned();
        run_transaction(&self.inner, "scan_job_renew", TxnMode::Write, move |txn| {
            let worker = worker.clone();
            Box::pin(async move {
                let changed = txn
                    .conn()
                    .execute(
                        "scan_job_renew",
                        "UPDATE scan_jobs SET locked_until = $4, updated_at = $3 \
                         WHERE id = $1 AND locked_by = $2 AND locked_until > $3",
                        args![id.as_uuid(), worker.as_str(), now, now + ttl],
                    )
                    .await?;
                Ok(changed > 0)
            })
        })
        .await
    }

    /// Ends `worker`'s lease on a job without recording a run, and sets when it is next due
    /// (pass the lease's `due_at` to have it run again at once). Returns false, changing
    /// nothing, when the lease was no longer the worker's: another worker took the job over
    /// (whose run then counts), or the job was removed.
    ///
    /// # Errors
    /// A database error.
    pub async fn scan_job_release(
        &self,
        id: ScanJobId,
        worker: &str,
        next_run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let worker = worker.to_owned();
        run_transaction(
            &self.inner,
            "scan_job_release",
            TxnMode::Write,
            move |txn| {
                let worker = worker.clone();
                Box::pin(async move { release(txn, id, &worker, next_run_at, now).await })
            },
        )
        .await
    }

    /// The database's plans for the two selections of [`Store::scan_job_lease`] at `now`.
    ///
    /// # Errors
    /// A database error.
    pub async fn scan_job_lease_plan(&self, now: Timestamp) -> Result<LeasePlan, StoreError> {
        let backend = self.backend();
        let (prefix, column) = match backend {
            BackendKind::Postgres => ("EXPLAIN", "QUERY PLAN"),
            BackendKind::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        };
        let mut pooled = self.acquire().await?;
        let mut plans = Vec::new();
        for selection in [due_selection(backend), expired_selection(backend)] {
            let sql = format!("{prefix} {selection}");
            let found = pooled
                .conn()
                .fetch_all("scan_job_lease_plan", &sql, args![now, 10i64])
                .await
                .map_err(|e| self.classify(e))?;
            let lines = found
                .iter()
                .map(|row| row.text(column))
                .collect::<Result<Vec<_>, _>>()?;
            plans.push(lines);
        }
        let expired = plans.pop().unwrap_or_default();
        let due = plans.pop().unwrap_or_default();
        Ok(LeasePlan { due, expired })
    }
}
