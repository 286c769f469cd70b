//! Scan jobs (I9): the scheduled scans of the strategies and the LLM advisor, their leases and
//! their runs.
//!
//! - this module: the job itself (create, get, list, pause, resume, remove), each change a
//!   person makes recorded in `audit_log` in the same transaction (I11);
//! - [`lease`]: leasing due jobs through the partial indexes, renewing and releasing a lease;
//! - [`runs`]: the run's final transaction, which writes its proposals and its run record only
//!   while the worker still holds the lease, and releases it.
//!
//! A job is due when `next_run_at <= now`, it is not paused and nobody holds its lease (or the
//! holder's lease expired). Leasing never changes `next_run_at`; only a recorded run moves it on,
//! so a run that was abandoned (crash, lost lease, shutdown) is run again by the next lease with
//! the same due time, and `UNIQUE (job_id, due_at)` on the runs keeps it to one record.

pub(crate) mod lease;
pub(crate) mod runs;

use serde_json::json;
use vigil_core::{Market, ScanJobId, Timestamp, UserId, ValidationError};

pub use lease::{LeasePlan, LeasedJob};
pub use runs::{RunFinish, RunReport, ScanJobRun, ScanRunOutcome};

use crate::{
    audit,
    db::{args, Conn, Row},
    error::StoreError,
    model::{Attribution, AuditEntry},
    rows,
    txn_retry::{run_transaction, TxnMode},
    Store,
};

/// The most markets one job scans (every loop is bounded; a scan reads candles per market).
pub const SCAN_JOB_MARKETS_MAX: usize = 20;
/// The longest interval between runs: one week.
pub const SCAN_JOB_INTERVAL_SECONDS_MAX: u32 = 7 * 24 * 3_600;
/// The longest strategy name.
const STRATEGY_NAME_MAX: usize = 64;

/// A scheduled scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The worker holding the lease, if any.
    pub locked_by: Option<String>,
    /// When that lease expires.
    pub locked_until: Option<Timestamp>,
}

impl ScanJob {
    /// The job as JSON, for the audit log.
    fn audit_json(&self) -> serde_json::Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "strategy": self.strategy,
            "markets": self.markets.iter().map(Market::to_string).collect::<Vec<_>>(),
            "params": self.params,
            "interval_seconds": self.interval_seconds,
            "next_run_at": self.next_run_at,
            "paused": self.paused,
        })
    }
}

/// What is needed to create a scan job. The engine checks the strategy name and parameters
/// before it gets here (the store does not know the strategies); the store checks the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScanJob {
    /// Whose scan it is.
    pub user_id: UserId,
    /// The strategy's name (`dca`, `sma_cross`, `rsi_reversion`, `llm_advisor`).
    pub strategy: String,
    /// The markets it scans (1 to [`SCAN_JOB_MARKETS_MAX`], no repeats).
    pub markets: Vec<Market>,
    /// The strategy's parameters (a JSON object).
    pub params: serde_json::Value,
    /// How often it runs, in seconds (1 to [`SCAN_JOB_INTERVAL_SECONDS_MAX`]).
    pub interval_seconds: u32,
    /// When it first runs.
    pub first_run_at: Timestamp,
}

impl NewScanJob {
    /// Every problem with the job's shape, each naming its field.
    fn problems(&self) -> Vec<ValidationError> {
        let mut problems = Vec::new();
        if !(1..=SCAN_JOB_INTERVAL_SECONDS_MAX).contains(&self.interval_seconds) {
            problems.push(ValidationError::new(
                "interval_seconds",
                self.interval_seconds,
                format!("an interval of 1 to {SCAN_JOB_INTERVAL_SECONDS_MAX} seconds"),
            ));
        }
        if self.markets.is_empty() || self.markets.len() > SCAN_JOB_MARKETS_MAX {
            problems.push(ValidationError::new(
                "markets",
                format!("{} markets", self.markets.len()),
                format!("1 to {SCAN_JOB_MARKETS_MAX} markets"),
            ));
        }
        let mut unique = self.markets.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != self.markets.len() {
            problems.push(ValidationError::new(
                "markets",
                self.markets
                    .iter()
                    .map(Market::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                "each market at most once",
            ));
        }
        let name_ok = !self.strategy.is_empty()
            && self.strategy.len() <= STRATEGY_NAME_MAX
            && self
                .strategy
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            problems.push(ValidationError::new(
                "strategy",
                &self.strategy,
                "a strategy name of lower-case letters, digits and '_'",
            ));
        }
        if !self.params.is_object() {
            problems.push(ValidationError::new(
                "params",
                &self.params,
                "a JSON object of strategy parameters",
            ));
        }
        problems
    }
}

/// Which scan jobs to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanJobFilter {
    /// Only this user's.
    pub user: Option<UserId>,
    /// At most this many (capped at [`crate::LIST_LIMIT_MAX`]).
    pub limit: u32,
}

impl Default for ScanJobFilter {
    fn default() -> Self {
        Self {
            user: None,
            limit: 100,
        }
    }
}

pub(crate) const COLUMNS: &str = "id, user_id, strategy, markets, params, interval_seconds, \
     next_run_at, paused, locked_by, locked_until";

pub(crate) fn scan_job(row: &Row) -> Result<ScanJob, StoreError> {
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

pub(crate) async fn scan_job_read(
    conn: &mut Conn<'_>,
    id: ScanJobId,
) -> Result<ScanJob, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM scan_jobs WHERE id = $1");
    let row = conn
        .fetch_optional("scan_job_get", &sql, args![id.as_uuid()])
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "scan job",
            key: id.to_string(),
        })?;
    scan_job(&row)
}

fn target(id: ScanJobId) -> String {
    format!("scan_job:{id}")
}

impl Store {
    /// Creates a scan job, due at `first_run_at`, recorded in `audit_log` as `scan_job.create`
    /// by `by` in the same transaction.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] with every problem (interval, markets, strategy name,
    /// parameters not an object); [`StoreError::NotFound`] for an unknown user.
    pub async fn scan_job_create(
        &self,
        new: &NewScanJob,
        by: &Attribution,
    ) -> Result<ScanJob, StoreError> {
        let problems = new.problems();
        if !problems.is_empty() {
            return Err(StoreError::InvalidInput(problems));
        }
        let job = ScanJob {
            id: ScanJobId::new(),
            user_id: new.user_id,
            strategy: new.strategy.clone(),
            markets: new.markets.clone(),
            params: new.params.clone(),
            interval_seconds: new.interval_seconds,
            next_run_at: crate::to_stored_precision(new.first_run_at),
            paused: false,
            locked_by: None,
            locked_until: None,
        };
        let (row, by) = (job.clone(), by.clone());
        run_transaction(
            &self.inner,
            "scan_job_create",
            TxnMode::UserSection(job.user_id),
            move |txn| {
                let (j, by) = (row.clone(), by.clone());
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let markets: Vec<String> = j.markets.iter().map(Market::to_string).collect();
                    conn.execute(
                        "scan_job_create",
                        "INSERT INTO scan_jobs (id, user_id, strategy, markets, params, \
                         interval_seconds, next_run_at, paused, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                        args![
                            j.id.as_uuid(),
                            j.user_id.as_uuid(),
                            j.strategy.as_str(),
                            json!(markets),
                            j.params.clone(),
                            i64::from(j.interval_seconds),
                            j.next_run_at,
                            false,
                            by.at,
                        ],
                    )
                    .await?;
                    let entry = AuditEntry::new(
                        &by,
                        "scan_job.create",
                        target(j.id),
                        None,
                        Some(j.audit_json()),
                    );
                    audit::append(&mut conn, &entry).await
                })
            },
        )
        .await?;
        Ok(job)
    }

    /// The scan job with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn scan_job_get(&self, id: ScanJobId) -> Result<ScanJob, StoreError> {
        let mut pooled = self.acquire().await?;
        scan_job_read(&mut pooled.conn(), id)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Scan jobs matching the filter, soonest due first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn scan_job_list(&self, filter: &ScanJobFilter) -> Result<Vec<ScanJob>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM scan_jobs WHERE ($1 IS NULL OR user_id = $1) \
             ORDER BY next_run_at, id LIMIT $2"
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "scan_job_list",
                &sql,
                args![filter.user.map(|u| u.as_uuid()), rows::limit(filter.limit)],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(scan_job).collect()
    }

    /// Pauses a job: it is not leased again until resumed, and a run in progress writes no
    /// proposals (its final transaction sees the pause). Audited as `scan_job.pause` when it
    /// changed something. Returns the job as it now is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown job.
    pub async fn scan_job_pause(
        &self,
        id: ScanJobId,
        by: &Attribution,
    ) -> Result<ScanJob, StoreError> {
        self.scan_job_set_paused(id, true, by).await
    }

    /// Resumes a paused job; if it is overdue it runs at the next lease. Audited as
    /// `scan_job.resume` when it changed something. Returns the job as it now is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown job.
    pub async fn scan_job_resume(
        &self,
        id: ScanJobId,
        by: &Attribution,
    ) -> Result<ScanJob, StoreError> {
        self.scan_job_set_paused(id, false, by).await
    }

    async fn scan_job_set_paused(
        &self,
        id: ScanJobId,
        paused: bool,
        by: &Attribution,
    ) -> Result<ScanJob, StoreError> {
        let by = by.clone();
        run_transaction(
            &self.inner,
            "scan_job_set_paused",
            TxnMode::Write,
            move |txn| {
                let by = by.clone();
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let changed = conn
                        .execute(
                            "scan_job_set_paused",
                            "UPDATE scan_jobs SET paused = $2, updated_at = $3 \
                             WHERE id = $1 AND paused <> $2",
                            args![id.as_uuid(), paused, by.at],
                        )
                        .await?;
                    let job = scan_job_read(&mut conn, id).await?;
                    if changed > 0 {
                        let action = if paused {
                            "scan_job.pause"
                        } else {
                            "scan_job.resume"
                        };
                        let entry = AuditEntry::new(
                            &by,
                            action,
                            target(id),
                            Some(json!({ "paused": !paused })),
                            Some(json!({ "paused": paused })),
                        );
                        audit::append(&mut conn, &entry).await?;
                    }
                    Ok(job)
                })
            },
        )
        .await
    }

    /// Removes a job, audited as `scan_job.remove` with the job as it was. A run in progress
    /// loses its lease with the row, so it writes nothing. The job's run history stays.
    /// Returns the removed job.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown job.
    pub async fn scan_job_remove(
        &self,
        id: ScanJobId,
        by: &Attribution,
    ) -> Result<ScanJob, StoreError> {
        let by = by.clone();
        run_transaction(&self.inner, "scan_job_remove", TxnMode::Write, move |txn| {
            let by = by.clone();
            Box::pin(async move {
                let mut conn = txn.conn();
                let sql = format!("DELETE FROM scan_jobs WHERE id = $1 RETURNING {COLUMNS}");
                let row = conn
                    .fetch_optional("scan_job_remove", &sql, args![id.as_uuid()])
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        what: "scan job",
                        key: id.to_string(),
                    })?;
                let job = scan_job(&row)?;
                let entry = AuditEntry::new(
                    &by,
                    "scan_job.remove",
                    target(id),
                    Some(job.audit_json()),
                    None,
                );
                audit::append(&mut conn, &entry).await?;
                Ok(job)
            })
        })
        .await
    }
}
