//! The engine's settings: every bound explicit, with the careful defaults, and one validation
//! pass that reports every problem.

use std::time::Duration;

use vigil_core::ValidationError;

/// How the executor works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// How long a `/markets` and `/account/fees` answer is reused before it is asked again.
    /// Balances and prices are never cached: they are read fresh for every execution.
    pub market_data_ttl: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            market_data_ttl: Duration::from_secs(60),
        }
    }
}

impl ExecutorConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        if self.market_data_ttl > Duration::from_secs(3_600) {
            problems.push(ValidationError::new(
                "market_data_ttl_seconds",
                self.market_data_ttl.as_secs(),
                "at most 3600 (market rules change; re-read them at least hourly)",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// How the reconciler works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcilerConfig {
    /// Added to a `SUBMITTING` order request's access window before "not found" may be
    /// believed: covers clock error and the exchange's own processing (bitvavo-api.md 11.2).
    pub window_margin: Duration,
    /// A `CLAIMED` execution older than this is taken as abandoned by a stopped process and
    /// ended as `REJECTED` (no order was ever sent from `CLAIMED`). Must exceed the longest time
    /// a live executor spends between its claim and its `SUBMITTING` commit.
    pub abandon_claimed_after: Duration,
    /// How far before the signing time the order history and fills are searched.
    pub history_lookback: Duration,
    /// The most executions of each kind handled in one pass (every list call is bounded).
    pub batch_limit: u32,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self {
            window_margin: Duration::from_secs(30),
            abandon_claimed_after: Duration::from_secs(300),
            history_lookback: Duration::from_secs(60),
            batch_limit: 100,
        }
    }
}

impl ReconcilerConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        if self.window_margin < Duration::from_secs(1) {
            problems.push(ValidationError::new(
                "window_margin_seconds",
                format!("{:?}", self.window_margin),
                "at least 1 second (clocks are never exact)",
            ));
        }
        // Ending a CLAIMED execution that is in fact still alive costs its proposal (it ends
        // REJECTED) but never an order: its SUBMITTING commit is a compare-and-set from CLAIMED
        // and fails. Ten seconds is the floor; the default (300 s) stays far above a slow
        // preflight's exchange calls.
        if self.abandon_claimed_after < Duration::from_secs(10) {
            problems.push(ValidationError::new(
                "abandon_claimed_after_seconds",
                self.abandon_claimed_after.as_secs(),
                "at least 10 (a live execution must not be taken for abandoned)",
            ));
        }
        if self.history_lookback < Duration::from_secs(1)
            || self.history_lookback > Duration::from_secs(3_600)
        {
            problems.push(ValidationError::new(
                "history_lookback_seconds",
                self.history_lookback.as_secs(),
                "1 to 3600",
            ));
        }
        if !(1..=vigil_store::LIST_LIMIT_MAX).contains(&self.batch_limit) {
            problems.push(ValidationError::new(
                "batch_limit",
                self.batch_limit,
                format!("1 to {}", vigil_store::LIST_LIMIT_MAX),
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_problem_is_reported() {
        ExecutorConfig::default().validate().unwrap();
        ReconcilerConfig::default().validate().unwrap();
        let bad = ReconcilerConfig {
            window_margin: Duration::ZERO,
            abandon_claimed_after: Duration::from_secs(1),
            history_lookback: Duration::ZERO,
            batch_limit: 0,
        };
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
