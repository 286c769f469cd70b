//! The read-only capability: everything that reads, nothing that trades (I10).
//!
//! Every request is signed with the read-only key (public endpoints too, so all of this client's
//! traffic counts against its own key's budget), except `GET /time`, which measures the clock
//! offset and therefore must not depend on it.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use vigil_core::{Clock, Timestamp};

use crate::{
    config::ClientConfig,
    endpoint::{
        AccountFees, AssetBalance, AssetInfo, AssetsQuery, BalanceQuery, Candle, CandlesQuery,
        FeesQuery, GetOrder, MarketInfo, MarketsQuery, OpenOrdersQuery, Order, OrderBook,
        OrderBookQuery, OrderHistoryQuery, ServerTime, ServerTimeQuery, Ticker24h, Ticker24hQuery,
        TickerBook, TickerBookQuery, TickerPrice, TickerPriceQuery, Trade, TradeHistoryQuery,
    },
    error::BitvavoError,
    keys::ReadOnlyKey,
    rate_limit::RateBudget,
    transport::{ClockOffset, Transport},
    ClientBuildError,
};

/// What a clock synchronisation measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSync {
    /// The exchange's time as it answered.
    pub server_time: Timestamp,
    /// How long the round trip took on the local clock.
    pub round_trip: Duration,
    /// Exchange minus local clock, in ms, now applied to every signing timestamp.
    pub offset_ms: i64,
}

/// The round trip and the offset (exchange minus local, ms) from one `/time` exchange: the
/// server is taken to have read its clock halfway through the round trip.
fn clock_offset(sent: Timestamp, server: Timestamp, received: Timestamp) -> (TimeDelta, i64) {
    let round_trip = (received - sent).max(TimeDelta::zero());
    let midpoint = sent + round_trip / 2;
    (round_trip, (server - midpoint).num_milliseconds())
}

/// Reads market data, balances, fees, orders and fills with the read-only key.
#[derive(Debug, Clone)]
pub struct ReadOnlyClient {
    transport: Arc<Transport>,
}

impl ReadOnlyClient {
    pub(crate) fn from_transport(transport: Transport) -> Self {
        Self {
            transport: Arc::new(transport),
        }
    }

    /// A read-only client on its own (for tools that never trade). To trade as well, build
    /// both with [`crate::BitvavoClients::new`], which also checks the two keys differ.
    ///
    /// # Errors
    /// [`ClientBuildError`] for an invalid configuration.
    pub fn new(
        config: &ClientConfig,
        key: ReadOnlyKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientBuildError> {
        let config = Arc::new(config.validated()?);
        let transport = Transport::new(
            config,
            key.0,
            Arc::clone(&clock),
            Arc::new(ClockOffset::default()),
            RateBudget::new(clock),
            "read-only",
        )
        .map_err(ClientBuildError::Http)?;
        Ok(Self::from_transport(transport))
    }

    /// Measures the offset between the exchange's clock and the local one with `GET /time`
    /// (half the round trip is taken as the one-way delay) and applies it to every signing
    /// timestamp from now on, for this client and the trading client built with it. Call it at
    /// start and every few minutes; until then the offset is zero.
    ///
    /// # Errors
    /// [`BitvavoError`] when `/time` fails; the previous offset stays in force.
    pub async fn sync_time(&self) -> Result<ClockSync, BitvavoError> {
        let clock = &self.transport.clock;
        let sent = clock.now();
        let server = self.transport.call(&ServerTimeQuery).await?;
        let received = clock.now();
        let (round_trip, offset_ms) = clock_offset(sent, server.time, received);
        self.transport.offset.set(offset_ms);
        tracing::info!(
            offset_ms,
            round_trip_ms = round_trip.num_milliseconds(),
            "clock offset to Bitvavo measured"
        );
        Ok(ClockSync {
            server_time: server.time,
            round_trip: round_trip.to_std().unwrap_or(Duration::ZERO),
            offset_ms,
        })
    }

    /// The opaque identity of the API key this client signs with, to check that it is not the
    /// trade key (I10) without handing the key out.
    #[must_use]
    pub fn key_id(&self) -> crate::keys::KeyId {
        self.transport.key_id()
    }

    /// What this client knows of its key's rate-limit budget (from the exchange's
    /// `bitvavo-ratelimit-*` headers and its own reservations).
    #[must_use]
    pub fn rate_limit(&self) -> crate::RateLimitStatus {
        self.transport.rate_limit()
    }

    /// The offset currently applied to signing timestamps (exchange minus local, ms).
    #[must_use]
    pub fn clock_offset_ms(&self) -> i64 {
        self.transport.offset.get()
    }

    /// `GET /time`, without touching the offset.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn server_time(&self) -> Result<ServerTime, BitvavoError> {
        self.transport.call(&ServerTimeQuery).await
    }

    /// `GET /markets`: market rules (as core's `MarketRules`) and details.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn markets(&self, query: &MarketsQuery) -> Result<Vec<MarketInfo>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /assets`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn assets(&self, query: &AssetsQuery) -> Result<Vec<AssetInfo>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /ticker/price`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn ticker_price(
        &self,
        query: &TickerPriceQuery,
    ) -> Result<Vec<TickerPrice>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /ticker/book`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn ticker_book(
        &self,
        query: &TickerBookQuery,
    ) -> Result<Vec<TickerBook>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /ticker/24h`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn ticker_24h(&self, query: &Ticker24hQuery) -> Result<Vec<Ticker24h>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /{market}/candles`, newest first.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn candles(&self, query: &CandlesQuery) -> Result<Vec<Candle>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /{market}/book`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn order_book(&self, query: &OrderBookQuery) -> Result<OrderBook, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /balance`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn balance(&self, query: &BalanceQuery) -> Result<Vec<AssetBalance>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /account/fees`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn account_fees(&self, query: &FeesQuery) -> Result<AccountFees, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /order`, by `orderId` or by `clientOrderId`. errorCode 240 (no order found) comes
    /// back as `Refused`; see [`BitvavoError::is_order_not_found`].
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn order(&self, query: &GetOrder) -> Result<Order, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /orders`: order history of one market, newest first.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn order_history(
        &self,
        query: &OrderHistoryQuery,
    ) -> Result<Vec<Order>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /ordersOpen`.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn open_orders(&self, query: &OpenOrdersQuery) -> Result<Vec<Order>, BitvavoError> {
        self.transport.call(query).await
    }

    /// `GET /trades`: the account's fills in one market, newest first.
    ///
    /// # Errors
    /// [`BitvavoError`].
    pub async fn trades(&self, query: &TradeHistoryQuery) -> Result<Vec<Trade>, BitvavoError> {
        self.transport.call(query).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn offset_takes_half_the_round_trip_as_the_one_way_delay() {
        let t = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        // Sent at 1000, answered at 1400 (local); the server read 6200 at the midpoint (1200).
        let (rtt, offset) = clock_offset(t(1_000), t(6_200), t(1_400));
        assert_eq!(rtt, TimeDelta::milliseconds(400));
        assert_eq!(offset, 5_000);
        // A server behind us gives a negative offset; a clock that went backwards counts as 0.
        assert_eq!(clock_offset(t(1_000), t(900), t(1_000)).1, -100);
        assert_eq!(
            clock_offset(t(1_000), t(1_000), t(900)),
            (TimeDelta::zero(), 0)
        );
    }
}
