//! Alerts: what the executor, the reconciler, the scheduler and the advisor raise when something
//! needs a person.
//!
//! The values and the [`Alerts`] seam live in the pure core so every crate that raises an alert
//! (engine, scan, ops) and the crate that delivers them (`vigil-alerting`: the log and webhooks)
//! share one vocabulary without depending on each other. [`TracingAlerts`] writes an alert as a
//! `tracing` event (a facade: where it goes is the binary's choice, so this is no IO of the
//! core's own). Raising an alert never fails and never blocks: an alert sink that
//! is down must not stop the reconciler from resolving the next execution.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use crate::{ExecutionId, UserId};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertSeverity {
    /// Needs a look soon (e.g. an unknown outcome still waiting for its access window).
    Warning,
    /// Needs a person now (a safety check failed, or an execution cannot be resolved).
    Critical,
}

/// What kind of problem an alert reports; stable names for routing and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// The last check before the order call failed; nothing was sent (I2, fail closed).
    SendAborted,
    /// An order call ended without a definite answer; the reconciler will resolve it (I3).
    OutcomeUnknown,
    /// The reconciler could not resolve an execution this pass (exchange error, odd answer).
    Unresolved,
    /// A row broke a paired assertion (e.g. `SUBMITTING` without a signing time).
    InvariantBroken,
    /// The reconciler declared an unknown-outcome order not placed, after its window.
    DeclaredNotPlaced,
    /// A `CLAIMED` execution was abandoned by a stopped process and ended as `REJECTED`.
    Abandoned,
    /// An order was not placed: the exchange refused it definitively, or the reconciler
    /// declared it not placed (the execution is `FAILED`).
    ExecutionFailed,
    /// A `SUBMITTING` execution is older than its access window plus the margin (I3).
    SubmittingOverdue,
    /// Vigil's records and the exchange disagree (an order or fill one side does not know).
    ReconcileMismatch,
    /// A kill switch was turned on or off (I4, I11).
    KillSwitchToggled,
    /// A user's policy changed, or the cap stability window was overridden (I11).
    PolicyChanged,
    /// A user's daily LLM budget is used up (I8).
    LlmBudgetExhausted,
    /// The exchange banned or rate-limited the API key.
    RateLimitBan,
    /// A scheduler instance lost a scan job's lease (I9).
    LeaseLost,
    /// `vigil audit` found a guarantee that did not hold.
    AuditFinding,
    /// The exchange-side dead man's switch could not be re-armed.
    DeadMansSwitch,
    /// A test alert (`vigil alerts test`, the sign-off).
    Test,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 17] = [
        AlertKind::SendAborted,
        AlertKind::OutcomeUnknown,
        AlertKind::Unresolved,
        AlertKind::InvariantBroken,
        AlertKind::DeclaredNotPlaced,
        AlertKind::Abandoned,
        AlertKind::ExecutionFailed,
        AlertKind::SubmittingOverdue,
        AlertKind::ReconcileMismatch,
        AlertKind::KillSwitchToggled,
        AlertKind::PolicyChanged,
        AlertKind::LlmBudgetExhausted,
        AlertKind::RateLimitBan,
        AlertKind::LeaseLost,
        AlertKind::AuditFinding,
        AlertKind::DeadMansSwitch,
        AlertKind::Test,
    ];

    /// The stable name (`send_aborted`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::SendAborted => "send_aborted",
            AlertKind::OutcomeUnknown => "outcome_unknown",
            AlertKind::Unresolved => "unresolved",
            AlertKind::InvariantBroken => "invariant_broken",
            AlertKind::DeclaredNotPlaced => "declared_not_placed",
            AlertKind::Abandoned => "abandoned",
            AlertKind::ExecutionFailed => "execution_failed",
            AlertKind::SubmittingOverdue => "submitting_overdue",
            AlertKind::ReconcileMismatch => "reconcile_mismatch",
            AlertKind::KillSwitchToggled => "kill_switch_toggled",
            AlertKind::PolicyChanged => "policy_changed",
            AlertKind::LlmBudgetExhausted => "llm_budget_exhausted",
            AlertKind::RateLimitBan => "rate_limit_ban",
            AlertKind::LeaseLost => "lease_lost",
            AlertKind::AuditFinding => "audit_finding",
            AlertKind::DeadMansSwitch => "dead_mans_switch",
            AlertKind::Test => "test",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// How urgent.
    pub severity: AlertSeverity,
    /// The execution concerned, if any.
    pub execution_id: Option<ExecutionId>,
    /// Its user, if known.
    pub user_id: Option<UserId>,
    /// What happened and what to do, for a person.
    pub message: String,
}

impl Alert {
    /// An alert about one execution.
    #[must_use]
    pub fn execution(
        kind: AlertKind,
        severity: AlertSeverity,
        execution_id: ExecutionId,
        user_id: UserId,
        message: impl Into<String>,
    ) -> Alert {
        Alert {
            kind,
            severity,
            execution_id: Some(execution_id),
            user_id: Some(user_id),
            message: message.into(),
        }
    }
}

/// Where alerts go.
pub trait Alerts: Send + Sync + fmt::Debug {
    /// Raises `alert`. Must not block for long and must not fail.
    fn raise(&self, alert: &Alert);
}

/// Alerts as `tracing` events: `error!` for critical, `warn!` for warnings, with the kind, the
/// execution and the user as fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAlerts;

impl Alerts for TracingAlerts {
    fn raise(&self, alert: &Alert) {
        let execution_id = alert.execution_id.map(|e| e.to_string());
        let user_id = alert.user_id.map(|u| u.to_string());
        match alert.severity {
            AlertSeverity::Critical => tracing::error!(
                alert = alert.kind.as_str(),
                execution_id = execution_id.as_deref(),
                user_id = user_id.as_deref(),
                "ALERT: {}",
                alert.message
            ),
            AlertSeverity::Warning => tracing::warn!(
                alert = alert.kind.as_str(),
                execution_id = execution_id.as_deref(),
                user_id = user_id.as_deref(),
                "ALERT: {}",
                alert.message
            ),
        }
    }
}

/// Keeps every alert in memory (and logs it like [`TracingAlerts`]): for tests. Bounded: beyond
/// [`RecordedAlerts::CAPACITY`] the oldest are dropped.
#[derive(Debug, Clone, Default)]
pub struct RecordedAlerts {
    kept: Arc<Mutex<Vec<Alert>>>,
}

impl RecordedAlerts {
    /// The most alerts kept.
    pub const CAPACITY: usize = 10_000;

    /// An empty record.
    #[must_use]
    pub fn new() -> RecordedAlerts {
        RecordedAlerts::default()
    }

    /// Every alert kept, oldest first.
    #[must_use]
    pub fn all(&self) -> Vec<Alert> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The alerts of one kind.
    #[must_use]
    pub fn of_kind(&self, kind: AlertKind) -> Vec<Alert> {
        self.all().into_iter().filter(|a| a.kind == kind).collect()
    }
}

impl Alerts for RecordedAlerts {
    fn raise(&self, alert: &Alert) {
        TracingAlerts.raise(alert);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= Self::CAPACITY {
            kept.remove(0);
        }
        kept.push(alert.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_kind_has_its_own_stable_name() {
        let names: std::collections::BTreeSet<&str> =
            AlertKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), AlertKind::ALL.len());
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        assert_eq!(
            AlertKind::KillSwitchToggled.to_string(),
            "kill_switch_toggled"
        );
    }

    #[test]
    fn recorded_alerts_keep_what_was_raised_by_kind() {
        let alerts = RecordedAlerts::new();
        let (e, u) = (ExecutionId::new(), UserId::new());
        alerts.raise(&Alert::execution(
            AlertKind::SendAborted,
            AlertSeverity::Critical,
            e,
            u,
            "x",
        ));
        alerts.raise(&Alert::execution(
            AlertKind::OutcomeUnknown,
            AlertSeverity::Warning,
            e,
            u,
            "y",
        ));
        assert_eq!(alerts.all().len(), 2);
        let aborted = alerts.of_kind(AlertKind::SendAborted);
        assert_eq!(aborted.len(), 1);
        assert_eq!(aborted[0].execution_id, Some(e));
        assert_eq!(
            AlertKind::DeclaredNotPlaced.to_string(),
            "declared_not_placed"
        );
    }
}
