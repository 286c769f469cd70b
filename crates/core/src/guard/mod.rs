//! The safety rails, as pure functions over a snapshot of facts.
//!
//! Each guard takes only the facts it needs and returns `Ok(())` or a named [`Refusal`]; none
//! reads a database or the exchange. The executor gathers the facts (under the per-user lock, so
//! they cannot change underneath it) and calls [`evaluate`], which runs every guard in a fixed
//! order and answers with the order's notional or the first refusal. The same functions are
//! re-run in the transaction that commits `SUBMITTING`.

pub mod allowlist;
pub mod anti_flip;
pub mod balance;
pub mod caps;
pub mod cooldown;
pub mod expiry;
pub mod kill_switch;
pub mod market_rules;

#[cfg(test)]
mod property_tests;

use std::collections::BTreeSet;

use crate::{
    clock::Timestamp,
    ids::ExecutionId,
    market::{Market, MarketRules, OrderSize, OrderType, Side},
    money::{Notional, Price},
    policy::Policy,
    refusal::Refusal,
};

pub use balance::BalanceFact;

/// The order an execution would place, as the guards see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderIntent {
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// How much.
    pub size: OrderSize,
    /// The limit price of a limit order.
    pub limit_price: Option<Price>,
    /// When the proposal expires.
    pub expires_at: Timestamp,
}

/// What this user has done recently on the intent's market, counting in-flight and
/// unknown-outcome executions as orders (I6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketActivity {
    /// The latest order (placed or in flight) on this market, either side.
    pub last_order_at: Option<Timestamp>,
    /// The latest buy on this market.
    pub last_buy_at: Option<Timestamp>,
    /// The latest sell on this market.
    pub last_sell_at: Option<Timestamp>,
    /// An execution on this market whose outcome is unknown (blocks the market, I3).
    pub unresolved: Option<ExecutionId>,
}

impl MarketActivity {
    /// The latest order on `side`.
    #[must_use]
    pub fn last_on(&self, side: Side) -> Option<Timestamp> {
        match side {
            Side::Buy => self.last_buy_at,
            Side::Sell => self.last_sell_at,
        }
    }
}

/// Everything the guards need, read at one moment under the per-user lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardFacts {
    /// The time of the check.
    pub now: Timestamp,
    /// The global kill switch.
    pub global_kill_switch: bool,
    /// The user's kill switch.
    pub user_kill_switch: bool,
    /// The user's policy.
    pub policy: Policy,
    /// The user's allowlist (deny by default).
    pub allowlist: BTreeSet<Market>,
    /// Recent activity on the intent's market.
    pub activity: MarketActivity,
    /// Notional already used today (UTC), counting in-flight orders, excluding this execution.
    pub day_used: Notional,
}

/// What only the exchange knows, read with the read-only key before the section: every guard
/// that needs it takes it whole, so no caller can run the caps without the balance check.
///
/// The balance is required by the type: there is no way to ask [`evaluate`] to skip it.
///
/// ```compile_fail
/// # use vigil_core::guard::ExchangeFacts;
/// // Does not compile: there is no balance to leave out.
/// let facts = ExchangeFacts { market_rules: None, reference_price: None, balance: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeFacts {
    /// The exchange's rules for the market, if known (`None` refuses: rules are required).
    pub market_rules: Option<MarketRules>,
    /// The current price, to value market orders sized in the base asset and quote-sized sells.
    pub reference_price: Option<Price>,
    /// The balance to spend from, less what in-flight orders hold.
    pub balance: BalanceFact,
}

/// What the order is worth for the caps: the quote amount, or quantity × limit price, or
/// quantity × the current price for a market order sized in the base asset.
///
/// # Errors
/// [`Refusal::FactUnavailable`] when a market order in base units has no price to value it.
pub fn order_notional(
    intent: &OrderIntent,
    reference_price: Option<Price>,
) -> Result<Notional, Refusal> {
    match (intent.size, intent.order_type, intent.limit_price) {
        (OrderSize::Quote(notional), _, _) => Ok(notional),
        (OrderSize::Base(quantity), OrderType::Limit, Some(price)) => Ok(quantity.at_price(price)),
        (OrderSize::Base(quantity), _, _) => reference_price
            .map(|price| quantity.at_price(price))
            .ok_or(Refusal::FactUnavailable {
                fact: format!("the current price of {}", intent.market),
            }),
    }
}

/// Runs every guard in a fixed order, over the store's facts and the exchange's, and returns the
/// order's notional, or the first refusal.
///
/// The order: kill switches (I4), trading enabled, expiry, allowlist (I5), unresolved executions
/// (I3), cooldown and anti-flip (I6), market rules, caps (I7), balance.
///
/// # Errors
/// The first [`Refusal`].
pub fn evaluate(
    facts: &GuardFacts,
    exchange: &ExchangeFacts,
    intent: &OrderIntent,
) -> Result<Notional, Refusal> {
    evaluate_without_market(facts, intent)?;
    let rules = exchange
        .market_rules
        .as_ref()
        .ok_or_else(|| Refusal::MarketUnknown {
            market: intent.market.clone(),
        })?;
    market_rules::check_market_rules(rules, intent, exchange.reference_price)?;
    let notional = order_notional(intent, exchange.reference_price)?;
    caps::check_order_cap(&facts.policy, notional)?;
    caps::check_daily_cap(&facts.policy, facts.day_used, notional)?;
    balance::check_balance(
        &exchange.balance,
        intent,
        notional,
        exchange.reference_price,
    )?;
    Ok(notional)
}

/// The guards that need nothing from the exchange: what the `SUBMITTING` transaction re-checks
/// (kill switches, trading enabled, expiry, allowlist, unresolved, cooldown, anti-flip).
///
/// # Errors
/// The first [`Refusal`].
pub fn evaluate_without_market(facts: &GuardFacts, intent: &OrderIntent) -> Result<(), Refusal> {
    kill_switch::check_kill_switch(facts.global_kill_switch, facts.user_kill_switch)?;
    kill_switch::check_trading_enabled(&facts.policy)?;
    expiry::check_expiry(intent.expires_at, facts.now)?;
    allowlist::check_allowlist(&facts.allowlist, &intent.market)?;
    cooldown::check_unresolved(&facts.activity)?;
    cooldown::check_cooldown(&facts.activity, &facts.policy, facts.now)?;
    anti_flip::check_anti_flip(&facts.activity, intent.side, &facts.policy, facts.now)?;
    Ok(())
}
