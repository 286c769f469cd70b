//! `GET /trades`: the account's fills in one market, newest first (bitvavo-api.md 4.19; weight
//! 5). Fills carry the order's `clientOrderId`, which makes them the reconciler's third place to
//! look for an order.

use chrono::TimeDelta;
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::{Asset, ClientOrderId, Market, Price, Quantity, Side, Timestamp, ValidationError};

use super::{
    order_lists::{check_limit, check_range},
    Endpoint, OrderId, RequestParts,
};
use crate::{config::OperatorId, error::Malformed, wire, wire::Obj, BitvavoError};

/// One fill of one of the account's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trade {
    /// The fill id (unique within the market).
    pub id: String,
    /// The order it belongs to.
    pub order_id: Option<OrderId>,
    /// The order's `clientOrderId`, when it had one.
    pub client_order_id: Option<ClientOrderId>,
    /// When it happened.
    pub timestamp: Timestamp,
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// Base quantity.
    pub amount: Quantity,
    /// Price.
    pub price: Price,
    /// Whether the order took liquidity.
    pub taker: Option<bool>,
    /// Fee (negative for a rebate).
    pub fee: Option<Decimal>,
    /// Asset of the fee.
    pub fee_currency: Option<Asset>,
    /// Whether it has settled.
    pub settled: Option<bool>,
}

/// Asks for the account's fills in one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeHistoryQuery {
    market: Market,
    limit: Option<u16>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    trade_id_from: Option<String>,
    trade_id_to: Option<String>,
}

impl TradeHistoryQuery {
    /// The newest fills of `market` (Bitvavo's default page of 500).
    #[must_use]
    pub fn new(market: Market) -> Self {
        Self {
            market,
            limit: None,
            start: None,
            end: None,
            trade_id_from: None,
            trade_id_to: None,
        }
    }

    /// At most `limit` fills (1 to 1000).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `limit` outside 1..=1000.
    pub fn with_limit(mut self, limit: u16) -> Result<Self, ValidationError> {
        self.limit = Some(check_limit(limit)?);
        Ok(self)
    }

    /// Only fills from `start` to `end`, which Bitvavo allows at most 24 hours apart.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `end` when it is before `start` or more than 24 h after.
    pub fn between(mut self, start: Timestamp, end: Timestamp) -> Result<Self, ValidationError> {
        check_range(start, end, Some(TimeDelta::hours(24)))?;
        self.start = Some(start);
        self.end = Some(end);
        Ok(self)
    }

    /// Only fills between these fill ids (paging).
    #[must_use]
    pub fn trade_ids(mut self, from: Option<String>, to: Option<String>) -> Self {
        self.trade_id_from = from;
        self.trade_id_to = to;
        self
    }
}

fn parse_trade(t: Obj<'_>) -> Result<Trade, Malformed> {
    Ok(Trade {
        id: t.str("id")?.to_owned(),
        order_id: t.opt_parse("orderId", OrderId::parse)?,
        client_order_id: t.opt_parse("clientOrderId", ClientOrderId::parse)?,
        timestamp: t.timestamp("timestamp")?,
        market: t.market("market")?,
        side: t.side("side")?,
        amount: t.quantity("amount")?,
        price: t.price("price")?,
        taker: t.opt_bool("taker")?,
        fee: t.opt_decimal("fee")?,
        fee_currency: t.opt_asset("feeCurrency")?,
        settled: t.opt_bool("settled")?,
    })
}

impl Endpoint for TradeHistoryQuery {
    type Response = Vec<Trade>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/trades", "/trades", 5)
            .param("market", &self.market)
            .opt_param("limit", self.limit)
            .opt_param("start", self.start.map(|t| t.timestamp_millis()))
            .opt_param("end", self.end.map(|t| t.timestamp_millis()))
            .opt_param("tradeIdFrom", self.trade_id_from.as_ref())
            .opt_param("tradeIdTo", self.trade_id_to.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<Trade>, Malformed> {
        wire::list(body, "trades", false, parse_trade)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    #[test]
    fn range_longer_than_a_day_is_refused() {
        let t = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        let q = TradeHistoryQuery::new(Market::parse("BTC-EUR").unwrap());
        assert!(q.clone().between(t(0), t(86_400_000)).is_ok());
        assert_eq!(q.between(t(0), t(86_400_001)).unwrap_err().field, "end");
    }

    #[test]
    fn parses_fills_with_client_order_id() {
        let q = TradeHistoryQuery::new(Market::parse("BTC-EUR").unwrap());
        let trades = q
            .parse(&json!([{
                "id": "t1", "orderId": "1be6d0df-d5dc-4b53-a250-3376f3b393e6",
                "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9",
                "timestamp": 1_700_000_000_000_i64, "market": "BTC-EUR", "side": "sell",
                "amount": "0.01", "price": "50000", "taker": true, "fee": "1.25",
                "feeCurrency": "EUR", "settled": true
            }]))
            .unwrap();
        assert_eq!(trades[0].side, Side::Sell);
        assert!(trades[0].client_order_id.is_some());
        assert_eq!(
            q.parse(&json!([{"id": "t1"}])).unwrap_err().field,
            "trades[0].timestamp"
        );
    }
}
