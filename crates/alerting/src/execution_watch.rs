//! Alerts about executions that the order path does not raise itself: an execution that ended
//! `FAILED` (the exchange refused the order, or the reconciler declared it not placed), and a
//! `SUBMITTING` execution older than its access window plus the margin (I3: the reconciler
//! should have resolved it and has not).
//!
//! A watch over the store rather than calls in the executor: it catches failures from every
//! process writing the database, and it cannot slow the order path. Each execution is alerted
//! once per kind.

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use vigil_core::{Clock, ExecutionId, ExecutionState, Timestamp};
use vigil_store::{ExecutionFilter, Store, StoreError};

use vigil_core::alert::{Alert, AlertKind, AlertSeverity, Alerts};

/// The most executions remembered as alerted (bounded memory; older ones are forgotten).
const SEEN_MAX: usize = 10_000;
/// The most rows read per list.
const PAGE: u32 = 200;

/// Raises `execution_failed` and `submitting_overdue` alerts.
#[derive(Debug)]
pub struct ExecutionWatch {
    store: Store,
    alerts: Arc<dyn Alerts>,
    clock: Arc<dyn Clock>,
    margin: TimeDelta,
    since: Timestamp,
    failed_seen: HashSet<ExecutionId>,
    overdue_seen: HashSet<ExecutionId>,
}

impl ExecutionWatch {
    /// A watch that alerts on executions failing from now on, and on `SUBMITTING` executions
    /// older than their access window plus `margin` (use the reconciler's margin plus a pass).
    #[must_use]
    pub fn new(
        store: Store,
        alerts: Arc<dyn Alerts>,
        clock: Arc<dyn Clock>,
        margin: Duration,
    ) -> Self {
        ExecutionWatch {
            since: clock.now(),
            store,
            alerts,
            clock,
            margin: TimeDelta::from_std(margin).unwrap_or(TimeDelta::MAX),
            failed_seen: HashSet::new(),
            overdue_seen: HashSet::new(),
        }
    }

    /// Looks once; returns how many alerts were raised.
    ///
    /// # Errors
    /// [`StoreError`] when the executions cannot be read (the next poll tries again).
    pub async fn poll_once(&mut self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut raised = 0;
        let failed = self
            .store
            .execution_list(&ExecutionFilter {
                state: Some(ExecutionState::Failed),
                limit: PAGE,
                ..ExecutionFilter::default()
            })
            .await?;
        for e in failed.into_iter().filter(|e| e.updated_at >= self.since) {
            if !remember(&mut self.failed_seen, e.id) {
                continue;
            }
            self.alerts.raise(&Alert::execution(
                AlertKind::ExecutionFailed,
                AlertSeverity::Critical,
                e.id,
                e.user_id,
                format!(
                    "execution {} on {} FAILED, no order was placed: {}; see `vigil executions show {}`",
                    e.id,
                    e.market,
                    e.failure.as_deref().unwrap_or("(no reason recorded)"),
                    e.id
                ),
            ));
            raised += 1;
        }
        for e in self.store.execution_list_unresolved(PAGE).await? {
            let window = TimeDelta::milliseconds(i64::from(e.access_window_ms.unwrap_or(0)));
            let signed = e.signed_at.unwrap_or(e.created_at);
            if signed + window + self.margin >= now || !remember(&mut self.overdue_seen, e.id) {
                continue;
            }
            self.alerts.raise(&Alert::execution(
                AlertKind::SubmittingOverdue,
                AlertSeverity::Critical,
                e.id,
                e.user_id,
                format!(
                    "execution {} on {} is still SUBMITTING {} s after its order request was signed; \
                     the reconciler cannot resolve it: check the exchange connection and run `vigil reconcile`",
                    e.id,
                    e.market,
                    (now - signed).num_seconds()
                ),
            ));
            raised += 1;
        }
        Ok(raised)
    }

    /// Polls every `interval` until `shutdown` is cancelled.
    pub async fn run(mut self, interval: Duration, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "cannot read executions for alerts; trying again");
            }
        }
    }
}

/// Adds `id`; false when it was already there. Forgets everything when full (an alert may then
/// repeat once, which the delivery's de-duplication absorbs).
fn remember(seen: &mut HashSet<ExecutionId>, id: ExecutionId) -> bool {
    if seen.len() >= SEEN_MAX {
        seen.clear();
    }
    seen.insert(id)
}
