//! The scheduler: workers that lease due scan jobs, run their strategy, and write the
//! proposals and the run record in one transaction guarded by the lease (I9).
//!
//! How a worker runs a job (`run_leased`):
//! 1. It leases ONE due job (`Store::scan_job_lease`; expired leases of crashed workers first).
//! 2. It runs the strategy (`job_run.rs`: market data with the read-only client, the pure
//!    strategy or the LLM advisor), bounded by `run_timeout`, while renewing the lease every
//!    third of `lease_ttl`. A renewal that answers "lost" stops the run at once: another worker
//!    owns the job now, and this one writes nothing.
//! 3. `Store::scan_job_run_finish` writes the proposals (auto-approved where the user's policy
//!    allows), the run record and the release with the next due time in ONE transaction, only
//!    if the lease is still held. So a due run is recorded at most once, and a crashed worker's
//!    run is simply done again by whoever leases the job after its lease expires.
//! 4. The ids of auto-approved proposals go to the approved sink (a bounded channel), which
//!    wakes the executor loop (`vigil_engine::ApprovedProposals`). The wake-up only makes it
//!    sooner: that loop reads approved proposals from the database at start and at every sweep,
//!    so a proposal whose wake-up is lost (the sink full for longer than `hand_off_timeout`, a
//!    warning says so; a crash right after the commit) is still executed until it expires.
//!
//! Shutdown is two-phase (STYLE rule 7): when the token is cancelled, workers stop leasing;
//! a worker in the middle of a run lets it finish for up to `shutdown_grace`, then abandons it:
//! nothing of an abandoned run is committed, and its lease simply expires, after which any
//! instance runs the job again. [`Scheduler::run`] returns once every worker has stopped.
//!
//! Everything is bounded: one job per lease, a run timeout, a renewal period, a poll interval,
//! a worker count limit, a bounded hand-off.

mod job_run;

use std::{sync::Arc, time::Duration};

use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::ReadOnlyClient;
use vigil_core::{Clock, ProposalId, ValidationError};
use vigil_store::{LeasedJob, RunFinish, ScanRunOutcome, Store, StoreError};

pub use job_run::next_due;

use vigil_core::{Alert, AlertKind, AlertSeverity, Alerts, TracingAlerts};

use crate::advisor::Advisor;

/// How the scheduler works. Every bound is explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// This instance's id, unique among every instance sharing the database (workers are
    /// `<instance_id>/w<n>`). Two instances with one id would share leases and break I9.
    pub instance_id: String,
    /// How long a lease lasts without renewal; a crashed worker's jobs wait this long.
    pub lease_ttl: Duration,
    /// How long a worker waits before asking again when no job was due.
    pub poll_interval: Duration,
    /// The longest one run may take (market data, strategy, LLM call, final transaction).
    pub run_timeout: Duration,
    /// After a run failed for a reason that may pass (market data, LLM endpoint), it is due
    /// again after at most this long instead of a whole interval.
    pub failure_retry: Duration,
    /// On shutdown, how long a run in progress may still take before it is abandoned.
    pub shutdown_grace: Duration,
    /// How long handing an approved proposal to the executor may wait on a full sink.
    pub hand_off_timeout: Duration,
    /// The most workers [`Scheduler::run`] starts.
    pub workers_max: usize,
}

impl SchedulerConfig {
    /// The careful defaults for `instance_id`: 5-minute leases, a 5-second poll, 2-minute runs,
    /// a 5-minute retry after a transient failure, 10 seconds of shutdown grace, a 5-second
    /// hand-off, at most 32 workers.
    #[must_use]
    pub fn new(instance_id: impl Into<String>) -> SchedulerConfig {
        SchedulerConfig {
            instance_id: instance_id.into(),
            lease_ttl: Duration::from_secs(300),
            poll_interval: Duration::from_secs(5),
            run_timeout: Duration::from_secs(120),
            failure_retry: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(10),
            hand_off_timeout: Duration::from_secs(5),
            workers_max: 32,
        }
    }

    /// A random instance id (`vigil-<uuid>`), for a process that has none configured.
    #[must_use]
    pub fn random_instance_id() -> String {
        format!("vigil-{}", uuid::Uuid::new_v4())
    }

    /// Checks the settings and returns every problem, each naming its field.
    ///
    /// # Errors
    /// All problems found.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        let id_ok = !self.instance_id.is_empty()
            && self.instance_id.len() <= 100
            && self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !id_ok {
            problems.push(ValidationError::new(
                "scheduler.instance_id",
                &self.instance_id,
                "1 to 100 letters, digits, '-', '_', '.' or ':', unique per instance",
            ));
        }
        let ms = |d: Duration| d.as_millis();
        let mut check = |field: &str, value: Duration, min: Duration, max: Duration| {
            if value < min || value > max {
                problems.push(ValidationError::new(
                    format!("scheduler.{field}"),
                    format!("{} ms", ms(value)),
                    format!("{} ms to {} ms", ms(min), ms(max)),
                ));
            }
        };
        let (milli, hour) = (Duration::from_millis(1), Duration::from_secs(3_600));
        check(
            "lease_ttl",
            self.lease_ttl,
            Duration::from_millis(300),
            hour,
        );
        check("poll_interval", self.poll_interval, milli * 10, hour);
        check("run_timeout", self.run_timeout, milli * 10, hour);
        check(
            "failure_retry",
            self.failure_retry,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        );
        check(
            "shutdown_grace",
            self.shutdown_grace,
            Duration::ZERO,
            Duration::from_secs(600),
        );
        check(
            "hand_off_timeout",
            self.hand_off_timeout,
            Duration::ZERO,
            Duration::from_secs(600),
        );
        if !(1..=1_024).contains(&self.workers_max) {
            problems.push(ValidationError::new(
                "scheduler.workers_max",
                self.workers_max,
                "1 to 1024",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The scheduler could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The configuration is invalid.
    #[error("invalid scheduler settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ValidationError>),
    /// A worker task panicked (a bug); the others were stopped.
    #[error("a scheduler worker stopped unexpectedly: {0}")]
    WorkerFailed(String),
}

/// How one leased job ended, as the worker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRunEnd {
    /// The final transaction committed.
    Recorded {
        /// How the run ended.
        outcome: ScanRunOutcome,
        /// The proposals stored.
        proposals: Vec<ProposalId>,
        /// Those the policy approved.
        approved: Vec<ProposalId>,
    },
    /// The lease was lost before the final transaction: nothing was written.
    LeaseLost,
    /// Shutdown grace ran out: nothing was written; the lease expires.
    Abandoned,
    /// The final transaction failed (database error): nothing was written; the lease expires.
    NotRecorded(String),
}

/// One leased job's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunSummary {
    /// The job.
    pub job: LeasedJob,
    /// How it ended.
    pub end: JobRunEnd,
}

/// The scheduler. Cheap to clone (workers are clones).
#[derive(Debug, Clone)]
pub struct Scheduler {
    store: Store,
    market_data: ReadOnlyClient,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    advisor: Option<Arc<Advisor>>,
    approved: Option<mpsc::Sender<ProposalId>>,
    alerts: Arc<dyn Alerts>,
}

impl Scheduler {
    /// A scheduler reading market data with `read_only_client` (I10).
    ///
    /// # Errors
    /// [`SchedulerError::Config`] with every problem of `config`.
    pub fn new(
        store: Store,
        read_only_client: ReadOnlyClient,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
    ) -> Result<Scheduler, SchedulerError> {
        config.validate().map_err(SchedulerError::Config)?;
        Ok(Scheduler {
            store,
            market_data: read_only_client,
            clock,
            config,
            advisor: None,
            approved: None,
            alerts: Arc::new(TracingAlerts),
        })
    }

    /// Runs `llm_advisor` jobs with `advisor` (without one they fail with a clear detail).
    #[must_use]
    pub fn with_advisor(mut self, advisor: Arc<Advisor>) -> Scheduler {
        self.advisor = Some(advisor);
        self
    }

    /// The same scheduler raising alerts (a lost lease) to `alerts`.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> Scheduler {
        self.alerts = alerts;
        self
    }

    /// Sends the id of every auto-approved proposal to `sink` (the executor's queue).
    #[must_use]
    pub fn with_approved_sink(mut self, sink: mpsc::Sender<ProposalId>) -> Scheduler {
        self.approved = Some(sink);
        self
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Starts `worker_count` workers and returns when all have stopped after `shutdown` was
    /// cancelled (see the module docs for the two phases).
    ///
    /// # Errors
    /// [`SchedulerError::Config`] for a worker count of zero or above `workers_max`;
    /// [`SchedulerError::WorkerFailed`] when a worker panicked.
    pub async fn run(
        &self,
        worker_count: usize,
        shutdown: CancellationToken,
    ) -> Result<(), SchedulerError> {
        if worker_count == 0 || worker_count > self.config.workers_max {
            return Err(SchedulerError::Config(vec![ValidationError::new(
                "workers",
                worker_count,
                format!("1 to {} workers", self.config.workers_max),
            )]));
        }
        tracing::info!(instance = %self.config.instance_id, workers = worker_count, "scheduler started");
        let mut workers = JoinSet::new();
        for n in 0..worker_count {
            let (scheduler, shutdown) = (self.clone(), shutdown.clone());
            let worker = format!("{}/w{n}", self.config.instance_id);
            workers.spawn(async move { scheduler.work(worker, shutdown).await });
        }
        let mut failure = None;
        while let Some(joined) = workers.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a scheduler worker failed; stopping the others");
                shutdown.cancel();
                failure.get_or_insert_with(|| e.to_string());
            }
        }
        tracing::info!(instance = %self.config.instance_id, "scheduler stopped");
        match failure {
            Some(e) => Err(SchedulerError::WorkerFailed(e)),
            None => Ok(()),
        }
    }

    /// One worker: lease, run, repeat; wait `poll_interval` when nothing is due.
    async fn work(&self, worker: String, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            // Not raced against the shutdown token: a run in progress gets its grace inside
            // `run_leased`; leasing itself is one short transaction.
            let ran = self.run_due_once(&worker, &shutdown).await;
            match ran {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%worker, error = %e, "leasing scan jobs failed; trying again after the poll interval");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Leases at most one due job for `worker` and runs it (steps 1 to 4 of the module docs).
    /// `None` when nothing was due. Used by the workers, and by tests and one-shot commands.
    ///
    /// # Errors
    /// A store error while leasing (the run's own failures end up in its summary).
    pub async fn run_due_once(
        &self,
        worker: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<JobRunSummary>, StoreError> {
        let ttl = chrono::Duration::from_std(self.config.lease_ttl)
            .unwrap_or(chrono::Duration::minutes(5));
        let mut leased = self
            .store
            .scan_job_lease(worker, self.clock.now(), ttl, 1)
            .await?;
        let Some(job) = leased.pop() else {
            return Ok(None);
        };
        let end = self.run_leased(&job, shutdown).await;
        match &end {
            JobRunEnd::Recorded {
                outcome,
                proposals,
                approved,
            } => {
                tracing::info!(job_id = %job.job.id, strategy = %job.job.strategy, %worker, outcome = outcome.as_str(), proposals = proposals.len(), approved = approved.len(), "scan job ran");
                self.hand_off(approved).await;
            }
            JobRunEnd::LeaseLost => {
                tracing::warn!(job_id = %job.job.id, %worker, "lost the lease during the run; nothing was written (another worker runs the job)");
                self.alerts.raise(&Alert {
                    kind: AlertKind::LeaseLost,
                    severity: AlertSeverity::Warning,
                    execution_id: None,
                    user_id: Some(job.job.user_id),
                    message: format!(
                        "scheduler worker {worker} lost its lease on scan job {} during a run; it wrote nothing and another worker runs the job (a run longer than the lease, or a stalled instance)",
                        job.job.id
                    ),
                });
            }
            JobRunEnd::Abandoned => {
                tracing::warn!(job_id = %job.job.id, %worker, "run abandoned at shutdown; nothing was written and the lease will expire");
            }
            JobRunEnd::NotRecorded(e) => {
                tracing::error!(job_id = %job.job.id, %worker, error = %e, "the run's final transaction failed; nothing was written and the lease will expire");
            }
        }
        Ok(Some(JobRunSummary { job, end }))
    }

    /// Runs a leased job while renewing its lease, within the run timeout and the shutdown
    /// grace.
    async fn run_leased(&self, leased: &LeasedJob, shutdown: &CancellationToken) -> JobRunEnd {
        let ttl = chrono::Duration::from_std(self.config.lease_ttl)
            .unwrap_or(chrono::Duration::minutes(5));
        let run = self.execute(leased);
        tokio::pin!(run);
        let timeout = tokio::time::sleep(self.config.run_timeout);
        tokio::pin!(timeout);
        let mut renewal = tokio::time::interval(self.config.lease_ttl / 3);
        renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renewal.tick().await; // the first tick is immediate; the lease is fresh
                              // Armed only once shutdown starts (the `if stopping` guard keeps it unpolled until then).
        let grace = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(grace);
        let mut stopping = false;
        loop {
            tokio::select! {
                end = &mut run => return end,
                _ = renewal.tick() => {
                    match self.store.scan_job_renew(leased.job.id, &leased.worker, self.clock.now(), ttl).await {
                        Ok(true) => {}
                        // Another worker owns the job now: stop before writing anything.
                        Ok(false) => return JobRunEnd::LeaseLost,
                        // The final transaction checks the lease anyway; keep going.
                        Err(e) => tracing::warn!(job_id = %leased.job.id, error = %e, "renewing the lease failed"),
                    }
                }
                () = &mut timeout => {
                    return self.record_timeout(leased).await;
                }
                () = shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    grace.as_mut().reset(tokio::time::Instant::now() + self.config.shutdown_grace);
                }
                () = &mut grace, if stopping => return JobRunEnd::Abandoned,
            }
        }
    }

    /// Records a run that exceeded `run_timeout` as failed (its partial work was dropped), so
    /// it is tried again after `failure_retry`.
    async fn record_timeout(&self, leased: &LeasedJob) -> JobRunEnd {
        let now = self.clock.now();
        let detail = format!(
            "the run took longer than {} s and was stopped; nothing it found was kept",
            self.config.run_timeout.as_secs()
        );
        let report = job_run::failed_report(&self.config, leased, now, detail, true);
        self.finish(leased, report).await
    }

    async fn finish(&self, leased: &LeasedJob, report: vigil_store::RunReport) -> JobRunEnd {
        match self
            .store
            .scan_job_run_finish(leased, report, self.clock.now())
            .await
        {
            Ok(finish @ RunFinish::Recorded { .. }) => {
                let approved = finish.approved();
                let RunFinish::Recorded { run, proposals, .. } = finish else {
                    return JobRunEnd::LeaseLost;
                };
                JobRunEnd::Recorded {
                    outcome: run.outcome,
                    proposals: proposals.iter().map(|p| p.id).collect(),
                    approved,
                }
            }
            Ok(RunFinish::LeaseLost) => JobRunEnd::LeaseLost,
            Err(e) => JobRunEnd::NotRecorded(e.to_string()),
        }
    }

    /// Hands approved proposal ids to the sink, each within `hand_off_timeout`.
    async fn hand_off(&self, approved: &[ProposalId]) {
        #[cfg(feature = "failpoints")]
        if !approved.is_empty() {
            failpoint_after_approve();
        }
        let Some(sink) = &self.approved else {
            return;
        };
        for id in approved {
            if let Err(e) = sink.send_timeout(*id, self.config.hand_off_timeout).await {
                tracing::warn!(proposal_id = %id, error = %e, "the executor could not be woken for an approved proposal; its next sweep of the database executes it");
            }
        }
    }
}

/// With the `failpoints` feature and `VIGIL_FAILPOINT=after_approve:pause`: the approvals are
/// committed and nothing was handed to the executor yet; the process says so on stderr and stops
/// itself (SIGSTOP, every thread at once), for the test to kill it from outside at exactly this
/// point. Any other value is the executor's (`vigil_engine::hooks`) and ignored here.
#[cfg(feature = "failpoints")]
fn failpoint_after_approve() {
    if std::env::var("VIGIL_FAILPOINT").as_deref() != Ok("after_approve:pause") {
        return;
    }
    eprintln!("VIGIL_FAILPOINT=after_approve:pause: paused here on purpose; waiting to be killed");
    let pid = std::process::id().to_string();
    let _stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    // Should the stop signal fail, block this thread so the hand-off never happens.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3_600));
    }
}
