//! `GET /{market}/book`: the order book (bitvavo-api.md 4.8; weight 1).

use serde_json::Value;
use vigil_core::{Market, Price, Quantity, Timestamp, ValidationError};

use super::{Endpoint, RequestParts};
use crate::{
    config::OperatorId,
    error::Malformed,
    wire::{self, Obj},
    BitvavoError,
};

/// Asks for a market's order book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBookQuery {
    market: Market,
    depth: Option<u16>,
}

impl OrderBookQuery {
    /// The whole book of `market`.
    #[must_use]
    pub fn new(market: Market) -> Self {
        Self {
            market,
            depth: None,
        }
    }

    /// Only the best `depth` levels per side (1 to 1000).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `depth` outside 1..=1000.
    pub fn with_depth(mut self, depth: u16) -> Result<Self, ValidationError> {
        if !(1..=1000).contains(&depth) {
            return Err(ValidationError::new("depth", depth, "1 to 1000 levels"));
        }
        self.depth = Some(depth);
        Ok(self)
    }
}

/// One price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookLevel {
    /// The price.
    pub price: Price,
    /// The base quantity at that price.
    pub size: Quantity,
}

/// An order book snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBook {
    /// The market.
    pub market: Market,
    /// Increases by one with every change of the book.
    pub nonce: i64,
    /// Bids, best (highest) first.
    pub bids: Vec<BookLevel>,
    /// Asks, best (lowest) first.
    pub asks: Vec<BookLevel>,
    /// When the snapshot was taken.
    pub timestamp: Option<Timestamp>,
}

fn parse_levels(o: &Obj<'_>, name: &str) -> Result<Vec<BookLevel>, Malformed> {
    o.opt_array(name)?
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let path = format!("{}[{i}]", o.field(name));
            let pair = match level {
                Value::Array(pair) if pair.len() >= 2 => pair,
                other => {
                    return Err(Malformed::new(
                        path,
                        format!("expected a [price, size] pair, got {}", wire::kind(other)),
                    ))
                }
            };
            let text = |v: &Value, what: &str| match v {
                Value::String(s) => {
                    wire::decimal_text(s).map_err(|d| Malformed::new(format!("{path}.{what}"), d))
                }
                other => Err(Malformed::new(
                    format!("{path}.{what}"),
                    format!("expected a string, got {}", wire::kind(other)),
                )),
            };
            let price = Price::positive("price", text(&pair[0], "price")?)
                .map_err(|e| Malformed::new(format!("{path}.price"), e.expected))?;
            let size = Quantity::non_negative("size", text(&pair[1], "size")?)
                .map_err(|e| Malformed::new(format!("{path}.size"), e.expected))?;
            Ok(BookLevel { price, size })
        })
        .collect()
}

impl Endpoint for OrderBookQuery {
    type Response = OrderBook;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(
            RequestParts::get("GET /v2/{market}/book", format!("/{}/book", self.market), 1)
                .opt_param("depth", self.depth),
        )
    }

    fn parse(&self, body: &Value) -> Result<OrderBook, Malformed> {
        let o = Obj::new(body, "")?;
        Ok(OrderBook {
            market: o.market("market")?,
            nonce: o.int("nonce")?,
            bids: parse_levels(&o, "bids")?,
            asks: parse_levels(&o, "asks")?,
            timestamp: o.opt_timestamp("timestamp")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_levels_and_names_bad_ones() {
        let q = OrderBookQuery::new(Market::parse("BTC-EUR").unwrap())
            .with_depth(2)
            .unwrap();
        assert_eq!(
            q.parts(OperatorId::new(1).unwrap()).unwrap().target(),
            "/v2/BTC-EUR/book?depth=2"
        );
        let book = q
            .parse(
                &json!({"market": "BTC-EUR", "nonce": 5, "bids": [["49999", "0.5"]],
                           "asks": [["50001", "0.25"], ["50002", "1"]], "timestamp": 1}),
            )
            .unwrap();
        assert_eq!(book.asks.len(), 2);
        assert_eq!(book.bids[0].price.to_string(), "49999");
        let err = q
            .parse(&json!({"market": "BTC-EUR", "nonce": 5, "bids": [["x", "0.5"]]}))
            .unwrap_err();
        assert_eq!(err.field, "bids[0].price");
        let err = q
            .parse(&json!({"market": "BTC-EUR", "nonce": 5, "asks": [["1"]]}))
            .unwrap_err();
        assert_eq!(err.field, "asks[0]");
        assert!(OrderBookQuery::new(Market::parse("BTC-EUR").unwrap())
            .with_depth(0)
            .is_err());
    }
}
