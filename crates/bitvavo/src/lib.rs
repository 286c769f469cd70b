//! Vigil's Bitvavo REST client: signing, typed endpoints, the rate-limit budget, and the
//! read-only and trading capabilities (invariant I10).
//!
//! Map of the crate:
//! - [`client`]: [`BitvavoClients`] builds a [`ReadOnlyClient`] (market data, balances, fees,
//!   order and fill lookups) and, with the trade key, a [`TradingClient`] (create; the executor's)
//!   and a [`CancelClient`] (cancel, cancel all, dead man's switch), from two distinct keys; the
//!   types keep trading out of read-only code and order placement out of cancelling code.
//! - [`endpoint`]: one request type per endpoint with its response type; decimals become core's
//!   newtypes, `/markets` becomes core's `MarketRules`.
//! - [`error`]: [`BitvavoError`], shaped by the caller's next decision (refused, ambiguous,
//!   rate limited, malformed, not sent; 220 on a create is its own variant).
//! - [`signing`]: the HMAC signature as a pure function, tested with every published vector.
//! - [`keys`]: [`ReadOnlyKey`] and [`TradeKey`], whose secrets never reach Debug, logs or errors.
//! - [`config`]: [`ClientConfig`] and its validation.
//! - `rate_limit`, `transport`, `answer`, `wire`: the budget, the HTTP exchange, the error
//!   model and the strict JSON reader behind the clients.
//!
//! Every call is bounded: a connect timeout, a total timeout, a bounded wait for the rate-limit
//! budget, and a cap on the answer size. Time comes from the `vigil_core::Clock` given to the
//! clients, corrected by the offset to the exchange's clock that
//! [`ReadOnlyClient::sync_time`] measures.

mod answer;
pub mod client;
pub mod config;
pub mod endpoint;
pub mod error;
pub mod keys;
#[cfg(test)]
mod property_tests;
mod rate_limit;
pub mod signing;
mod transport;
mod wire;

pub use client::{
    BitvavoClients, CancelClient, ClientBuildError, ClockSync, CreateOrderOutcome, PreparedOrder,
    ReadOnlyClient, TradingClient,
};
pub use config::{ClientConfig, ConfigError, OperatorId};
pub use endpoint::{
    AccountFees, AssetBalance, AssetInfo, AssetsQuery, BalanceQuery, BookLevel, CancelAck,
    CancelAllOrders, CancelOrder, CancelOrdersAfter, CancelOrdersAfterAck, Candle, CandleInterval,
    CandlesQuery, CreateOrder, ExchangeOrderType, FeesQuery, GetOrder, MarketInfo, MarketsQuery,
    OpenOrdersQuery, Order, OrderBook, OrderBookQuery, OrderFill, OrderHistoryQuery, OrderId,
    OrderKey, OrderRef, OrderStatus, SelfTradePrevention, ServerTime, ServerTimeQuery, Ticker24h,
    Ticker24hQuery, TickerBook, TickerBookQuery, TickerPrice, TickerPriceQuery, TimeInForce, Trade,
    TradeHistoryQuery,
};
pub use error::{BitvavoError, RateLimitSource};
pub use keys::{KeyError, KeyId, ReadOnlyKey, TradeKey};
pub use rate_limit::{ExchangeKey, RateLimitStatus};
pub use transport::RequestStamp;
