//! A Bitvavo-compatible exchange simulator, judged by real Bitvavo clients.
//!
//! It serves the REST API at root-level `/v2/...` (clients sign `/v2/...` whatever base URL they
//! are given) with Bitvavo's paths, field names and JSON types, signature rules, error codes,
//! HTTP statuses and rate-limit headers (see `shared/bitvavo-api.md` and `docs/simulator.md`).
//! Behind it: seeded price paths, order matching against a house account, balances with holds,
//! key permissions, fault injection and an admin API (`/_sim/`) that exposes the full order log.
//!
//! It does not depend on `vigil-bitvavo`, so it cannot share that client's bugs.
//!
//! Map of the crate:
//! - [`config`]: [`SimConfig`] (TOML or builders), demo keys.
//! - [`faults`]: [`FaultPlan`] and its rules.
//! - `auth` and `canonical_json`: signature verification and the body minifier it needs.
//! - `exchange`: the state (markets, accounts, orders, fills) and the endpoint logic.
//! - `price_path`: the seeded price path per market.
//! - `rate_limit`: points per minute, bans.
//! - `routes`, `server`, `admin`: HTTP.
//!
//! Start it with [`run`] (serve until cancelled) or [`spawn`] (background task plus a
//! [`SimHandle`] for in-process tests).

mod admin;
pub mod auth;
pub mod canonical_json;
pub mod config;
mod error;
mod exchange;
pub mod faults;
mod price_path;
mod rate_limit;
mod routes;
mod server;

#[cfg(test)]
mod property_tests;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use rust_decimal::Decimal;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub use config::{
    AccountConfig, BanCode, FeeConfig, KeyConfig, MarketConfig, Permission, RateLimitConfig,
    SimConfig, DEMO_ACCOUNT, DEMO_TRADE_KEY, DEMO_TRADE_SECRET, DEMO_VIEW_KEY, DEMO_VIEW_SECRET,
};
pub use error::{ApiError, SimError};
pub use exchange::{Balance, OrderLogEntry, RequestTiming};
pub use faults::{FaultKind, FaultPlan, FaultRule};

use exchange::Exchange;

/// Why an admin operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No account has this name.
    #[error("no account named {0:?}; the configured accounts are listed in docs/simulator.md (demo: \"demo\")")]
    UnknownAccount(String),
    /// No market has this id.
    #[error("no market {0:?}; use a configured market such as BTC-EUR")]
    UnknownMarket(String),
    /// The value is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

/// State shared by the server tasks and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    exchange: Mutex<Exchange>,
    initial: SimConfig,
}

impl Shared {
    fn new(config: SimConfig) -> Result<Self, SimError> {
        Ok(Self {
            exchange: Mutex::new(Exchange::new(config.clone())?),
            initial: config,
        })
    }

    /// The state. The lock is only ever held for short synchronous sections, never across an
    /// `.await`; a poisoned lock (a panic in a handler) is taken over rather than propagated,
    /// because every section leaves the state consistent before anything can panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Exchange> {
        self.exchange.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn settle(&self) {
        let mut ex = self.lock();
        let now = ex.now_ms();
        ex.settle(now);
    }

    fn market(ex: &Exchange, market: &str) -> Result<usize, AdminError> {
        ex.market(&market.to_ascii_uppercase())
            .map_err(|_| AdminError::UnknownMarket(market.to_owned()))
    }

    fn account(ex: &Exchange, account: &str) -> Result<usize, AdminError> {
        ex.account_named(account)
            .ok_or_else(|| AdminError::UnknownAccount(account.to_owned()))
    }

    pub(crate) fn order_log(&self) -> Vec<OrderLogEntry> {
        self.lock().order_log()
    }

    pub(crate) fn request_counts(&self) -> BTreeMap<String, u64> {
        self.lock().requests.clone()
    }

    pub(crate) fn all_balances(&self) -> BTreeMap<String, BTreeMap<String, Balance>> {
        let ex = self.lock();
        ex.account_names()
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, ex.balances(i)))
            .collect()
    }

    pub(crate) fn set_balance(
        &self,
        account: &str,
        asset: &str,
        available: Decimal,
    ) -> Result<(), AdminError> {
        if available.is_sign_negative() {
            return Err(AdminError::Invalid(format!(
                "available {available} must not be negative"
            )));
        }
        if vigil_core::Asset::parse("asset", asset).is_err() {
            return Err(AdminError::Invalid(format!(
                "asset {asset:?} is not an asset symbol such as EUR"
            )));
        }
        let mut ex = self.lock();
        let a = Self::account(&ex, account)?;
        ex.set_available(a, asset, available);
        Ok(())
    }

    pub(crate) fn price(&self, market: &str) -> Result<Decimal, AdminError> {
        let mut ex = self.lock();
        let m = Self::market(&ex, market)?;
        let now = ex.now_ms();
        Ok(ex.current_price(m, now))
    }

    pub(crate) fn set_price(&self, market: &str, price: Decimal) -> Result<(), AdminError> {
        if price <= Decimal::ZERO {
            return Err(AdminError::Invalid(format!(
                "price {price} must be greater than zero"
            )));
        }
        let mut ex = self.lock();
        let m = Self::market(&ex, market)?;
        ex.set_price(m, price)
            .map_err(|e| AdminError::Invalid(e.message))
    }

    pub(crate) fn set_market_status(&self, market: &str, status: &str) -> Result<(), AdminError> {
        let mut ex = self.lock();
        let m = Self::market(&ex, market)?;
        ex.set_status(m, status).map_err(|_| {
            AdminError::Invalid(format!(
                "status {status:?} is not one of trading, halted, auction, auctionMatching, cancelOnly"
            ))
        })
    }

    pub(crate) fn faults(&self) -> FaultPlan {
        self.lock().faults.plan().clone()
    }

    pub(crate) fn set_faults(&self, plan: FaultPlan) -> Result<(), AdminError> {
        plan.validate()
            .map_err(|problems| AdminError::Invalid(problems.join("; ")))?;
        let mut ex = self.lock();
        let seed = ex.config.seed;
        ex.faults = faults::FaultState::new(plan, seed);
        Ok(())
    }

    pub(crate) fn clear_faults(&self) {
        let mut ex = self.lock();
        let seed = ex.config.seed;
        ex.faults = faults::FaultState::new(FaultPlan::none(), seed);
    }

    pub(crate) fn fees_collected(&self) -> BTreeMap<String, Decimal> {
        self.lock().fees_collected()
    }

    pub(crate) fn reset(&self) -> Result<(), AdminError> {
        let fresh =
            Exchange::new(self.initial.clone()).map_err(|e| AdminError::Invalid(e.to_string()))?;
        *self.lock() = fresh;
        Ok(())
    }
}

/// Serves the simulated exchange on `listener` until `shutdown` is cancelled.
///
/// # Errors
/// [`SimError::Config`] (or [`SimError::Replay`]) when the configuration is invalid; otherwise it
/// returns `Ok(())` after shutdown.
pub async fn run(
    listener: TcpListener,
    config: SimConfig,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let shared = Arc::new(Shared::new(config)?);
    server::serve(listener, shared, shutdown).await
}

/// Starts the simulator in a background task and returns a handle to it.
///
/// The server stops when `shutdown` is cancelled, when [`SimHandle::stop`] is called, or when
/// the handle is dropped.
///
/// # Errors
/// [`SimError::Config`] / [`SimError::Replay`] for an invalid configuration, [`SimError::Io`]
/// when the listener's address cannot be read.
pub async fn spawn(
    listener: TcpListener,
    config: SimConfig,
    shutdown: CancellationToken,
) -> Result<SimHandle, SimError> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared::new(config)?);
    let token = shutdown.child_token();
    let task = tokio::spawn(server::serve(listener, Arc::clone(&shared), token.clone()));
    Ok(SimHandle {
        shared,
        addr,
        shutdown: token,
        task: Some(task),
    })
}

/// A running simulator: its address and direct access to its state for tests.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), SimError>>>,
}

impl SimHandle {
    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (clients append `/v2`; ccxt takes it as is).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every order the simulator accepted, oldest first, with the key that placed it.
    #[must_use]
    pub fn order_log(&self) -> Vec<OrderLogEntry> {
        self.shared.order_log()
    }

    /// Requests per endpoint (`"POST /v2/order"`, `"GET /v2/{market}/candles"`, …), refused
    /// ones included.
    #[must_use]
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.request_counts()
    }

    /// Requests to one endpoint (`"POST /v2/order"`), refused ones included.
    #[must_use]
    pub fn request_count(&self, endpoint: &str) -> u64 {
        self.request_counts().get(endpoint).copied().unwrap_or(0)
    }

    /// One balance of an account (zero when the account never held the asset).
    ///
    /// # Errors
    /// [`AdminError::UnknownAccount`].
    pub fn balance(&self, account: &str, asset: &str) -> Result<Balance, AdminError> {
        let ex = self.shared.lock();
        let a = Shared::account(&ex, account)?;
        Ok(ex.balance(a, &asset.to_ascii_uppercase()))
    }

    /// Every account's balances by account name, then asset.
    #[must_use]
    pub fn balances(&self) -> BTreeMap<String, BTreeMap<String, Balance>> {
        self.shared.all_balances()
    }

    /// Sets an available balance (what is held for open orders stays).
    ///
    /// # Errors
    /// [`AdminError`] for an unknown account, a bad asset symbol or a negative amount.
    pub fn set_balance(
        &self,
        account: &str,
        asset: &str,
        available: Decimal,
    ) -> Result<(), AdminError> {
        self.shared.set_balance(account, asset, available)
    }

    /// The current price of a market.
    ///
    /// # Errors
    /// [`AdminError::UnknownMarket`].
    pub fn price(&self, market: &str) -> Result<Decimal, AdminError> {
        self.shared.price(market)
    }

    /// Overrides a market's price from now on (rounded to its tick size); resting orders the new
    /// price crosses fill at once.
    ///
    /// # Errors
    /// [`AdminError`] for an unknown market or a price that is not positive.
    pub fn set_price(&self, market: &str, price: Decimal) -> Result<(), AdminError> {
        self.shared.set_price(market, price)
    }

    /// Sets a market's status (`trading`, `halted`, `cancelOnly`, …).
    ///
    /// # Errors
    /// [`AdminError`] for an unknown market or status.
    pub fn set_market_status(&self, market: &str, status: &str) -> Result<(), AdminError> {
        self.shared.set_market_status(market, status)
    }

    /// The fault plan in force.
    #[must_use]
    pub fn faults(&self) -> FaultPlan {
        self.shared.faults()
    }

    /// Replaces the fault plan (its counters start from zero).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming each invalid rule.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), AdminError> {
        self.shared.set_faults(plan)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Runs matching and the dead man's switches now (useful after moving a `ManualClock`).
    pub fn settle(&self) {
        self.shared.settle();
    }

    /// Fees collected per asset.
    #[must_use]
    pub fn fees_collected(&self) -> BTreeMap<String, Decimal> {
        self.shared.fees_collected()
    }

    /// Back to the configured start: orders, fills, balances, counters, rate limits and faults.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] if the configuration can no longer be loaded (a replay file
    /// vanished).
    pub fn reset(&self) -> Result<(), AdminError> {
        self.shared.reset()
    }

    /// The token that stops this simulator.
    #[must_use]
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// The server task, for callers that join it themselves (then [`SimHandle::stop`] only
    /// cancels).
    pub fn take_join_handle(&mut self) -> Option<JoinHandle<Result<(), SimError>>> {
        self.task.take()
    }

    /// Stops the server and waits until it has shut down.
    ///
    /// # Errors
    /// [`SimError::Task`] if the server task panicked.
    pub async fn stop(mut self) -> Result<(), SimError> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(|e| SimError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
