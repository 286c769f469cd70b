//! The typed catalogue: one request type per Bitvavo endpoint, with its response type
//! (bitvavo-api.md section 4).
//!
//! Each request type knows its method, path, query, body, rate-limit weight (section 7) and how
//! to read its answer; the clients in [`crate::client`] only ever send these. Request types are
//! built through constructors that validate their inputs, so a request that Bitvavo would refuse
//! for its shape (a candle limit of 0, a dead man's switch of 5 s) never leaves the process.
//!
//! Query parameters are written in a fixed order and percent-encoded once; the resulting request
//! target is both what is signed and what is sent. Bodies are serialised once to compact JSON in
//! the field order of a private struct, and those bytes are both signed and sent.

mod account;
mod assets;
mod book;
mod cancel_orders_after;
mod candles;
mod create_order;
mod markets;
mod order;
mod order_lists;
mod order_lookup;
mod ticker;
mod time;
mod trades;

use reqwest::Method;
use serde_json::Value;

pub use account::{AccountFees, AssetBalance, BalanceQuery, FeesQuery};
pub use assets::{AssetInfo, AssetsQuery};
pub use book::{BookLevel, OrderBook, OrderBookQuery};
pub use cancel_orders_after::{CancelOrdersAfter, CancelOrdersAfterAck};
pub use candles::{Candle, CandleInterval, CandlesQuery};
pub use create_order::{CreateOrder, SelfTradePrevention, TimeInForce};
pub use markets::{MarketInfo, MarketsQuery};
pub use order::{ExchangeOrderType, Order, OrderFill, OrderId, OrderKey, OrderStatus};
pub use order_lists::{CancelAllOrders, OpenOrdersQuery, OrderHistoryQuery};
pub use order_lookup::{CancelAck, CancelOrder, GetOrder, OrderRef};
pub use ticker::{
    Ticker24h, Ticker24hQuery, TickerBook, TickerBookQuery, TickerPrice, TickerPriceQuery,
};
pub use time::{ServerTime, ServerTimeQuery};
pub use trades::{Trade, TradeHistoryQuery};

use crate::{config::OperatorId, error::Malformed};

/// Everything needed to sign and send one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestParts {
    /// The HTTP method.
    pub(crate) method: Method,
    /// The path after `/v2`, starting with `/` (`/order`, `/BTC-EUR/candles`).
    pub(crate) path: String,
    /// Query parameters in the order they are sent; values are percent-encoded when the target
    /// is built.
    pub(crate) query: Vec<(&'static str, String)>,
    /// The compact JSON body (POST only).
    pub(crate) body: Option<Vec<u8>>,
    /// Rate-limit points (section 7).
    pub(crate) weight: u32,
    /// Whether the request is signed. Everything is, except `GET /time`: the clock offset is
    /// measured with it, so it must work even when the local clock is off by more than the
    /// access window.
    pub(crate) signed: bool,
    /// Whether it creates or cancels something (then an unclear answer is ambiguous).
    pub(crate) mutates: bool,
    /// Whether it is `POST /order` (errorCode 220 then means our order exists).
    pub(crate) creates_order: bool,
    /// `METHOD /v2/template`, for logs.
    pub(crate) name: &'static str,
}

impl RequestParts {
    /// A signed GET that changes nothing.
    pub(crate) fn get(name: &'static str, path: impl Into<String>, weight: u32) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            weight,
            signed: true,
            mutates: false,
            creates_order: false,
            name,
        }
    }

    /// Adds a query parameter.
    pub(crate) fn param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.push((name, value.to_string()));
        self
    }

    /// Adds a query parameter when there is a value.
    pub(crate) fn opt_param<T: ToString>(self, name: &'static str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.param(name, v),
            None => self,
        }
    }

    /// The request target exactly as signed and sent: `/v2` + path + `?` + encoded query.
    pub(crate) fn target(&self) -> String {
        let mut target = format!("/v2{}", self.path);
        for (i, (name, value)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(name);
            target.push('=');
            target.push_str(&percent_encode(value));
        }
        target
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters. Market ids, UUIDs, integers
/// and interval names pass unchanged, which is what every Bitvavo client sends for them.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One endpoint: how to ask and how to read the answer.
pub(crate) trait Endpoint {
    /// What a successful answer becomes.
    type Response;

    /// The request; `operator` is sent by the endpoints that require `operatorId`.
    fn parts(&self, operator: OperatorId) -> Result<RequestParts, crate::BitvavoError>;

    /// Reads a successful answer.
    fn parse(&self, body: &Value) -> Result<Self::Response, Malformed>;
}

/// Serialises a request body once, compactly, in the field order of `body`.
pub(crate) fn compact_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, crate::BitvavoError> {
    serde_json::to_vec(body).map_err(|e| crate::BitvavoError::NotSent {
        detail: format!("the request body could not be serialised ({e}); this is a bug in Vigil"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_keeps_parameter_order_and_encodes_once() {
        let parts = RequestParts::get("GET /v2/order", "/order", 1)
            .param("market", "BTC-EUR")
            .param("clientOrderId", "2be7d0df-d8dc-7b93-a550-8876f3b393e9")
            .opt_param::<String>("orderId", None)
            .param("odd", "a b&c=d/é");
        assert_eq!(
            parts.target(),
            "/v2/order?market=BTC-EUR&clientOrderId=2be7d0df-d8dc-7b93-a550-8876f3b393e9&odd=a%20b%26c%3Dd%2F%C3%A9"
        );
        assert_eq!(
            RequestParts::get("GET /v2/time", "/time", 1).target(),
            "/v2/time"
        );
    }
}
