//! Looking orders up and listing history: GET /order (by `clientOrderId`, which wins, or
//! `orderId`), GET /orders, GET /ordersOpen, GET /trades, and the admin order log.
//!
//! Closed orders stay findable for the simulator's whole life, by either id (bitvavo-api.md
//! leaves open how long the real exchange keeps them; see docs/simulator.md). When several orders
//! used the same `clientOrderId` (reuse is allowed once the earlier one is closed), the open one
//! is returned, else the newest.
//!
//! Each log entry also carries, for in-process users only, the monotonic instants at which the
//! create request that placed the order arrived and its answer was ready ([`RequestTiming`]):
//! the admin API's JSON skips them (an `Instant` means nothing outside the process).

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{
    params::{is_uuid, Params},
    Caller, Exchange,
};
use crate::error::ApiError;

/// When the create request that placed an order reached the simulator and when its answer was
/// ready, on the monotonic clock of the simulator's process (`std::time::Instant`, not the sim
/// clock): comparable with other `Instant`s of the same process, meaningless across processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTiming {
    /// The request reached the simulator's request handler: its HTTP head was read, its body
    /// not yet, nothing parsed, checked or authenticated.
    pub arrived: Instant,
    /// The answer (the order's JSON, with its headers) was built, before any injected
    /// after-fault (a delay, a replaced error, a dropped connection) and before it was written
    /// to the socket.
    pub answered: Instant,
}

impl RequestTiming {
    /// The simulator's own handling of the request: `answered - arrived`.
    #[must_use]
    pub fn handling(&self) -> Duration {
        self.answered.saturating_duration_since(self.arrived)
    }
}

/// One entry of the admin order log: every order the simulator accepted, with who placed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLogEntry {
    /// The exchange's order id.
    pub order_id: String,
    /// The market.
    pub market: String,
    /// The clientOrderId, when one was sent.
    pub client_order_id: Option<String>,
    /// The operatorId sent on create.
    pub operator_id: i64,
    /// The API key that placed the order.
    pub api_key: String,
    /// The account's name.
    pub account: String,
    /// When it was accepted (ms, sim clock).
    pub created: i64,
    /// When it last changed (ms).
    pub updated: i64,
    /// `buy` or `sell`.
    pub side: String,
    /// `market` or `limit`.
    pub order_type: String,
    /// Base amount, when sized in base.
    pub amount: Option<Decimal>,
    /// Quote amount, when sized in quote.
    pub amount_quote: Option<Decimal>,
    /// Limit price.
    pub price: Option<Decimal>,
    /// Current status.
    pub status: String,
    /// Base filled.
    pub filled_amount: Decimal,
    /// Quote filled.
    pub filled_amount_quote: Decimal,
    /// Fees paid.
    pub fee_paid: Decimal,
    /// When the create request arrived and its answer was ready (in-process users only; not in
    /// the admin API's JSON). `None` for an entry read back from JSON.
    #[serde(skip)]
    pub request: Option<RequestTiming>,
}

impl Exchange {
    /// Finds the caller's order by `clientOrderId` (wins when both are given) or `orderId`.
    pub(super) fn find_order(&self, caller: &Caller, p: &Params) -> Result<usize, ApiError> {
        let market = self.market(p.required_str("market")?)?;
        if let Some(coid) = p.str("clientOrderId")? {
            if !is_uuid(coid) {
                return Err(ApiError::invalid("clientOrderId"));
            }
            // Prefer the open order; otherwise the newest one that used the id.
            let mut found: Option<usize> = None;
            for (i, o) in self.orders.iter().enumerate() {
                let same = o.market == market
                    && o.account == caller.account
                    && o.client_order_id
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(coid));
                if same && (found.is_none_or(|f| !self.orders[f].status.is_open())) {
                    found = Some(i);
                }
            }
            return found.ok_or_else(ApiError::order_not_found);
        }
        let id = p
            .str("orderId")?
            .ok_or_else(|| ApiError::new(203, "orderId or clientOrderId parameter is required."))?;
        let id = Uuid::parse_str(id).map_err(|_| ApiError::invalid("orderId"))?;
        self.order_index
            .get(&(market, id))
            .copied()
            .filter(|i| self.orders[*i].account == caller.account)
            .ok_or_else(ApiError::order_not_found)
    }

    /// GET /order.
    pub(crate) fn get_order(&self, caller: &Caller, p: &Params) -> Result<Value, ApiError> {
        p.only(&["market", "orderId", "clientOrderId"])?;
        let idx = self.find_order(caller, p)?;
        Ok(self.order_json(idx))
    }

    /// GET /orders: the caller's orders of a market, newest first.
    pub(crate) fn list_orders(
        &self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&[
            "market",
            "limit",
            "start",
            "end",
            "orderIdFrom",
            "orderIdTo",
            "orderId",
        ])?;
        let market = self.market(p.required_str("market")?)?;
        let limit = p.integer_in("limit", 1..=1000, 500)?;
        let (start, end) = time_range(p, now)?;
        let bound = |name: &str| -> Result<Option<Uuid>, ApiError> {
            p.str(name)?
                .map(|s| Uuid::parse_str(s).map_err(|_| ApiError::invalid(name)))
                .transpose()
        };
        let from = bound("orderIdFrom")?;
        let to = bound("orderIdTo")?.or(bound("orderId")?);
        let out: Vec<Value> = self
            .orders
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, o)| o.market == market && o.account == caller.account)
            .filter(|(_, o)| o.created_ms >= start && o.created_ms <= end)
            .filter(|(_, o)| from.is_none_or(|f| o.id >= f) && to.is_none_or(|t| o.id <= t))
            .take(usize::try_from(limit).unwrap_or(500))
            .map(|(i, _)| self.order_json(i))
            .collect();
        Ok(Value::Array(out))
    }

    /// GET /ordersOpen.
    pub(crate) fn open_orders(&self, caller: &Caller, p: &Params) -> Result<Value, ApiError> {
        p.only(&["market", "base"])?;
        let market = p.str("market")?.map(|m| self.market(m)).transpose()?;
        let out: Vec<Value> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.status.is_open() && o.account == caller.account)
            .filter(|(_, o)| market.is_none_or(|m| o.market == m))
            .map(|(i, _)| self.order_json(i))
            .collect();
        Ok(Value::Array(out))
    }

    /// GET /trades: the caller's fills of a market, newest first.
    pub(crate) fn trades(&self, caller: &Caller, p: &Params, now: i64) -> Result<Value, ApiError> {
        p.only(&[
            "market",
            "limit",
            "start",
            "end",
            "tradeIdFrom",
            "tradeIdTo",
            "tradeId",
        ])?;
        let market = self.market(p.required_str("market")?)?;
        let limit = p.integer_in("limit", 1..=1000, 500)?;
        let (start, end) = time_range(p, now)?;
        let out: Vec<Value> = self
            .fills
            .iter()
            .rev()
            .filter(|f| {
                let o = &self.orders[f.order];
                o.market == market && o.account == caller.account
            })
            .filter(|f| f.timestamp >= start && f.timestamp <= end)
            .take(usize::try_from(limit).unwrap_or(500))
            .map(|f| self.trade_json(f))
            .collect();
        Ok(Value::Array(out))
    }

    /// The order at `idx` as the exchange answers it (the create/lookup answer shape).
    pub(crate) fn order_answer(&self, idx: usize) -> Option<Value> {
        (idx < self.orders.len()).then(|| self.order_json(idx))
    }

    /// How many orders were ever accepted (the index the next one gets).
    pub(crate) fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Records `timing` on every order accepted from index `from` on (the orders one request
    /// created, while the state lock was held).
    pub(crate) fn record_request_timing(&mut self, from: usize, timing: RequestTiming) {
        for o in self.orders.iter_mut().skip(from) {
            o.request = Some(timing);
        }
    }

    /// Every order ever accepted, oldest first.
    pub(crate) fn order_log(&self) -> Vec<OrderLogEntry> {
        self.orders
            .iter()
            .map(|o| OrderLogEntry {
                order_id: o.id.to_string(),
                market: self.markets[o.market].cfg.market.clone(),
                client_order_id: o.client_order_id.clone(),
                operator_id: o.operator_id,
                api_key: o.api_key.clone(),
                account: self.accounts[o.account].name.clone(),
                created: o.created_ms,
                updated: o.updated_ms,
                side: o.side.as_str().into(),
                order_type: if o.is_limit { "limit" } else { "market" }.into(),
                amount: o.amount,
                amount_quote: o.amount_quote,
                price: o.price,
                status: o.status.as_str().into(),
                filled_amount: o.filled_amount,
                filled_amount_quote: o.filled_amount_quote,
                fee_paid: o.fee_paid,
                request: o.request,
            })
            .collect()
    }
}

/// `start`/`end` (ms) of a listing, inclusive; `end` defaults to now and `start` to the beginning
/// (the simulator keeps its whole history).
fn time_range(p: &Params, now: i64) -> Result<(i64, i64), ApiError> {
    let start = p.integer_in("start", 0..=i64::MAX, 0)?;
    let end = p.integer_in("end", 0..=i64::MAX, now.max(0))?;
    if end < start {
        return Err(ApiError::invalid_because(
            "end",
            "It must not be before start.",
        ));
    }
    Ok((start, end))
}
