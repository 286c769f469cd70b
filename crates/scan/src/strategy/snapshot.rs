//! What a strategy sees of one market, read with the read-only client only (I10): the last
//! price and the newest CLOSED candles, oldest first.
//!
//! Bitvavo's newest candle is usually still open (its interval contains "now"), and its close
//! is only the latest trade; deciding on it would let a signal appear and vanish within one
//! interval. So the open candle is dropped and strategies only see finished intervals.

use chrono::Duration;
use rust_decimal::Decimal;
use vigil_bitvavo::{
    BitvavoError, Candle, CandleInterval, CandlesQuery, ReadOnlyClient, TickerPriceQuery,
};
use vigil_core::{Market, Price, Timestamp};

/// One market as a strategy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketSnapshot {
    /// The market.
    pub market: Market,
    /// When it was read.
    pub at: Timestamp,
    /// The candle interval.
    pub interval: CandleInterval,
    /// Closed candles, oldest first.
    pub candles: Vec<Candle>,
    /// The last traded price, when the exchange has one.
    pub last_price: Option<Price>,
}

impl MarketSnapshot {
    /// The closes of the closed candles, oldest first.
    #[must_use]
    pub fn closes(&self) -> Vec<Decimal> {
        self.candles.iter().map(|c| c.close.value()).collect()
    }
}

/// How long a candle of `interval` lasts; `None` for a month (no fixed length; strategies do
/// not accept it).
#[must_use]
pub fn interval_length(interval: CandleInterval) -> Option<Duration> {
    Some(match interval {
        CandleInterval::OneMinute => Duration::minutes(1),
        CandleInterval::FiveMinutes => Duration::minutes(5),
        CandleInterval::FifteenMinutes => Duration::minutes(15),
        CandleInterval::ThirtyMinutes => Duration::minutes(30),
        CandleInterval::OneHour => Duration::hours(1),
        CandleInterval::TwoHours => Duration::hours(2),
        CandleInterval::FourHours => Duration::hours(4),
        CandleInterval::SixHours => Duration::hours(6),
        CandleInterval::EightHours => Duration::hours(8),
        CandleInterval::TwelveHours => Duration::hours(12),
        CandleInterval::OneDay => Duration::days(1),
        CandleInterval::OneWeek => Duration::weeks(1),
        CandleInterval::OneMonth => return None,
    })
}

/// Keeps the candles whose interval ended at or before `now`, oldest first.
pub(crate) fn closed_oldest_first(
    mut newest_first: Vec<Candle>,
    interval: CandleInterval,
    now: Timestamp,
) -> Vec<Candle> {
    let length = interval_length(interval).unwrap_or(Duration::days(31));
    newest_first.retain(|c| c.timestamp + length <= now);
    newest_first.reverse();
    newest_first
}

/// Reads the last price and up to `candles` closed candles of `market` (one more is asked
/// for, since the newest is usually still open).
///
/// # Errors
/// [`BitvavoError`] from either request.
pub async fn fetch_snapshot(
    client: &ReadOnlyClient,
    market: &Market,
    interval: CandleInterval,
    candles: u16,
    now: Timestamp,
) -> Result<MarketSnapshot, BitvavoError> {
    let query = CandlesQuery::new(market.clone(), interval)
        .with_limit(candles.saturating_add(1).clamp(1, 1_440))
        .map_err(|e| BitvavoError::NotSent {
            detail: e.to_string(),
        })?;
    let newest_first = client.candles(&query).await?;
    let ticker = client
        .ticker_price(&TickerPriceQuery {
            market: Some(market.clone()),
        })
        .await?;
    let last_price = ticker
        .into_iter()
        .find(|t| &t.market == market)
        .and_then(|t| t.price);
    let mut closed = closed_oldest_first(newest_first, interval, now);
    let keep = usize::from(candles);
    if closed.len() > keep {
        closed.drain(..closed.len() - keep);
    }
    Ok(MarketSnapshot {
        market: market.clone(),
        at: now,
        interval,
        candles: closed,
        last_price,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::DateTime;
    use vigil_core::Quantity;

    use super::*;

    pub(crate) fn t(minutes: i64) -> Timestamp {
        DateTime::from_timestamp(1_767_600_000, 0).unwrap() + Duration::minutes(minutes)
    }

    /// Candles of `interval` minutes with these closes, oldest first, the first starting at
    /// `t(0)`.
    pub(crate) fn candles(closes: &[&str], minutes: i64) -> Vec<Candle> {
        closes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let p = Price::parse_positive("close", c).unwrap();
                Candle {
                    timestamp: t(minutes * i64::try_from(i).unwrap()),
                    open: p,
                    high: p,
                    low: p,
                    close: p,
                    volume: Quantity::parse_positive("volume", "1").unwrap(),
                }
            })
            .collect()
    }

    /// A snapshot of hourly candles with these closes, read just after the last one closed.
    pub(crate) fn hourly(market: &str, closes: &[&str]) -> MarketSnapshot {
        let candles = candles(closes, 60);
        let at = t(60 * i64::try_from(closes.len()).unwrap());
        MarketSnapshot {
            market: Market::parse(market).unwrap(),
            at,
            interval: CandleInterval::OneHour,
            last_price: candles.last().map(|c| c.close),
            candles,
        }
    }

    #[test]
    fn the_open_candle_is_dropped_and_order_is_oldest_first() {
        let mut newest_first = candles(&["1", "2", "3"], 60);
        newest_first.reverse();
        // At 2h30 the candle that started at 2h is still open.
        let closed = closed_oldest_first(newest_first.clone(), CandleInterval::OneHour, t(150));
        let closes: Vec<_> = closed.iter().map(|c| c.close.to_string()).collect();
        assert_eq!(closes, ["1", "2"]);
        // At 3h it has closed.
        assert_eq!(
            closed_oldest_first(newest_first, CandleInterval::OneHour, t(180)).len(),
            3
        );
        assert_eq!(interval_length(CandleInterval::OneMonth), None);
    }
}
