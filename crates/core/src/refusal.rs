//! The named reasons an execution is refused.
//!
//! Every guard returns one of these instead of a bare `false`, so the reason can be stored on the
//! execution, shown to the user and counted in metrics. [`Refusal::code`] is the stable,
//! machine-readable name (`cooldown_active`, `cap_per_order`, …); the `Display` text adds the
//! numbers an operator needs (the limit, what was requested, until when).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    clock::Timestamp,
    ids::ExecutionId,
    market::{Market, MarketStatus},
    money::{Notional, Price, Quantity},
    proposal::ProposalStatus,
};

/// Why an execution was refused. Stored as JSON on the execution (`{"code": ..., ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    /// The global kill switch is on (I4).
    KillSwitchGlobal,
    /// The user's kill switch is on (I4).
    KillSwitchUser,
    /// The user's policy does not enable trading.
    TradingDisabled,
    /// The proposal belongs to another user.
    ProposalNotOwned,
    /// The proposal is not approved.
    ProposalNotApproved {
        /// Its status now.
        status: ProposalStatus,
    },
    /// The proposal's time to live has passed.
    ProposalExpired {
        /// When it expired.
        expired_at: Timestamp,
    },
    /// The market is not on the user's allowlist (I5; an empty allowlist refuses everything).
    MarketNotAllowlisted {
        /// The market asked for.
        market: Market,
    },
    /// The order is worth more than the per-order cap (I7).
    CapPerOrder {
        /// The cap.
        limit: Notional,
        /// What the order is worth.
        requested: Notional,
    },
    /// The order would take the day past the daily cap (I7).
    CapDaily {
        /// The cap.
        limit: Notional,
        /// What was already used today, counting in-flight orders.
        used: Notional,
        /// What the order is worth.
        requested: Notional,
    },
    /// Another order on this market is too recent (I6).
    CooldownActive {
        /// When the next order may be placed.
        until: Timestamp,
    },
    /// An opposite-side order on this market is too recent (I6).
    AntiFlip {
        /// When an opposite-side order may be placed.
        until: Timestamp,
    },
    /// An earlier execution on this market has an unknown outcome; the market stays blocked until
    /// the reconciler resolves it (I3).
    UnresolvedExecution {
        /// The execution whose outcome is unknown.
        execution_id: ExecutionId,
    },
    /// The market does not accept orders now.
    MarketNotTrading {
        /// Its status.
        status: MarketStatus,
    },
    /// The exchange does not know the market.
    MarketUnknown {
        /// The market asked for.
        market: Market,
    },
    /// The order is smaller than the market's minimum in the quote asset.
    BelowMinimumNotional {
        /// The minimum.
        minimum: Notional,
        /// What the order is worth.
        requested: Notional,
    },
    /// The order is smaller than the market's minimum in the base asset.
    BelowMinimumQuantity {
        /// The minimum.
        minimum: Quantity,
        /// The order's quantity.
        requested: Quantity,
    },
    /// The order is larger than the market's maximum.
    AboveMaximumOrder {
        /// The maximum, as text (base or quote).
        maximum: String,
        /// The order's size, as text.
        requested: String,
    },
    /// An amount or price has more decimals than the market allows.
    PrecisionInvalid {
        /// Which field (`amount`, `amount_quote`, `limit_price`).
        field: String,
        /// The value.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The limit price is not a multiple of the market's tick size.
    PriceNotOnTick {
        /// The price.
        price: Price,
        /// The tick size.
        tick_size: Price,
    },
    /// The account does not hold enough, after what in-flight orders hold.
    InsufficientBalance {
        /// The asset.
        asset: String,
        /// What is available for this order.
        available: String,
        /// What the order needs.
        required: String,
    },
    /// A fact the guards need could not be established (e.g. no price to value the order);
    /// Vigil refuses rather than guess.
    FactUnavailable {
        /// Which fact.
        fact: String,
    },
    /// Every guard passed, but the order request could not be prepared for sending (e.g. the
    /// rate-limit budget does not allow it now); nothing was sent.
    ExchangeUnavailable {
        /// What stopped it, and when to try again if known.
        detail: String,
    },
}

impl Refusal {
    /// The stable machine-readable name of the reason.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Refusal::KillSwitchGlobal => "kill_switch_global",
            Refusal::KillSwitchUser => "kill_switch_user",
            Refusal::TradingDisabled => "trading_disabled",
            Refusal::ProposalNotOwned => "proposal_not_owned",
            Refusal::ProposalNotApproved { .. } => "proposal_not_approved",
            Refusal::ProposalExpired { .. } => "proposal_expired",
            Refusal::MarketNotAllowlisted { .. } => "market_not_allowlisted",
            Refusal::CapPerOrder { .. } => "cap_per_order",
            Refusal::CapDaily { .. } => "cap_daily",
            Refusal::CooldownActive { .. } => "cooldown_active",
            Refusal::AntiFlip { .. } => "anti_flip",
            Refusal::UnresolvedExecution { .. } => "unresolved_execution",
            Refusal::MarketNotTrading { .. } => "market_not_trading",
            Refusal::MarketUnknown { .. } => "market_unknown",
            Refusal::BelowMinimumNotional { .. } => "below_minimum_notional",
            Refusal::BelowMinimumQuantity { .. } => "below_minimum_quantity",
            Refusal::AboveMaximumOrder { .. } => "above_maximum_order",
            Refusal::PrecisionInvalid { .. } => "precision_invalid",
            Refusal::PriceNotOnTick { .. } => "price_not_on_tick",
            Refusal::InsufficientBalance { .. } => "insufficient_balance",
            Refusal::FactUnavailable { .. } => "fact_unavailable",
            Refusal::ExchangeUnavailable { .. } => "exchange_unavailable",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self {
            Refusal::KillSwitchGlobal => write!(f, "{code}: the global kill switch is on"),
            Refusal::KillSwitchUser => write!(f, "{code}: the user's kill switch is on"),
            Refusal::TradingDisabled => write!(f, "{code}: the user's policy has trading disabled"),
            Refusal::ProposalNotOwned => write!(f, "{code}: the proposal belongs to another user"),
            Refusal::ProposalNotApproved { status } => write!(f, "{code}: the proposal is {status}, not APPROVED"),
            Refusal::ProposalExpired { expired_at } => write!(f, "{code}: the proposal expired at {}", expired_at.to_rfc3339()),
            Refusal::MarketNotAllowlisted { market } => write!(f, "{code}: {market} is not on the user's allowlist"),
            Refusal::CapPerOrder { limit, requested } => write!(f, "{code}: order worth {requested} is above the per-order cap of {limit}"),
            Refusal::CapDaily { limit, used, requested } => write!(f, "{code}: {used} used today plus {requested} is above the daily cap of {limit}"),
            Refusal::CooldownActive { until } => write!(f, "{code}: another order on this market is too recent; next allowed at {}", until.to_rfc3339()),
            Refusal::AntiFlip { until } => write!(f, "{code}: an opposite-side order on this market is too recent; allowed at {}", until.to_rfc3339()),
            Refusal::UnresolvedExecution { execution_id } => write!(f, "{code}: execution {execution_id} on this market has an unknown outcome; waiting for the reconciler"),
            Refusal::MarketNotTrading { status } => write!(f, "{code}: the market's status is {status:?}"),
            Refusal::MarketUnknown { market } => write!(f, "{code}: the exchange does not list {market}"),
            Refusal::BelowMinimumNotional { minimum, requested } => write!(f, "{code}: order worth {requested} is below the market minimum of {minimum}"),
            Refusal::BelowMinimumQuantity { minimum, requested } => write!(f, "{code}: quantity {requested} is below the market minimum of {minimum}"),
            Refusal::AboveMaximumOrder { maximum, requested } => write!(f, "{code}: order size {requested} is above the market maximum of {maximum}"),
            Refusal::PrecisionInvalid { field, value, rule } => write!(f, "{code}: {field} {value} breaks the market rule: {rule}"),
            Refusal::PriceNotOnTick { price, tick_size } => write!(f, "{code}: price {price} is not a multiple of the tick size {tick_size}"),
            Refusal::InsufficientBalance { asset, available, required } => write!(f, "{code}: {required} {asset} required, {available} available"),
            Refusal::FactUnavailable { fact } => write!(f, "{code}: could not establish {fact}; refusing rather than guessing"),
            Refusal::ExchangeUnavailable { detail } => write!(f, "{code}: the order request could not be sent now ({detail}); nothing was sent, submit a new proposal later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_serialises_with_its_code() {
        let r = Refusal::MarketNotAllowlisted {
            market: Market::parse("BTC-EUR").unwrap(),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["code"], "market_not_allowlisted");
        assert_eq!(json["market"], "BTC-EUR");
        let back: Refusal = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn exchange_unavailable_says_nothing_was_sent() {
        let r = Refusal::ExchangeUnavailable {
            detail: "rate limited until 12:00".into(),
        };
        assert_eq!(r.code(), "exchange_unavailable");
        assert!(r.to_string().contains("nothing was sent"), "{r}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["code"], "exchange_unavailable");
        assert_eq!(serde_json::from_value::<Refusal>(json).unwrap(), r);
    }
}
