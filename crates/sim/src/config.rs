//! The simulator's configuration: markets, accounts with their API keys, rate limits, the price
//! path and the fault plan.
//!
//! A [`SimConfig`] is built in code ([`SimConfig::demo`] plus the `with_*` builders, which tests
//! use) or read from TOML ([`SimConfig::from_toml_str`], [`SimConfig::from_toml_table`], which
//! `vigil sim` uses for the `[sim]` table). TOML is strict: unknown fields are refused, and after
//! parsing one validation pass collects every problem, each naming its field path. Tables that are
//! left out fall back to the demo contents, so `[sim]\nseed = 3` is a complete configuration.
//!
//! The demo keys and secrets below are fixed, public values that only this simulator accepts.
//! They are published on purpose (tests, paper trading and the SDK conformance script need them)
//! and must never be used as, or mistaken for, real Bitvavo credentials.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr, sync::Arc};

use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use vigil_core::{Clock, Market, SystemClock};

use crate::{error::SimError, faults::FaultPlan};

/// The demo account's name.
pub const DEMO_ACCOUNT: &str = "demo";
/// Simulator-only API key of the demo account with view and trade permission.
pub const DEMO_TRADE_KEY: &str = "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09";
/// Simulator-only secret of [`DEMO_TRADE_KEY`] (public test value, never a real secret).
pub const DEMO_TRADE_SECRET: &str = "d40ebd0d67f29c2608974fa49122d7f55f9a26a7974f3de06ab574a1867e13c2436ad3e73ba7c96cf7d47c4930eac32dbed05cdc1e8cc148f3a7968a4b905d5c";
/// Simulator-only API key of the demo account with view permission only.
pub const DEMO_VIEW_KEY: &str = "9a01f108ca025ea832ad30bacc7248be2723ea68ebe62a7c422126728f37c2e3";
/// Simulator-only secret of [`DEMO_VIEW_KEY`] (public test value, never a real secret).
pub const DEMO_VIEW_SECRET: &str = "d0558ebb7759df11ce1ea4e76ae88b8a3315cd05ce37bc9db2a98da2b1025da5dddf0825ef2b23d9b3f023aaaddab34d552865cf6daf86b8c0b169cdebdb22c4";

/// What an API key may do (Bitvavo's key permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Balances, account, fees, and reading orders and fills.
    View,
    /// Placing, updating and canceling orders.
    Trade,
    /// Withdrawals (the simulator has no withdrawal endpoints; kept for completeness).
    Withdraw,
}

/// The error code the simulator answers when a caller exceeds its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BanCode {
    /// HTTP 429 with errorCode 110, as the current documentation says.
    #[default]
    Current110,
    /// HTTP 429 with the legacy errorCode 105 whose message ends `The ban expires at <ms>.`
    /// (the shape the official Python SDK parses).
    Legacy105,
}

/// Rate-limit settings (bitvavo-api.md section 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Points per minute per API key (signed requests) or per IP (unsigned requests).
    pub points_per_minute: u32,
    /// How a ban is answered.
    pub ban_code: BanCode,
    /// How long an unsigned caller (per IP) stays banned; Bitvavo documents 15 minutes.
    pub unsigned_ban_minutes: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            points_per_minute: 1000,
            ban_code: BanCode::Current110,
            unsigned_ban_minutes: 15,
        }
    }
}

/// One market and the way its price moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// `BASE-QUOTE`, e.g. `BTC-EUR`.
    pub market: String,
    /// `trading`, `halted`, `auction`, `auctionMatching` or `cancelOnly`.
    #[serde(default = "default_status")]
    pub status: String,
    /// Prices must be a multiple of this.
    pub tick_size: Decimal,
    /// At most this many decimals in `amount`.
    pub quantity_decimals: u32,
    /// At most this many decimals in `amountQuote`.
    #[serde(default = "default_notional_decimals")]
    pub notional_decimals: u32,
    /// Smallest `amount` per order (below: 212).
    pub min_order_base: Decimal,
    /// Smallest notional per order (below: 217).
    pub min_order_quote: Decimal,
    /// Largest `amount` per order (above: 210).
    pub max_order_base: Decimal,
    /// Largest notional per order (above: 210).
    pub max_order_quote: Decimal,
    /// Open orders allowed per account on this market (above: 235).
    #[serde(default = "default_max_open_orders")]
    pub max_open_orders: u32,
    /// The price when the simulator starts.
    pub initial_price: Decimal,
    /// Standard deviation of the log price over one day (e.g. `0.03`); zero gives a flat path.
    #[serde(default)]
    pub volatility_per_day: Decimal,
    /// Drift of the log price per day (usually zero).
    #[serde(default)]
    pub drift_per_day: Decimal,
    /// Distance between bid and ask, relative to the price (e.g. `0.0004`).
    #[serde(default = "default_spread")]
    pub spread: Decimal,
    /// Mean traded base volume per price step (for candles, the 24h ticker and public trades).
    #[serde(default = "default_volume")]
    pub volume_per_step: Decimal,
    /// At most this much base of one resting order fills per price step (partial fills);
    /// unlimited when absent, so resting orders fill completely.
    #[serde(default)]
    pub max_fill_per_step: Option<Decimal>,
    /// Replay these candles (`timestamp,open,high,low,close,volume` per line, oldest first)
    /// instead of the generated path.
    #[serde(default)]
    pub candles_csv: Option<PathBuf>,
    /// With `candles_csv`: which row (0-based) is "now" when the simulator starts; earlier rows
    /// are history.
    #[serde(default)]
    pub replay_start_row: usize,
}

fn default_status() -> String {
    "trading".into()
}
fn default_notional_decimals() -> u32 {
    2
}
fn default_max_open_orders() -> u32 {
    100
}
fn default_spread() -> Decimal {
    Decimal::new(4, 4)
}
fn default_volume() -> Decimal {
    Decimal::ONE
}

impl MarketConfig {
    /// A trading market with the given rules, price and no volatility (tests add it).
    #[must_use]
    pub fn new(market: &str, tick_size: Decimal, quantity_decimals: u32, price: Decimal) -> Self {
        Self {
            market: market.to_owned(),
            status: default_status(),
            tick_size,
            quantity_decimals,
            notional_decimals: 2,
            min_order_base: Decimal::new(1, quantity_decimals.min(28)),
            min_order_quote: Decimal::new(5, 0),
            max_order_base: Decimal::new(1_000_000_000, 0),
            max_order_quote: Decimal::new(1_000_000_000, 0),
            max_open_orders: 100,
            initial_price: price,
            volatility_per_day: Decimal::ZERO,
            drift_per_day: Decimal::ZERO,
            spread: default_spread(),
            volume_per_step: default_volume(),
            max_fill_per_step: None,
            candles_csv: None,
            replay_start_row: 0,
        }
    }

    /// Sets the minimum order sizes (base amount and quote notional).
    #[must_use]
    pub fn with_minimums(mut self, base: Decimal, quote: Decimal) -> Self {
        self.min_order_base = base;
        self.min_order_quote = quote;
        self
    }

    /// Sets the maximum order sizes (base amount and quote notional).
    #[must_use]
    pub fn with_maximums(mut self, base: Decimal, quote: Decimal) -> Self {
        self.max_order_base = base;
        self.max_order_quote = quote;
        self
    }

    /// Sets the daily volatility of the price path.
    #[must_use]
    pub fn with_volatility(mut self, per_day: Decimal) -> Self {
        self.volatility_per_day = per_day;
        self
    }

    /// Caps how much of a resting order one price step fills (partial fills).
    #[must_use]
    pub fn with_max_fill_per_step(mut self, base: Decimal) -> Self {
        self.max_fill_per_step = Some(base);
        self
    }

    /// Sets the market status (`trading`, `halted`, …).
    #[must_use]
    pub fn with_status(mut self, status: &str) -> Self {
        self.status = status.to_owned();
        self
    }

    /// Sets how many open orders one account may have on this market.
    #[must_use]
    pub fn with_max_open_orders(mut self, max: u32) -> Self {
        self.max_open_orders = max;
        self
    }
}

/// Maker and taker fee rates of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeConfig {
    /// Fee rate for orders that take liquidity (e.g. `0.0025`).
    pub taker: Decimal,
    /// Fee rate for orders that rest in the book and are filled later (e.g. `0.0015`).
    pub maker: Decimal,
}

impl Default for FeeConfig {
    fn default() -> Self {
        Self {
            taker: Decimal::new(25, 4),
            maker: Decimal::new(15, 4),
        }
    }
}

/// An API key of an account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The key as sent in `Bitvavo-Access-Key` (64 characters).
    pub key: String,
    /// The secret used as raw UTF-8 bytes for the HMAC.
    pub secret: SecretString,
    /// What the key may do.
    pub permissions: Vec<Permission>,
}

impl KeyConfig {
    /// A key with the given secret and permissions.
    #[must_use]
    pub fn new(key: &str, secret: &str, permissions: &[Permission]) -> Self {
        Self {
            key: key.to_owned(),
            secret: SecretString::from(secret.to_owned()),
            permissions: permissions.to_vec(),
        }
    }
}

/// An account: balances, fees and API keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// A name for the admin API (`demo`).
    pub name: String,
    /// Starting available balance per asset symbol.
    #[serde(default)]
    pub balances: BTreeMap<String, Decimal>,
    /// Fee rates.
    #[serde(default)]
    pub fees: FeeConfig,
    /// The account's API keys.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
}

impl AccountConfig {
    /// An empty account with default fees.
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            balances: BTreeMap::new(),
            fees: FeeConfig::default(),
            keys: Vec::new(),
        }
    }

    /// Adds a starting balance.
    #[must_use]
    pub fn with_balance(mut self, asset: &str, available: Decimal) -> Self {
        self.balances.insert(asset.to_owned(), available);
        self
    }

    /// Adds an API key.
    #[must_use]
    pub fn with_key(mut self, key: KeyConfig) -> Self {
        self.keys.push(key);
        self
    }

    /// Sets the fee rates.
    #[must_use]
    pub fn with_fees(mut self, taker: Decimal, maker: Decimal) -> Self {
        self.fees = FeeConfig { taker, maker };
        self
    }
}

/// Everything the simulator needs to run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds the price paths, the order and fill ids and probabilistic faults.
    pub seed: u64,
    /// Where "now" comes from (default [`SystemClock`]; tests pass a `ManualClock`).
    pub clock: Arc<dyn Clock>,
    /// The markets.
    pub markets: Vec<MarketConfig>,
    /// The accounts and their keys.
    pub accounts: Vec<AccountConfig>,
    /// Rate-limit settings.
    pub rate_limit: RateLimitConfig,
    /// Faults active from the start.
    pub faults: FaultPlan,
    /// Seconds of sim time per price step; must divide 60.
    pub price_step_seconds: u32,
    /// How far ahead of the sim clock a request's timestamp may be (bitvavo-api.md leaves this
    /// open; see docs/simulator.md).
    pub future_timestamp_tolerance_ms: i64,
    /// Give the n-th order of every market the same orderId (Bitvavo only promises uniqueness
    /// per market), so tests prove that a client keys orders by (market, orderId).
    pub shared_order_ids_across_markets: bool,
}

/// The TOML shape of [`SimConfig`]; see the field docs there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimConfig {
    #[serde(default)]
    seed: u64,
    markets: Option<Vec<MarketConfig>>,
    accounts: Option<Vec<AccountConfig>>,
    #[serde(default)]
    rate_limit: RateLimitConfig,
    #[serde(default)]
    faults: FaultPlan,
    #[serde(default = "default_step")]
    price_step_seconds: u32,
    #[serde(default = "default_future_tolerance")]
    future_timestamp_tolerance_ms: i64,
    #[serde(default)]
    shared_order_ids_across_markets: bool,
}

fn default_step() -> u32 {
    60
}
fn default_future_tolerance() -> i64 {
    1000
}

impl SimConfig {
    /// The demo exchange: BTC-EUR, ETH-EUR, SOL-EUR and XRP-EUR with moving prices, and one
    /// account ([`DEMO_ACCOUNT`]) holding 1,000 EUR, 0.05 BTC and 1 ETH with a view+trade key
    /// ([`DEMO_TRADE_KEY`]) and a view-only key ([`DEMO_VIEW_KEY`]).
    #[must_use]
    pub fn demo(seed: u64) -> Self {
        Self {
            seed,
            clock: Arc::new(SystemClock),
            markets: demo_markets(),
            accounts: demo_accounts(),
            rate_limit: RateLimitConfig::default(),
            faults: FaultPlan::default(),
            price_step_seconds: default_step(),
            future_timestamp_tolerance_ms: default_future_tolerance(),
            shared_order_ids_across_markets: false,
        }
    }

    /// Parses the TOML text of a `[sim]` table's contents.
    ///
    /// # Errors
    /// [`SimError::Config`] naming every field that is unknown, of the wrong type or invalid.
    pub fn from_toml_str(text: &str) -> Result<Self, SimError> {
        let raw: RawSimConfig = toml::from_str(text).map_err(|e| SimError::Config {
            problems: vec![e.to_string().trim().to_owned()],
        })?;
        Self::from_raw(raw)
    }

    /// Converts an already parsed `[sim]` table.
    ///
    /// # Errors
    /// As [`SimConfig::from_toml_str`].
    pub fn from_toml_table(table: toml::Table) -> Result<Self, SimError> {
        let raw: RawSimConfig = RawSimConfig::deserialize(table).map_err(|e| SimError::Config {
            problems: vec![format!("sim: {}", e.to_string().trim())],
        })?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawSimConfig) -> Result<Self, SimError> {
        let config = Self {
            seed: raw.seed,
            clock: Arc::new(SystemClock),
            markets: raw.markets.unwrap_or_else(demo_markets),
            accounts: raw.accounts.unwrap_or_else(demo_accounts),
            rate_limit: raw.rate_limit,
            faults: raw.faults,
            price_step_seconds: raw.price_step_seconds,
            future_timestamp_tolerance_ms: raw.future_timestamp_tolerance_ms,
            shared_order_ids_across_markets: raw.shared_order_ids_across_markets,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the whole configuration and reports every problem at once.
    ///
    /// # Errors
    /// [`SimError::Config`] listing each problem with its field path.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut problems = Vec::new();
        if self.price_step_seconds == 0 || 60 % self.price_step_seconds != 0 {
            problems.push(format!(
                "sim.price_step_seconds: {} must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60)",
                self.price_step_seconds
            ));
        }
        if self.rate_limit.points_per_minute == 0 {
            problems.push("sim.rate_limit.points_per_minute: must be at least 1".into());
        }
        if self.future_timestamp_tolerance_ms < 0 {
            problems.push("sim.future_timestamp_tolerance_ms: must be zero or more".into());
        }
        if self.markets.is_empty() {
            problems.push("sim.markets: at least one market is needed".into());
        }
        let mut seen_markets = std::collections::BTreeSet::new();
        for (i, m) in self.markets.iter().enumerate() {
            validate_market(&format!("sim.markets[{i}]"), m, &mut problems);
            if !seen_markets.insert(m.market.to_ascii_uppercase()) {
                problems.push(format!(
                    "sim.markets[{i}].market: {} appears twice",
                    m.market
                ));
            }
        }
        let mut seen_keys = std::collections::BTreeSet::new();
        let mut seen_accounts = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let at = format!("sim.accounts[{i}]");
            if a.name.trim().is_empty() || !seen_accounts.insert(a.name.clone()) {
                problems.push(format!(
                    "{at}.name: {:?} must be non-empty and unique",
                    a.name
                ));
            }
            for (asset, amount) in &a.balances {
                if vigil_core::Asset::parse("asset", asset).is_err() {
                    problems.push(format!(
                        "{at}.balances.{asset}: not an asset symbol (1 to 12 letters or digits)"
                    ));
                }
                if amount.is_sign_negative() {
                    problems.push(format!(
                        "{at}.balances.{asset}: {amount} must not be negative"
                    ));
                }
            }
            for (name, rate) in [("taker", a.fees.taker), ("maker", a.fees.maker)] {
                if rate.is_sign_negative() || rate >= Decimal::ONE {
                    problems.push(format!("{at}.fees.{name}: {rate} must be in 0..1"));
                }
            }
            for (k, key) in a.keys.iter().enumerate() {
                if key.key.chars().count() != 64 {
                    problems.push(format!(
                        "{at}.keys[{k}].key: must be 64 characters (Bitvavo's key length)"
                    ));
                }
                if !seen_keys.insert(key.key.clone()) {
                    problems.push(format!("{at}.keys[{k}].key: the same key appears twice"));
                }
                if secrecy::ExposeSecret::expose_secret(&key.secret).is_empty() {
                    problems.push(format!("{at}.keys[{k}].secret: must not be empty"));
                }
            }
        }
        if let Err(e) = self.faults.validate() {
            problems.extend(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::Config { problems })
        }
    }

    /// Uses `clock` for "now" (tests pass a `ManualClock`).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts with these faults.
    #[must_use]
    pub fn with_faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Sets the rate limit in points per minute.
    #[must_use]
    pub fn with_rate_limit(mut self, points_per_minute: u32) -> Self {
        self.rate_limit.points_per_minute = points_per_minute;
        self
    }

    /// Sets how a rate-limit ban is answered.
    #[must_use]
    pub fn with_ban_code(mut self, code: BanCode) -> Self {
        self.rate_limit.ban_code = code;
        self
    }

    /// Makes every market's price path flat (zero volatility and drift), for tests that need a
    /// price that only moves when the test sets it.
    #[must_use]
    pub fn with_flat_prices(mut self) -> Self {
        for m in &mut self.markets {
            m.volatility_per_day = Decimal::ZERO;
            m.drift_per_day = Decimal::ZERO;
        }
        self
    }

    /// Replaces the markets.
    #[must_use]
    pub fn with_markets(mut self, markets: Vec<MarketConfig>) -> Self {
        self.markets = markets;
        self
    }

    /// Replaces the accounts.
    #[must_use]
    pub fn with_accounts(mut self, accounts: Vec<AccountConfig>) -> Self {
        self.accounts = accounts;
        self
    }

    /// Adds an account.
    #[must_use]
    pub fn with_account(mut self, account: AccountConfig) -> Self {
        self.accounts.push(account);
        self
    }

    /// Gives the n-th order of every market the same orderId (see the field).
    #[must_use]
    pub fn with_shared_order_ids_across_markets(mut self) -> Self {
        self.shared_order_ids_across_markets = true;
        self
    }

    /// Sets the starting price of one market (no effect if the market is unknown).
    #[must_use]
    pub fn with_initial_price(mut self, market: &str, price: Decimal) -> Self {
        for m in &mut self.markets {
            if m.market.eq_ignore_ascii_case(market) {
                m.initial_price = price;
            }
        }
        self
    }
}

fn validate_market(at: &str, m: &MarketConfig, problems: &mut Vec<String>) {
    if Market::parse(&m.market).is_err() {
        problems.push(format!(
            "{at}.market: {:?} is not of the form BASE-QUOTE",
            m.market
        ));
    }
    if vigil_core::MarketStatus::from_str(&m.status).is_err() {
        problems.push(format!(
            "{at}.status: {:?} is not one of trading, halted, auction, auctionMatching, cancelOnly",
            m.status
        ));
    }
    for (name, value) in [
        ("tick_size", m.tick_size),
        ("min_order_base", m.min_order_base),
        ("min_order_quote", m.min_order_quote),
        ("max_order_base", m.max_order_base),
        ("max_order_quote", m.max_order_quote),
        ("initial_price", m.initial_price),
        ("volume_per_step", m.volume_per_step),
    ] {
        if value <= Decimal::ZERO {
            problems.push(format!("{at}.{name}: {value} must be greater than zero"));
        }
    }
    if m.initial_price > Decimal::ZERO
        && m.tick_size > Decimal::ZERO
        && !(m.initial_price % m.tick_size).is_zero()
    {
        problems.push(format!(
            "{at}.initial_price: {} is not a multiple of tick_size {}",
            m.initial_price, m.tick_size
        ));
    }
    if m.quantity_decimals > 18 || m.notional_decimals > 18 {
        problems.push(format!(
            "{at}: quantity_decimals and notional_decimals must be 0..=18"
        ));
    }
    if m.max_fill_per_step.is_some_and(|cap| cap <= Decimal::ZERO) {
        problems.push(format!("{at}.max_fill_per_step: must be greater than zero"));
    }
    if m.max_open_orders == 0 {
        problems.push(format!("{at}.max_open_orders: must be at least 1"));
    }
    for (name, value) in [
        ("volatility_per_day", m.volatility_per_day),
        ("spread", m.spread),
    ] {
        if value.is_sign_negative() || value >= Decimal::ONE {
            problems.push(format!("{at}.{name}: {value} must be in 0..1"));
        }
    }
    if m.drift_per_day.abs() >= Decimal::ONE {
        problems.push(format!(
            "{at}.drift_per_day: {} must be in -1..1",
            m.drift_per_day
        ));
    }
    if m.min_order_base > m.max_order_base || m.min_order_quote > m.max_order_quote {
        problems.push(format!("{at}: a minimum order size is above its maximum"));
    }
}

fn demo_markets() -> Vec<MarketConfig> {
    let d = |n: i64, s: u32| Decimal::new(n, s);
    vec![
        MarketConfig::new("BTC-EUR", d(1, 0), 8, d(60_000, 0))
            .with_minimums(d(6_100, 8), d(5, 0))
            .with_volatility(d(3, 2)),
        MarketConfig::new("ETH-EUR", d(1, 2), 8, d(3_000, 0))
            .with_minimums(d(1, 4), d(5, 0))
            .with_volatility(d(4, 2)),
        MarketConfig::new("SOL-EUR", d(1, 2), 6, d(150, 0))
            .with_minimums(d(1, 3), d(5, 0))
            .with_volatility(d(5, 2)),
        MarketConfig::new("XRP-EUR", d(1, 5), 6, d(5, 1))
            .with_minimums(d(1, 0), d(5, 0))
            .with_volatility(d(5, 2)),
    ]
}

fn demo_accounts() -> Vec<AccountConfig> {
    vec![AccountConfig::new(DEMO_ACCOUNT)
        .with_balance("EUR", Decimal::new(1_000, 0))
        .with_balance("BTC", Decimal::new(5, 2))
        .with_balance("ETH", Decimal::ONE)
        .with_key(KeyConfig::new(
            DEMO_TRADE_KEY,
            DEMO_TRADE_SECRET,
            &[Permission::View, Permission::Trade],
        ))
        .with_key(KeyConfig::new(
            DEMO_VIEW_KEY,
            DEMO_VIEW_SECRET,
            &[Permission::View],
        ))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_is_valid_and_keys_are_64_chars() {
        SimConfig::demo(1).validate().unwrap();
        assert_eq!(DEMO_TRADE_KEY.len(), 64);
        assert_eq!(DEMO_VIEW_KEY.len(), 64);
        assert_ne!(DEMO_TRADE_KEY, DEMO_VIEW_KEY);
    }

    #[test]
    fn seed_only_toml_gives_the_demo_contents() {
        let c = SimConfig::from_toml_str("seed = 3\n").unwrap();
        assert_eq!(c.seed, 3);
        assert_eq!(c.markets.len(), 4);
        assert_eq!(c.accounts[0].name, DEMO_ACCOUNT);
    }

    #[test]
    fn unknown_field_is_named() {
        let err = SimConfig::from_toml_str("seed = 3\nsped = 4\n").unwrap_err();
        assert!(err.to_string().contains("sped"), "{err}");
        let err = SimConfig::from_toml_str(
            "[[markets]]\nmarket = \"BTC-EUR\"\ntick_size = \"1\"\nquantity_decimals = 8\n\
             min_order_base = \"0.0001\"\nmin_order_quote = \"5\"\nmax_order_base = \"10\"\n\
             max_order_quote = \"1000000\"\ninitial_price = \"50000\"\ntickk = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("tickk"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = "price_step_seconds = 7\n[[markets]]\nmarket = \"BTCEUR\"\ntick_size = \"0\"\n\
                    quantity_decimals = 8\nmin_order_base = \"0.0001\"\nmin_order_quote = \"5\"\n\
                    max_order_base = \"10\"\nmax_order_quote = \"1000000\"\ninitial_price = \"50000\"\n\
                    [[accounts]]\nname = \"a\"\n[[accounts.keys]]\nkey = \"short\"\nsecret = \"s\"\n\
                    permissions = [\"view\"]\n";
        let err = SimConfig::from_toml_str(text).unwrap_err().to_string();
        for needle in [
            "sim.price_step_seconds",
            "sim.markets[0].market",
            "sim.markets[0].tick_size",
            "sim.accounts[0].keys[0].key",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }

    #[test]
    fn the_documented_example_parses() {
        // docs/simulator.md, "Configuration (TOML)", with the `sim.` prefix removed.
        let text = r#"
seed = 3
price_step_seconds = 60
future_timestamp_tolerance_ms = 1000
[rate_limit]
points_per_minute = 1000
ban_code = "legacy105"
unsigned_ban_minutes = 15
[[markets]]
market = "BTC-EUR"
tick_size = "1"
quantity_decimals = 8
min_order_base = "0.000061"
min_order_quote = "5"
max_order_base = "1000000000"
max_order_quote = "1000000000"
initial_price = "60000"
volatility_per_day = "0.03"
[[accounts]]
name = "demo"
balances = { EUR = "1000", BTC = "0.05" }
fees = { taker = "0.0025", maker = "0.0015" }
[[accounts.keys]]
key = "0000000000000000000000000000000000000000000000000000000000000001"
secret = "s"
permissions = ["view", "trade"]
[[faults.rules]]
endpoint = "POST /v2/order"
times = 1
kind = "accept_then_drop"
"#;
        let c = SimConfig::from_toml_str(text).unwrap();
        assert_eq!(c.rate_limit.ban_code, BanCode::Legacy105);
        assert_eq!(
            c.faults.rules[0].kind,
            crate::faults::FaultKind::AcceptThenDrop
        );
        assert_eq!(
            c.accounts[0].keys[0].permissions,
            [Permission::View, Permission::Trade]
        );
    }

    #[test]
    fn from_table_parses_faults() {
        let table: toml::Table = toml::from_str(
            "seed = 9\n[[faults.rules]]\nendpoint = \"POST /v2/order\"\ntimes = 1\n\
             [faults.rules.kind]\nerror = { error_code = 101, http_status = 500 }\n",
        )
        .unwrap();
        let c = SimConfig::from_toml_table(table).unwrap();
        assert_eq!(c.faults.rules.len(), 1);
    }
}
