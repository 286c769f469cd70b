//! The built-in strategies: what a scan job proposes, from market data read with the read-only
//! client only (I10).
//!
//! - [`dca`]: buy (or sell) a fixed quote amount every run.
//! - [`sma_cross`]: fast and slow simple moving averages of candle closes; a buy on a golden
//!   cross, a sell on a death cross.
//! - [`rsi_reversion`]: Wilder's RSI; a buy below the low threshold, a sell above the high one.
//! - `llm_advisor`: the LLM advisor ([`crate::advisor`]) run as a scan job.
//!
//! A strategy is a pure function from a [`MarketSnapshot`] to at most one [`Signal`] per
//! market; the scheduler fetches the snapshot and turns signals into proposals (source
//! `strategy:<name>`, a rationale with the numbers that triggered it, and an expiry). Whether a
//! proposal is approved without a person is the user's policy's decision, taken in the run's
//! final transaction (`vigil_core::Policy::auto_approval`), never the strategy's.
//!
//! Parameters arrive as the job's JSON and become typed values through
//! [`StrategyParams::parse`], which reports every problem naming its field (`params.fast`).

pub mod dca;
pub mod indicators;
pub(crate) mod params;
pub mod rsi_reversion;
pub mod sma_cross;
mod snapshot;

use std::fmt;

use chrono::Duration;
use serde_json::Value;
use vigil_bitvavo::CandleInterval;
use vigil_core::{
    proposal::ProposalDraft, Market, Notional, OrderSize, OrderType, Proposal, ProposalSource,
    Side, Timestamp, UserId, ValidationError,
};
use vigil_store::NewScanJob;

pub use dca::DcaParams;
pub use params::TTL_MINUTES_MAX;
pub use rsi_reversion::RsiReversionParams;
pub use sma_cross::SmaCrossParams;
pub use snapshot::{fetch_snapshot, interval_length, MarketSnapshot};

use crate::advisor::AdvisorParams;

/// The strategies a scan job can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StrategyKind {
    /// Dollar-cost averaging: a fixed quote amount every run.
    Dca,
    /// Simple-moving-average crossover.
    SmaCross,
    /// RSI mean reversion.
    RsiReversion,
    /// The LLM advisor.
    LlmAdvisor,
}

impl StrategyKind {
    /// Every strategy.
    pub const ALL: [StrategyKind; 4] = [
        StrategyKind::Dca,
        StrategyKind::SmaCross,
        StrategyKind::RsiReversion,
        StrategyKind::LlmAdvisor,
    ];

    /// The name a job stores and `vigil jobs add` takes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            StrategyKind::Dca => "dca",
            StrategyKind::SmaCross => "sma_cross",
            StrategyKind::RsiReversion => "rsi_reversion",
            StrategyKind::LlmAdvisor => "llm_advisor",
        }
    }

    /// Parses a strategy name.
    ///
    /// # Errors
    /// A [`ValidationError`] for the field `strategy` naming the known strategies.
    pub fn parse(name: &str) -> Result<StrategyKind, ValidationError> {
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| {
                ValidationError::new(
                    "strategy",
                    name,
                    "one of dca, sma_cross, rsi_reversion, llm_advisor",
                )
            })
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A job's parameters, typed per strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyParams {
    /// `dca`.
    Dca(DcaParams),
    /// `sma_cross`.
    SmaCross(SmaCrossParams),
    /// `rsi_reversion`.
    RsiReversion(RsiReversionParams),
    /// `llm_advisor`.
    LlmAdvisor(AdvisorParams),
}

impl StrategyParams {
    /// Reads a job's JSON parameters for `strategy`.
    ///
    /// # Errors
    /// Every problem, each naming its field (`strategy`, `params.<name>`).
    pub fn parse(strategy: &str, params: &Value) -> Result<StrategyParams, Vec<ValidationError>> {
        match StrategyKind::parse(strategy).map_err(|e| vec![e])? {
            StrategyKind::Dca => DcaParams::parse(params).map(StrategyParams::Dca),
            StrategyKind::SmaCross => SmaCrossParams::parse(params).map(StrategyParams::SmaCross),
            StrategyKind::RsiReversion => {
                RsiReversionParams::parse(params).map(StrategyParams::RsiReversion)
            }
            StrategyKind::LlmAdvisor => {
                AdvisorParams::parse(params).map(StrategyParams::LlmAdvisor)
            }
        }
    }

    /// Which strategy these parameters are for.
    #[must_use]
    pub fn kind(&self) -> StrategyKind {
        match self {
            StrategyParams::Dca(_) => StrategyKind::Dca,
            StrategyParams::SmaCross(_) => StrategyKind::SmaCross,
            StrategyParams::RsiReversion(_) => StrategyKind::RsiReversion,
            StrategyParams::LlmAdvisor(_) => StrategyKind::LlmAdvisor,
        }
    }

    /// The candles the strategy reads per market: interval and how many to ask for.
    #[must_use]
    pub fn candles_needed(&self) -> (CandleInterval, u16) {
        match self {
            StrategyParams::Dca(_) => (CandleInterval::OneHour, 1),
            StrategyParams::SmaCross(p) => (p.interval, p.candles_needed()),
            StrategyParams::RsiReversion(p) => (p.interval, p.candles_needed()),
            StrategyParams::LlmAdvisor(p) => (p.interval, p.candles),
        }
    }

    /// Evaluates a rule-based strategy on one market (the advisor is not a pure function of
    /// the snapshot; it returns `None` here and runs through [`crate::advisor::Advisor`]).
    ///
    /// # Errors
    /// [`StrategyError::NotEnoughData`] when the exchange has too few closed candles.
    pub fn evaluate(&self, snapshot: &MarketSnapshot) -> Result<Option<Signal>, StrategyError> {
        match self {
            StrategyParams::Dca(p) => Ok(Some(p.evaluate(snapshot))),
            StrategyParams::SmaCross(p) => p.evaluate(snapshot),
            StrategyParams::RsiReversion(p) => p.evaluate(snapshot),
            StrategyParams::LlmAdvisor(_) => Ok(None),
        }
    }
}

/// Checks a new job as `vigil jobs add` and the API would create it: the strategy's name and
/// parameters (here) and the job's shape (in the store, on create). Call it before
/// `Store::scan_job_create`.
///
/// # Errors
/// Every problem with the strategy or its parameters, each naming its field.
pub fn validate_new_job(job: &NewScanJob) -> Result<StrategyParams, Vec<ValidationError>> {
    StrategyParams::parse(&job.strategy, &job.params)
}

/// What a strategy would like to trade on one market, with its reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// How much of the quote currency to spend (buy) or receive (sell).
    pub amount_quote: Notional,
    /// Why, with the numbers that triggered it, for a person to check.
    pub rationale: String,
    /// How long the proposal may wait before it expires.
    pub ttl: Duration,
}

impl Signal {
    /// The `PENDING` market-order proposal this signal becomes, built by `Proposal::new`.
    ///
    /// # Errors
    /// Every problem `Proposal::new` finds (e.g. a rationale that is too long).
    pub fn to_proposal(
        &self,
        user: UserId,
        source: ProposalSource,
        now: Timestamp,
    ) -> Result<Proposal, Vec<ValidationError>> {
        Proposal::new(
            ProposalDraft {
                user_id: user,
                market: self.market.clone(),
                side: self.side,
                order_type: OrderType::Market,
                size: OrderSize::Quote(self.amount_quote),
                limit_price: None,
                source,
                rationale: self.rationale.clone(),
                ttl: self.ttl,
            },
            now,
        )
    }
}

/// Why a strategy could not decide on a market.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// Too few closed candles to compute the indicator.
    #[error("{market}: {needed} closed {interval} candles are needed, the exchange has {got}; wait for more history or use a shorter period")]
    NotEnoughData {
        /// The market.
        market: Market,
        /// The candle interval.
        interval: CandleInterval,
        /// How many closed candles are needed.
        needed: usize,
        /// How many there were.
        got: usize,
    },
}

/// Rounds a value for a rationale a person reads (the decision used the exact value).
pub(crate) fn shown(value: rust_decimal::Decimal) -> rust_decimal::Decimal {
    value.round_dp(2).normalize()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategy_names_round_trip_and_unknown_names_are_refused() {
        for kind in StrategyKind::ALL {
            assert_eq!(StrategyKind::parse(kind.name()).unwrap(), kind);
        }
        let err = StrategyKind::parse("martingale").unwrap_err();
        assert_eq!(err.field, "strategy");
        assert!(err.expected.contains("sma_cross"));
    }

    #[test]
    fn params_are_parsed_per_strategy() {
        let p = StrategyParams::parse("dca", &json!({"amount_quote": "10"})).unwrap();
        assert_eq!(p.kind(), StrategyKind::Dca);
        let problems =
            StrategyParams::parse("sma_cross", &json!({"fast": 50, "slow": 20})).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["params.amount_quote", "params.fast"]);
        assert_eq!(
            StrategyParams::parse("nope", &json!({})).unwrap_err()[0].field,
            "strategy"
        );
    }
}
