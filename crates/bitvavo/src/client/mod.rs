//! The two capabilities (invariant I10) and how they are built.
//!
//! [`ReadOnlyClient`] reads: market data, balances, fees, orders (by either id), order history,
//! open orders and fills. [`TradingClient`] places orders (the executor's alone);
//! [`CancelClient`] cancels one order, all open orders, and arms the dead man's switch. None has
//! another's methods, so the type system keeps trading out of everything
//! that holds only the read-only client:
//!
//! ```compile_fail
//! # async fn f(read_only: vigil_bitvavo::ReadOnlyClient, order: vigil_bitvavo::CreateOrder) {
//! // A ReadOnlyClient cannot place an order: there is no such method.
//! read_only.create_order(order).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # async fn f(trading: vigil_bitvavo::TradingClient) {
//! // A TradingClient cannot read balances or market data (I10: those use the read-only key).
//! trading.balance(&vigil_bitvavo::BalanceQuery::default()).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # async fn f(cancel: vigil_bitvavo::CancelClient, order: vigil_bitvavo::CreateOrder) {
//! // The cancel capability cannot place an order (I10: only the executor holds that).
//! cancel.create_order(order).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # async fn f(trading: vigil_bitvavo::TradingClient, all: vigil_bitvavo::CancelAllOrders) {
//! // The order capability does not cancel: cancelling is a separate capability.
//! trading.cancel_all_orders(&all).await;
//! # }
//! ```
//!
//! The same calls on the right capability compile (so the two tests above fail for the missing
//! capability, not for a typo):
//!
//! ```no_run
//! # async fn f(c: vigil_bitvavo::BitvavoClients, order: vigil_bitvavo::CreateOrder) {
//! let placed = c.trading.create_order(order).await;
//! let canceled = c.cancel.cancel_all_orders(&vigil_bitvavo::CancelAllOrders { market: None }).await;
//! let balances = c.read_only.balance(&vigil_bitvavo::BalanceQuery::default()).await;
//! # }
//! ```
//!
//! [`BitvavoClients::new`] builds both from two distinct keys, each with its own connection pool
//! and rate-limit budget (Bitvavo counts per key). They share the measured clock offset, which
//! [`ReadOnlyClient::sync_time`] updates.

mod read_only;
mod trading;

use std::sync::Arc;

use vigil_core::Clock;

pub use read_only::{ClockSync, ReadOnlyClient};
pub use trading::{CancelClient, CreateOrderOutcome, PreparedOrder, TradingClient};

use crate::{
    config::{ClientConfig, ConfigError},
    keys::{check_distinct, KeyError, ReadOnlyKey, TradeKey},
    rate_limit::RateBudget,
    transport::{ClockOffset, Transport},
};

/// Why the clients could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientBuildError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The keys are invalid or the same.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The HTTP client could not be set up.
    #[error("{0}")]
    Http(String),
}

/// The read-only client and the trading client, built together.
#[derive(Debug, Clone)]
pub struct BitvavoClients {
    /// Market data, balances, fees, lookups (the read-only key).
    pub read_only: ReadOnlyClient,
    /// Placing orders (the trade key; the executor's alone).
    pub trading: TradingClient,
    /// Cancelling orders and the dead man's switch (the trade key; never places an order).
    pub cancel: CancelClient,
}

impl BitvavoClients {
    /// Builds both clients. Refuses an invalid configuration, and two keys that share the API
    /// key or the secret (I10).
    ///
    /// # Errors
    /// [`ClientBuildError`] naming the problem and what to do about it.
    pub fn new(
        config: &ClientConfig,
        read_key: ReadOnlyKey,
        trade_key: TradeKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientBuildError> {
        let config = Arc::new(config.validated()?);
        check_distinct(&read_key, &trade_key)?;
        let offset = Arc::new(ClockOffset::default());
        // Unsigned requests are counted per IP, which both clients share.
        let public_budget = RateBudget::new(Arc::clone(&clock));
        let read = Transport::new(
            Arc::clone(&config),
            read_key.0,
            Arc::clone(&clock),
            Arc::clone(&offset),
            Arc::clone(&public_budget),
            "read-only",
        )
        .map_err(ClientBuildError::Http)?;
        let trade = Transport::new(config, trade_key.0, clock, offset, public_budget, "trading")
            .map_err(ClientBuildError::Http)?;
        let trade = Arc::new(trade);
        Ok(Self {
            read_only: ReadOnlyClient::from_transport(read),
            trading: TradingClient::from_transport(Arc::clone(&trade)),
            cancel: CancelClient::from_transport(trade),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use vigil_core::SystemClock;

    use super::*;

    const KEY_A: &str = "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09";
    const KEY_B: &str = "9a01f108ca025ea832ad30bacc7248be2723ea68ebe62a7c422126728f37c2e3";
    const SECRET_A: &str = "secret-a-which-must-never-appear-anywhere";
    const SECRET_B: &str = "secret-b-which-must-never-appear-anywhere";

    fn keys(read: (&str, &str), trade: (&str, &str)) -> (ReadOnlyKey, TradeKey) {
        (
            ReadOnlyKey::new(read.0, SecretString::from(read.1.to_owned())).unwrap(),
            TradeKey::new(trade.0, SecretString::from(trade.1.to_owned())).unwrap(),
        )
    }

    #[test]
    fn i10_one_constructor_refuses_shared_keys_or_secrets() {
        let config = ClientConfig::new("http://127.0.0.1:9", 1);
        let (r, t) = keys((KEY_A, SECRET_A), (KEY_A, SECRET_B));
        let err = BitvavoClients::new(&config, r, t, Arc::new(SystemClock)).unwrap_err();
        assert!(matches!(
            err,
            ClientBuildError::Keys(KeyError::SameKey { .. })
        ));
        let (r, t) = keys((KEY_A, SECRET_A), (KEY_B, SECRET_A));
        let err = BitvavoClients::new(&config, r, t, Arc::new(SystemClock)).unwrap_err();
        assert_eq!(err, ClientBuildError::Keys(KeyError::SameSecret));
        assert!(!err.to_string().contains(SECRET_A));
    }

    #[test]
    fn i10_no_secret_in_debug_of_the_clients() {
        let config = ClientConfig::new("http://127.0.0.1:9", 1);
        let (r, t) = keys((KEY_A, SECRET_A), (KEY_B, SECRET_B));
        let clients = BitvavoClients::new(&config, r, t, Arc::new(SystemClock)).unwrap();
        let text = format!("{clients:?} {clients:#?}");
        for secret in [SECRET_A, SECRET_B, KEY_A, KEY_B] {
            assert!(!text.contains(secret), "{secret} leaked into Debug");
        }
    }

    #[test]
    fn i10_key_ids_tell_the_two_clients_apart() {
        let config = ClientConfig::new("http://127.0.0.1:9", 1);
        let (r, t) = keys((KEY_A, SECRET_A), (KEY_B, SECRET_B));
        let clients = BitvavoClients::new(&config, r, t, Arc::new(SystemClock)).unwrap();
        assert_ne!(clients.read_only.key_id(), clients.trading.key_id());
        // A read-only client built on its own from the trade key's credentials is recognisable.
        let (same, _) = keys((KEY_B, SECRET_B), (KEY_A, SECRET_A));
        let alone = ReadOnlyClient::new(&config, same, Arc::new(SystemClock)).unwrap();
        assert_eq!(alone.key_id(), clients.trading.key_id());
    }

    #[test]
    fn invalid_configuration_is_refused_before_anything_else() {
        let config = ClientConfig::new("http://example.com", 0);
        let (r, t) = keys((KEY_A, SECRET_A), (KEY_B, SECRET_B));
        let err = BitvavoClients::new(&config, r, t, Arc::new(SystemClock)).unwrap_err();
        let ClientBuildError::Config(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.problems.len(), 2);
    }
}
