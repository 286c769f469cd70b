//! `GET /markets`: the markets and their order rules (bitvavo-api.md 4.2; weight 1).
//!
//! Each market becomes a [`MarketInfo`] holding core's [`MarketRules`], which the preflight's
//! `market_rules` guard checks orders against. Integer fields accept numbers or strings
//! (section 1). With `market=` Bitvavo may answer a single object; it is read as a list of one.

use serde_json::Value;
use vigil_core::{Asset, Market, MarketRules, MarketStatus, Notional, Price, Quantity};

use super::{Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire, wire::Obj, BitvavoError};

/// Asks for all markets or one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketsQuery {
    /// One market, or all when `None`.
    pub market: Option<Market>,
}

/// A market as `/markets` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketInfo {
    /// The rules the preflight checks (status, tick size, decimals, minimums, maximums).
    pub rules: MarketRules,
    /// The base asset.
    pub base: Asset,
    /// The quote asset.
    pub quote: Asset,
    /// Open orders allowed per market.
    pub max_open_orders: Option<u32>,
    /// The fee category (selects the fee table).
    pub fee_category: Option<String>,
    /// The order types the market accepts.
    pub order_types: Vec<String>,
}

fn parse_market(o: Obj<'_>) -> Result<MarketInfo, Malformed> {
    let market = o.market("market")?;
    let status = o.parse("status", |s| s.parse::<MarketStatus>())?;
    let tick = o.decimal("tickSize")?;
    let tick_size = Price::positive("tickSize", tick).map_err(|e| {
        Malformed::new(
            o.field("tickSize"),
            format!("{} is not {}", e.value, e.expected),
        )
    })?;
    let min_base = o.decimal("minOrderInBaseAsset")?;
    let min_quote = o.decimal("minOrderInQuoteAsset")?;
    let rules = MarketRules {
        market: market.clone(),
        status,
        tick_size,
        quantity_decimals: o.u32("quantityDecimals")?,
        notional_decimals: o.u32("notionalDecimals")?,
        min_order_base: Quantity::non_negative("minOrderInBaseAsset", min_base).map_err(|e| {
            Malformed::new(
                o.field("minOrderInBaseAsset"),
                format!("{} is not {}", e.value, e.expected),
            )
        })?,
        min_order_quote: Notional::non_negative("minOrderInQuoteAsset", min_quote).map_err(
            |e| {
                Malformed::new(
                    o.field("minOrderInQuoteAsset"),
                    format!("{} is not {}", e.value, e.expected),
                )
            },
        )?,
        max_order_base: o.opt_quantity("maxOrderInBaseAsset")?,
        max_order_quote: o.opt_notional("maxOrderInQuoteAsset")?,
    };
    let base = o
        .opt_asset("base")?
        .unwrap_or_else(|| market.base().clone());
    let quote = o
        .opt_asset("quote")?
        .unwrap_or_else(|| market.quote().clone());
    if &base != market.base() || &quote != market.quote() {
        return Err(Malformed::new(
            o.field("base"),
            format!("base {base} and quote {quote} do not match the market {market}"),
        ));
    }
    Ok(MarketInfo {
        rules,
        base,
        quote,
        max_open_orders: o.opt_u32("maxOpenOrders")?,
        fee_category: o.opt_str("feeCategory")?.map(str::to_owned),
        order_types: o.opt_strings("orderTypes")?,
    })
}

impl Endpoint for MarketsQuery {
    type Response = Vec<MarketInfo>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/markets", "/markets", 1)
            .opt_param("market", self.market.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<MarketInfo>, Malformed> {
        wire::list(body, "markets", true, parse_market)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn btc() -> Value {
        json!({"market":"BTC-EUR","status":"trading","base":"BTC","quote":"EUR","pricePrecision":null,
               "tickSize":"1.00","minOrderInBaseAsset":"0.00006100","minOrderInQuoteAsset":"5.00",
               "maxOrderInBaseAsset":"1000000000.00000000","maxOrderInQuoteAsset":"1000000000.00",
               "quantityDecimals":8,"notionalDecimals":"2","maxOpenOrders":100,"feeCategory":"A",
               "orderTypes":["market","limit"]})
    }

    #[test]
    fn becomes_core_market_rules() {
        let markets = MarketsQuery::default().parse(&json!([btc()])).unwrap();
        let r = &markets[0].rules;
        assert_eq!(r.market.to_string(), "BTC-EUR");
        assert_eq!(r.status, MarketStatus::Trading);
        assert_eq!(r.tick_size.to_string(), "1");
        assert_eq!((r.quantity_decimals, r.notional_decimals), (8, 2));
        assert_eq!(r.min_order_base.to_string(), "0.000061");
        assert_eq!(markets[0].max_open_orders, Some(100));
        // A single object (with market=) reads as a list of one.
        assert_eq!(MarketsQuery::default().parse(&btc()).unwrap().len(), 1);
    }

    #[test]
    fn bad_fields_are_named() {
        let mut v = btc();
        v["tickSize"] = json!("0");
        let err = MarketsQuery::default().parse(&json!([v])).unwrap_err();
        assert_eq!(err.field, "markets[0].tickSize");
        let mut v = btc();
        v["status"] = json!("sleeping");
        assert_eq!(
            MarketsQuery::default()
                .parse(&json!([btc(), v]))
                .unwrap_err()
                .field,
            "markets[1].status"
        );
        let mut v = btc();
        v["base"] = json!("ETH");
        assert!(MarketsQuery::default().parse(&v).is_err());
    }
}
