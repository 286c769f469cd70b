//! The exchange's market rules, checked before sending so that Bitvavo never has to refuse an
//! order for its size or precision (which it would do with 205, 210, 212 or 217).

use rust_decimal::Decimal;

use crate::{
    market::{fits_decimals, MarketRules, MarketStatus, OrderSize},
    money::Price,
    refusal::Refusal,
};

use super::OrderIntent;

/// Refuses an order the market's rules would refuse: market not trading, limit price off the
/// tick, too many decimals, below the minimum or above the maximum.
///
/// # Errors
/// The matching [`Refusal`].
pub fn check_market_rules(
    rules: &MarketRules,
    intent: &OrderIntent,
    reference_price: Option<Price>,
) -> Result<(), Refusal> {
    if rules.status != MarketStatus::Trading {
        return Err(Refusal::MarketNotTrading {
            status: rules.status,
        });
    }
    if let Some(price) = intent.limit_price {
        let tick = rules.tick_size.value();
        if !tick.is_zero() && !(price.value() % tick).is_zero() {
            return Err(Refusal::PriceNotOnTick {
                price,
                tick_size: rules.tick_size,
            });
        }
    }
    match intent.size {
        OrderSize::Quote(notional) => {
            if !fits_decimals(notional.value(), rules.notional_decimals) {
                return Err(precision(
                    "amount_quote",
                    notional.value(),
                    rules.notional_decimals,
                ));
            }
            if notional < rules.min_order_quote {
                return Err(Refusal::BelowMinimumNotional {
                    minimum: rules.min_order_quote,
                    requested: notional,
                });
            }
            if let Some(max) = rules.max_order_quote {
                if notional > max {
                    return Err(Refusal::AboveMaximumOrder {
                        maximum: max.to_string(),
                        requested: notional.to_string(),
                    });
                }
            }
        }
        OrderSize::Base(quantity) => {
            if !fits_decimals(quantity.value(), rules.quantity_decimals) {
                return Err(precision(
                    "amount",
                    quantity.value(),
                    rules.quantity_decimals,
                ));
            }
            if quantity < rules.min_order_base {
                return Err(Refusal::BelowMinimumQuantity {
                    minimum: rules.min_order_base,
                    requested: quantity,
                });
            }
            if let Some(max) = rules.max_order_base {
                if quantity > max {
                    return Err(Refusal::AboveMaximumOrder {
                        maximum: max.to_string(),
                        requested: quantity.to_string(),
                    });
                }
            }
            // The exchange also checks the quote minimum of a base-sized order.
            if let Some(price) = intent.limit_price.or(reference_price) {
                let notional = quantity.at_price(price);
                if notional < rules.min_order_quote {
                    return Err(Refusal::BelowMinimumNotional {
                        minimum: rules.min_order_quote,
                        requested: notional,
                    });
                }
            }
        }
    }
    Ok(())
}

fn precision(field: &str, value: Decimal, decimals: u32) -> Refusal {
    Refusal::PrecisionInvalid {
        field: field.to_owned(),
        value: value.to_string(),
        rule: format!("at most {decimals} decimals"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use rust_decimal_macros::dec;

    use super::*;
    use crate::{
        market::{Market, OrderType, Side},
        money::{Notional, Quantity},
    };

    pub(crate) fn btc_rules() -> MarketRules {
        MarketRules {
            market: Market::parse("BTC-EUR").unwrap(),
            status: MarketStatus::Trading,
            tick_size: Price::positive("tick_size", dec!(1)).unwrap(),
            quantity_decimals: 8,
            notional_decimals: 2,
            min_order_base: Quantity::positive("min", dec!(0.000061)).unwrap(),
            min_order_quote: Notional::positive("min", dec!(5)).unwrap(),
            max_order_base: Some(Quantity::positive("max", dec!(1000)).unwrap()),
            max_order_quote: Some(Notional::positive("max", dec!(1000000)).unwrap()),
        }
    }

    fn intent(size: OrderSize, limit: Option<Decimal>) -> OrderIntent {
        OrderIntent {
            market: Market::parse("BTC-EUR").unwrap(),
            side: Side::Buy,
            order_type: if limit.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            size,
            limit_price: limit.map(|p| Price::positive("p", p).unwrap()),
            expires_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn rules_refuse_what_the_exchange_would() {
        let r = btc_rules();
        let q = |d| OrderSize::Quote(Notional::positive("q", d).unwrap());
        let b = |d| OrderSize::Base(Quantity::positive("b", d).unwrap());
        assert!(check_market_rules(&r, &intent(q(dec!(25)), None), None).is_ok());
        assert_eq!(
            check_market_rules(&r, &intent(q(dec!(4.99)), None), None)
                .unwrap_err()
                .code(),
            "below_minimum_notional"
        );
        assert_eq!(
            check_market_rules(&r, &intent(q(dec!(10.001)), None), None)
                .unwrap_err()
                .code(),
            "precision_invalid"
        );
        assert_eq!(
            check_market_rules(&r, &intent(b(dec!(0.001)), Some(dec!(50000.5))), None)
                .unwrap_err()
                .code(),
            "price_not_on_tick"
        );
        assert!(check_market_rules(&r, &intent(b(dec!(0.001)), Some(dec!(50000))), None).is_ok());
        assert_eq!(
            check_market_rules(&r, &intent(b(dec!(0.00001)), Some(dec!(50000))), None)
                .unwrap_err()
                .code(),
            "below_minimum_quantity"
        );
        assert_eq!(
            check_market_rules(&r, &intent(b(dec!(0.0001)), Some(dec!(40000))), None)
                .unwrap_err()
                .code(),
            "below_minimum_notional"
        );
        let halted = MarketRules {
            status: MarketStatus::Halted,
            ..btc_rules()
        };
        assert_eq!(
            check_market_rules(&halted, &intent(q(dec!(25)), None), None)
                .unwrap_err()
                .code(),
            "market_not_trading"
        );
    }
}
