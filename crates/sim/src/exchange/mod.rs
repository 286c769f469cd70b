//! The simulated exchange's state: markets with their price paths, accounts with balances and
//! keys, the order book of resting orders, fills, fees, and the request-level bookkeeping (request
//! counters, faults, rate limits).
//!
//! All of it sits behind one mutex in the server and is only touched in short, synchronous
//! sections, never across an `.await`. Matching is lazy and deterministic: before each request
//! (and on a ticker) [`Exchange::settle`] walks the price path from the last step it matched to
//! the step of "now" and fills every resting limit order whose price the path crossed.
//!
//! Money is conserved: every trade moves assets between an account and a house (liquidity)
//! account, and fees go to a fee pool, so per asset the sum over accounts, house and fees never
//! changes (a property test checks this).

mod cancel;
mod history;
mod market_data;
mod orders;
pub(crate) mod params;
mod wire;

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::{Decimal, RoundingStrategy};
use secrecy::SecretString;
use serde::Serialize;
use uuid::Uuid;

pub use history::{OrderLogEntry, RequestTiming};

use crate::{
    config::{FeeConfig, MarketConfig, Permission, SimConfig},
    error::{ApiError, SimError},
    faults::FaultState,
    price_path::PricePath,
    rate_limit::RateLimiter,
};

/// An asset balance of an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// Spendable.
    pub available: Decimal,
    /// Held for open orders.
    pub in_order: Decimal,
}

/// The authenticated caller of a private endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) account: usize,
    pub(crate) key: String,
}

#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) account: usize,
    pub(crate) secret: SecretString,
    pub(crate) permissions: Vec<Permission>,
}

#[derive(Debug)]
struct Account {
    name: String,
    balances: BTreeMap<String, Balance>,
    fees: FeeConfig,
}

#[derive(Debug)]
struct MarketState {
    cfg: MarketConfig,
    base: String,
    quote: String,
    path: PricePath,
    /// The last price step whose range has been matched against resting orders.
    matched_through: i64,
    /// Changes of the book caused by orders (for the book's nonce).
    book_changes: u64,
    /// Indices into `Exchange::orders` of open orders, oldest first.
    open: Vec<usize>,
}

/// The dead man's switch of one account.
#[derive(Debug, Clone, Copy)]
struct CancelAfter {
    group: i64,
    deadline_ms: i64,
}

/// Everything the simulator knows.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) config: SimConfig,
    markets: Vec<MarketState>,
    market_index: HashMap<String, usize>,
    accounts: Vec<Account>,
    pub(crate) keys: HashMap<String, KeyEntry>,
    orders: Vec<orders::Order>,
    order_index: HashMap<(usize, Uuid), usize>,
    fills: Vec<orders::Fill>,
    house: BTreeMap<String, Decimal>,
    fees_collected: BTreeMap<String, Decimal>,
    cancel_after: HashMap<usize, CancelAfter>,
    id_rng: ChaCha8Rng,
    /// Per market, the same seed: with `shared_order_ids_across_markets` the n-th order of
    /// every market gets the same id.
    market_id_rngs: Vec<ChaCha8Rng>,
    pub(crate) requests: BTreeMap<String, u64>,
    pub(crate) faults: FaultState,
    pub(crate) limiter: RateLimiter,
}

impl Exchange {
    /// The exchange as the configuration describes it, at the clock's current time.
    pub(crate) fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let start_ms = config.clock.now().timestamp_millis();
        let mut markets = Vec::new();
        let mut market_index = HashMap::new();
        for (i, cfg) in config.markets.iter().enumerate() {
            let parsed = vigil_core::Market::parse(&cfg.market).map_err(|e| SimError::Config {
                problems: vec![format!("sim.markets[{i}].market: {e}")],
            })?;
            let path = PricePath::new(
                cfg,
                config.seed,
                i as u64,
                start_ms,
                config.price_step_seconds,
            )?;
            let matched_through = path.index_at(start_ms);
            market_index.insert(parsed.to_string(), markets.len());
            markets.push(MarketState {
                cfg: MarketConfig {
                    market: parsed.to_string(),
                    ..cfg.clone()
                },
                base: parsed.base().to_string(),
                quote: parsed.quote().to_string(),
                path,
                matched_through,
                book_changes: 0,
                open: Vec::new(),
            });
        }
        let mut accounts = Vec::new();
        let mut keys = HashMap::new();
        for (i, a) in config.accounts.iter().enumerate() {
            let balances = a
                .balances
                .iter()
                .map(|(asset, amount)| {
                    (
                        asset.to_ascii_uppercase(),
                        Balance {
                            available: *amount,
                            in_order: Decimal::ZERO,
                        },
                    )
                })
                .collect();
            accounts.push(Account {
                name: a.name.clone(),
                balances,
                fees: a.fees,
            });
            for k in &a.keys {
                keys.insert(
                    k.key.clone(),
                    KeyEntry {
                        account: i,
                        secret: k.secret.clone(),
                        permissions: k.permissions.clone(),
                    },
                );
            }
        }
        Ok(Self {
            faults: FaultState::new(config.faults.clone(), config.seed),
            limiter: RateLimiter::new(config.rate_limit.clone()),
            id_rng: ChaCha8Rng::seed_from_u64(config.seed ^ 0x0001_D50F_0DE5),
            market_id_rngs: (0..config.markets.len())
                .map(|_| ChaCha8Rng::seed_from_u64(config.seed ^ 0x05AE_D1D5))
                .collect(),
            config,
            markets,
            market_index,
            accounts,
            keys,
            orders: Vec::new(),
            order_index: HashMap::new(),
            fills: Vec::new(),
            house: BTreeMap::new(),
            fees_collected: BTreeMap::new(),
            cancel_after: HashMap::new(),
            requests: BTreeMap::new(),
        })
    }

    /// The sim clock in ms.
    pub(crate) fn now_ms(&self) -> i64 {
        self.config.clock.now().timestamp_millis()
    }

    pub(crate) fn market(&self, name: &str) -> Result<usize, ApiError> {
        self.market_index
            .get(name)
            .copied()
            .ok_or_else(|| ApiError::invalid("market"))
    }

    /// Index of the account called `name`.
    pub(crate) fn account_named(&self, name: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.name == name)
    }

    /// Account names, in configuration order.
    pub(crate) fn account_names(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.name.clone()).collect()
    }

    /// A fresh time-ordered id (UUID v7 from the sim clock and the seeded RNG).
    fn next_id(&mut self, now_ms: i64) -> Uuid {
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut self.id_rng, &mut random);
        let ms = u64::try_from(now_ms).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid()
    }

    /// A fresh order id: time-ordered and unique, or (with `shared_order_ids_across_markets`)
    /// the same sequence of random UUIDs in every market.
    fn next_order_id(&mut self, market: usize, now_ms: i64) -> Uuid {
        if !self.config.shared_order_ids_across_markets {
            return self.next_id(now_ms);
        }
        let mut random = [0u8; 16];
        rand::RngCore::fill_bytes(&mut self.market_id_rngs[market], &mut random);
        uuid::Builder::from_random_bytes(random).into_uuid()
    }

    fn balance_mut(&mut self, account: usize, asset: &str) -> &mut Balance {
        self.accounts[account]
            .balances
            .entry(asset.to_owned())
            .or_default()
    }

    /// One balance.
    pub(crate) fn balance(&self, account: usize, asset: &str) -> Balance {
        self.accounts[account]
            .balances
            .get(asset)
            .copied()
            .unwrap_or_default()
    }

    /// All balances of an account (including zero ones).
    pub(crate) fn balances(&self, account: usize) -> BTreeMap<String, Balance> {
        self.accounts[account].balances.clone()
    }

    /// Sets an account's available balance of `asset` (what is held for orders stays).
    pub(crate) fn set_available(&mut self, account: usize, asset: &str, available: Decimal) {
        self.balance_mut(account, &asset.to_ascii_uppercase())
            .available = available;
    }

    /// The price of a market at `now_ms`.
    pub(crate) fn current_price(&mut self, market: usize, now_ms: i64) -> Decimal {
        self.markets[market].path.price_at(now_ms)
    }

    /// Overrides a market's price from now on and fills what the new price crosses.
    pub(crate) fn set_price(&mut self, market: usize, price: Decimal) -> Result<(), ApiError> {
        let now = self.now_ms();
        self.settle(now);
        let m = &mut self.markets[market];
        let price = m.path.to_tick(price);
        m.path.set_price(now, price);
        let index = m.path.index_at(now);
        // The current step was matched already; match it again with its new range.
        if let Some(point) = m.path.point(index) {
            self.match_resting(market, point.low, point.high, now);
        }
        Ok(())
    }

    /// Sets a market's status (`trading`, `halted`, …).
    pub(crate) fn set_status(&mut self, market: usize, status: &str) -> Result<(), ApiError> {
        if status.parse::<vigil_core::MarketStatus>().is_err() {
            return Err(ApiError::invalid("status"));
        }
        self.markets[market].cfg.status = status.to_owned();
        Ok(())
    }

    /// Matches resting orders against the price path up to `now_ms` and fires expired dead
    /// man's switches.
    pub(crate) fn settle(&mut self, now_ms: i64) {
        for market in 0..self.markets.len() {
            let index = self.markets[market].path.index_at(now_ms);
            let from = self.markets[market].matched_through + 1;
            if index < from {
                continue;
            }
            if !self.markets[market].open.is_empty() {
                for step in from..=index {
                    let m = &mut self.markets[market];
                    let Some(point) = m.path.point(step) else {
                        continue;
                    };
                    let at = m.path.time_of(step).min(now_ms);
                    self.match_resting(market, point.low, point.high, at);
                    if self.markets[market].open.is_empty() {
                        break;
                    }
                }
            }
            self.markets[market].matched_through = index;
        }
        let expired: Vec<(usize, i64)> = self
            .cancel_after
            .iter()
            .filter(|(_, t)| t.deadline_ms <= now_ms)
            .map(|(a, t)| (*a, t.group))
            .collect();
        for (account, group) in expired {
            self.cancel_after.remove(&account);
            let open: Vec<usize> = self
                .markets
                .iter()
                .flat_map(|m| m.open.iter().copied())
                .filter(|o| self.orders[*o].account == account)
                .collect();
            tracing::info!(
                account,
                group,
                orders = open.len(),
                "cancelOrdersAfter expired"
            );
            for o in open {
                self.close_order(o, orders::OrderStatus::Canceled, now_ms);
            }
        }
    }

    /// Sum per asset over all accounts (available + in order), the house and the fee pool.
    /// Constant under trading; the property tests compare it before and after.
    #[cfg(test)]
    pub(crate) fn total_per_asset(&self) -> BTreeMap<String, Decimal> {
        let mut total: BTreeMap<String, Decimal> = BTreeMap::new();
        for a in &self.accounts {
            for (asset, b) in &a.balances {
                *total.entry(asset.clone()).or_default() += b.available + b.in_order;
            }
        }
        for (asset, v) in self.house.iter().chain(self.fees_collected.iter()) {
            *total.entry(asset.clone()).or_default() += *v;
        }
        total.retain(|_, v| !v.is_zero());
        total
    }

    /// Open orders as (account, hold asset, hold, market, clientOrderId), for property tests.
    #[cfg(test)]
    pub(crate) fn open_orders_for_tests(
        &self,
    ) -> Vec<(usize, String, Decimal, String, Option<String>)> {
        self.markets
            .iter()
            .flat_map(|m| m.open.iter())
            .map(|i| {
                let o = &self.orders[*i];
                (
                    o.account,
                    o.hold_asset.clone(),
                    o.hold,
                    self.markets[o.market].cfg.market.clone(),
                    o.client_order_id.clone(),
                )
            })
            .collect()
    }

    /// Per order, its filled amount and the sum of its fills, for property tests.
    #[cfg(test)]
    pub(crate) fn fill_totals_for_tests(&self) -> Vec<(Decimal, Decimal)> {
        self.orders
            .iter()
            .map(|o| {
                let total = o.fills.iter().map(|f| self.fills[*f].amount).sum();
                (o.filled_amount, total)
            })
            .collect()
    }

    /// The fees collected so far, per asset.
    pub(crate) fn fees_collected(&self) -> BTreeMap<String, Decimal> {
        self.fees_collected.clone()
    }
}

/// Rounds up to 8 decimals (fees and holds: never less than owed).
fn ceil8(v: Decimal) -> Decimal {
    v.round_dp_with_strategy(8, RoundingStrategy::ToPositiveInfinity)
}

/// Rounds down to `dp` decimals.
fn floor_dp(v: Decimal, dp: u32) -> Decimal {
    v.round_dp_with_strategy(dp, RoundingStrategy::ToNegativeInfinity)
}

/// Decimal text as Bitvavo writes it (no exponent, no trailing zeros).
pub(crate) fn text(v: Decimal) -> String {
    v.normalize().to_string()
}
