//! A user's trading policy: what the guards enforce for that user.
//!
//! The defaults are the careful first deployment of DESIGN.md: trading disabled until an operator
//! enables it, 25 EUR per order, a small daily cap, a cooldown and an anti-flip window, no
//! auto-approval. [`Policy::validate`] collects every problem at once.

use chrono::Duration;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{error::ValidationError, money::Notional};

/// A user's trading policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Whether this user may trade at all (off by default: an operator turns it on).
    pub trading_enabled: bool,
    /// The largest order, in the quote currency (I7). Default 25.
    pub order_notional_max: Notional,
    /// The most that may be ordered in one UTC day, counting in-flight orders (I7). Default 100.
    pub daily_notional_max: Notional,
    /// No two orders by this user on one market within this many minutes (I6).
    pub cooldown_minutes: u32,
    /// No opposite-side order on one market within this many minutes (I6).
    pub anti_flip_minutes: u32,
    /// Whether proposals from strategies and the advisor are approved without a person.
    pub auto_approve: bool,
    /// The most the LLM advisor may spend for this user in one UTC day (I8), in USD.
    pub llm_daily_budget: Decimal,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            trading_enabled: false,
            order_notional_max: Notional::from_whole(25),
            daily_notional_max: Notional::from_whole(100),
            cooldown_minutes: 5,
            anti_flip_minutes: 60,
            auto_approve: false,
            llm_daily_budget: Decimal::ONE,
        }
    }
}

impl Policy {
    /// The cooldown as a duration.
    #[must_use]
    pub fn cooldown(&self) -> Duration {
        Duration::minutes(i64::from(self.cooldown_minutes))
    }

    /// The anti-flip window as a duration.
    #[must_use]
    pub fn anti_flip(&self) -> Duration {
        Duration::minutes(i64::from(self.anti_flip_minutes))
    }

    /// Checks the policy as a whole and returns every problem found.
    ///
    /// # Errors
    /// All problems, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        if self.order_notional_max.is_zero() {
            problems.push(ValidationError::new(
                "order_notional_max",
                self.order_notional_max,
                "a per-order cap greater than zero",
            ));
        }
        if self.daily_notional_max < self.order_notional_max {
            problems.push(ValidationError::new(
                "daily_notional_max",
                self.daily_notional_max,
                format!(
                    "a daily cap at least the per-order cap ({})",
                    self.order_notional_max
                ),
            ));
        }
        if self.llm_daily_budget.is_sign_negative() {
            problems.push(ValidationError::new(
                "llm_daily_budget",
                self.llm_daily_budget,
                "a budget of zero or more",
            ));
        }
        if self.cooldown_minutes > 10_080 {
            problems.push(ValidationError::new(
                "cooldown_minutes",
                self.cooldown_minutes,
                "at most 10080 (one week)",
            ));
        }
        if self.anti_flip_minutes > 10_080 {
            problems.push(ValidationError::new(
                "anti_flip_minutes",
                self.anti_flip_minutes,
                "at most 10080 (one week)",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl Notional {
    /// A whole number of quote units (for defaults).
    #[must_use]
    pub fn from_whole(units: u32) -> Notional {
        // A u32 is never negative, so this cannot fail.
        Notional::non_negative("notional", Decimal::from(units)).unwrap_or(Notional::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_careful_and_valid() {
        let p = Policy::default();
        assert!(!p.trading_enabled);
        assert_eq!(p.order_notional_max, Notional::from_whole(25));
        assert!(!p.auto_approve);
        p.validate().unwrap();
    }

    #[test]
    fn validate_reports_every_problem() {
        let p = Policy {
            order_notional_max: Notional::ZERO,
            daily_notional_max: Notional::ZERO,
            llm_daily_budget: Decimal::NEGATIVE_ONE,
            ..Policy::default()
        };
        let problems = p.validate().unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["order_notional_max", "llm_daily_budget"]);
    }
}
