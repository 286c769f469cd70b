//! A scan-job run's final transaction, and the run history.
//!
//! [`Store::scan_job_run_finish`] is the only way a run's results reach the database. In ONE
//! transaction it (1) locks the job row and checks the worker still holds the lease, (2) inserts
//! the run's proposals, approving those the user's policy auto-approves
//! ([`vigil_core::Policy::auto_approval`]), (3) records the run in `scan_job_runs`, and
//! (4) releases the lease with the next due time. A worker whose lease was lost (it expired,
//! another worker took the job over, or the job was removed) writes nothing at all: "a worker
//! that lost its lease stops before writing results" (I9).
//!
//! Why the row lock in (1) matters: on PostgreSQL, `SELECT … FOR UPDATE` keeps another worker's
//! lease query (which skips locked rows) and a pause or removal from changing the job until
//! this transaction ends, so the lease that was checked is still the lease at commit. On SQLite,
//! `BEGIN IMMEDIATE` already excludes every other writer for the whole transaction.

use std::collections::BTreeSet;

use uuid::Uuid;
use vigil_core::{
    proposal::ProposalAction, ManualApproval, Market, Proposal, ProposalId, ProposalStatus,
    ScanJobId, Timestamp, UserId,
};

use super::lease::{release, LeasedJob};
use crate::{
    audit,
    db::{args, BackendKind, Conn, Row},
    error::StoreError,
    model::{Attribution, AuditEntry},
    proposals, rows,
    txn_retry::{run_transaction, StoreTxn, TxnMode},
    users, Store,
};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanRunOutcome {
    /// The strategy proposed at least one trade.
    Proposed,
    /// The strategy ran and saw no reason to trade.
    NoSignal,
    /// The run failed (market data unavailable, bad parameters, budget spent, …); `detail`
    /// says why.
    Failed,
    /// The run did nothing on purpose (the job was paused while it ran).
    Skipped,
}

impl ScanRunOutcome {
    /// The database spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ScanRunOutcome::Proposed => "proposed",
            ScanRunOutcome::NoSignal => "no_signal",
            ScanRunOutcome::Failed => "failed",
            ScanRunOutcome::Skipped => "skipped",
        }
    }

    fn parse(text: &str) -> Result<ScanRunOutcome, StoreError> {
        match text {
            "proposed" => Ok(ScanRunOutcome::Proposed),
            "no_signal" => Ok(ScanRunOutcome::NoSignal),
            "failed" => Ok(ScanRunOutcome::Failed),
            "skipped" => Ok(ScanRunOutcome::Skipped),
            other => Err(StoreError::invalid(
                "scan_job_runs.outcome",
                format!("{other:?} is not a run outcome"),
            )),
        }
    }
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScanJobRun {
    /// Its id.
    pub id: Uuid,
    /// The job that ran.
    pub job_id: ScanJobId,
    /// The job's user.
    pub user_id: UserId,
    /// The worker that ran it.
    pub worker: String,
    /// The due time it ran for (unique per job).
    pub due_at: Timestamp,
    /// When the run started.
    pub started_at: Timestamp,
    /// When its final transaction ran.
    pub finished_at: Timestamp,
    /// How it ended.
    pub outcome: ScanRunOutcome,
    /// How many proposals it stored.
    pub proposals: u32,
    /// Why it failed or was skipped, or a summary.
    pub detail: Option<String>,
}

/// What a worker reports about its run to [`Store::scan_job_run_finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended (with proposals, [`ScanRunOutcome::Proposed`]).
    pub outcome: ScanRunOutcome,
    /// Why it failed, or a summary.
    pub detail: Option<String>,
    /// When the run started.
    pub started_at: Timestamp,
    /// The proposals it made (all `PENDING`, of the job's user).
    pub proposals: Vec<Proposal>,
    /// When the job is next due.
    pub next_run_at: Timestamp,
}

/// What the final transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFinish {
    /// The run, its proposals and the release were committed together.
    Recorded {
        /// The run record.
        run: ScanJobRun,
        /// The stored proposals, `APPROVED` where the policy auto-approved them.
        proposals: Vec<Proposal>,
        /// Why each proposal left `PENDING` waits for a person.
        waiting: Vec<(ProposalId, ManualApproval)>,
    },
    /// The worker no longer held the lease: nothing was written.
    LeaseLost,
}

impl RunFinish {
    /// The ids of the proposals the policy approved (to hand to the executor).
    #[must_use]
    pub fn approved(&self) -> Vec<ProposalId> {
        match self {
            RunFinish::Recorded { proposals, .. } => proposals
                .iter()
                .filter(|p| p.status == ProposalStatus::Approved)
                .map(|p| p.id)
                .collect(),
            RunFinish::LeaseLost => Vec::new(),
        }
    }
}

const RUN_COLUMNS: &str =
    "id, job_id, user_id, worker, due_at, started_at, finished_at, outcome, proposals, detail";

fn scan_job_run(row: &Row) -> Result<ScanJobRun, StoreError> {
    Ok(ScanJobRun {
        id: row.uuid("id")?,
        job_id: ScanJobId::from_uuid(row.uuid("job_id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        worker: row.text("worker")?,
        due_at: row.time("due_at")?,
        started_at: row.time("started_at")?,
        finished_at: row.time("finished_at")?,
        outcome: ScanRunOutcome::parse(&row.text("outcome")?)?,
        proposals: u32::try_from(row.i64("proposals")?)
            .map_err(|e| StoreError::invalid("scan_job_runs.proposals", e))?,
        detail: row.opt_text("detail")?,
    })
}

/// Locks the job row and answers whether `worker` holds its lease at `now`: `Some(paused)`
/// when it does, `None` when the lease was lost.
async fn hold(
    conn: &mut Conn<'_>,
    id: ScanJobId,
    worker: &str,
    now: Timestamp,
) -> Result<Option<bool>, StoreError> {
    let sql = match conn.kind() {
        BackendKind::Postgres => {
            "SELECT paused FROM scan_jobs WHERE id = $1 AND locked_by = $2 \
             AND locked_until > $3 FOR UPDATE"
        }
        BackendKind::Sqlite => {
            "SELECT paused FROM scan_jobs WHERE id = $1 AND locked_by = $2 AND locked_until > $3"
        }
    };
    let row = conn
        .fetch_optional("scan_job_hold", sql, args![id.as_uuid(), worker, now])
        .await?;
    row.map(|r| r.bool("paused")).transpose()
}

/// Inserts the run record only while `run.worker` holds the job's lease at `now`.
async fn record(conn: &mut Conn<'_>, run: &ScanJobRun, now: Timestamp) -> Result<bool, StoreError> {
    let inserted = conn
        .execute(
            "scan_job_run_record",
            "INSERT INTO scan_job_runs (id, job_id, user_id, worker, due_at, started_at, \
             finished_at, outcome, proposals, detail) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 WHERE EXISTS (SELECT 1 FROM scan_jobs \
             WHERE id = $2 AND locked_by = $4 AND locked_until > $11)",
            args![
                run.id,
                run.job_id.as_uuid(),
                run.user_id.as_uuid(),
                run.worker.as_str(),
                run.due_at,
                run.started_at,
                run.finished_at,
                run.outcome.as_str(),
                i64::from(run.proposals),
                run.detail.clone(),
                now,
            ],
        )
        .await?;
    Ok(inserted > 0)
}

fn size_text(proposal: &Proposal) -> String {
    match proposal.size {
        vigil_core::OrderSize::Quote(n) => format!("{n} {}", proposal.market.quote()),
        vigil_core::OrderSize::Base(q) => format!("{q} {}", proposal.market.base()),
    }
}

/// Stores the proposals, approving what the policy auto-approves (audited as
/// `proposal.approve` by `policy:auto_approve`). Returns them as stored, and why the others wait.
async fn store_proposals(
    conn: &mut Conn<'_>,
    user: UserId,
    proposals: &[Proposal],
    now: Timestamp,
) -> Result<(Vec<Proposal>, Vec<(ProposalId, ManualApproval)>), StoreError> {
    if proposals.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let policy = crate::policy::policy_read(conn, user).await?;
    let allowlist: BTreeSet<Market> = users::allowlist_read(conn, user).await?;
    let mut stored = Vec::with_capacity(proposals.len());
    let mut waiting = Vec::new();
    for proposal in proposals {
        if proposal.user_id != user || proposal.status != ProposalStatus::Pending {
            return Err(StoreError::InvalidInput(vec![
                vigil_core::ValidationError::new(
                    "proposals",
                    proposal.id,
                    format!("a PENDING proposal of the job's user {user}"),
                ),
            ]));
        }
        proposals::insert(conn, proposal).await?;
        match policy.auto_approval(proposal, allowlist.contains(&proposal.market)) {
            Ok(()) => {
                let by = Attribution::new("policy:auto_approve", now).because(format!(
                    "auto_approve is on and {} is within the per-order cap of {}",
                    size_text(proposal),
                    policy.order_notional_max
                ));
                let (_, approved) = proposals::proposal_cas(
                    conn,
                    proposal.id,
                    Some(user),
                    ProposalStatus::Pending,
                    ProposalAction::Approve,
                    now,
                )
                .await?;
                let entry = AuditEntry::new(
                    &by,
                    "proposal.approve",
                    format!("proposal:{}", proposal.id),
                    Some(serde_json::json!(ProposalStatus::Pending)),
                    Some(serde_json::json!(ProposalStatus::Approved)),
                );
                audit::append(conn, &entry).await?;
                stored.push(approved);
            }
            Err(reason) => {
                waiting.push((proposal.id, reason));
                stored.push(proposal.clone());
            }
        }
    }
    Ok((stored, waiting))
}

impl StoreTxn {
    /// Records a run inside the caller's transaction, only while `run.worker` still holds the
    /// job's lease at `now`. Returns false, writing nothing, when the lease was lost; the caller
    /// must then fail its transaction so nothing else of the run is written either.
    ///
    /// # Errors
    /// [`StoreError::ConstraintViolation`] (`scan_job_runs_job_due_key`) when this due time
    /// was already recorded; a database error.
    pub async fn scan_job_run_record_in_txn(
        &mut self,
        run: &ScanJobRun,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        record(&mut self.conn(), run, now).await
    }
}

impl Store {
    /// The run's final transaction (see the module docs): checks the lease, stores the
    /// proposals (auto-approving per policy), records the run and releases the lease with
    /// `report.next_run_at`, all or nothing. [`RunFinish::LeaseLost`] when `leased.worker` no
    /// longer held the lease at `now`: nothing was written. When the job was paused during the
    /// run, its proposals are dropped and the run is recorded as skipped.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a proposal that is not a `PENDING` proposal of the
    /// job's user; [`StoreError::ConstraintViolation`] when the due time was already recorded;
    /// a database error.
    pub async fn scan_job_run_finish(
        &self,
        leased: &LeasedJob,
        report: RunReport,
        now: Timestamp,
    ) -> Result<RunFinish, StoreError> {
        let (job, user, worker) = (leased.job.id, leased.job.user_id, leased.worker.clone());
        let due_at = leased.due_at;
        run_transaction(
            &self.inner,
            "scan_job_run_finish",
            TxnMode::Write,
            move |txn| {
                let (worker, report) = (worker.clone(), report.clone());
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let Some(paused) = hold(&mut conn, job, &worker, now).await? else {
                        return Ok(RunFinish::LeaseLost);
                    };
                    let (outcome, detail, proposals) = if paused {
                        let dropped = report.proposals.len();
                        let detail = format!(
                            "the job was paused during the run; {dropped} proposal(s) dropped"
                        );
                        (ScanRunOutcome::Skipped, Some(detail), Vec::new())
                    } else {
                        (report.outcome, report.detail, report.proposals)
                    };
                    let (stored, waiting) =
                        store_proposals(&mut conn, user, &proposals, now).await?;
                    let run = ScanJobRun {
                        id: Uuid::new_v4(),
                        job_id: job,
                        user_id: user,
                        worker: worker.clone(),
                        due_at,
                        started_at: crate::to_stored_precision(report.started_at.min(now)),
                        finished_at: crate::to_stored_precision(now),
                        outcome,
                        proposals: u32::try_from(stored.len()).unwrap_or(u32::MAX),
                        detail,
                    };
                    // The lease is held and the row locked, so both must succeed; if either
                    // does not, something broke the lease protocol: write nothing (fail closed).
                    if !record(&mut conn, &run, now).await? {
                        return Err(StoreError::invalid(
                            "scan_jobs.locked_by",
                            format!("the lease of job {job} changed under its row lock (I9)"),
                        ));
                    }
                    if !release(txn, job, &worker, report.next_run_at, now).await? {
                        return Err(StoreError::invalid(
                            "scan_jobs.locked_by",
                            format!("the lease of job {job} could not be released (I9)"),
                        ));
                    }
                    Ok(RunFinish::Recorded {
                        run,
                        proposals: stored,
                        waiting,
                    })
                })
            },
        )
        .await
    }

    /// A job's recorded runs, newest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn scan_job_runs_list(
        &self,
        job: ScanJobId,
        limit: u32,
    ) -> Result<Vec<ScanJobRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM scan_job_runs WHERE job_id = $1 \
             ORDER BY started_at DESC, id DESC LIMIT $2"
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "scan_job_runs_list",
                &sql,
                args![job.as_uuid(), rows::limit(limit)],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(scan_job_run).collect()
    }
}
