//! The reconciler: no execution stays unresolved (I3), and placed orders are followed to their
//! end.
//!
//! One pass ([`Reconciler::reconcile_once`]) does three things, in this order:
//! 1. `CLAIMED` executions older than `abandon_claimed_after` were left by a process that
//!    stopped before `SUBMITTING`; no order can exist for them (I2), so they end as `REJECTED`
//!    (abandoned).
//! 2. `SUBMITTING` executions are looked up by `clientOrderId` (`resolve.rs`): found → `SUBMITTED`;
//!    not found → left alone while the signed request's access window (plus a margin) may still
//!    let it arrive, and only after that, when order history, fills and a second lookup all
//!    agree it is absent → `FAILED`, not placed. Until then the execution is flagged
//!    `outcome_unknown`, which keeps the market blocked for its user.
//! 3. `SUBMITTED` executions are followed (`follow.rs`) to `FILLED` or `CANCELED`, recording
//!    fills with their fees in `trade_history` idempotently. At most `batch_limit` per pass, in
//!    claim order, each pass going on from where the previous one stopped (back to the oldest
//!    after the newest), so orders that stay open for long cannot starve the ones behind them.
//!
//! Nothing here ever places, cancels or resends an order: the reconciler holds only the
//! read-only client. Whatever it cannot resolve is raised as an alert and retried next pass.

mod follow;
mod resolve;

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::ReadOnlyClient;
use vigil_core::{Clock, Execution, ExecutionEvent, ExecutionId, ExecutionState, Timestamp};
use vigil_store::{Store, StoreError};

use crate::{
    alerts::{Alert, AlertKind, AlertSeverity, Alerts, TracingAlerts},
    config::ReconcilerConfig,
};

/// One problem a pass could not get past; it is tried again next pass.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileProblem {
    /// The execution, when the problem is about one.
    pub execution_id: Option<ExecutionId>,
    /// What went wrong.
    pub detail: String,
}

/// What one pass did, by execution.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// `SUBMITTING` executions whose order was found: now `SUBMITTED`.
    pub found: Vec<ExecutionId>,
    /// `SUBMITTING` executions declared not placed after their window: now `FAILED`.
    pub not_placed: Vec<ExecutionId>,
    /// `SUBMITTING` executions left alone: not found yet, and their window may still let the
    /// order arrive.
    pub waiting: Vec<ExecutionId>,
    /// `CLAIMED` executions abandoned by a stopped process: now `REJECTED`.
    pub abandoned: Vec<ExecutionId>,
    /// `SUBMITTED` executions whose order filled completely: now `FILLED`.
    pub filled: Vec<ExecutionId>,
    /// `SUBMITTED` executions whose order ended otherwise: now `CANCELED`.
    pub canceled: Vec<ExecutionId>,
    /// `SUBMITTED` executions whose order is still open.
    pub open: Vec<ExecutionId>,
    /// Fills newly recorded in `trade_history` this pass.
    pub fills_recorded: u32,
    /// What could not be done this pass.
    pub problems: Vec<ReconcileProblem>,
}

impl ReconcileReport {
    /// Executions whose outcome is still unknown after this pass (waiting or with a problem).
    #[must_use]
    pub fn unresolved(&self) -> usize {
        self.waiting.len()
            + self
                .problems
                .iter()
                .filter(|p| p.execution_id.is_some())
                .count()
    }

    /// Each execution this pass brought to a final state, with that state: the `FILLED`, then
    /// the `CANCELED`, the `FAILED` (declared not placed) and the `REJECTED` (abandoned
    /// claims).
    pub fn finished(&self) -> impl Iterator<Item = (ExecutionState, ExecutionId)> + '_ {
        [
            (ExecutionState::Filled, &self.filled),
            (ExecutionState::Canceled, &self.canceled),
            (ExecutionState::Failed, &self.not_placed),
            (ExecutionState::Rejected, &self.abandoned),
        ]
        .into_iter()
        .flat_map(|(state, ids)| ids.iter().map(move |id| (state, *id)))
    }

    /// Whether the pass left nothing unknown and met no problem.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.waiting.is_empty() && self.problems.is_empty()
    }
}

/// Why a [`Reconciler`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reconciler settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct ReconcilerBuildError(pub Vec<vigil_core::ValidationError>);

/// Resolves unknown outcomes, ends abandoned claims and follows placed orders.
#[derive(Debug, Clone)]
pub struct Reconciler {
    store: Store,
    read_only: ReadOnlyClient,
    clock: Arc<dyn Clock>,
    config: ReconcilerConfig,
    alerts: Arc<dyn Alerts>,
    /// The last `SUBMITTED` execution the previous pass followed, when its page was full (the
    /// next pass goes on after it); shared by clones.
    follow_cursor: Arc<std::sync::Mutex<Option<Execution>>>,
}

impl Reconciler {
    /// A reconciler over `store`, asking the exchange with the read-only client only.
    ///
    /// # Errors
    /// [`ReconcilerBuildError`] listing every invalid setting.
    pub fn new(
        store: Store,
        read_only: ReadOnlyClient,
        clock: Arc<dyn Clock>,
        config: ReconcilerConfig,
    ) -> Result<Reconciler, ReconcilerBuildError> {
        config.validate().map_err(ReconcilerBuildError)?;
        Ok(Reconciler {
            store,
            read_only,
            clock,
            config,
            alerts: Arc::new(TracingAlerts),
            follow_cursor: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// The same reconciler raising alerts to `alerts`.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> Reconciler {
        self.alerts = alerts;
        self
    }

    /// One full pass. Never fails as a whole: what it cannot do is in the report's `problems`
    /// (and raised as alerts) and is tried again next pass.
    pub async fn reconcile_once(&self) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        self.abandon_claimed(&mut report).await;
        self.resolve_submitting(&mut report).await;
        self.follow_submitted(&mut report).await;
        tracing::info!(
            found = report.found.len(),
            not_placed = report.not_placed.len(),
            waiting = report.waiting.len(),
            abandoned = report.abandoned.len(),
            filled = report.filled.len(),
            canceled = report.canceled.len(),
            open = report.open.len(),
            fills_recorded = report.fills_recorded,
            problems = report.problems.len(),
            "reconcile pass done"
        );
        report
    }

    /// Runs a pass every `interval` until `shutdown` is cancelled: the reconciler loop of
    /// `vigil run`, and the one the tests run. `passed` is called with each pass's report (for
    /// the caller's metrics or output); a pass that left something unresolved is logged here.
    ///
    /// The interval is measured from the end of one pass to the start of the next, so a slow
    /// pass (a slow exchange) is never followed by catch-up passes in a burst that would spend
    /// the read-only key's rate limit. Shutdown is two-phase: a pass that has started finishes
    /// (every write it makes is a single compare-and-set, so stopping between executions is
    /// always safe), then the loop ends.
    pub async fn run<F>(&self, interval: Duration, shutdown: CancellationToken, mut passed: F)
    where
        F: FnMut(&ReconcileReport),
    {
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let report = self.reconcile_once().await;
            if !report.is_clean() {
                tracing::warn!(
                    unresolved = report.unresolved(),
                    problems = report.problems.len(),
                    "reconcile pass left executions unresolved; trying again next pass"
                );
            }
            passed(&report);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        tracing::info!("reconciler stopped");
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The exchange's clock as the read-only client estimates it (local clock plus the offset
    /// measured by `sync_time`): what access windows are measured on.
    fn exchange_now(&self) -> Timestamp {
        self.now() + TimeDelta::milliseconds(self.read_only.clock_offset_ms())
    }

    /// Notes what could not be done (and raises an alert when it concerns an execution).
    fn problem(&self, report: &mut ReconcileReport, about: Option<&Execution>, detail: String) {
        if let Some(execution) = about {
            self.alerts.raise(&Alert::execution(
                AlertKind::Unresolved,
                AlertSeverity::Warning,
                execution.id,
                execution.user_id,
                format!(
                    "could not reconcile execution {} this pass: {detail}",
                    execution.id
                ),
            ));
        } else {
            tracing::warn!("reconcile problem: {detail}");
        }
        report.problems.push(ReconcileProblem {
            execution_id: about.map(|e| e.id),
            detail,
        });
    }

    async fn abandon_claimed(&self, report: &mut ReconcileReport) {
        let age = TimeDelta::from_std(self.config.abandon_claimed_after).unwrap_or(TimeDelta::MAX);
        let before = self.now() - age;
        let claimed = match self
            .store
            .execution_list_claimed_before(before, self.config.batch_limit)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                let detail = format!("listing CLAIMED executions failed: {e}");
                self.problem(report, None, detail);
                return;
            }
        };
        for execution in claimed {
            let result = self
                .store
                .execution_transition(
                    execution.id,
                    ExecutionState::Claimed,
                    &ExecutionEvent::Abandoned,
                    self.now(),
                )
                .await;
            match result {
                Ok(_) => {
                    self.alerts.raise(&Alert::execution(
                        AlertKind::Abandoned,
                        AlertSeverity::Warning,
                        execution.id,
                        execution.user_id,
                        format!(
                            "execution {} stayed CLAIMED since {} (its process stopped before \
                             SUBMITTING); no order was sent, it is now REJECTED (abandoned)",
                            execution.id,
                            execution.created_at.to_rfc3339()
                        ),
                    ));
                    report.abandoned.push(execution.id);
                }
                // It moved on meanwhile (a live executor committed SUBMITTING): not abandoned.
                Err(StoreError::ExecutionConflict { .. }) => {}
                Err(e) => self.problem(
                    report,
                    Some(&execution),
                    format!("ending the abandoned claim failed: {e}"),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_names_each_execution_with_the_final_state_of_its_own_list() {
        let id = ExecutionId::new;
        let report = ReconcileReport {
            filled: vec![id()],
            canceled: vec![id(), id()],
            not_placed: vec![id(), id(), id()],
            abandoned: vec![id(), id(), id(), id()],
            // Not final: not listed.
            found: vec![id()],
            open: vec![id()],
            waiting: vec![id()],
            ..ReconcileReport::default()
        };
        let finished: Vec<(ExecutionState, ExecutionId)> = report.finished().collect();
        let of = |state: ExecutionState| -> Vec<ExecutionId> {
            finished
                .iter()
                .filter(|(s, _)| *s == state)
                .map(|(_, id)| *id)
                .collect()
        };
        assert_eq!(of(ExecutionState::Filled), report.filled);
        assert_eq!(of(ExecutionState::Canceled), report.canceled);
        assert_eq!(of(ExecutionState::Failed), report.not_placed);
        assert_eq!(of(ExecutionState::Rejected), report.abandoned);
        assert_eq!(finished.len(), 10, "nothing else: {finished:?}");
    }
}
