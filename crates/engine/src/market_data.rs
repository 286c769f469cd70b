//! What the preflight asks the exchange, with the read-only key only (I10): the market's rules
//! and the taker fee (cached briefly, they change rarely), and the current price and balances
//! (never cached: the balance check needs a fresh balance, DESIGN.md step 4).
//!
//! A read that fails is not a guess: it becomes [`Refusal::FactUnavailable`] naming the fact and
//! the error, and the execution is refused rather than placed on stale or missing facts.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::TimeDelta;
use rust_decimal::Decimal;
use vigil_bitvavo::{BalanceQuery, FeesQuery, MarketsQuery, ReadOnlyClient, TickerPriceQuery};
use vigil_core::{Asset, Clock, Market, MarketRules, Price, Refusal, Timestamp};

/// What the exchange said, at one moment, about one market and the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExchangeSnapshot {
    /// The market's rules; `None` when the exchange does not list the market.
    pub(crate) rules: Option<MarketRules>,
    /// The last traded price, when there is one.
    pub(crate) price: Option<Price>,
    /// Available (spendable) balance per asset, as the exchange reports it.
    pub(crate) available: BTreeMap<Asset, Decimal>,
    /// The taker fee rate for the market.
    pub(crate) taker_fee: Decimal,
}

impl ExchangeSnapshot {
    /// The available balance of `asset` (zero when the account never held it).
    pub(crate) fn available_of(&self, asset: &Asset) -> Decimal {
        self.available.get(asset).copied().unwrap_or(Decimal::ZERO)
    }
}

/// Every listed market's rules, as of one `/markets` answer.
type MarketsCache = Arc<Mutex<Option<Cached<HashMap<Market, MarketRules>>>>>;

#[derive(Debug, Clone)]
struct Cached<T> {
    value: T,
    fetched_at: Timestamp,
}

/// The read-only client with a short cache for the slow-changing answers.
#[derive(Debug, Clone)]
pub(crate) struct MarketData {
    read_only: ReadOnlyClient,
    clock: Arc<dyn Clock>,
    ttl: TimeDelta,
    markets: MarketsCache,
    fees: Arc<Mutex<HashMap<Market, Cached<Decimal>>>>,
}

fn unavailable(fact: &str, error: impl std::fmt::Display) -> Refusal {
    Refusal::FactUnavailable {
        fact: format!("{fact} ({error})"),
    }
}

impl MarketData {
    pub(crate) fn new(read_only: ReadOnlyClient, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            read_only,
            clock,
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::zero()),
            markets: Arc::new(Mutex::new(None)),
            fees: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn fresh<T: Clone>(&self, cached: Option<&Cached<T>>) -> Option<T> {
        let now = self.clock.now();
        cached
            .filter(|c| now >= c.fetched_at && now - c.fetched_at < self.ttl)
            .map(|c| c.value.clone())
    }

    /// The market's rules (`None`: the exchange does not list it), from the cache when fresh.
    async fn rules(&self, market: &Market) -> Result<Option<MarketRules>, Refusal> {
        // The lock is never held across the await below (STYLE: await_holding_lock).
        let cached = {
            let guard = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
            self.fresh(guard.as_ref())
        };
        let all = match cached {
            Some(all) => all,
            None => {
                let listed = self
                    .read_only
                    .markets(&MarketsQuery::default())
                    .await
                    .map_err(|e| unavailable("the market rules from GET /markets", e))?;
                let all: HashMap<Market, MarketRules> = listed
                    .into_iter()
                    .map(|info| (info.rules.market.clone(), info.rules))
                    .collect();
                *self.markets.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                    value: all.clone(),
                    fetched_at: self.clock.now(),
                });
                all
            }
        };
        Ok(all.get(market).cloned())
    }

    async fn taker_fee(&self, market: &Market) -> Result<Decimal, Refusal> {
        let cached = {
            let guard = self.fees.lock().unwrap_or_else(PoisonError::into_inner);
            self.fresh(guard.get(market))
        };
        if let Some(fee) = cached {
            return Ok(fee);
        }
        let fees = self
            .read_only
            .account_fees(&FeesQuery {
                market: Some(market.clone()),
            })
            .await
            .map_err(|e| unavailable("the fee rate from GET /account/fees", e))?;
        self.fees
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                market.clone(),
                Cached {
                    value: fees.taker,
                    fetched_at: self.clock.now(),
                },
            );
        Ok(fees.taker)
    }

    async fn price(&self, market: &Market) -> Result<Option<Price>, Refusal> {
        let tickers = self
            .read_only
            .ticker_price(&TickerPriceQuery {
                market: Some(market.clone()),
            })
            .await
            .map_err(|e| {
                unavailable(&format!("the price of {market} from GET /ticker/price"), e)
            })?;
        Ok(tickers
            .into_iter()
            .find(|t| &t.market == market)
            .and_then(|t| t.price))
    }

    async fn balances(&self) -> Result<BTreeMap<Asset, Decimal>, Refusal> {
        let balances = self
            .read_only
            .balance(&BalanceQuery::default())
            .await
            .map_err(|e| unavailable("a fresh balance from GET /balance", e))?;
        Ok(balances
            .into_iter()
            .map(|b| (b.symbol, b.available))
            .collect())
    }

    /// Everything the preflight needs from the exchange about `market`. The market is looked up
    /// first: for a market the exchange does not list, nothing else is asked.
    pub(crate) async fn snapshot(&self, market: &Market) -> Result<ExchangeSnapshot, Refusal> {
        let Some(rules) = self.rules(market).await? else {
            return Ok(ExchangeSnapshot {
                rules: None,
                price: None,
                available: BTreeMap::new(),
                taker_fee: Decimal::ZERO,
            });
        };
        let (price, available, taker_fee) =
            tokio::join!(self.price(market), self.balances(), self.taker_fee(market));
        Ok(ExchangeSnapshot {
            rules: Some(rules),
            price: price?,
            available: available?,
            taker_fee: taker_fee?,
        })
    }
}
