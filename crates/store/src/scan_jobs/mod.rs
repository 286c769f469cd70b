//! Scan jobs and their leases (I9): a due job is run by at most one scheduler instance at a
//! time, and a crashed instance's lease expires so another picks the job up.
//!
//! The lease query must not walk jobs that are already leased: it selects through the partial
//! index `scan_jobs_due_idx` (`WHERE locked_by IS NULL AND paused = false`), so its cost follows
//! the number of unleased jobs, not the table. SQLite is told so with `INDEXED BY` (the query
//! fails rather than silently scanning); PostgreSQL uses `FOR UPDATE SKIP LOCKED`, so instances
//! leasing at the same time take different jobs instead of queueing behind each other. Expired
//! leases are found through the second partial index, `scan_jobs_lease_idx`.
//! [`Store::scan_job_lease_plan`] shows the plan; a test checks it names the index on both back
//! ends.

use chrono::Duration;
use vigil_core::{Market, ScanJobId, Timestamp, UserId};

use crate::{
    db::{args, BackendKind, Row},
    error::StoreError,
    rows,
    txn_retry::{run_transaction, TxnMode},
    Store,
};

/// A scheduled scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanJob {
    /// Its id.
    pub id: ScanJobId,
    /// Whose scan it is.
    pub user_id: UserId,
    /// The strategy's name.
    pub strategy: String,
    /// The markets it scans.
    pub markets: Vec<Market>,
    /// The strategy's parameters.
    pub params: serde_json::Value,
    /// How often it runs, in seconds (at least 1).
    pub interval_seconds: u32,
    /// When it is next due.
    pub next_run_at: Timestamp,
    /// Paused jobs are never leased.
    pub paused: bool,
    /// The instance holding the lease, if any.
    pub locked_by: Option<String>,
    /// When that lease expires.
    pub locked_until: Option<Timestamp>,
}

const COLUMNS: &str = "id, user_id, strategy, markets, params, interval_seconds, next_run_at, \
     paused, locked_by, locked_until";

fn scan_job(row: &Row) -> Result<ScanJob, StoreError> {
    let markets: Vec<String> = serde_json::from_value(row.json("markets")?)
        .map_err(|e| StoreError::invalid("scan_jobs.markets", e))?;
    let markets = markets
        .iter()
        .map(|m| Market::parse(m).map_err(|e| StoreError::invalid("scan_jobs.markets", e)))
        .collect::<Result<_, _>>()?;
    Ok(ScanJob {
        id: ScanJobId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        strategy: row.text("strategy")?,
        markets,
        params: row.json("params")?,
        interval_seconds: u32::try_from(row.i64("interval_seconds")?)
            .map_err(|e| StoreError::invalid("scan_jobs.interval_seconds", e))?,
        next_run_at: row.time("next_run_at")?,
        paused: row.bool("paused")?,
        locked_by: row.opt_text("locked_by")?,
        locked_until: row.opt_time("locked_until")?,
    })
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

impl Store {
    /// Creates a scan job, due at `first_run_at`.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a zero interval or no market; a foreign-key violation
    /// for an unknown user.
    pub async fn scan_job_create(
        &self,
        user: UserId,
        strategy: &str,
        markets: &[Market],
        params: serde_json::Value,
        interval_seconds: u32,
        first_run_at: Timestamp,
    ) -> Result<ScanJob, StoreError> {
        let mut problems = Vec::new();
        if interval_seconds == 0 {
            problems.push(vigil_core::ValidationError::new(
                "interval_seconds",
                0,
                "an interval of at least 1 second",
            ));
        }
        if markets.is_empty() {
            problems.push(vigil_core::ValidationError::new(
                "markets",
                "(none)",
                "at least one market",
            ));
        }
        if !problems.is_empty() {
            return Err(StoreError::InvalidInput(problems));
        }
        let job = ScanJob {
            id: ScanJobId::new(),
            user_id: user,
            strategy: strategy.to_owned(),
            markets: markets.to_vec(),
            params,
            interval_seconds,
            next_run_at: crate::to_stored_precision(first_run_at),
            paused: false,
            locked_by: None,
            locked_until: None,
        };
        let row = job.clone();
        run_transaction(&self.inner, "scan_job_create", TxnMode::Write, move |txn| {
            let j = row.clone();
            Box::pin(async move {
                let markets: Vec<String> = j.markets.iter().map(Market::to_string).collect();
                txn.conn()
                    .execute(
                        "scan_job_create",
                        "INSERT INTO scan_jobs (id, user_id, strategy, markets, params, \
                         interval_seconds, next_run_at, paused, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $7)",
                        args![
                            j.id.as_uuid(),
                            j.user_id.as_uuid(),
                            j.strategy,
                            serde_json::json!(markets),
                            j.params,
                            i64::from(j.interval_seconds),
                            j.next_run_at,
                            false,
                        ],
                    )
                    .await?;
                Ok(())
            })
        })
        .await?;
        Ok(job)
    }

    /// Leases up to `limit` jobs for `instance` until `now + ttl`: first jobs whose lease
    /// expired (their holder crashed), then due unleased jobs in due order. Each job is leased
    /// by at most one instance at a time (I9).
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn scan_job_lease(
        &self,
        instance: &str,
        now: Timestamp,
        ttl: Duration,
        limit: u32,
    ) -> Result<Vec<ScanJob>, StoreError> {
        let (instance, backend) = (instance.to_owned(), self.backend());
        run_transaction(&self.inner, "scan_job_lease", TxnMode::Write, move |txn| {
            let instance = instance.clone();
            Box::pin(async move {
                let mut conn = txn.conn();
                let mut leased = Vec::new();
                for selection in [expired_selection(backend), due_selection(backend)] {
                    let room = rows::limit(limit) - i64::try_from(leased.len()).unwrap_or(0);
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
                            args![now, room, instance.as_str(), now + ttl],
                        )
                        .await?;
                    for row in &found {
                        leased.push(scan_job(row)?);
                    }
                }
                leased.sort_by_key(|job| job.next_run_at);
                Ok(leased)
            })
        })
        .await
    }

    /// Ends `instance`'s lease on a job after a run and sets when it is next due. Returns
    /// false (changing nothing) when the lease was no longer this instance's: it expired and
    /// another instance took the job, whose run then counts.
    ///
    /// # Errors
    /// A database error.
    pub async fn scan_job_complete(
        &self,
        id: ScanJobId,
        instance: &str,
        next_run_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let instance = instance.to_owned();
        run_transaction(
            &self.inner,
            "scan_job_complete",
            TxnMode::Write,
            move |txn| {
                let instance = instance.clone();
                Box::pin(async move {
                    let changed = txn
                        .conn()
                        .execute(
                            "scan_job_complete",
                            "UPDATE scan_jobs SET locked_by = NULL, locked_until = NULL, \
                         next_run_at = $3, updated_at = $4 WHERE id = $1 AND locked_by = $2",
                            args![id.as_uuid(), instance.as_str(), next_run_at, now],
                        )
                        .await?;
                    Ok(changed > 0)
                })
            },
        )
        .await
    }

    /// The database's plan for the due-job selection of [`Store::scan_job_lease`], one line
    /// per plan step (`EXPLAIN` / `EXPLAIN QUERY PLAN`): it should name `scan_jobs_due_idx`.
    ///
    /// # Errors
    /// A database error.
    pub async fn scan_job_lease_plan(&self, now: Timestamp) -> Result<Vec<String>, StoreError> {
        let backend = self.backend();
        let (sql, column) = match backend {
            BackendKind::Postgres => (format!("EXPLAIN {}", due_selection(backend)), "QUERY PLAN"),
            BackendKind::Sqlite => (
                format!("EXPLAIN QUERY PLAN {}", due_selection(backend)),
                "detail",
            ),
        };
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all("scan_job_lease_plan", &sql, args![now, 10i64])
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(|row| row.text(column)).collect()
    }
}
