//! Steps 3 and 4b, preflight: fresh exchange facts, then every guard, once, under the user's
//! lock.
//!
//! The exchange is asked first, outside any transaction (market rules, the current price, a
//! fresh balance; read-only key). Then ONE guarded transition (the per-user section in
//! `vigil-store`) reads the user's facts, counting in-flight and unknown-outcome executions,
//! reduces the balance by what Vigil's in-flight orders hold, and runs
//! `vigil_core::guard::evaluate`. A refusal ends the execution as `REJECTED` with its named
//! reason, in that same transaction; a pass writes nothing and yields a [`Preflighted`] witness.
//!
//! [`Preflighted`] has no public constructor: the only way to get one is to pass this step, and
//! the `SUBMITTING` commit (`submit.rs`) takes one, so no code path can skip the guards (STYLE
//! rule 4, barter's `RiskApproved<T>`).

use std::sync::Arc;

use rust_decimal::Decimal;
use vigil_core::{
    guard::{self, BalanceFact, ExchangeFacts, OrderIntent},
    Clock, Execution, ExecutionEvent, ExecutionState, Notional, OrderSize, Refusal, Timestamp,
};
use vigil_store::{GuardedTransition, Store, StoreError, UserFacts};

use crate::market_data::{ExchangeSnapshot, MarketData};

/// An order intent that passed every guard in the preflight section. Only this module can make
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflighted<T> {
    intent: T,
    notional: Notional,
    snapshot: ExchangeSnapshot,
}

impl<T> Preflighted<T> {
    /// What passed.
    pub fn intent(&self) -> &T {
        &self.intent
    }

    /// What the order is worth as the guards valued it (what the caps count).
    pub fn notional(&self) -> Notional {
        self.notional
    }

    /// The exchange facts the guards saw; the `SUBMITTING` re-check uses the same ones (it must
    /// not call the exchange inside its transaction).
    pub(crate) fn snapshot(&self) -> &ExchangeSnapshot {
        &self.snapshot
    }
}

/// What the preflight concluded.
#[derive(Debug)]
pub(crate) enum PreflightVerdict {
    /// Every guard passed; nothing was written.
    Passed(Preflighted<OrderIntent>),
    /// A guard refused; the execution is now `REJECTED` with the refusal.
    Refused {
        refusal: Refusal,
        execution: Execution,
    },
}

/// The intent an execution would place.
pub(crate) fn intent_of(execution: &Execution, expires_at: Timestamp) -> OrderIntent {
    OrderIntent {
        market: execution.market.clone(),
        side: execution.side,
        order_type: execution.order_type,
        size: execution.size,
        limit_price: execution.limit_price,
        expires_at,
    }
}

/// The balance to spend from: what the exchange says is available, less what Vigil's own
/// in-flight orders hold (DESIGN.md step 4). Counting an order the exchange has already
/// reserved or spent a second time only ever refuses more, never less (fail closed).
///
/// # Errors
/// [`Refusal::FactUnavailable`] when an in-flight quote-sized sell of the same base asset on
/// another market cannot be converted to the base amount it holds.
pub(crate) fn balance_after_in_flight(
    snapshot: &ExchangeSnapshot,
    facts: &UserFacts,
    intent: &OrderIntent,
) -> Result<BalanceFact, Refusal> {
    let held = facts.held_by_asset();
    let held_of = |asset| held.get(asset).copied().unwrap_or(Decimal::ZERO);
    let (base, quote) = (intent.market.base(), intent.market.quote());
    let mut base_held = held_of(base);
    for sell in facts.quote_sized_sells() {
        if sell.market.base() != base {
            continue;
        }
        let OrderSize::Quote(amount) = sell.size else {
            continue;
        };
        let price = snapshot
            .price
            .filter(|_| sell.market == intent.market)
            .ok_or_else(|| Refusal::FactUnavailable {
                fact: format!(
                    "the {base} held by in-flight sell {} on {} (no price to convert it)",
                    sell.execution_id, sell.market
                ),
            })?;
        base_held += amount
            .saturating_sub(sell.filled_notional)
            .at_price(price)
            .value();
    }
    Ok(BalanceFact {
        quote_available: (snapshot.available_of(quote) - held_of(quote)).max(Decimal::ZERO),
        base_available: (snapshot.available_of(base) - base_held).max(Decimal::ZERO),
        fee_rate: snapshot.taker_fee,
    })
}

/// Every guard over the user's facts and the exchange snapshot: the decision the preflight
/// section and the `SUBMITTING` section both make. Pure: the same inputs give the same answer,
/// which is why a section that is retried decides the same way.
pub(crate) fn decide(
    facts: &UserFacts,
    intent: &OrderIntent,
    snapshot: &Result<ExchangeSnapshot, Refusal>,
) -> Result<Notional, Refusal> {
    // The checks that need nothing from the exchange come first, so that a kill switch or an
    // allowlist refusal is named even when the exchange could not be asked.
    let guard_facts = facts.guard_facts();
    guard::evaluate_without_market(&guard_facts, intent)?;
    let snapshot = snapshot.as_ref().map_err(Clone::clone)?;
    let exchange = ExchangeFacts {
        market_rules: snapshot.rules.clone(),
        reference_price: snapshot.price,
        balance: balance_after_in_flight(snapshot, facts, intent)?,
    };
    let notional = guard::evaluate(&guard_facts, &exchange, intent)?;
    debug_assert!(
        !notional.is_zero(),
        "Invariant: an order that passed the guards is worth more than nothing"
    );
    Ok(notional)
}

/// Runs steps 3 and 4b for a `CLAIMED` execution.
///
/// # Errors
/// A [`StoreError`]; `ExecutionConflict` when the execution left `CLAIMED` meanwhile (e.g. the
/// reconciler ended it as abandoned).
pub(crate) async fn run(
    store: &Store,
    market_data: &MarketData,
    clock: &Arc<dyn Clock>,
    execution: &Execution,
    expires_at: Timestamp,
) -> Result<PreflightVerdict, StoreError> {
    let intent = intent_of(execution, expires_at);
    // Outside any transaction: no transaction is ever held open across an exchange call.
    let snapshot = market_data.snapshot(&execution.market).await;
    let (for_section, snapshot_in) = (intent.clone(), snapshot.clone());
    // The time is read inside the section (the store reads `clock` once the user's lock is
    // held), so a wait for the lock cannot make expiry or cooldown be judged at an older moment.
    let result = store
        .execution_transition_guarded(
            execution,
            ExecutionState::Claimed,
            clock.clone(),
            move |facts| {
                decide(facts, &for_section, &snapshot_in)
                    .err()
                    .map(|refusal| ExecutionEvent::Rejected { refusal })
            },
        )
        .await?;
    match result {
        GuardedTransition::Applied { execution, .. } => {
            let refusal = execution
                .refusal
                .clone()
                .unwrap_or(Refusal::FactUnavailable {
                    fact: "the refusal of a rejected execution (not recorded)".into(),
                });
            Ok(PreflightVerdict::Refused { refusal, execution })
        }
        GuardedTransition::Unchanged { facts, execution } => {
            // `decide` is pure, so asking it again on the very facts the section saw gives the
            // section's answer, now with the notional the witness carries.
            match (decide(&facts, &intent, &snapshot), snapshot) {
                (Ok(notional), Ok(snapshot)) => Ok(PreflightVerdict::Passed(Preflighted {
                    intent,
                    notional,
                    snapshot,
                })),
                (Err(refusal), _) | (Ok(_), Err(refusal)) => {
                    // Unreachable while `decide` is pure; refuse rather than go on if it is not.
                    debug_assert!(false, "Invariant: decide is deterministic");
                    Ok(PreflightVerdict::Refused { refusal, execution })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::DateTime;
    use rust_decimal_macros::dec;
    use vigil_core::{
        guard::MarketActivity, ExecutionId, Market, OrderType, Policy, Price, UserId,
    };
    use vigil_store::{InFlightOrder, KillSwitches};

    use super::*;
    use vigil_core::Side;

    fn market() -> Market {
        Market::parse("BTC-EUR").unwrap()
    }

    fn facts(in_flight: Vec<InFlightOrder>) -> UserFacts {
        UserFacts {
            user_id: UserId::new(),
            market: market(),
            now: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            kill_switches: KillSwitches {
                global: false,
                user: false,
            },
            policy: Policy::default(),
            allowlist: BTreeSet::new(),
            activity: MarketActivity::default(),
            day_used: Notional::ZERO,
            in_flight,
        }
    }

    fn snapshot() -> ExchangeSnapshot {
        let eur = vigil_core::Asset::parse("asset", "EUR").unwrap();
        let btc = vigil_core::Asset::parse("asset", "BTC").unwrap();
        ExchangeSnapshot {
            rules: None,
            price: Some(Price::positive("price", dec!(50000)).unwrap()),
            available: BTreeMap::from([(eur, dec!(100)), (btc, dec!(0.01))]),
            taker_fee: dec!(0.0025),
        }
    }

    fn intent(side: Side) -> OrderIntent {
        OrderIntent {
            market: market(),
            side,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(10)),
            limit_price: None,
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    fn in_flight(side: Side, size: OrderSize, notional: u32) -> InFlightOrder {
        InFlightOrder {
            execution_id: ExecutionId::new(),
            market: market(),
            side,
            size,
            notional: Notional::from_whole(notional),
            filled_notional: Notional::ZERO,
            state: ExecutionState::Submitting,
            outcome_unknown: true,
        }
    }

    #[test]
    fn balance_is_reduced_by_what_in_flight_orders_hold() {
        let f = facts(vec![
            in_flight(Side::Buy, OrderSize::Quote(Notional::from_whole(30)), 30),
            in_flight(Side::Sell, OrderSize::Quote(Notional::from_whole(100)), 100),
        ]);
        let b = balance_after_in_flight(&snapshot(), &f, &intent(Side::Buy)).unwrap();
        assert_eq!(b.quote_available, dec!(70));
        // 100 EUR of BTC at 50,000 holds 0.002 BTC.
        assert_eq!(b.base_available, dec!(0.008));
        assert_eq!(b.fee_rate, dec!(0.0025));
    }

    #[test]
    fn a_refused_exchange_read_is_named_after_the_store_only_guards() {
        let mut f = facts(vec![]);
        f.policy.trading_enabled = true;
        let unavailable = Err(Refusal::FactUnavailable { fact: "x".into() });
        // The allowlist is empty: I5 is named first, not the exchange problem.
        assert!(matches!(
            decide(&f, &intent(Side::Buy), &unavailable),
            Err(Refusal::MarketNotAllowlisted { .. })
        ));
        let mut listed = f.clone();
        listed.allowlist.insert(market());
        assert_eq!(
            decide(&listed, &intent(Side::Buy), &unavailable),
            Err(Refusal::FactUnavailable { fact: "x".into() })
        );
    }
}
