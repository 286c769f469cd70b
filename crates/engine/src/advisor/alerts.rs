//! The advisor's alert: a user's LLM budget is spent for the day. Raised at most once per user
//! and UTC day by each advisor (the guard itself refuses every further call regardless).
//!
//! A small trait of its own, so the advisor does not depend on how the executor's alerts are
//! routed; `vigil run` can forward it wherever those go.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use vigil_core::UserId;

/// A user's LLM budget is spent for a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetAlert {
    /// Whose budget.
    pub user: UserId,
    /// The UTC day.
    pub day: NaiveDate,
    /// What the day's calls count, in USD.
    pub spent: Decimal,
    /// The daily budget, in USD.
    pub budget: Decimal,
    /// What happened and what to do, for a person.
    pub message: String,
}

/// Where budget alerts go. Raising must not block for long and must not fail.
pub trait BudgetAlerts: Send + Sync + fmt::Debug {
    /// Raises `alert`.
    fn budget_exhausted(&self, alert: &BudgetAlert);
}

/// Budget alerts as `tracing` warnings with the user, day, spent and budget as fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingBudgetAlerts;

impl BudgetAlerts for TracingBudgetAlerts {
    fn budget_exhausted(&self, alert: &BudgetAlert) {
        tracing::warn!(
            alert = "llm_budget_exhausted",
            user_id = %alert.user,
            day = %alert.day,
            spent_usd = %alert.spent,
            budget_usd = %alert.budget,
            "ALERT: {}",
            alert.message
        );
    }
}

/// Keeps every budget alert in memory (and logs it): for tests and for the CLI. Bounded: beyond
/// [`RecordedBudgetAlerts::CAPACITY`] the oldest are dropped.
#[derive(Debug, Clone, Default)]
pub struct RecordedBudgetAlerts {
    kept: Arc<Mutex<Vec<BudgetAlert>>>,
}

impl RecordedBudgetAlerts {
    /// The most alerts kept.
    pub const CAPACITY: usize = 1_000;

    /// An empty record.
    #[must_use]
    pub fn new() -> RecordedBudgetAlerts {
        RecordedBudgetAlerts::default()
    }

    /// Every alert kept, oldest first.
    #[must_use]
    pub fn all(&self) -> Vec<BudgetAlert> {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl BudgetAlerts for RecordedBudgetAlerts {
    fn budget_exhausted(&self, alert: &BudgetAlert) {
        TracingBudgetAlerts.budget_exhausted(alert);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= Self::CAPACITY {
            kept.remove(0);
        }
        kept.push(alert.clone());
    }
}
