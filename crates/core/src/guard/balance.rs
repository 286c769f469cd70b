//! The fresh-balance check (DESIGN.md step 4): the account must hold what the order needs, after
//! what in-flight orders already hold.

use rust_decimal::Decimal;

use crate::{
    market::{OrderSize, Side},
    money::{Notional, Price},
    refusal::Refusal,
};

use super::OrderIntent;

/// A balance read from the exchange with the read-only key, already reduced by what Vigil's own
/// in-flight orders hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceFact {
    /// The quote asset available (what a buy spends).
    pub quote_available: Decimal,
    /// The base asset available (what a sell spends).
    pub base_available: Decimal,
    /// The taker fee rate added to what a buy needs (e.g. 0.0025).
    pub fee_rate: Decimal,
}

/// Refuses when the account cannot pay for the order: a buy needs its notional plus the fee in
/// the quote asset; a sell needs its quantity in the base asset.
///
/// # Errors
/// [`Refusal::InsufficientBalance`], or [`Refusal::FactUnavailable`] when a quote-sized sell has
/// no price to convert with.
pub fn check_balance(
    balance: &BalanceFact,
    intent: &OrderIntent,
    notional: Notional,
    reference_price: Option<Price>,
) -> Result<(), Refusal> {
    match intent.side {
        Side::Buy => {
            // A quote-sized market buy spends exactly its amount (fees come out of it); anything
            // sized in base units also needs the fee on top.
            let required = match intent.size {
                OrderSize::Quote(amount) => amount.value(),
                OrderSize::Base(_) => notional.value() * (Decimal::ONE + balance.fee_rate),
            };
            if balance.quote_available < required {
                return Err(Refusal::InsufficientBalance {
                    asset: intent.market.quote().to_string(),
                    available: balance.quote_available.normalize().to_string(),
                    required: required.normalize().to_string(),
                });
            }
        }
        Side::Sell => {
            let required = match intent.size {
                OrderSize::Base(quantity) => quantity.value(),
                OrderSize::Quote(amount) => {
                    let price = reference_price.ok_or(Refusal::FactUnavailable {
                        fact: format!("the current price of {}", intent.market),
                    })?;
                    amount.at_price(price).value()
                }
            };
            if balance.base_available < required {
                return Err(Refusal::InsufficientBalance {
                    asset: intent.market.base().to_string(),
                    available: balance.base_available.normalize().to_string(),
                    required: required.normalize().to_string(),
                });
            }
        }
    }
    Ok(())
}
