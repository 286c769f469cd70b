//! The JSON shapes of orders and fills, as bitvavo-api.md section 5 lists them: amounts and
//! prices as strings, timestamps and `operatorId` as integers, `clientOrderId` only when it was
//! set, `amount`/`amountRemaining` or `amountQuote`/`amountQuoteRemaining` by how the order was
//! sized, limit-only fields only on limit orders.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{orders::Fill, text, Exchange};

impl Exchange {
    pub(super) fn fill_json(&self, f: &Fill) -> Value {
        json!({
            "id": f.id.to_string(),
            "timestamp": f.timestamp,
            "amount": text(f.amount),
            "price": text(f.price),
            "taker": f.taker,
            "fee": text(f.fee),
            "feeCurrency": f.fee_currency,
            "settled": true,
        })
    }

    pub(super) fn order_json(&self, idx: usize) -> Value {
        let o = &self.orders[idx];
        let market = &self.markets[o.market];
        let mut v = json!({
            "orderId": o.id.to_string(),
            "market": market.cfg.market,
            "created": o.created_ms,
            "updated": o.updated_ms,
            "status": o.status.as_str(),
            "side": o.side.as_str(),
            "orderType": if o.is_limit { "limit" } else { "market" },
        });
        if let Some(c) = &o.client_order_id {
            v["clientOrderId"] = json!(c);
        }
        match (o.amount, o.amount_quote) {
            (_, Some(q)) => {
                let spent = if o.side == vigil_core::Side::Buy {
                    o.filled_amount_quote + o.fee_paid
                } else {
                    o.filled_amount_quote
                };
                v["amountQuote"] = json!(text(q));
                v["amountQuoteRemaining"] = json!(text((q - spent).max(Decimal::ZERO)));
            }
            (Some(a), None) => {
                v["amount"] = json!(text(a));
                v["amountRemaining"] = json!(text(a - o.filled_amount));
            }
            (None, None) => {}
        }
        if let Some(p) = o.price {
            v["price"] = json!(text(p));
        }
        v["onHold"] = json!(text(o.hold));
        v["onHoldCurrency"] = json!(o.hold_asset);
        v["filledAmount"] = json!(text(o.filled_amount));
        v["filledAmountQuote"] = json!(text(o.filled_amount_quote));
        v["feePaid"] = json!(text(o.fee_paid));
        v["feeCurrency"] = json!(market.quote);
        v["fills"] = Value::Array(
            o.fills
                .iter()
                .map(|f| self.fill_json(&self.fills[*f]))
                .collect(),
        );
        v["selfTradePrevention"] = json!(o.self_trade_prevention);
        v["visible"] = json!(o.is_limit && o.status.is_open());
        if o.is_limit {
            v["timeInForce"] = json!(o.time_in_force);
            v["postOnly"] = json!(o.post_only);
        } else {
            v["disableMarketProtection"] = json!(o.disable_market_protection);
        }
        v["operatorId"] = json!(o.operator_id);
        v
    }

    pub(super) fn trade_json(&self, f: &Fill) -> Value {
        let o = &self.orders[f.order];
        let mut v = json!({
            "id": f.id.to_string(),
            "orderId": o.id.to_string(),
        });
        if let Some(c) = &o.client_order_id {
            v["clientOrderId"] = json!(c);
        }
        v["timestamp"] = json!(f.timestamp);
        v["market"] = json!(self.markets[o.market].cfg.market);
        v["side"] = json!(o.side.as_str());
        v["amount"] = json!(text(f.amount));
        v["price"] = json!(text(f.price));
        v["taker"] = json!(f.taker);
        v["fee"] = json!(text(f.fee));
        v["feeCurrency"] = json!(f.fee_currency);
        v["settled"] = json!(true);
        v
    }
}
