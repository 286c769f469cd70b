//! `GET /order` and `DELETE /order`: one order, found by `orderId` or by `clientOrderId`
//! (bitvavo-api.md 4.14 and 4.15; weight 1 each).
//!
//! `market` is always required. Exactly one of the two ids is sent (Bitvavo would prefer
//! `clientOrderId` if both were), and cancel adds `operatorId`. Parameters go in the query in the
//! order `market`, id, `operatorId`; DELETE is signed with an empty body and sent without one.

use serde_json::Value;
use vigil_core::{ClientOrderId, Market};

use super::{order::parse_order, Endpoint, Order, OrderId, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire::Obj, BitvavoError};

/// Which id finds the order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// The exchange's order id.
    OrderId(OrderId),
    /// Vigil's `clientOrderId` (how the reconciler finds an order whose answer was lost).
    ClientOrderId(ClientOrderId),
}

impl OrderRef {
    fn param(&self) -> (&'static str, String) {
        match self {
            Self::OrderId(id) => ("orderId", id.as_str().to_owned()),
            Self::ClientOrderId(id) => ("clientOrderId", id.to_string().to_ascii_lowercase()),
        }
    }
}

/// Looks up one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetOrder {
    /// The market of the order.
    pub market: Market,
    /// Which id to look it up by.
    pub by: OrderRef,
}

impl GetOrder {
    /// By the exchange's order id.
    #[must_use]
    pub fn by_order_id(market: Market, order_id: OrderId) -> Self {
        Self {
            market,
            by: OrderRef::OrderId(order_id),
        }
    }

    /// By Vigil's `clientOrderId`.
    #[must_use]
    pub fn by_client_order_id(market: Market, client_order_id: ClientOrderId) -> Self {
        Self {
            market,
            by: OrderRef::ClientOrderId(client_order_id),
        }
    }
}

impl Endpoint for GetOrder {
    type Response = Order;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let (name, value) = self.by.param();
        Ok(RequestParts::get("GET /v2/order", "/order", 1)
            .param("market", &self.market)
            .param(name, value))
    }

    fn parse(&self, body: &Value) -> Result<Order, Malformed> {
        parse_order(Obj::new(body, "")?)
    }
}

/// Cancels one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrder {
    /// The market of the order.
    pub market: Market,
    /// Which id to cancel it by.
    pub by: OrderRef,
}

impl CancelOrder {
    /// By the exchange's order id.
    #[must_use]
    pub fn by_order_id(market: Market, order_id: OrderId) -> Self {
        Self {
            market,
            by: OrderRef::OrderId(order_id),
        }
    }

    /// By Vigil's `clientOrderId`.
    #[must_use]
    pub fn by_client_order_id(market: Market, client_order_id: ClientOrderId) -> Self {
        Self {
            market,
            by: OrderRef::ClientOrderId(client_order_id),
        }
    }
}

/// The acknowledgement of a cancel. It says nothing about fills before the cancel: fetch the
/// order for those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAck {
    /// The canceled order's id.
    pub order_id: OrderId,
    /// Its `clientOrderId`, when it had one.
    pub client_order_id: Option<ClientOrderId>,
    /// The `operatorId` echoed back.
    pub operator_id: Option<i64>,
}

pub(crate) fn parse_cancel_ack(obj: Obj<'_>) -> Result<CancelAck, Malformed> {
    Ok(CancelAck {
        order_id: obj.parse("orderId", OrderId::parse)?,
        client_order_id: obj.opt_parse("clientOrderId", ClientOrderId::parse)?,
        operator_id: obj.opt_int("operatorId")?,
    })
}

impl Endpoint for CancelOrder {
    type Response = CancelAck;

    fn parts(&self, operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let (name, value) = self.by.param();
        Ok(RequestParts {
            method: reqwest::Method::DELETE,
            mutates: true,
            ..RequestParts::get("DELETE /v2/order", "/order", 1)
                .param("market", &self.market)
                .param(name, value)
                .param("operatorId", operator)
        })
    }

    fn parse(&self, body: &Value) -> Result<CancelAck, Malformed> {
        parse_cancel_ack(Obj::new(body, "")?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn market() -> Market {
        Market::parse("BTC-EUR").unwrap()
    }

    fn op() -> OperatorId {
        OperatorId::new(543_462).unwrap()
    }

    #[test]
    fn get_by_either_id_matches_the_signed_vector_targets() {
        let coid = ClientOrderId::parse("2be7d0df-d8dc-7b93-a550-8876f3b393e9").unwrap();
        let by_client = GetOrder::by_client_order_id(market(), coid)
            .parts(op())
            .unwrap();
        // V3's request target.
        assert_eq!(
            by_client.target(),
            "/v2/order?market=BTC-EUR&clientOrderId=2be7d0df-d8dc-7b93-a550-8876f3b393e9"
        );
        assert_eq!(by_client.method, reqwest::Method::GET);
        assert!(by_client.body.is_none() && !by_client.mutates);
        let id = OrderId::parse("1be6d0df-d5dc-4b53-a250-3376f3b393e6").unwrap();
        let by_id = GetOrder::by_order_id(market(), id).parts(op()).unwrap();
        assert_eq!(
            by_id.target(),
            "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6"
        );
    }

    #[test]
    fn cancel_carries_operator_id_and_no_body() {
        let id = OrderId::parse("1be6d0df-d5dc-4b53-a250-3376f3b393e6").unwrap();
        let parts = CancelOrder::by_order_id(market(), id).parts(op()).unwrap();
        // V6's request target.
        assert_eq!(
            parts.target(),
            "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6&operatorId=543462"
        );
        assert_eq!(parts.method, reqwest::Method::DELETE);
        assert!(parts.body.is_none() && parts.mutates && !parts.creates_order);
    }

    #[test]
    fn cancel_ack_parses_with_and_without_client_order_id() {
        let id = OrderId::parse("x1").unwrap();
        let c = CancelOrder::by_order_id(market(), id);
        let ack = c
            .parse(
                &json!({"orderId": "1be6d0df-d5dc-4b53-a250-3376f3b393e6", "operatorId": 543_462}),
            )
            .unwrap();
        assert_eq!(ack.client_order_id, None);
        assert_eq!(ack.operator_id, Some(543_462));
        assert_eq!(c.parse(&json!([])).unwrap_err().field, "body");
    }
}
