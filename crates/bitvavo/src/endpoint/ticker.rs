//! The tickers (bitvavo-api.md 4.4 to 4.6): `GET /ticker/price` and `GET /ticker/book` (weight
//! 1), and `GET /ticker/24h` (weight 1 for one market, 25 for all). With `market=` Bitvavo may
//! answer one object instead of a list; both read as a list. Prices of a market without trades
//! may be absent or empty, so they are optional.

use serde_json::Value;
use vigil_core::{Market, Price, Quantity, Timestamp};

use super::{Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire, wire::Obj, BitvavoError};

/// Asks for the last price of one market or all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickerPriceQuery {
    /// One market, or all when `None`.
    pub market: Option<Market>,
}

/// The last traded price of a market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerPrice {
    /// The market.
    pub market: Market,
    /// The last price, when there is one.
    pub price: Option<Price>,
}

impl Endpoint for TickerPriceQuery {
    type Response = Vec<TickerPrice>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(
            RequestParts::get("GET /v2/ticker/price", "/ticker/price", 1)
                .opt_param("market", self.market.as_ref()),
        )
    }

    fn parse(&self, body: &Value) -> Result<Vec<TickerPrice>, Malformed> {
        wire::list(body, "tickers", true, |o| {
            Ok(TickerPrice {
                market: o.market("market")?,
                price: o.opt_price("price")?,
            })
        })
    }
}

/// Asks for the best bid and ask of one market or all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickerBookQuery {
    /// One market, or all when `None`.
    pub market: Option<Market>,
}

/// The best bid and ask of a market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerBook {
    /// The market.
    pub market: Market,
    /// Best bid.
    pub bid: Option<Price>,
    /// Size at the best bid.
    pub bid_size: Option<Quantity>,
    /// Best ask.
    pub ask: Option<Price>,
    /// Size at the best ask.
    pub ask_size: Option<Quantity>,
}

fn parse_book_ticker(o: Obj<'_>) -> Result<TickerBook, Malformed> {
    Ok(TickerBook {
        market: o.market("market")?,
        bid: o.opt_price("bid")?,
        bid_size: o.opt_quantity("bidSize")?,
        ask: o.opt_price("ask")?,
        ask_size: o.opt_quantity("askSize")?,
    })
}

impl Endpoint for TickerBookQuery {
    type Response = Vec<TickerBook>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts::get("GET /v2/ticker/book", "/ticker/book", 1)
            .opt_param("market", self.market.as_ref()))
    }

    fn parse(&self, body: &Value) -> Result<Vec<TickerBook>, Malformed> {
        wire::list(body, "tickers", true, parse_book_ticker)
    }
}

/// Asks for the 24-hour statistics of one market or all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ticker24hQuery {
    /// One market (weight 1), or all when `None` (weight 25).
    pub market: Option<Market>,
}

/// A market's last 24 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticker24h {
    /// The market.
    pub market: Market,
    /// Start of the 24-hour window.
    pub start_timestamp: Option<Timestamp>,
    /// When the statistics were computed.
    pub timestamp: Option<Timestamp>,
    /// First price in the window.
    pub open: Option<Price>,
    /// Highest price.
    pub high: Option<Price>,
    /// Lowest price.
    pub low: Option<Price>,
    /// Last price.
    pub last: Option<Price>,
    /// Traded base volume.
    pub volume: Option<Quantity>,
    /// Traded quote volume.
    pub volume_quote: Option<rust_decimal::Decimal>,
    /// Best bid and ask now.
    pub book: TickerBook,
}

impl Endpoint for Ticker24hQuery {
    type Response = Vec<Ticker24h>;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let weight = if self.market.is_some() { 1 } else { 25 };
        Ok(
            RequestParts::get("GET /v2/ticker/24h", "/ticker/24h", weight)
                .opt_param("market", self.market.as_ref()),
        )
    }

    fn parse(&self, body: &Value) -> Result<Vec<Ticker24h>, Malformed> {
        wire::list(body, "tickers", true, |o| {
            Ok(Ticker24h {
                market: o.market("market")?,
                start_timestamp: o.opt_timestamp("startTimestamp")?,
                timestamp: o.opt_timestamp("timestamp")?,
                open: o.opt_price("open")?,
                high: o.opt_price("high")?,
                low: o.opt_price("low")?,
                last: o.opt_price("last")?,
                volume: o.opt_quantity("volume")?,
                volume_quote: o.opt_decimal("volumeQuote")?,
                book: parse_book_ticker(o)?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn single_objects_and_empty_prices() {
        let p = TickerPriceQuery::default()
            .parse(&json!({"market": "BTC-EUR", "price": ""}))
            .unwrap();
        assert_eq!(p[0].price, None);
        let b = TickerBookQuery::default()
            .parse(&json!([{"market": "BTC-EUR", "bid": "49999", "bidSize": "0.5", "ask": "50001", "askSize": "0.25"}]))
            .unwrap();
        assert_eq!(b[0].ask.unwrap().to_string(), "50001");
        let t = Ticker24hQuery::default()
            .parse(
                &json!([{"market": "BTC-EUR", "open": "1", "high": "2", "low": "1", "last": "2",
                            "volume": "3", "volumeQuote": "4", "timestamp": 1, "startTimestamp": 0,
                            "bid": "1", "ask": "2"}]),
            )
            .unwrap();
        assert_eq!(t[0].last.unwrap().to_string(), "2");
        let weight = Ticker24hQuery::default()
            .parts(OperatorId::new(1).unwrap())
            .unwrap()
            .weight;
        assert_eq!(weight, 25);
    }
}
