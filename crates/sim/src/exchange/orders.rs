//! Orders: create, update, cancel, look up and list, plus matching and fills.
//!
//! Rules (bitvavo-api.md sections 4.12-4.20, 5, 6): `operatorId` is required on every create,
//! update and cancel; `clientOrderId` must be a UUID and unique among the account's open orders
//! of the market (220); sizes, tick size and decimals are checked against the market (205, 210,
//! 212, 215, 217); funds are checked and held (216). Market orders fill at once against the house
//! at the ask (buy) or bid (sell) as takers. Limit orders that cross the spread fill at once as
//! takers (unless `postOnly`, which cancels them, or IOC/FOK, which cancel what does not fill);
//! the rest rest in the book and fill as makers at their limit price when the price path reaches
//! them: completely, or (when the market sets `max_fill_per_step`) at most that much per price
//! step, passing through `partiallyFilled`.

use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;
use vigil_core::Side;

use super::{ceil8, floor_dp, params::is_uuid, params::Params, Caller, Exchange};
use crate::error::ApiError;

/// Lifecycle of an order (Bitvavo's status strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    CanceledIoc,
    CanceledFok,
    CanceledPostOnly,
}

impl OrderStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::PartiallyFilled => "partiallyFilled",
            Self::Filled => "filled",
            Self::Canceled => "canceled",
            Self::CanceledIoc => "canceledIOC",
            Self::CanceledFok => "canceledFOK",
            Self::CanceledPostOnly => "canceledPostOnly",
        }
    }

    pub(crate) fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// One order (open or closed).
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: Uuid,
    pub(crate) market: usize,
    pub(crate) account: usize,
    pub(crate) api_key: String,
    pub(crate) client_order_id: Option<String>,
    pub(crate) operator_id: i64,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) status: OrderStatus,
    pub(crate) side: Side,
    pub(crate) is_limit: bool,
    pub(crate) amount: Option<Decimal>,
    pub(crate) amount_quote: Option<Decimal>,
    pub(crate) price: Option<Decimal>,
    pub(crate) time_in_force: String,
    pub(crate) post_only: bool,
    pub(crate) self_trade_prevention: String,
    pub(crate) disable_market_protection: bool,
    pub(crate) filled_amount: Decimal,
    pub(crate) filled_amount_quote: Decimal,
    pub(crate) fee_paid: Decimal,
    /// What is held for the order, in `hold_asset`.
    pub(crate) hold: Decimal,
    pub(crate) hold_asset: String,
    pub(crate) fills: Vec<usize>,
    /// When the create request arrived and was answered (set by the server after the handler).
    pub(crate) request: Option<super::RequestTiming>,
}

/// One fill of an order.
#[derive(Debug, Clone)]
pub(crate) struct Fill {
    pub(crate) id: Uuid,
    pub(crate) order: usize,
    pub(crate) timestamp: i64,
    pub(crate) amount: Decimal,
    pub(crate) price: Decimal,
    pub(crate) taker: bool,
    pub(crate) fee: Decimal,
    pub(crate) fee_currency: String,
}

const CREATE_PARAMS: &[&str] = &[
    "market",
    "side",
    "orderType",
    "amount",
    "amountQuote",
    "price",
    "timeInForce",
    "postOnly",
    "selfTradePrevention",
    "disableMarketProtection",
    "responseRequired",
    "clientOrderId",
    "operatorId",
];
const UPDATE_PARAMS: &[&str] = &[
    "market",
    "orderId",
    "clientOrderId",
    "operatorId",
    "amount",
    "amountRemaining",
    "price",
    "timeInForce",
    "selfTradePrevention",
    "postOnly",
    "responseRequired",
];
const STP: &[&str] = &[
    "decrementAndCancel",
    "cancelOldest",
    "cancelNewest",
    "cancelBoth",
];

/// What the order must respect, copied out of the market so the borrow ends.
struct Rules {
    tick: Decimal,
    quantity_decimals: u32,
    notional_decimals: u32,
    min_base: Decimal,
    max_base: Decimal,
    min_quote: Decimal,
    max_quote: Decimal,
}

impl Exchange {
    fn rules(&self, market: usize) -> Rules {
        let c = &self.markets[market].cfg;
        Rules {
            tick: c.tick_size,
            quantity_decimals: c.quantity_decimals,
            notional_decimals: c.notional_decimals,
            min_base: c.min_order_base,
            max_base: c.max_order_base,
            min_quote: c.min_order_quote,
            max_quote: c.max_order_quote,
        }
    }

    /// Bid and ask at `now_ms`.
    pub(crate) fn bid_ask(&mut self, market: usize, now_ms: i64) -> (Decimal, Decimal) {
        let m = &mut self.markets[market];
        let price = m.path.price_at(now_ms);
        let tick = m.cfg.tick_size;
        let half = m.cfg.spread / Decimal::from(2);
        let bid = ((price * (Decimal::ONE - half)) / tick).floor() * tick;
        let ask = ((price * (Decimal::ONE + half)) / tick).ceil() * tick;
        let bid = bid.max(tick);
        let ask = if ask <= bid { bid + tick } else { ask };
        (bid, ask)
    }

    fn check_amount(r: &Rules, amount: Decimal) -> Result<(), ApiError> {
        if amount.normalize().scale() > r.quantity_decimals {
            return Err(ApiError::invalid_because(
                "amount",
                &format!("It has more than {} decimals.", r.quantity_decimals),
            ));
        }
        if amount < r.min_base {
            return Err(ApiError::new(
                212,
                format!(
                    "amount is below the minimum of {} for this market.",
                    super::text(r.min_base)
                ),
            ));
        }
        if amount > r.max_base {
            return Err(ApiError::new(
                210,
                format!(
                    "amount is above the maximum of {} for this market.",
                    super::text(r.max_base)
                ),
            ));
        }
        Ok(())
    }

    fn check_price(r: &Rules, price: Decimal) -> Result<(), ApiError> {
        if price.normalize().scale() > 15 {
            return Err(ApiError::new(215, "price has more than 15 decimal places."));
        }
        if !(price % r.tick).is_zero() {
            return Err(ApiError::invalid_because(
                "price",
                &format!(
                    "It must be a multiple of the tickSize {}.",
                    super::text(r.tick)
                ),
            ));
        }
        Ok(())
    }

    fn check_notional(r: &Rules, notional: Decimal) -> Result<(), ApiError> {
        if notional < r.min_quote {
            return Err(ApiError::new(
                217,
                format!(
                    "The order value is below the minimum of {} for this market.",
                    super::text(r.min_quote)
                ),
            ));
        }
        if notional > r.max_quote {
            return Err(ApiError::new(
                210,
                format!(
                    "The order value is above the maximum of {} for this market.",
                    super::text(r.max_quote)
                ),
            ));
        }
        Ok(())
    }

    fn insufficient() -> ApiError {
        ApiError::new(
            216,
            "You do not have sufficient balance to complete this operation.",
        )
    }

    /// POST /order.
    pub(crate) fn create_order(
        &mut self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(CREATE_PARAMS)?;
        let market = self.market(p.required_str("market")?)?;
        let side: Side = p
            .required_str("side")?
            .parse()
            .map_err(|_| ApiError::invalid("side"))?;
        let order_type = p.required_str("orderType")?;
        let is_limit = match order_type {
            "limit" => true,
            "market" => false,
            "stopLoss" | "stopLossLimit" | "takeProfit" | "takeProfitLimit" => {
                return Err(ApiError::invalid_because(
                    "orderType",
                    "The simulator supports market and limit orders only.",
                ))
            }
            _ => return Err(ApiError::invalid("orderType")),
        };
        let operator_id = p.operator_id()?;
        let client_order_id = match p.str("clientOrderId")? {
            Some(c) if is_uuid(c) => Some(c.to_owned()),
            Some(_) => return Err(ApiError::invalid("clientOrderId")),
            None => None,
        };
        if is_limit {
            for name in ["amountQuote", "disableMarketProtection"] {
                if p.has(name) {
                    return Err(ApiError::not_for_order_type(name, order_type));
                }
            }
        } else {
            for name in ["price", "timeInForce", "postOnly"] {
                if p.has(name) {
                    return Err(ApiError::not_for_order_type(name, order_type));
                }
            }
        }
        let amount = p.decimal("amount")?;
        let amount_quote = p.decimal("amountQuote")?;
        let price = p.decimal("price")?;
        let time_in_force = p.str("timeInForce")?.unwrap_or("GTC").to_owned();
        if !["GTC", "IOC", "FOK"].contains(&time_in_force.as_str()) {
            return Err(ApiError::invalid("timeInForce"));
        }
        let post_only = p.bool("postOnly")?.unwrap_or(false);
        let stp = p
            .str("selfTradePrevention")?
            .unwrap_or("decrementAndCancel")
            .to_owned();
        if !STP.contains(&stp.as_str()) {
            return Err(ApiError::invalid("selfTradePrevention"));
        }
        let disable_market_protection = p.bool("disableMarketProtection")?.unwrap_or(false);
        p.bool("responseRequired")?;
        if amount.is_some() && amount_quote.is_some() {
            return Err(ApiError::new(
                206,
                "amount and amountQuote cannot be used together.",
            ));
        }
        if is_limit && amount.is_none() {
            return Err(ApiError::required("amount"));
        }
        if is_limit && price.is_none() {
            return Err(ApiError::required("price"));
        }
        if amount.is_none() && amount_quote.is_none() {
            return Err(ApiError::new(
                203,
                "amount or amountQuote parameter is required.",
            ));
        }
        let status = self.markets[market].cfg.status.clone();
        if status != "trading" {
            return Err(ApiError::new(
                230,
                format!(
                    "The order is rejected by the matching engine: market {} is {status}.",
                    self.markets[market].cfg.market
                ),
            ));
        }
        let r = self.rules(market);
        if let Some(a) = amount {
            Self::check_amount(&r, a)?;
        }
        if let Some(p) = price {
            Self::check_price(&r, p)?;
        }
        if let Some(q) = amount_quote {
            if q.normalize().scale() > r.notional_decimals {
                return Err(ApiError::invalid_because(
                    "amountQuote",
                    &format!("It has more than {} decimals.", r.notional_decimals),
                ));
            }
        }
        let (bid, ask) = self.bid_ask(market, now);
        let reference = price.unwrap_or(if side == Side::Buy { ask } else { bid });
        let notional = amount_quote.unwrap_or_else(|| amount.unwrap_or_default() * reference);
        Self::check_notional(&r, notional)?;
        if let Some(coid) = &client_order_id {
            let taken = self.markets[market].open.iter().any(|o| {
                let o = &self.orders[*o];
                o.account == caller.account
                    && o.client_order_id
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(coid))
            });
            if taken {
                return Err(ApiError::new(
                    220,
                    "clientOrderId is already used by an open order in this market.",
                ));
            }
        }
        let open_here = self.markets[market]
            .open
            .iter()
            .filter(|o| self.orders[**o].account == caller.account)
            .count();
        if is_limit && open_here >= self.markets[market].cfg.max_open_orders as usize {
            return Err(ApiError::new(
                235,
                format!(
                    "You can have at most {} open orders in this market.",
                    self.markets[market].cfg.max_open_orders
                ),
            ));
        }
        let fees = self.accounts[caller.account].fees;
        let (base, quote) = (
            self.markets[market].base.clone(),
            self.markets[market].quote.clone(),
        );
        // Work out the base amount of a market order sized in quote, and what must be held.
        let amount = match (amount, amount_quote) {
            (Some(a), _) => a,
            (None, Some(q)) => {
                let per_unit = match side {
                    Side::Buy => ask * (Decimal::ONE + fees.taker),
                    Side::Sell => bid,
                };
                let mut a = floor_dp(q / per_unit, r.quantity_decimals);
                if side == Side::Buy {
                    // Fees are rounded up, so make sure price plus fee stays within amountQuote.
                    let unit = Decimal::new(1, r.quantity_decimals);
                    while a > Decimal::ZERO && a * ask + ceil8(a * ask * fees.taker) > q {
                        a -= unit;
                    }
                }
                if a < r.min_base {
                    return Err(ApiError::new(
                        217,
                        "amountQuote is too small to buy or sell the minimum amount of this market.",
                    ));
                }
                a
            }
            (None, None) => return Err(ApiError::required("amount")),
        };
        let (hold, hold_asset) = match side {
            Side::Buy => {
                let cost = amount * reference;
                let worst = ceil8(cost) + ceil8(cost * fees.taker);
                (amount_quote.map_or(worst, |q| q.max(worst)), quote.clone())
            }
            Side::Sell => (amount, base.clone()),
        };
        let needed = match (side, amount_quote) {
            (Side::Buy, Some(q)) => q,
            _ => hold,
        };
        if self.balance(caller.account, &hold_asset).available < needed {
            return Err(Self::insufficient());
        }
        let id = self.next_order_id(market, now);
        let idx = self.orders.len();
        self.orders.push(Order {
            id,
            market,
            account: caller.account,
            api_key: caller.key.clone(),
            client_order_id,
            operator_id,
            created_ms: now,
            updated_ms: now,
            status: OrderStatus::New,
            side,
            is_limit,
            amount: if amount_quote.is_some() {
                None
            } else {
                Some(amount)
            },
            amount_quote,
            price,
            time_in_force,
            post_only,
            self_trade_prevention: stp,
            disable_market_protection,
            filled_amount: Decimal::ZERO,
            filled_amount_quote: Decimal::ZERO,
            fee_paid: Decimal::ZERO,
            hold: Decimal::ZERO,
            hold_asset,
            fills: Vec::new(),
            request: None,
        });
        self.order_index.insert((market, id), idx);
        tracing::info!(order_id = %id, market = %self.markets[market].cfg.market, %side, order_type, "order accepted");
        if is_limit {
            self.hold(idx, hold);
            self.markets[market].open.push(idx);
            self.markets[market].book_changes += 1;
            self.execute_limit(idx, now);
        } else {
            let fill_price = if side == Side::Buy { ask } else { bid };
            self.fill(idx, amount, fill_price, true, now);
        }
        Ok(self.order_json(idx))
    }

    fn hold(&mut self, idx: usize, amount: Decimal) {
        let (account, asset) = (
            self.orders[idx].account,
            self.orders[idx].hold_asset.clone(),
        );
        let b = self.balance_mut(account, &asset);
        b.available -= amount;
        b.in_order += amount;
        self.orders[idx].hold = amount;
    }

    fn release(&mut self, idx: usize) {
        let (account, asset, held) = (
            self.orders[idx].account,
            self.orders[idx].hold_asset.clone(),
            self.orders[idx].hold,
        );
        let b = self.balance_mut(account, &asset);
        b.in_order -= held;
        b.available += held;
        self.orders[idx].hold = Decimal::ZERO;
    }

    /// Releases `amount` (at most what is held) of an order's hold.
    fn release_part(&mut self, idx: usize, amount: Decimal) {
        let (account, asset, held) = (
            self.orders[idx].account,
            self.orders[idx].hold_asset.clone(),
            self.orders[idx].hold,
        );
        let part = amount.min(held);
        let b = self.balance_mut(account, &asset);
        b.in_order -= part;
        b.available += part;
        self.orders[idx].hold = held - part;
    }

    /// A new or updated limit order: take liquidity if it crosses, honour postOnly/IOC/FOK.
    fn execute_limit(&mut self, idx: usize, now: i64) {
        let (market, side, limit) = {
            let o = &self.orders[idx];
            (o.market, o.side, o.price.unwrap_or_default())
        };
        let (bid, ask) = self.bid_ask(market, now);
        let crosses = match side {
            Side::Buy => limit >= ask,
            Side::Sell => limit <= bid,
        };
        let o = &self.orders[idx];
        if crosses && o.post_only {
            self.close_order(idx, OrderStatus::CanceledPostOnly, now);
        } else if crosses {
            let remaining = o.amount.unwrap_or_default() - o.filled_amount;
            let price = if side == Side::Buy { ask } else { bid };
            self.fill(idx, remaining, price, true, now);
        } else if o.time_in_force == "IOC" {
            self.close_order(idx, OrderStatus::CanceledIoc, now);
        } else if o.time_in_force == "FOK" {
            self.close_order(idx, OrderStatus::CanceledFok, now);
        }
    }

    /// Fills every resting order of `market` whose limit lies within `[low, high]`.
    pub(super) fn match_resting(&mut self, market: usize, low: Decimal, high: Decimal, at: i64) {
        let open = self.markets[market].open.clone();
        for idx in open {
            let o = &self.orders[idx];
            let Some(limit) = o.price else { continue };
            let hit = match o.side {
                Side::Buy => low <= limit,
                Side::Sell => high >= limit,
            };
            if hit {
                let remaining = o.amount.unwrap_or_default() - o.filled_amount;
                // A market may cap how much of a resting order one price step fills.
                let amount = self.markets[market]
                    .cfg
                    .max_fill_per_step
                    .map_or(remaining, |cap| cap.min(remaining));
                let at = at.max(o.created_ms);
                self.fill(idx, amount, limit, false, at);
            }
        }
    }

    /// Fills `amount` of order `idx` at `price` and settles balances, house and fees; the order
    /// is filled when nothing remains, partially filled otherwise.
    ///
    /// The fee is charged cumulatively (fills at one rate together pay the rounded-up fee of
    /// their total quote value, never more than one rounding), so what all fills of a buy cost
    /// never exceeds what was held for it, and each partial fill is paid from the hold.
    fn fill(&mut self, idx: usize, amount: Decimal, price: Decimal, taker: bool, now: i64) {
        let (account, market, side, remaining, filled_quote) = {
            let o = &self.orders[idx];
            let remaining = o.amount.map_or(amount, |a| a - o.filled_amount);
            (
                o.account,
                o.market,
                o.side,
                remaining,
                o.filled_amount_quote,
            )
        };
        let complete = amount >= remaining;
        let fees = self.accounts[account].fees;
        let rate = if taker { fees.taker } else { fees.maker };
        let quote_value = amount * price;
        let fee = (ceil8((filled_quote + quote_value) * rate) - ceil8(filled_quote * rate))
            .max(Decimal::ZERO);
        if complete {
            self.release(idx);
        } else {
            let consumed = match side {
                Side::Buy => quote_value + fee,
                Side::Sell => amount,
            };
            self.release_part(idx, consumed);
        }
        let base = self.markets[market].base.clone();
        let quote = self.markets[market].quote.clone();
        let (base_delta, quote_delta) = match side {
            Side::Buy => (amount, -(quote_value + fee)),
            Side::Sell => (-amount, quote_value - fee),
        };
        self.balance_mut(account, &base).available += base_delta;
        self.balance_mut(account, &quote).available += quote_delta;
        *self.house.entry(base.clone()).or_default() -= base_delta;
        *self.house.entry(quote.clone()).or_default() -= quote_delta + fee;
        *self.fees_collected.entry(quote.clone()).or_default() += fee;
        debug_assert!(
            self.balance(account, &quote).available >= Decimal::ZERO
                && self.balance(account, &base).available >= Decimal::ZERO,
            "Invariant: a fill never leaves a negative balance"
        );
        let id = self.next_id(now);
        self.fills.push(Fill {
            id,
            order: idx,
            timestamp: now,
            amount,
            price,
            taker,
            fee,
            fee_currency: quote,
        });
        let fill_idx = self.fills.len() - 1;
        let o = &mut self.orders[idx];
        o.fills.push(fill_idx);
        o.filled_amount += amount;
        o.filled_amount_quote += quote_value;
        o.fee_paid += fee;
        if complete {
            self.close_order(idx, OrderStatus::Filled, now);
        } else {
            o.status = OrderStatus::PartiallyFilled;
            o.updated_ms = now;
            self.markets[market].book_changes += 1;
        }
    }

    /// Ends an order: releases its hold and takes it off the book.
    pub(super) fn close_order(&mut self, idx: usize, status: OrderStatus, now: i64) {
        self.release(idx);
        let market = self.orders[idx].market;
        let m = &mut self.markets[market];
        if let Some(pos) = m.open.iter().position(|o| *o == idx) {
            m.open.remove(pos);
            m.book_changes += 1;
        }
        let o = &mut self.orders[idx];
        o.status = status;
        o.updated_ms = now;
    }

    /// PUT /order: change price or amount of an open limit order (it keeps its id).
    pub(crate) fn update_order(
        &mut self,
        caller: &Caller,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(UPDATE_PARAMS)?;
        let operator_id = p.operator_id()?;
        let idx = self.find_order(caller, p)?;
        if !self.orders[idx].is_limit {
            return Err(ApiError::new(234, "Market orders cannot be updated."));
        }
        if !self.orders[idx].status.is_open() {
            return Err(ApiError::new(
                233,
                "Order must be in status new or partiallyFilled to be updated.",
            ));
        }
        if p.has("amount") && p.has("amountRemaining") {
            return Err(ApiError::new(
                236,
                "Only one of amount, amountRemaining or amountQuote can be used.",
            ));
        }
        // `amount` is the new total; `amountRemaining` what may still fill.
        let filled = self.orders[idx].filled_amount;
        let amount = match p.decimal("amount")? {
            Some(a) => Some(a),
            None => p.decimal("amountRemaining")?.map(|rest| filled + rest),
        };
        if amount.is_some_and(|a| a <= filled) {
            return Err(ApiError::invalid_because(
                "amount",
                "It must be more than what is already filled.",
            ));
        }
        let price = p.decimal("price")?;
        let tif = p.str("timeInForce")?.map(str::to_owned);
        let stp = p.str("selfTradePrevention")?.map(str::to_owned);
        let post_only = p.bool("postOnly")?;
        p.bool("responseRequired")?;
        if let Some(t) = &tif {
            if !["GTC", "IOC", "FOK"].contains(&t.as_str()) {
                return Err(ApiError::invalid("timeInForce"));
            }
        }
        if let Some(s) = &stp {
            if !STP.contains(&s.as_str()) {
                return Err(ApiError::invalid("selfTradePrevention"));
            }
        }
        if amount.is_none()
            && price.is_none()
            && tif.is_none()
            && stp.is_none()
            && post_only.is_none()
        {
            return Err(ApiError::new(232, "No parameters to update were given."));
        }
        let market = self.orders[idx].market;
        let r = self.rules(market);
        let new_amount = amount.unwrap_or(self.orders[idx].amount.unwrap_or_default());
        let new_price = price.unwrap_or(self.orders[idx].price.unwrap_or_default());
        Self::check_amount(&r, new_amount)?;
        Self::check_price(&r, new_price)?;
        Self::check_notional(&r, new_amount * new_price)?;
        let account = self.orders[idx].account;
        let fees = self.accounts[account].fees;
        let new_hold = match self.orders[idx].side {
            Side::Buy => {
                let cost = (new_amount - filled) * new_price;
                ceil8(cost) + ceil8(cost * fees.taker)
            }
            Side::Sell => new_amount - filled,
        };
        let asset = self.orders[idx].hold_asset.clone();
        let old_hold = self.orders[idx].hold;
        if self.balance(account, &asset).available + old_hold < new_hold {
            return Err(Self::insufficient());
        }
        self.release(idx);
        self.hold(idx, new_hold);
        let o = &mut self.orders[idx];
        o.amount = Some(new_amount);
        o.price = Some(new_price);
        if let Some(t) = tif {
            o.time_in_force = t;
        }
        if let Some(s) = stp {
            o.self_trade_prevention = s;
        }
        if let Some(po) = post_only {
            o.post_only = po;
        }
        o.operator_id = operator_id;
        o.updated_ms = now;
        self.markets[market].book_changes += 1;
        self.execute_limit(idx, now);
        Ok(self.order_json(idx))
    }
}
