//! A user's trading policy: what the guards enforce for that user.
//!
//! The defaults are the careful first deployment of DESIGN.md: trading disabled until an operator
//! enables it, 25 EUR per order, a small daily cap, a cooldown and an anti-flip window, no
//! auto-approval. [`Policy::validate`] collects every problem at once.

use chrono::Duration;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::ValidationError,
    market::OrderSize,
    money::Notional,
    proposal::{Proposal, ProposalSource},
};

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

/// Why a strategy's or the advisor's proposal waits for a person instead of being approved by
/// the policy (see [`Policy::auto_approval`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualApproval {
    /// The policy does not auto-approve (`auto_approve` is off).
    #[error("auto_approve is off in the policy")]
    PolicyOff,
    /// Trading is disabled for the user, so an approval could only end in a refusal.
    #[error("trading is disabled for the user")]
    TradingDisabled,
    /// A person proposed it; people approve their own proposals.
    #[error("a person's proposal is approved by a person")]
    FromPerson,
    /// The market is not on the user's allowlist (I5): the executor would refuse it.
    #[error("the market is not on the user's allowlist")]
    NotAllowlisted,
    /// Sized in the base asset, so its notional is not known before the price is.
    #[error("it is sized in the base asset; only quote-sized proposals are auto-approved")]
    BaseSized,
    /// Above the per-order cap (I7).
    #[error("its {amount} is above the per-order cap of {cap}")]
    AboveOrderCap {
        /// The proposal's quote amount.
        amount: Notional,
        /// The policy's per-order cap.
        cap: Notional,
    },
}

impl Policy {
    /// Whether a proposal from a strategy or the LLM advisor may be approved without a person:
    /// only when the policy says so (`auto_approve`), trading is enabled, the market is on the
    /// allowlist (`allowlisted`), and the proposal is a quote amount within the per-order cap.
    /// Anything else waits `PENDING`. Approval is not execution: the executor still runs every
    /// guard (kill switch, caps, cooldown, anti-flip, balance) before any order.
    ///
    /// # Errors
    /// The first reason the proposal must wait for a person.
    pub fn auto_approval(
        &self,
        proposal: &Proposal,
        allowlisted: bool,
    ) -> Result<(), ManualApproval> {
        if !self.auto_approve {
            return Err(ManualApproval::PolicyOff);
        }
        if !self.trading_enabled {
            return Err(ManualApproval::TradingDisabled);
        }
        if matches!(proposal.source, ProposalSource::Person(_)) {
            return Err(ManualApproval::FromPerson);
        }
        if !allowlisted {
            return Err(ManualApproval::NotAllowlisted);
        }
        match proposal.size {
            OrderSize::Base(_) => Err(ManualApproval::BaseSized),
            OrderSize::Quote(amount) if amount > self.order_notional_max => {
                Err(ManualApproval::AboveOrderCap {
                    amount,
                    cap: self.order_notional_max,
                })
            }
            OrderSize::Quote(_) => Ok(()),
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
    fn auto_approval_needs_the_policy_the_allowlist_and_the_cap() {
        use chrono::{DateTime, Duration};

        use crate::{
            ids::UserId,
            market::{Market, OrderType, Side},
            money::{Price, Quantity},
            proposal::ProposalDraft,
        };
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let proposal = |size: OrderSize, source: ProposalSource| {
            let limit = matches!(size, OrderSize::Base(_));
            Proposal::new(
                ProposalDraft {
                    user_id: UserId::new(),
                    market: Market::parse("BTC-EUR").unwrap(),
                    side: Side::Buy,
                    order_type: if limit {
                        OrderType::Limit
                    } else {
                        OrderType::Market
                    },
                    size,
                    limit_price: limit.then(|| Price::parse_positive("p", "1").unwrap()),
                    source,
                    rationale: "test".into(),
                    ttl: Duration::minutes(5),
                },
                now,
            )
            .unwrap()
        };
        let strategy = ProposalSource::Strategy("dca".into());
        let at_cap = proposal(OrderSize::Quote(Notional::from_whole(25)), strategy.clone());
        let on = Policy {
            auto_approve: true,
            trading_enabled: true,
            ..Policy::default()
        };
        assert_eq!(on.auto_approval(&at_cap, true), Ok(()));
        assert_eq!(
            Policy::default().auto_approval(&at_cap, true),
            Err(ManualApproval::PolicyOff)
        );
        let disabled = Policy {
            trading_enabled: false,
            ..on.clone()
        };
        assert_eq!(
            disabled.auto_approval(&at_cap, true),
            Err(ManualApproval::TradingDisabled)
        );
        assert_eq!(
            on.auto_approval(&at_cap, false),
            Err(ManualApproval::NotAllowlisted)
        );
        let above = proposal(OrderSize::Quote(Notional::from_whole(26)), strategy.clone());
        assert!(matches!(
            on.auto_approval(&above, true),
            Err(ManualApproval::AboveOrderCap { .. })
        ));
        let base = proposal(
            OrderSize::Base(Quantity::parse_positive("a", "0.1").unwrap()),
            strategy,
        );
        assert_eq!(
            on.auto_approval(&base, true),
            Err(ManualApproval::BaseSized)
        );
        let person = proposal(
            OrderSize::Quote(Notional::from_whole(5)),
            ProposalSource::Person("alice".into()),
        );
        assert_eq!(
            on.auto_approval(&person, true),
            Err(ManualApproval::FromPerson)
        );
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
