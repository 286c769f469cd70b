//! `POST /order`: place an order (bitvavo-api.md 4.12; weight 1).
//!
//! The body is serialised once, compactly, in this fixed key order: `market`, `side`,
//! `orderType`, `amount` or `amountQuote`, `price`, `timeInForce`, `postOnly`,
//! `selfTradePrevention`, `clientOrderId`, `operatorId`. The `clientOrderId` is the caller's
//! [`ClientOrderId`] (stored by the executor before sending), written lower-case; `operatorId`
//! is the configured number, as a JSON number.

use serde::Serialize;
use serde_json::Value;
use vigil_core::{
    ClientOrderId, Market, Notional, OrderSize, OrderType, Price, Quantity, Side, ValidationError,
};

use super::{compact_json, order::parse_order, Endpoint, Order, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire::Obj, BitvavoError};

/// How long a limit order stays in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeInForce {
    /// Good till canceled (Bitvavo's default).
    #[serde(rename = "GTC")]
    GoodTillCanceled,
    /// Immediate or cancel: fill what can be filled now, cancel the rest.
    #[serde(rename = "IOC")]
    ImmediateOrCancel,
    /// Fill or kill: fill completely now or not at all.
    #[serde(rename = "FOK")]
    FillOrKill,
}

/// What happens when the order would trade against another order of the same account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SelfTradePrevention {
    /// Reduce the larger order by the smaller and cancel the smaller (Bitvavo's default).
    DecrementAndCancel,
    /// Cancel the older order.
    CancelOldest,
    /// Cancel the newer order.
    CancelNewest,
    /// Cancel both.
    CancelBoth,
}

/// A new order. Built only through [`CreateOrder::market`] or [`CreateOrder::limit`], which
/// refuse shapes Bitvavo would refuse (zero sizes, limit orders sized in the quote asset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrder {
    market: Market,
    side: Side,
    order_type: OrderType,
    size: OrderSize,
    price: Option<Price>,
    client_order_id: ClientOrderId,
    time_in_force: Option<TimeInForce>,
    post_only: Option<bool>,
    self_trade_prevention: Option<SelfTradePrevention>,
}

impl CreateOrder {
    /// A market order of `size` (a quote amount to spend or receive, or a base quantity).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `amount` or `amount_quote` when the size is zero.
    pub fn market(
        market: Market,
        side: Side,
        size: OrderSize,
        client_order_id: ClientOrderId,
    ) -> Result<Self, ValidationError> {
        check_size(&size)?;
        Ok(Self {
            market,
            side,
            order_type: OrderType::Market,
            size,
            price: None,
            client_order_id,
            time_in_force: None,
            post_only: None,
            self_trade_prevention: None,
        })
    }

    /// A limit order for `amount` of the base asset at `price`.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `amount` when it is zero.
    pub fn limit(
        market: Market,
        side: Side,
        amount: Quantity,
        price: Price,
        client_order_id: ClientOrderId,
    ) -> Result<Self, ValidationError> {
        let size = OrderSize::Base(amount);
        check_size(&size)?;
        Ok(Self {
            market,
            side,
            order_type: OrderType::Limit,
            size,
            price: Some(price),
            client_order_id,
            time_in_force: None,
            post_only: None,
            self_trade_prevention: None,
        })
    }

    /// Sets the time in force (limit orders only).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `time_in_force` on a market order (Bitvavo answers 202).
    pub fn with_time_in_force(mut self, tif: TimeInForce) -> Result<Self, ValidationError> {
        self.limit_only("time_in_force", format!("{tif:?}"))?;
        self.time_in_force = Some(tif);
        Ok(self)
    }

    /// Makes the order post-only (limit orders only): canceled rather than taking liquidity.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `post_only` on a market order.
    pub fn with_post_only(mut self, post_only: bool) -> Result<Self, ValidationError> {
        self.limit_only("post_only", post_only)?;
        self.post_only = Some(post_only);
        Ok(self)
    }

    /// Sets the self-trade prevention.
    #[must_use]
    pub fn with_self_trade_prevention(mut self, stp: SelfTradePrevention) -> Self {
        self.self_trade_prevention = Some(stp);
        self
    }

    fn limit_only(
        &self,
        field: &str,
        value: impl std::fmt::Display,
    ) -> Result<(), ValidationError> {
        if self.order_type == OrderType::Limit {
            Ok(())
        } else {
            Err(ValidationError::new(
                field,
                value,
                "to be set on limit orders only",
            ))
        }
    }

    /// The market.
    #[must_use]
    pub fn market_id(&self) -> &Market {
        &self.market
    }

    /// The side.
    #[must_use]
    pub fn side(&self) -> Side {
        self.side
    }

    /// The `clientOrderId` the order is sent with.
    #[must_use]
    pub fn client_order_id(&self) -> ClientOrderId {
        self.client_order_id
    }

    /// The size.
    #[must_use]
    pub fn size(&self) -> OrderSize {
        self.size
    }

    /// Whether `order` is the answer to THIS request: it echoes our `clientOrderId` (Bitvavo
    /// echoes it whenever it is set, and we always set it), and its market and side are ours,
    /// and its size, where the answer states it, is ours. An answer that is not is not our
    /// order, whatever its status (#18 case 2).
    ///
    /// # Errors
    /// What differs, for the alert and the execution's history.
    pub fn answered_by(&self, order: &Order) -> Result<(), String> {
        let mut differs = Vec::new();
        if order.client_order_id != Some(self.client_order_id) {
            differs.push(format!(
                "clientOrderId {:?} (sent {})",
                order.client_order_id.map(|c| c.to_string()),
                self.client_order_id
            ));
        }
        if order.key.market != self.market {
            differs.push(format!(
                "market {} (sent {})",
                order.key.market, self.market
            ));
        }
        if order.side != self.side {
            differs.push(format!("side {} (sent {})", order.side, self.side));
        }
        match self.size {
            OrderSize::Base(amount) if order.amount.is_some_and(|a| a != amount) => {
                differs.push(format!("amount {:?} (sent {amount})", order.amount));
            }
            OrderSize::Quote(quote) if order.amount_quote.is_some_and(|q| q != quote) => {
                differs.push(format!(
                    "amountQuote {:?} (sent {quote})",
                    order.amount_quote
                ));
            }
            _ => {}
        }
        if differs.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the answer is order {} with {}",
                order.key.order_id,
                differs.join(", ")
            ))
        }
    }
}

fn check_size(size: &OrderSize) -> Result<(), ValidationError> {
    match size {
        OrderSize::Base(q) if q.is_zero() => Err(ValidationError::new(
            "amount",
            q,
            "a base quantity greater than zero",
        )),
        OrderSize::Quote(n) if n.is_zero() => Err(ValidationError::new(
            "amount_quote",
            n,
            "a quote amount greater than zero",
        )),
        _ => Ok(()),
    }
}

/// The wire body; field order here is the key order on the wire.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    market: &'a Market,
    side: Side,
    order_type: OrderType,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_quote: Option<Notional>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_in_force: Option<TimeInForce>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    self_trade_prevention: Option<SelfTradePrevention>,
    client_order_id: String,
    operator_id: i64,
}

impl Endpoint for CreateOrder {
    type Response = Order;

    fn parts(&self, operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let (amount, amount_quote) = match self.size {
            OrderSize::Base(q) => (Some(q), None),
            OrderSize::Quote(n) => (None, Some(n)),
        };
        let body = Body {
            market: &self.market,
            side: self.side,
            order_type: self.order_type,
            amount,
            amount_quote,
            price: self.price,
            time_in_force: self.time_in_force,
            post_only: self.post_only,
            self_trade_prevention: self.self_trade_prevention,
            // Display is already lower-case hyphenated; lower-casing again states the contract.
            client_order_id: self.client_order_id.to_string().to_ascii_lowercase(),
            operator_id: operator.value(),
        };
        Ok(RequestParts {
            method: reqwest::Method::POST,
            body: Some(compact_json(&body)?),
            mutates: true,
            creates_order: true,
            ..RequestParts::get("POST /v2/order", "/order", 1)
        })
    }

    fn parse(&self, body: &Value) -> Result<Order, Malformed> {
        parse_order(Obj::new(body, "")?)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn coid() -> ClientOrderId {
        ClientOrderId::parse("2BE7D0DF-D8DC-7B93-A550-8876F3B393E9").unwrap()
    }

    fn op() -> OperatorId {
        OperatorId::new(543_462).unwrap()
    }

    fn body_text(order: &CreateOrder) -> String {
        String::from_utf8(order.parts(op()).unwrap().body.unwrap()).unwrap()
    }

    #[test]
    fn limit_body_is_compact_in_fixed_order_with_number_operator_id_and_lower_case_id() {
        let order = CreateOrder::limit(
            Market::parse("BTC-EUR").unwrap(),
            Side::Buy,
            Quantity::positive("amount", dec!(0.00100)).unwrap(),
            Price::positive("price", dec!(50000)).unwrap(),
            coid(),
        )
        .unwrap()
        .with_time_in_force(TimeInForce::GoodTillCanceled)
        .unwrap()
        .with_post_only(false)
        .unwrap();
        assert_eq!(
            body_text(&order),
            r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","timeInForce":"GTC","postOnly":false,"clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462}"#
        );
        let parts = order.parts(op()).unwrap();
        assert_eq!(parts.method, reqwest::Method::POST);
        assert_eq!(parts.target(), "/v2/order");
        assert!(parts.mutates && parts.creates_order && parts.signed);
        assert_eq!(parts.weight, 1);
    }

    #[test]
    fn market_order_by_quote_amount() {
        let order = CreateOrder::market(
            Market::parse("ETH-EUR").unwrap(),
            Side::Sell,
            OrderSize::Quote(Notional::positive("amount_quote", dec!(25)).unwrap()),
            coid(),
        )
        .unwrap()
        .with_self_trade_prevention(SelfTradePrevention::CancelBoth);
        assert_eq!(
            body_text(&order),
            r#"{"market":"ETH-EUR","side":"sell","orderType":"market","amountQuote":"25","selfTradePrevention":"cancelBoth","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462}"#
        );
    }

    #[test]
    fn shapes_bitvavo_refuses_are_refused_here() {
        let m = Market::parse("BTC-EUR").unwrap();
        let zero = CreateOrder::market(
            m.clone(),
            Side::Buy,
            OrderSize::Base(Quantity::ZERO),
            coid(),
        );
        assert_eq!(zero.unwrap_err().field, "amount");
        let zero = CreateOrder::market(
            m.clone(),
            Side::Buy,
            OrderSize::Quote(Notional::ZERO),
            coid(),
        );
        assert_eq!(zero.unwrap_err().field, "amount_quote");
        let market = CreateOrder::market(
            m,
            Side::Buy,
            OrderSize::Quote(Notional::positive("q", dec!(5)).unwrap()),
            coid(),
        )
        .unwrap();
        assert_eq!(
            market
                .clone()
                .with_time_in_force(TimeInForce::FillOrKill)
                .unwrap_err()
                .field,
            "time_in_force"
        );
        assert_eq!(market.with_post_only(true).unwrap_err().field, "post_only");
    }
}
