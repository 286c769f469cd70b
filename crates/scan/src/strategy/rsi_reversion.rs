//! `rsi_reversion`: RSI mean reversion. Wilder's RSI of the closed candles below the low
//! threshold (oversold) proposes a buy, above the high threshold (overbought) a sell. The
//! executor's cooldown keeps a long oversold spell from turning every run into an order.

use chrono::Duration;
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_bitvavo::CandleInterval;
use vigil_core::{Notional, Side, ValidationError};

use super::{indicators::rsi, params::ParamReader, shown, MarketSnapshot, Signal, StrategyError};

/// Parameters of `rsi_reversion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsiReversionParams {
    /// `period` (default 14, 2 to 100): the RSI period, in candles.
    pub period: u16,
    /// `low` (default `"30"`): buy below this RSI.
    pub low: Decimal,
    /// `high` (default `"70"`): sell above this RSI; greater than `low`.
    pub high: Decimal,
    /// `interval` (default `"1h"`): the candle interval.
    pub interval: CandleInterval,
    /// `amount_quote` (required): the quote amount of each proposal.
    pub amount_quote: Notional,
    /// `ttl_minutes` (default 15): how long each proposal may wait.
    pub ttl_minutes: u32,
}

impl RsiReversionParams {
    /// The parameter names, for messages.
    pub const FIELDS: &'static str = "period, low, high, interval, amount_quote, ttl_minutes";

    /// Reads the parameters.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn parse(params: &Value) -> Result<RsiReversionParams, Vec<ValidationError>> {
        let mut r = ParamReader::new(params);
        let period = r.whole_in("period", 2, 100, 14);
        let (one, ninety_nine) = (Decimal::ONE, Decimal::from(99));
        let low = r.decimal_in("low", one, ninety_nine, Decimal::from(30));
        let high = r.decimal_in("high", one, ninety_nine, Decimal::from(70));
        let interval = r.interval("interval", CandleInterval::OneHour);
        let amount_quote = r.notional("amount_quote");
        let ttl_minutes = r.ttl_minutes(15);
        if low >= high {
            r.refuse(
                "high",
                high,
                &format!("a high threshold above the low one ({low})"),
            );
        }
        let parsed = RsiReversionParams {
            period: u16::try_from(period).unwrap_or(14),
            low,
            high,
            interval,
            amount_quote,
            ttl_minutes,
        };
        r.finish(Self::FIELDS).map(|()| parsed)
    }

    /// Closed candles asked for: ten periods, so Wilder's smoothing has settled (it is
    /// computed from the first candle received, and values from a short history differ).
    #[must_use]
    pub fn candles_needed(&self) -> u16 {
        self.period.saturating_mul(10).saturating_add(1).min(1_440)
    }

    /// A buy below `low`, a sell above `high`, otherwise nothing.
    ///
    /// # Errors
    /// [`StrategyError::NotEnoughData`] with fewer than `period + 1` closed candles.
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> Result<Option<Signal>, StrategyError> {
        let closes = snapshot.closes();
        let period = usize::from(self.period);
        let Some(value) = rsi(&closes, period) else {
            return Err(StrategyError::NotEnoughData {
                market: snapshot.market.clone(),
                interval: self.interval,
                needed: period + 1,
                got: closes.len(),
            });
        };
        let (side, reading) = if value < self.low {
            (
                Side::Buy,
                format!("below the low threshold {} (oversold)", self.low),
            )
        } else if value > self.high {
            (
                Side::Sell,
                format!("above the high threshold {} (overbought)", self.high),
            )
        } else {
            return Ok(None);
        };
        let last_close = closes.last().copied().unwrap_or_default();
        Ok(Some(Signal {
            market: snapshot.market.clone(),
            side,
            amount_quote: self.amount_quote,
            rationale: format!(
                "rsi_reversion: RSI({period}) of {market} {interval} is {value}, {reading}, \
                 over {count} closed candles; last close {close}; {side} {amount} {quote}",
                market = snapshot.market,
                interval = self.interval,
                value = shown(value),
                count = closes.len(),
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

    fn params() -> RsiReversionParams {
        RsiReversionParams::parse(&json!({"amount_quote": "15", "period": 14})).unwrap()
    }

    /// The published worked example (see `indicators`): its last RSI is 37.77, between the
    /// thresholds, and its 13th is 39.99.
    const WORKED: [&str; 33] = [
        "44.3389", "44.0902", "44.1497", "43.6124", "44.3278", "44.8264", "45.0955", "45.4245",
        "45.8433", "46.0826", "45.8931", "46.0328", "45.6140", "46.2820", "46.2820", "46.0028",
        "46.0328", "46.4116", "46.2222", "45.6439", "46.2122", "46.2521", "45.7137", "46.4515",
        "45.7835", "45.3548", "44.0288", "44.1783", "44.2181", "44.5672", "43.4205", "42.6628",
        "43.1314",
    ];

    #[test]
    fn between_the_thresholds_nothing_is_proposed() {
        assert_eq!(
            params().evaluate(&hourly("BTC-EUR", &WORKED)).unwrap(),
            None
        );
    }

    #[test]
    fn below_the_low_threshold_a_buy_is_proposed_with_the_rsi() {
        // RSI 37.77 < 40.
        let p = RsiReversionParams {
            low: Decimal::from(40),
            ..params()
        };
        let signal = p.evaluate(&hourly("BTC-EUR", &WORKED)).unwrap().unwrap();
        assert_eq!(signal.side, Side::Buy);
        assert!(
            signal.rationale.starts_with(
                "rsi_reversion: RSI(14) of BTC-EUR 1h is 37.77, below the low threshold 40"
            ),
            "{}",
            signal.rationale
        );
    }

    #[test]
    fn above_the_high_threshold_a_sell_is_proposed() {
        // The first 15 closes end on RSI 70.53 > 70.
        let signal = params()
            .evaluate(&hourly("BTC-EUR", &WORKED[..15]))
            .unwrap()
            .unwrap();
        assert_eq!(signal.side, Side::Sell);
        assert!(signal
            .rationale
            .contains("is 70.53, above the high threshold 70"));
    }

    #[test]
    fn thresholds_and_history_are_checked() {
        let problems =
            RsiReversionParams::parse(&json!({"low": "80", "high": "20", "amount_quote": "1"}))
                .unwrap_err();
        assert_eq!(problems[0].field, "params.high");
        let short = hourly("BTC-EUR", &WORKED[..10]);
        assert!(matches!(
            params().evaluate(&short),
            Err(StrategyError::NotEnoughData {
                needed: 15,
                got: 10,
                ..
            })
        ));
    }
}
