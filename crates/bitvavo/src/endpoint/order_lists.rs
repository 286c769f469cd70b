//! Lists of orders and cancel-all (bitvavo-api.md 4.16 to 4.18):
//! - `GET /orders`: order history of one market (weight 5);
//! - `GET /ordersOpen`: open orders, of one market (weight 1) or all (budgeted at 25, the larger
//!   of the documented values);
//! - `DELETE /orders`: cancel all open orders, of one market (weight 25) or all (100), with
//!   `operatorId`.

use serde_json::Value;
use vigil_core::{Market, Timestamp, ValidationError};

use super::{
    order::parse_order, order_lookup::parse_cancel_ack, CancelAck, Endpoint, Order, OrderId,
    RequestParts,
};
use crate::{config::OperatorId, error::Malformed, wire, BitvavoError};

/// The largest page Bitvavo returns from a list endpoint.
pub(crate) const MAX_PAGE: u16 = 1000;

/// Checks a page size (1 to 1000).
pub(crate) fn check_limit(limit: u16) -> Result<u16, ValidationError> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ValidationError::new(
            "limit",
            limit,
            "a page size from 1 to 1000",
        ))
    }
}

/// Checks that a time range is ordered and, when `max_span` is given, not too long.
pub(crate) fn check_range(
    start: Timestamp,
    end: Timestamp,
    max_span: Option<chrono::TimeDelta>,
) -> Result<(), ValidationError> {
    if end < start {
        return Err(ValidationError::new(
            "end",
            end,
            format!("a time at or after start ({start})"),
        ));
    }
    if let Some(span) = max_span {
        if end - start > span {
            return Err(ValidationError::new(
                "end",
                end,
                format!("at most {} hours after start ({start})", span.num_hours()),
            ));
        }
    }
    Ok(())
}

/// `GET /orders`: the order history of one market, newest first (the reconciler's second place
/// to look for an order by `clientOrderId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderHistoryQuery {
    market: Market,
    limit: Option<u16>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    order_id_from: Option<OrderId>,
    order_id_to: Option<OrderId>,
}

impl OrderHistoryQuery {
    /// The newest orders of `market` (Bitvavo's default page of 500).
    #[must_use]
    pub fn new(market: Market) -> Self {
        Self {
            market,
            limit: None,
            start: None,
            end: None,
            order_id_from: None,
            order_id_to: None,
        }
    }

    /// At most `limit` orders (1 to 1000).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `limit` outside 1..=1000.
    pub fn with_limit(mut self, limit: u16) -> Result<Self, ValidationError> {
        self.limit = Some(check_limit(limit)?);
        Ok(self)
    }

    /// Only orders created from `start` to `end`.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `end` when it is before `start`.
    pub fn between(mut self, start: Timestamp, end: Timestamp) -> Result<Self, ValidationError> {
        check_range(start, end, None)?;
        self.start = Some(start);
        self.end = Some(end);
        Ok(self)
    }

    /// Only orders between these ids (paging).
    #[must_use]
    pub fn order_ids(mut self, from: Option<OrderId>, to: Option<OrderId>) -> Self {
        self.order_id_from = from;
        self.order_id_to = to;
        self
    }
}

fn parse_orders(body: &Value) -> Result<Vec<Order>, Malformed> {
    wire::list(body, "orders", false, parse_order)
}

impl Endpoint for OrderHistoryQuery {
    type Response = Vec<Order>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/orders", "/orders", 5)
            .param("market", &self.market)
            .opt_param("limit", self.limit)
            .opt_param("start", self.start.map(|t| t.timestamp_millis()))
            .opt_param("end", self.end.map(|t| t.timestamp_millis()))
            .opt_param("orderIdFrom", self.order_id_from.as_ref())
            .opt_param("orderIdTo", self.order_id_to.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<Order>, Malformed> {
        parse_orders(body)
    }
}

/// `GET /ordersOpen`: open orders of one market, or of all markets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrdersQuery {
    /// One market, or all when `None` (weight 25 instead of 1).
    pub market: Option<Market>,
}

impl Endpoint for OpenOrdersQuery {
    type Response = Vec<Order>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let weight = if self.market.is_some() { 1 } else { 25 };
        Ok(
            RequestParts::get("GET /v2/ordersOpen", "/ordersOpen", weight)
                .opt_param("market", self.market.as_ref()),
        )
    }

    fn parse(&self, body: &Value) -> Result<Vec<Order>, Malformed> {
        parse_orders(body)
    }
}

/// `DELETE /orders`: cancels every open order of one market, or of the whole account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAllOrders {
    /// One market, or every market when `None`.
    pub market: Option<Market>,
}

impl Endpoint for CancelAllOrders {
    type Response = Vec<CancelAck>;

    fn parts(&self, operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let weight = if self.market.is_some() { 25 } else { 100 };
        Ok(RequestParts {
            method: reqwest::Method::DELETE,
            mutates: true,
            ..RequestParts::get("DELETE /v2/orders", "/orders", weight)
                .opt_param("market", self.market.as_ref())
                .param("operatorId", operator)
        })
    }

    fn parse(&self, body: &Value) -> Result<Vec<CancelAck>, Malformed> {
        wire::list(body, "canceled", false, parse_cancel_ack)
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn op() -> OperatorId {
        OperatorId::new(7).unwrap()
    }

    #[test]
    fn history_query_in_documented_order() {
        let t = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        let q = OrderHistoryQuery::new(Market::parse("BTC-EUR").unwrap())
            .with_limit(100)
            .unwrap()
            .between(t(1_000), t(2_000))
            .unwrap();
        let parts = q.parts(op()).unwrap();
        assert_eq!(
            parts.target(),
            "/v2/orders?market=BTC-EUR&limit=100&start=1000&end=2000"
        );
        assert_eq!(parts.weight, 5);
        assert!(OrderHistoryQuery::new(Market::parse("BTC-EUR").unwrap())
            .with_limit(0)
            .is_err());
        assert_eq!(
            OrderHistoryQuery::new(Market::parse("BTC-EUR").unwrap())
                .between(t(2), t(1))
                .unwrap_err()
                .field,
            "end"
        );
    }

    #[test]
    fn weights_depend_on_the_market() {
        let all = OpenOrdersQuery { market: None }.parts(op()).unwrap();
        assert_eq!((all.weight, all.target().as_str()), (25, "/v2/ordersOpen"));
        let one = OpenOrdersQuery {
            market: Some(Market::parse("BTC-EUR").unwrap()),
        }
        .parts(op())
        .unwrap();
        assert_eq!(one.weight, 1);
        let cancel_all = CancelAllOrders { market: None }.parts(op()).unwrap();
        assert_eq!(cancel_all.weight, 100);
        assert_eq!(cancel_all.target(), "/v2/orders?operatorId=7");
        assert!(cancel_all.mutates && cancel_all.body.is_none());
    }
}
