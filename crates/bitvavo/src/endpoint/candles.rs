//! `GET /{market}/candles`: OHLCV candles (bitvavo-api.md 4.7; weight 1).
//!
//! Each candle is a six-element array `[timestamp, open, high, low, close, volume]`; the
//! timestamp is an integer (one docs example quotes it as a string; both are read), the rest
//! decimal strings. Candles come newest first, and intervals without trades have none.

use std::{fmt, str::FromStr};

use serde_json::Value;
use vigil_core::{Market, Price, Quantity, Timestamp, ValidationError};

use super::{order_lists::check_range, Endpoint, RequestParts};
use crate::{
    config::OperatorId,
    error::Malformed,
    wire::{self},
    BitvavoError,
};

/// A candle interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandleInterval {
    /// `1m`.
    OneMinute,
    /// `5m`.
    FiveMinutes,
    /// `15m`.
    FifteenMinutes,
    /// `30m`.
    ThirtyMinutes,
    /// `1h`.
    OneHour,
    /// `2h`.
    TwoHours,
    /// `4h`.
    FourHours,
    /// `6h`.
    SixHours,
    /// `8h`.
    EightHours,
    /// `12h`.
    TwelveHours,
    /// `1d`.
    OneDay,
    /// `1W`.
    OneWeek,
    /// `1M`.
    OneMonth,
}

impl CandleInterval {
    /// Every interval.
    pub const ALL: [CandleInterval; 13] = [
        Self::OneMinute,
        Self::FiveMinutes,
        Self::FifteenMinutes,
        Self::ThirtyMinutes,
        Self::OneHour,
        Self::TwoHours,
        Self::FourHours,
        Self::SixHours,
        Self::EightHours,
        Self::TwelveHours,
        Self::OneDay,
        Self::OneWeek,
        Self::OneMonth,
    ];

    /// Bitvavo's spelling (`1m` … `1M`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OneMinute => "1m",
            Self::FiveMinutes => "5m",
            Self::FifteenMinutes => "15m",
            Self::ThirtyMinutes => "30m",
            Self::OneHour => "1h",
            Self::TwoHours => "2h",
            Self::FourHours => "4h",
            Self::SixHours => "6h",
            Self::EightHours => "8h",
            Self::TwelveHours => "12h",
            Self::OneDay => "1d",
            Self::OneWeek => "1W",
            Self::OneMonth => "1M",
        }
    }
}

impl fmt::Display for CandleInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CandleInterval {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|i| i.as_str() == s.trim())
            .ok_or_else(|| {
                ValidationError::new(
                    "interval",
                    s,
                    "one of 1m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1W 1M",
                )
            })
    }
}

/// Asks for candles of one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandlesQuery {
    market: Market,
    interval: CandleInterval,
    limit: Option<u16>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

impl CandlesQuery {
    /// The newest candles of `market` at `interval` (Bitvavo's default of 1440).
    #[must_use]
    pub fn new(market: Market, interval: CandleInterval) -> Self {
        Self {
            market,
            interval,
            limit: None,
            start: None,
            end: None,
        }
    }

    /// At most `limit` candles (1 to 1440).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `limit` outside 1..=1440.
    pub fn with_limit(mut self, limit: u16) -> Result<Self, ValidationError> {
        if !(1..=1440).contains(&limit) {
            return Err(ValidationError::new("limit", limit, "1 to 1440 candles"));
        }
        self.limit = Some(limit);
        Ok(self)
    }

    /// Only candles from `start` to `end` (both must fall on interval boundaries, which the
    /// exchange checks).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `end` when it is before `start`.
    pub fn between(mut self, start: Timestamp, end: Timestamp) -> Result<Self, ValidationError> {
        check_range(start, end, None)?;
        self.start = Some(start);
        self.end = Some(end);
        Ok(self)
    }
}

/// One candle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candle {
    /// Start of the interval.
    pub timestamp: Timestamp,
    /// First price.
    pub open: Price,
    /// Highest price.
    pub high: Price,
    /// Lowest price.
    pub low: Price,
    /// Last price.
    pub close: Price,
    /// Traded base volume.
    pub volume: Quantity,
}

fn parse_candle(value: &Value, path: &str) -> Result<Candle, Malformed> {
    let cells = match value {
        Value::Array(cells) if cells.len() >= 6 => cells,
        other => {
            return Err(Malformed::new(
                path,
                format!(
                    "expected [timestamp, open, high, low, close, volume], got {}",
                    wire::kind(other)
                ),
            ))
        }
    };
    let at = |i: usize| format!("{path}[{i}]");
    let ms = wire::int_value(&cells[0]).map_err(|d| Malformed::new(at(0), d))?;
    let timestamp = wire::timestamp_ms(ms).map_err(|d| Malformed::new(at(0), d))?;
    let decimal = |i: usize| match &cells[i] {
        Value::String(s) => wire::decimal_text(s).map_err(|d| Malformed::new(at(i), d)),
        other => Err(Malformed::new(
            at(i),
            format!("expected a string, got {}", wire::kind(other)),
        )),
    };
    let price = |i: usize| {
        Price::positive("price", decimal(i)?).map_err(|e| Malformed::new(at(i), e.expected))
    };
    Ok(Candle {
        timestamp,
        open: price(1)?,
        high: price(2)?,
        low: price(3)?,
        close: price(4)?,
        volume: Quantity::non_negative("volume", decimal(5)?)
            .map_err(|e| Malformed::new(at(5), e.expected))?,
    })
}

impl Endpoint for CandlesQuery {
    type Response = Vec<Candle>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get(
            "GET /v2/{market}/candles",
            format!("/{}/candles", self.market),
            1,
        )
        .param("interval", self.interval)
        .opt_param("limit", self.limit)
        .opt_param("start", self.start.map(|t| t.timestamp_millis()))
        .opt_param("end", self.end.map(|t| t.timestamp_millis())))
    }

    fn parse(&self, body: &Value) -> Result<Vec<Candle>, Malformed> {
        wire::items(body, "candles")?
            .iter()
            .map(|(path, v)| parse_candle(v, path))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    #[test]
    fn v4_target_and_candle_parsing() {
        let t = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        let q = CandlesQuery::new(Market::parse("BTC-EUR").unwrap(), CandleInterval::OneHour)
            .with_limit(2)
            .unwrap()
            .between(t(1_699_990_000_000), t(1_700_000_000_000))
            .unwrap();
        assert_eq!(
            q.parts(OperatorId::new(1).unwrap()).unwrap().target(),
            "/v2/BTC-EUR/candles?interval=1h&limit=2&start=1699990000000&end=1700000000000"
        );
        let candles = q
            .parse(&json!([
                [1_700_000_000_000_i64, "1", "3", "0.5", "2", "10"],
                ["1699996400000", "1", "1", "1", "1", "0"]
            ]))
            .unwrap();
        assert_eq!(candles.len(), 2);
        assert_eq!(candles[0].high.to_string(), "3");
        assert_eq!(candles[1].timestamp.timestamp_millis(), 1_699_996_400_000);
        assert_eq!(
            q.parse(&json!([[1, "1", "1"]])).unwrap_err().field,
            "candles[0]"
        );
        assert_eq!(
            q.parse(&json!([[1, "1", "1", "1", 1.5, "1"]]))
                .unwrap_err()
                .field,
            "candles[0][4]"
        );
        assert!(
            CandlesQuery::new(Market::parse("BTC-EUR").unwrap(), CandleInterval::OneDay)
                .with_limit(1441)
                .is_err()
        );
        assert_eq!(
            "1W".parse::<CandleInterval>().unwrap(),
            CandleInterval::OneWeek
        );
        assert!("1w".parse::<CandleInterval>().is_err());
    }
}
