//! `sma_cross`: simple-moving-average crossover on candle closes. When the fast average
//! crosses above the slow one between the previous closed candle and the last (a golden
//! cross) it proposes a buy; when it crosses below (a death cross) a sell. No cross, no signal:
//! a trend that merely continues proposes nothing.

use chrono::Duration;
use serde_json::Value;
use vigil_bitvavo::CandleInterval;
use vigil_core::{Notional, Side, ValidationError};

use super::{indicators::sma, params::ParamReader, shown, MarketSnapshot, Signal, StrategyError};

/// The longest slow period (candles).
pub const SLOW_MAX: u32 = 500;

/// Parameters of `sma_cross`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmaCrossParams {
    /// `fast` (default 10): the fast average's period, in candles; less than `slow`.
    pub fast: u16,
    /// `slow` (default 30): the slow average's period, in candles, at most [`SLOW_MAX`].
    pub slow: u16,
    /// `interval` (default `"1h"`): the candle interval.
    pub interval: CandleInterval,
    /// `amount_quote` (required): the quote amount of each proposal.
    pub amount_quote: Notional,
    /// `ttl_minutes` (default 15): how long each proposal may wait.
    pub ttl_minutes: u32,
}

impl SmaCrossParams {
    /// The parameter names, for messages.
    pub const FIELDS: &'static str = "fast, slow, interval, amount_quote, ttl_minutes";

    /// Reads the parameters.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn parse(params: &Value) -> Result<SmaCrossParams, Vec<ValidationError>> {
        let mut r = ParamReader::new(params);
        let fast = r.whole_in("fast", 1, SLOW_MAX - 1, 10);
        let slow = r.whole_in("slow", 2, SLOW_MAX, 30);
        let interval = r.interval("interval", CandleInterval::OneHour);
        let amount_quote = r.notional("amount_quote");
        let ttl_minutes = r.ttl_minutes(15);
        if fast >= slow {
            r.refuse(
                "fast",
                fast,
                &format!("a fast period below the slow period ({slow})"),
            );
        }
        let parsed = SmaCrossParams {
            fast: u16::try_from(fast).unwrap_or(u16::MAX),
            slow: u16::try_from(slow).unwrap_or(u16::MAX),
            interval,
            amount_quote,
            ttl_minutes,
        };
        r.finish(Self::FIELDS).map(|()| parsed)
    }

    /// Closed candles needed: the slow period at the last candle and at the one before.
    #[must_use]
    pub fn candles_needed(&self) -> u16 {
        self.slow.saturating_add(1)
    }

    /// A buy on a golden cross, a sell on a death cross, otherwise nothing.
    ///
    /// # Errors
    /// [`StrategyError::NotEnoughData`] with fewer than `slow + 1` closed candles.
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> Result<Option<Signal>, StrategyError> {
        let closes = snapshot.closes();
        let (fast, slow) = (usize::from(self.fast), usize::from(self.slow));
        let needed = slow + 1;
        let not_enough = || StrategyError::NotEnoughData {
            market: snapshot.market.clone(),
            interval: self.interval,
            needed,
            got: closes.len(),
        };
        if closes.len() < needed {
            return Err(not_enough());
        }
        let previous = &closes[..closes.len() - 1];
        let (Some(fast_now), Some(slow_now), Some(fast_before), Some(slow_before)) = (
            sma(&closes, fast),
            sma(&closes, slow),
            sma(previous, fast),
            sma(previous, slow),
        ) else {
            return Err(not_enough());
        };
        let (side, event, relation, before) = if fast_before <= slow_before && fast_now > slow_now {
            (Side::Buy, "golden cross", "rose above", "<=")
        } else if fast_before >= slow_before && fast_now < slow_now {
            (Side::Sell, "death cross", "fell below", ">=")
        } else {
            return Ok(None);
        };
        let last_close = closes.last().copied().unwrap_or_default();
        Ok(Some(Signal {
            market: snapshot.market.clone(),
            side,
            amount_quote: self.amount_quote,
            rationale: format!(
                "sma_cross: {event} on {market} {interval}: SMA({fast}) {fast_now} {relation} \
                 SMA({slow}) {slow_now} (previous candle: {fast_before} {before} {slow_before}); \
                 last close {close}; {side} {amount} {quote}",
                market = snapshot.market,
                interval = self.interval,
                fast_now = shown(fast_now),
                slow_now = shown(slow_now),
                fast_before = shown(fast_before),
                slow_before = shown(slow_before),
                close = shown(last_close),
                amount = self.amount_quote,
                quote = snapshot.market.quote(),
            ),
            ttl: Duration::minutes(i64::from(self.ttl_minutes)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strategy::snapshot::tests::hourly;

    fn params(fast: u16, slow: u16) -> SmaCrossParams {
        SmaCrossParams::parse(&json!({"fast": fast, "slow": slow, "amount_quote": "20"})).unwrap()
    }

    #[test]
    fn golden_cross_proposes_a_buy_with_the_averages() {
        // SMA(2) / SMA(3) before the last candle: (10+9)/2 = 9.5 <= (11+10+9)/3 = 10;
        // at the last candle: (9+12)/2 = 10.5 > (10+9+12)/3 = 10.333…
        let snapshot = hourly("BTC-EUR", &["11", "10", "9", "12"]);
        let signal = params(2, 3).evaluate(&snapshot).unwrap().unwrap();
        assert_eq!(signal.side, Side::Buy);
        assert_eq!(signal.amount_quote, Notional::from_whole(20));
        assert_eq!(
            signal.rationale,
            "sma_cross: golden cross on BTC-EUR 1h: SMA(2) 10.5 rose above SMA(3) 10.33 \
             (previous candle: 9.5 <= 10); last close 12; buy 20 EUR"
        );
    }

    #[test]
    fn death_cross_proposes_a_sell() {
        // Before: (10+11)/2 = 10.5 >= (9+10+11)/3 = 10; now: (11+8)/2 = 9.5 < (10+11+8)/3 = 9.67.
        let snapshot = hourly("ETH-EUR", &["9", "10", "11", "8"]);
        let signal = params(2, 3).evaluate(&snapshot).unwrap().unwrap();
        assert_eq!(signal.side, Side::Sell);
        assert!(
            signal.rationale.contains("death cross"),
            "{}",
            signal.rationale
        );
        assert!(
            signal.rationale.contains("SMA(3) 9.67"),
            "{}",
            signal.rationale
        );
    }

    #[test]
    fn a_continuing_trend_proposes_nothing() {
        let rising = hourly("BTC-EUR", &["1", "2", "3", "4", "5"]);
        assert_eq!(params(2, 3).evaluate(&rising).unwrap(), None);
    }

    #[test]
    fn too_little_history_is_an_error_not_a_guess() {
        let short = hourly("BTC-EUR", &["1", "2", "3"]);
        assert_eq!(
            params(2, 3).evaluate(&short),
            Err(StrategyError::NotEnoughData {
                market: short.market.clone(),
                interval: CandleInterval::OneHour,
                needed: 4,
                got: 3
            })
        );
    }

    #[test]
    fn fast_must_be_below_slow() {
        let problems = SmaCrossParams::parse(&json!({"fast": 30, "slow": 30, "amount_quote": "1"}))
            .unwrap_err();
        assert_eq!(problems[0].field, "params.fast");
        assert!(problems[0].expected.contains("below the slow period (30)"));
    }
}
