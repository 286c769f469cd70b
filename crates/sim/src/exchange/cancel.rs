//! Canceling: one order (DELETE /order), all open orders (DELETE /orders), and the dead man's
//! switch (POST /cancelOrdersAfter), which cancels every open order of the account when it
//! expires (checked by `Exchange::settle`). Each cancel needs `operatorId` and echoes it.

use serde_json::{json, Value};

use super::{orders::OrderStatus, params::Params, Caller, Exchange};
use crate::error::ApiError;

impl Exchange {
    /// DELETE /order.
    pub(crate) fn cancel_order(
        &mut self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&["market", "orderId", "clientOrderId", "operatorId"])?;
        let operator_id = p.operator_id()?;
        let idx = self.find_order(caller, p)?;
        if !self.orders[idx].status.is_open() {
            return Err(ApiError::new(
                233,
                "Order must be in status new or partiallyFilled to be canceled.",
            ));
        }
        self.close_order(idx, OrderStatus::Canceled, now);
        let o = &self.orders[idx];
        let mut out = json!({ "orderId": o.id.to_string() });
        if let Some(c) = &o.client_order_id {
            out["clientOrderId"] = json!(c);
        }
        out["operatorId"] = json!(operator_id);
        Ok(out)
    }

    /// DELETE /orders: cancel all open orders (of a market, or all).
    pub(crate) fn cancel_orders(
        &mut self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&["market", "operatorId"])?;
        let operator_id = p.operator_id()?;
        let market = p.str("market")?.map(|m| self.market(m)).transpose()?;
        let targets: Vec<usize> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.status.is_open() && o.account == caller.account)
            .filter(|(_, o)| market.is_none_or(|m| o.market == m))
            .map(|(i, _)| i)
            .collect();
        let mut out = Vec::new();
        for idx in targets {
            self.close_order(idx, OrderStatus::Canceled, now);
            out.push(
                json!({ "orderId": self.orders[idx].id.to_string(), "operatorId": operator_id }),
            );
        }
        Ok(Value::Array(out))
    }

    /// POST /cancelOrdersAfter: arm (10..300 s) or disarm (0) the dead man's switch.
    pub(crate) fn cancel_orders_after(
        &mut self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&["codGroupId", "expiryAfterSeconds", "operatorId"])?;
        let group = p.integer_in("codGroupId", 1..=1000, 1)?;
        let seconds = p
            .integer("expiryAfterSeconds")?
            .ok_or_else(|| ApiError::required("expiryAfterSeconds"))?;
        if seconds == 0 {
            self.cancel_after.remove(&caller.account);
            return Ok(json!({ "codGroupId": group, "timeOfExpirySeconds": 0 }));
        }
        if !(10..=300).contains(&seconds) {
            return Err(ApiError::invalid_because(
                "expiryAfterSeconds",
                "It must be 0 (disarm) or between 10 and 300.",
            ));
        }
        let deadline_ms = now + seconds * 1000;
        self.cancel_after
            .insert(caller.account, super::CancelAfter { group, deadline_ms });
        Ok(json!({ "codGroupId": group, "timeOfExpirySeconds": deadline_ms / 1000 }))
    }
}
