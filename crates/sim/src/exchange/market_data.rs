//! Public market data and account reads: markets, assets, tickers, candles, the book, public
//! trades, balances and fees, all derived from the price paths and the account state.
//!
//! Endpoints that take an optional `market` answer one object with it and an array without it.
//! The book is synthetic around the current bid and ask, plus the callers' own resting orders;
//! public trades are one per price step (the step's close and volume).

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{params::Params, text, Caller, Exchange};
use crate::error::ApiError;

const DAY_MS: i64 = 86_400_000;

/// A candle interval.
#[derive(Debug, Clone, Copy)]
enum Interval {
    Fixed(i64),
    Week,
    Month,
}

impl Interval {
    fn parse(s: &str) -> Option<Self> {
        let minutes = match s {
            "1m" => 1,
            "5m" => 5,
            "15m" => 15,
            "30m" => 30,
            "1h" => 60,
            "2h" => 120,
            "4h" => 240,
            "6h" => 360,
            "8h" => 480,
            "12h" => 720,
            "1d" => 1440,
            "1W" => return Some(Self::Week),
            "1M" => return Some(Self::Month),
            _ => return None,
        };
        Some(Self::Fixed(minutes * 60_000))
    }

    /// Start of the candle that contains `ms`.
    fn start_of(self, ms: i64) -> i64 {
        match self {
            Self::Fixed(len) => ms.div_euclid(len) * len,
            // 1970-01-01 was a Thursday; weeks start on Monday 1970-01-05.
            Self::Week => (ms - 4 * DAY_MS).div_euclid(7 * DAY_MS) * 7 * DAY_MS + 4 * DAY_MS,
            Self::Month => {
                let t = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
                Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0)
                    .single()
                    .map_or(ms, |d| d.timestamp_millis())
            }
        }
    }

    /// Start of the candle before the one starting at `start`.
    fn previous(self, start: i64) -> i64 {
        self.start_of(start - 1)
    }

    /// End (exclusive) of the candle starting at `start`.
    fn end_of(self, start: i64) -> i64 {
        match self {
            Self::Fixed(len) => start + len,
            Self::Week => start + 7 * DAY_MS,
            Self::Month => self.start_of(start + 32 * DAY_MS),
        }
    }
}

impl Exchange {
    fn market_json(&self, m: usize) -> Value {
        let c = &self.markets[m].cfg;
        json!({
            "market": c.market,
            "status": c.status,
            "base": self.markets[m].base,
            "quote": self.markets[m].quote,
            "pricePrecision": null,
            "tickSize": text(c.tick_size),
            "minOrderInBaseAsset": text(c.min_order_base),
            "minOrderInQuoteAsset": text(c.min_order_quote),
            "maxOrderInBaseAsset": text(c.max_order_base),
            "maxOrderInQuoteAsset": text(c.max_order_quote),
            "quantityDecimals": c.quantity_decimals,
            "notionalDecimals": c.notional_decimals,
            "maxOpenOrders": c.max_open_orders,
            "feeCategory": "A",
            "orderTypes": ["market", "limit"],
        })
    }

    /// One object for `market=`, an array otherwise.
    fn one_or_all(
        &mut self,
        p: &Params,
        mut each: impl FnMut(&mut Self, usize) -> Value,
    ) -> Result<Value, ApiError> {
        match p.str("market")? {
            Some(m) => {
                let m = self.market(m)?;
                Ok(each(self, m))
            }
            None => Ok(Value::Array(
                (0..self.markets.len()).map(|m| each(self, m)).collect(),
            )),
        }
    }

    /// GET /markets.
    pub(crate) fn markets_json(&mut self, p: &Params) -> Result<Value, ApiError> {
        p.only(&["market"])?;
        self.one_or_all(p, |x, m| x.market_json(m))
    }

    /// GET /assets.
    pub(crate) fn assets_json(&self, p: &Params) -> Result<Value, ApiError> {
        p.only(&["symbol"])?;
        let mut symbols: Vec<&str> = Vec::new();
        for m in &self.markets {
            for s in [m.base.as_str(), m.quote.as_str()] {
                if !symbols.contains(&s) {
                    symbols.push(s);
                }
            }
        }
        let asset = |s: &str| {
            let (name, decimals) = match s {
                "EUR" => ("Euro", 2),
                "BTC" => ("Bitcoin", 8),
                "ETH" => ("Ethereum", 8),
                "SOL" => ("Solana", 8),
                "XRP" => ("XRP", 6),
                _ => (s, 8),
            };
            json!({
                "symbol": s, "name": name, "decimals": decimals,
                "depositFee": "0", "depositConfirmations": 10, "depositStatus": "OK",
                "withdrawalFee": "0", "withdrawalMinAmount": "0", "withdrawalStatus": "OK",
                "networks": ["Mainnet"], "message": "",
            })
        };
        match p.str("symbol")? {
            Some(s) => {
                let s = s.to_ascii_uppercase();
                if symbols.contains(&s.as_str()) {
                    Ok(asset(&s))
                } else {
                    Err(ApiError::invalid("symbol"))
                }
            }
            None => Ok(Value::Array(symbols.into_iter().map(asset).collect())),
        }
    }

    /// GET /ticker/price.
    pub(crate) fn ticker_price(&mut self, p: &Params, now: i64) -> Result<Value, ApiError> {
        p.only(&["market"])?;
        self.one_or_all(p, |x, m| {
            let price = x.markets[m].path.price_at(now);
            json!({ "market": x.markets[m].cfg.market, "price": text(price) })
        })
    }

    fn top_sizes(&self, m: usize, now: i64) -> (Decimal, Decimal) {
        let level = |side: u64| {
            let c = &self.markets[m].cfg;
            let index = self.markets[m].path.index_at(now);
            let u = unit(self.config.seed, m as u64 * 4 + side, index);
            (c.volume_per_step * (Decimal::new(2, 1) + u)).round_dp(c.quantity_decimals)
        };
        (level(0), level(1))
    }

    /// GET /ticker/book.
    pub(crate) fn ticker_book(&mut self, p: &Params, now: i64) -> Result<Value, ApiError> {
        p.only(&["market"])?;
        self.one_or_all(p, |x, m| {
            let (bid, ask) = x.bid_ask(m, now);
            let (bid_size, ask_size) = x.top_sizes(m, now);
            json!({
                "market": x.markets[m].cfg.market,
                "bid": text(bid), "bidSize": text(bid_size),
                "ask": text(ask), "askSize": text(ask_size),
            })
        })
    }

    /// GET /ticker/24h.
    pub(crate) fn ticker_24h(&mut self, p: &Params, now: i64) -> Result<Value, ApiError> {
        p.only(&["market"])?;
        self.one_or_all(p, |x, m| {
            let (bid, ask) = x.bid_ask(m, now);
            let (bid_size, ask_size) = x.top_sizes(m, now);
            let start = now - DAY_MS;
            let path = &mut x.markets[m].path;
            let (first, last) = (path.index_at(start), path.index_at(now));
            let mut open = None;
            let (mut high, mut low) = (Decimal::ZERO, Decimal::MAX);
            let (mut volume, mut volume_quote) = (Decimal::ZERO, Decimal::ZERO);
            let mut open_ts = start;
            for k in first..=last {
                let Some(pt) = path.point(k) else { continue };
                if open.is_none() {
                    open = Some(pt.open);
                    open_ts = path.time_of(k).max(start);
                }
                high = high.max(pt.high);
                low = low.min(pt.low);
                volume += pt.volume;
                volume_quote += pt.volume * pt.close;
            }
            let last_price = path.price_at(now);
            let open = path.to_tick(open.unwrap_or(last_price));
            let nd = x.markets[m].cfg.notional_decimals;
            let path = &x.markets[m].path;
            json!({
                "market": x.markets[m].cfg.market,
                "startTimestamp": start, "timestamp": now,
                "open": text(open), "openTimestamp": open_ts,
                "high": text(path.to_tick(high.max(last_price))),
                "low": text(path.to_tick(low.min(last_price))),
                "last": text(last_price), "closeTimestamp": now,
                "bid": text(bid), "bidSize": text(bid_size),
                "ask": text(ask), "askSize": text(ask_size),
                "volume": text(volume.round_dp(8)),
                "volumeQuote": text(volume_quote.round_dp(nd)),
            })
        })
    }

    /// GET /{market}/candles: newest first, at most `limit`, within `[start, end)`.
    pub(crate) fn candles(
        &mut self,
        market: &str,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&["interval", "limit", "start", "end"])?;
        let m = self.market(market)?;
        let interval = Interval::parse(p.required_str("interval")?)
            .ok_or_else(|| ApiError::invalid("interval"))?;
        let limit = p.integer_in("limit", 1..=1440, 1440)?;
        let start = p.integer_in("start", 0..=i64::MAX, 0)?;
        let end = p.integer("end")?.unwrap_or(now + 1).min(now + 1);
        let path = &mut self.markets[m].path;
        let mut out = Vec::new();
        let mut cs = interval.start_of(end - 1);
        while out.len() < usize::try_from(limit).unwrap_or(0) && cs >= start {
            let ce = interval.end_of(cs).min(end);
            let (first, last) = (path.index_at(cs), path.index_at(ce - 1));
            let points: Vec<_> = (first..=last).filter_map(|k| path.point(k)).collect();
            let (Some(o), Some(c)) = (points.first(), points.last()) else {
                break; // before the start of the history: no more candles
            };
            let high = points.iter().map(|p| p.high).max().unwrap_or(o.high);
            let low = points.iter().map(|p| p.low).min().unwrap_or(o.low);
            let volume: Decimal = points.iter().map(|p| p.volume).sum();
            out.push(json!([
                cs,
                text(path.to_tick(o.open)),
                text(path.to_tick(high)),
                text(path.to_tick(low)),
                text(path.to_tick(c.close)),
                text(volume.round_dp(8)),
            ]));
            cs = interval.previous(cs);
        }
        Ok(Value::Array(out))
    }

    /// GET /{market}/book.
    pub(crate) fn book(&mut self, market: &str, p: &Params, now: i64) -> Result<Value, ApiError> {
        p.only(&["depth"])?;
        let m = self.market(market)?;
        let depth = usize::try_from(p.integer_in("depth", 1..=1000, 25)?).unwrap_or(25);
        let (bid, ask) = self.bid_ask(m, now);
        let c = self.markets[m].cfg.clone();
        let index = self.markets[m].path.index_at(now);
        let mut bids: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let mut asks: BTreeMap<Decimal, Decimal> = BTreeMap::new();
        let synthetic_levels = depth.min(25);
        for level in 0..synthetic_levels {
            let off = c.tick_size * Decimal::from(level as u64);
            let size = |side: u64| {
                let u = unit(
                    self.config.seed,
                    (m as u64 * 4 + side) << 12 | level as u64,
                    index,
                );
                (c.volume_per_step * (Decimal::new(2, 1) + u)).round_dp(c.quantity_decimals)
            };
            if bid - off > Decimal::ZERO {
                bids.insert(bid - off, size(0));
            }
            asks.insert(ask + off, size(1));
        }
        for o in self.markets[m].open.iter().map(|i| &self.orders[*i]) {
            if let (Some(price), Some(amount)) = (o.price, o.amount) {
                let side = if o.side == vigil_core::Side::Buy {
                    &mut bids
                } else {
                    &mut asks
                };
                *side.entry(price).or_default() += amount - o.filled_amount;
            }
        }
        let pair = |(p, s): (&Decimal, &Decimal)| json!([text(*p), text(*s)]);
        let nonce = u64::try_from(index).unwrap_or(0) + self.markets[m].book_changes;
        Ok(json!({
            "market": c.market,
            "nonce": nonce,
            "bids": bids.iter().rev().take(depth).map(pair).collect::<Vec<_>>(),
            "asks": asks.iter().take(depth).map(pair).collect::<Vec<_>>(),
            "timestamp": now,
        }))
    }

    /// GET /{market}/trades: one public trade per price step, newest first.
    pub(crate) fn public_trades(
        &mut self,
        market: &str,
        p: &Params,
        now: i64,
    ) -> Result<Value, ApiError> {
        p.only(&["limit", "start", "end", "tradeIdFrom", "tradeIdTo"])?;
        let m = self.market(market)?;
        let limit = usize::try_from(p.integer_in("limit", 1..=1000, 500)?).unwrap_or(500);
        let end = p.integer("end")?.unwrap_or(now).min(now);
        let start = p.integer_in("start", 0..=i64::MAX, end - DAY_MS)?;
        if end - start > DAY_MS {
            return Err(ApiError::invalid_because(
                "end",
                "start and end can be at most 24 hours apart.",
            ));
        }
        let seed = self.config.seed;
        let path = &mut self.markets[m].path;
        let mut out = Vec::new();
        let mut k = path.index_at(end);
        while out.len() < limit {
            let ts = (path.time_of(k) + path.step_ms() / 2).min(now);
            if ts < start {
                break;
            }
            let Some(pt) = path.point(k) else { break };
            if ts <= end {
                let id =
                    uuid::Builder::from_random_bytes(u128_bytes(seed, m as u64, k)).into_uuid();
                out.push(json!({
                    "id": id.to_string(),
                    "timestamp": ts,
                    "amount": text(pt.volume),
                    "price": text(path.to_tick(pt.close)),
                    "side": if pt.close >= pt.open { "buy" } else { "sell" },
                }));
            }
            k -= 1;
        }
        Ok(Value::Array(out))
    }

    /// GET /balance.
    pub(crate) fn balance_json(&self, caller: &Caller, p: &Params) -> Result<Value, ApiError> {
        p.only(&["symbol"])?;
        let balances = &self.accounts[caller.account].balances;
        let row = |s: &str, b: super::Balance| json!({ "symbol": s, "available": text(b.available), "inOrder": text(b.in_order) });
        match p.str("symbol")? {
            Some(s) => {
                let s = s.to_ascii_uppercase();
                Ok(json!([row(
                    &s,
                    balances.get(&s).copied().unwrap_or_default()
                )]))
            }
            None => Ok(Value::Array(
                balances
                    .iter()
                    .filter(|(_, b)| !(b.available.is_zero() && b.in_order.is_zero()))
                    .map(|(s, b)| row(s, *b))
                    .collect(),
            )),
        }
    }

    /// GET /account.
    pub(crate) fn account_json(&self, caller: &Caller, p: &Params) -> Result<Value, ApiError> {
        p.only(&[])?;
        let f = self.accounts[caller.account].fees;
        Ok(json!({ "fees": { "taker": text(f.taker), "maker": text(f.maker), "volume": "0.00" } }))
    }

    /// GET /account/fees.
    pub(crate) fn fees_json(&self, caller: &Caller, p: &Params) -> Result<Value, ApiError> {
        p.only(&["market", "quote"])?;
        if let Some(m) = p.str("market")? {
            self.market(m)?;
        }
        if let Some(q) = p.str("quote")? {
            if q != "EUR" && q != "USDC" {
                return Err(ApiError::invalid("quote"));
            }
        }
        let f = self.accounts[caller.account].fees;
        Ok(json!({ "tier": "0", "volume": "0.00", "taker": text(f.taker), "maker": text(f.maker) }))
    }
}

/// A deterministic value in `[0, 1)` from `(seed, a, b)` (splitmix64).
fn unit(seed: u64, a: u64, b: i64) -> Decimal {
    let h = splitmix(seed ^ splitmix(a) ^ splitmix(b as u64));
    Decimal::from(h >> 32) / Decimal::from(1u64 << 32)
}

fn u128_bytes(seed: u64, a: u64, b: i64) -> [u8; 16] {
    let hi = splitmix(seed ^ splitmix(a.wrapping_add(0x5EED)));
    let lo = splitmix(hi ^ splitmix(b as u64));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hi.to_be_bytes());
    out[8..].copy_from_slice(&lo.to_be_bytes());
    out
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_boundaries() {
        let t = Utc
            .with_ymd_and_hms(2025, 3, 13, 10, 17, 5)
            .unwrap()
            .timestamp_millis();
        let h = Interval::parse("1h").unwrap();
        assert_eq!(
            h.start_of(t),
            Utc.with_ymd_and_hms(2025, 3, 13, 10, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        let w = Interval::parse("1W").unwrap();
        assert_eq!(
            w.start_of(t),
            Utc.with_ymd_and_hms(2025, 3, 10, 0, 0, 0)
                .unwrap()
                .timestamp_millis(),
            "weeks start on Monday"
        );
        let mo = Interval::parse("1M").unwrap();
        let march = Utc
            .with_ymd_and_hms(2025, 3, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(mo.start_of(t), march);
        assert_eq!(
            mo.previous(march),
            Utc.with_ymd_and_hms(2025, 2, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert_eq!(
            mo.end_of(march),
            Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        assert!(Interval::parse("3m").is_none());
    }
}
