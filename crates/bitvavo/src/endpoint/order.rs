//! The order object that create, get and the order lists return (bitvavo-api.md section 5),
//! and the ids that find an order again.
//!
//! An `orderId` is unique only within its market, so an order is keyed by [`OrderKey`] (market +
//! order id). Amounts and prices become core's newtypes; fees stay plain `Decimal` because a
//! maker rebate can make them negative.

use std::fmt;

use rust_decimal::Decimal;
use serde_json::Value;
use vigil_core::{
    Asset, ClientOrderId, Market, Notional, OrderType, Price, Quantity, Side, Timestamp,
    ValidationError,
};

use crate::error::Malformed;
use crate::wire::Obj;

/// The exchange's id of an order: unique only within its market (see [`OrderKey`]).
///
/// Kept as the exact text Bitvavo sent (a UUID), so it is echoed back byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(String);

impl OrderId {
    /// Parses an order id: 1 to 64 letters, digits and hyphens (Bitvavo sends UUIDs).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `order_id` otherwise.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ValidationError::new(
                "order_id",
                text.chars().take(70).collect::<String>(),
                "an order id such as 1be6d0df-d5dc-4b53-a250-3376f3b393e6",
            ))
        }
    }

    /// The id as Bitvavo sent it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What identifies an order on Bitvavo: its market and its order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey {
    /// The market.
    pub market: Market,
    /// The order id within that market.
    pub order_id: OrderId,
}

/// An order's status (section 5). Statuses Vigil does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// In the book, nothing filled.
    New,
    /// A trigger order that has not triggered.
    AwaitingTrigger,
    /// Active and partly filled.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Canceled; `reason` is the suffix of a specific status (`IOC` from `canceledIOC`), if any.
    Canceled {
        /// The specific cancel reason, e.g. `SelfTradePrevention`, `IOC`, `FOK`, `PostOnly`.
        reason: Option<String>,
    },
    /// A market order that found no match, liquidity or balance.
    Expired,
    /// Refused by the exchange after it was received.
    Rejected,
    /// A status this version of Vigil does not know.
    Other(String),
}

impl OrderStatus {
    /// Reads Bitvavo's spelling.
    #[must_use]
    pub fn from_wire(text: &str) -> Self {
        match text {
            "new" => Self::New,
            "awaitingTrigger" => Self::AwaitingTrigger,
            "partiallyFilled" => Self::PartiallyFilled,
            "filled" => Self::Filled,
            "expired" => Self::Expired,
            "rejected" => Self::Rejected,
            "canceled" => Self::Canceled { reason: None },
            other => match other.strip_prefix("canceled") {
                Some(reason) => Self::Canceled {
                    reason: Some(reason.to_owned()),
                },
                None => Self::Other(other.to_owned()),
            },
        }
    }

    /// Bitvavo's spelling.
    #[must_use]
    pub fn as_wire(&self) -> String {
        match self {
            Self::New => "new".into(),
            Self::AwaitingTrigger => "awaitingTrigger".into(),
            Self::PartiallyFilled => "partiallyFilled".into(),
            Self::Filled => "filled".into(),
            Self::Canceled { reason: None } => "canceled".into(),
            Self::Canceled { reason: Some(r) } => format!("canceled{r}"),
            Self::Expired => "expired".into(),
            Self::Rejected => "rejected".into(),
            Self::Other(s) => s.clone(),
        }
    }

    /// Whether the order may still fill (new, partly filled, awaiting its trigger).
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Self::New | Self::PartiallyFilled | Self::AwaitingTrigger
        )
    }

    /// Whether the order has ended: filled, canceled, expired or rejected. An unknown status is
    /// neither open nor final; treat it as needing a person's look.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Filled | Self::Canceled { .. } | Self::Expired | Self::Rejected
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_wire())
    }
}

/// The order types Bitvavo reports, including the trigger types Vigil never places.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExchangeOrderType {
    /// `market`.
    Market,
    /// `limit`.
    Limit,
    /// `stopLoss`.
    StopLoss,
    /// `stopLossLimit`.
    StopLossLimit,
    /// `takeProfit`.
    TakeProfit,
    /// `takeProfitLimit`.
    TakeProfitLimit,
    /// A type this version of Vigil does not know.
    Other(String),
}

impl ExchangeOrderType {
    /// Reads Bitvavo's spelling.
    #[must_use]
    pub fn from_wire(text: &str) -> Self {
        match text {
            "market" => Self::Market,
            "limit" => Self::Limit,
            "stopLoss" => Self::StopLoss,
            "stopLossLimit" => Self::StopLossLimit,
            "takeProfit" => Self::TakeProfit,
            "takeProfitLimit" => Self::TakeProfitLimit,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The core order type, for the two types Vigil places.
    #[must_use]
    pub fn as_core(&self) -> Option<OrderType> {
        match self {
            Self::Market => Some(OrderType::Market),
            Self::Limit => Some(OrderType::Limit),
            _ => None,
        }
    }
}

/// One fill of an order, as embedded in the order object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFill {
    /// The fill id (unique within the market).
    pub id: String,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Base quantity filled.
    pub amount: Quantity,
    /// Price of the fill.
    pub price: Price,
    /// Whether the order took liquidity.
    pub taker: Option<bool>,
    /// Fee charged (negative for a rebate).
    pub fee: Option<Decimal>,
    /// Asset the fee was charged in.
    pub fee_currency: Option<Asset>,
    /// Whether the fill has settled.
    pub settled: Option<bool>,
}

/// An order as Bitvavo reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Market and order id.
    pub key: OrderKey,
    /// Vigil's id, when it was set at creation.
    pub client_order_id: Option<ClientOrderId>,
    /// When the order was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// Where it stands.
    pub status: OrderStatus,
    /// Buy or sell.
    pub side: Side,
    /// Its type.
    pub order_type: ExchangeOrderType,
    /// Base quantity ordered (absent for quote-sized market orders).
    pub amount: Option<Quantity>,
    /// Base quantity not yet filled.
    pub amount_remaining: Option<Quantity>,
    /// Quote amount ordered (quote-sized market orders only).
    pub amount_quote: Option<Notional>,
    /// Quote amount not yet used.
    pub amount_quote_remaining: Option<Notional>,
    /// Limit price.
    pub price: Option<Price>,
    /// Amount reserved for the order.
    pub on_hold: Option<Decimal>,
    /// Asset of `on_hold`.
    pub on_hold_currency: Option<Asset>,
    /// Base quantity filled so far.
    pub filled_amount: Quantity,
    /// Quote value filled so far.
    pub filled_amount_quote: Notional,
    /// Fees paid so far (negative for a rebate).
    pub fee_paid: Decimal,
    /// Asset of the fees.
    pub fee_currency: Option<Asset>,
    /// The fills, when the answer includes them.
    pub fills: Vec<OrderFill>,
    /// `GTC`, `IOC` or `FOK`, as reported.
    pub time_in_force: Option<String>,
    /// Whether the order was post-only.
    pub post_only: Option<bool>,
    /// Self-trade prevention, as reported.
    pub self_trade_prevention: Option<String>,
    /// Whether the order shows in the book.
    pub visible: Option<bool>,
    /// The `operatorId` echoed back.
    pub operator_id: Option<i64>,
}

/// Reads one order object at `obj`.
pub(crate) fn parse_order(obj: Obj<'_>) -> Result<Order, Malformed> {
    let market = obj.market("market")?;
    let order_id = obj.parse("orderId", OrderId::parse)?;
    let fills = obj
        .opt_array("fills")?
        .iter()
        .enumerate()
        .map(|(i, v)| parse_fill(v, &format!("{}[{i}]", obj.field("fills"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Order {
        key: OrderKey { market, order_id },
        client_order_id: obj.opt_parse("clientOrderId", ClientOrderId::parse)?,
        created: obj.timestamp("created")?,
        updated: obj.timestamp("updated")?,
        status: OrderStatus::from_wire(obj.str("status")?),
        side: obj.side("side")?,
        order_type: ExchangeOrderType::from_wire(obj.str("orderType")?),
        amount: obj.opt_quantity("amount")?,
        amount_remaining: obj.opt_quantity("amountRemaining")?,
        amount_quote: obj.opt_notional("amountQuote")?,
        amount_quote_remaining: obj.opt_notional("amountQuoteRemaining")?,
        price: obj.opt_price("price")?,
        on_hold: obj.opt_decimal("onHold")?,
        on_hold_currency: obj.opt_asset("onHoldCurrency")?,
        filled_amount: obj.opt_quantity("filledAmount")?.unwrap_or(Quantity::ZERO),
        filled_amount_quote: obj
            .opt_notional("filledAmountQuote")?
            .unwrap_or(Notional::ZERO),
        fee_paid: obj.opt_decimal("feePaid")?.unwrap_or(Decimal::ZERO),
        fee_currency: obj.opt_asset("feeCurrency")?,
        fills,
        time_in_force: obj.opt_str("timeInForce")?.map(str::to_owned),
        post_only: obj.opt_bool("postOnly")?,
        self_trade_prevention: obj.opt_str("selfTradePrevention")?.map(str::to_owned),
        visible: obj.opt_bool("visible")?,
        operator_id: obj.opt_int("operatorId")?,
    })
}

fn parse_fill(value: &Value, path: &str) -> Result<OrderFill, Malformed> {
    let f = Obj::new(value, path)?;
    Ok(OrderFill {
        id: f.str("id")?.to_owned(),
        timestamp: f.timestamp("timestamp")?,
        amount: f.quantity("amount")?,
        price: f.price("price")?,
        taker: f.opt_bool("taker")?,
        fee: f.opt_decimal("fee")?,
        fee_currency: f.opt_asset("feeCurrency")?,
        settled: f.opt_bool("settled")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(crate) fn sample() -> Value {
        json!({
            "orderId": "1be6d0df-d5dc-4b53-a250-3376f3b393e6",
            "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9",
            "market": "BTC-EUR", "created": 1_700_000_000_000_i64, "updated": 1_700_000_000_500_i64,
            "status": "partiallyFilled", "side": "buy", "orderType": "limit",
            "amount": "0.002", "amountRemaining": "0.001", "price": "50000",
            "onHold": "50.13", "onHoldCurrency": "EUR",
            "filledAmount": "0.001", "filledAmountQuote": "50", "feePaid": "0.125", "feeCurrency": "EUR",
            "fills": [{"id": "f1", "timestamp": 1_700_000_000_400_i64, "amount": "0.001", "price": "50000",
                       "taker": true, "fee": "0.125", "feeCurrency": "EUR", "settled": true}],
            "selfTradePrevention": "decrementAndCancel", "visible": true, "timeInForce": "GTC",
            "postOnly": false, "operatorId": 543_462
        })
    }

    #[test]
    fn reads_a_full_order() {
        let v = sample();
        let o = parse_order(Obj::new(&v, "").unwrap()).unwrap();
        assert_eq!(o.key.market.to_string(), "BTC-EUR");
        assert_eq!(
            o.key.order_id.as_str(),
            "1be6d0df-d5dc-4b53-a250-3376f3b393e6"
        );
        assert_eq!(
            o.client_order_id.unwrap().to_string(),
            "2be7d0df-d8dc-7b93-a550-8876f3b393e9"
        );
        assert_eq!(o.status, OrderStatus::PartiallyFilled);
        assert!(o.status.is_open());
        assert_eq!(o.amount.unwrap().to_string(), "0.002");
        assert_eq!(o.filled_amount_quote.to_string(), "50");
        assert_eq!(o.fills.len(), 1);
        assert_eq!(o.operator_id, Some(543_462));
        assert_eq!(o.order_type.as_core(), Some(OrderType::Limit));
    }

    #[test]
    fn wrong_fields_are_named() {
        let mut v = sample();
        v["fills"][0]["price"] = json!(50000.5);
        let err = parse_order(Obj::new(&v, "order").unwrap()).unwrap_err();
        assert_eq!(err.field, "order.fills[0].price");
        let mut v = sample();
        v["clientOrderId"] = json!("not-a-uuid");
        assert_eq!(
            parse_order(Obj::new(&v, "").unwrap()).unwrap_err().field,
            "clientOrderId"
        );
        let mut v = sample();
        v["amount"] = json!("-1");
        assert_eq!(
            parse_order(Obj::new(&v, "").unwrap()).unwrap_err().field,
            "amount"
        );
    }

    #[test]
    fn statuses_round_trip_and_classify() {
        for s in [
            "new",
            "awaitingTrigger",
            "partiallyFilled",
            "filled",
            "canceled",
            "canceledIOC",
            "canceledSelfTradePrevention",
            "expired",
            "rejected",
            "somethingNew",
        ] {
            assert_eq!(OrderStatus::from_wire(s).as_wire(), s);
        }
        assert!(OrderStatus::from_wire("canceledPostOnly").is_final());
        let unknown = OrderStatus::from_wire("somethingNew");
        assert!(!unknown.is_final() && !unknown.is_open());
    }

    #[test]
    fn order_ids_are_checked() {
        assert!(OrderId::parse("1be6d0df-d5dc-4b53-a250-3376f3b393e6").is_ok());
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("a&b").is_err());
        assert!(OrderId::parse(&"a".repeat(65)).is_err());
    }
}
