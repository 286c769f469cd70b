//! The LLM advisor: asks an OpenAI-compatible chat model for trade proposals, within a daily
//! spend budget per user (I8).
//!
//! One advice, in order:
//! 1. Read the user's policy and allowlist; when no market of the job is allowlisted, ask
//!    nothing (no proposal could be valid).
//! 2. Read each market's recent closed candles and last price with the read-only client (I10).
//! 3. Build the prompt and its worst-case cost: `max_tokens` × the completion price plus an
//!    upper bound of the prompt's tokens × the prompt price (`prompt.rs`), from the price table.
//! 4. Reserve that worst case in the user's section (`Store::llm_budget_reserve`). With the
//!    budget spent: no call, and ONE alert per user and UTC day.
//! 5. Call the model (explicit timeouts, bounded answer size).
//! 6. Close the reservation by what the provider may have billed: a completion settles at its
//!    reported usage (the worst case when it reports none); an error status or a connection
//!    that never reached the provider releases at zero; a timeout or broken connection after
//!    sending releases at the worst case, since the call may have run (fail closed).
//! 7. Read the answer strictly (`answer.rs`): an answer that is not the schema is dropped
//!    whole, an invalid proposal is dropped with its reason, both logged; nothing is guessed.
//!
//! The advisor runs as the `llm_advisor` scan-job strategy: the scheduler turns its signals into
//! proposals with the source `advisor:<model>`.

mod answer;
mod chat;
pub mod config;
mod prompt;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use vigil_bitvavo::{BitvavoError, CandleInterval, ReadOnlyClient};
use vigil_core::{
    Alert, AlertKind, AlertSeverity, Alerts, Clock, Market, TracingAlerts, UserId, ValidationError,
};
use vigil_store::{
    BudgetExhausted, LlmBudgetError, LlmUsage, Reservation, ScanJob, Store, StoreError, TokenUsage,
};

pub use config::{AdvisorConfig, ModelPrice, PriceTable};

use self::{
    answer::{read_answer, AnswerRules},
    chat::{ChatClient, ChatError, Completion},
};
use crate::strategy::{fetch_snapshot, params::ParamReader, Signal};

/// Parameters of an `llm_advisor` scan job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisorParams {
    /// `candles` (default 48, 5 to 500): closed candles per market in the context.
    pub candles: u16,
    /// `interval` (default `"1h"`): their interval.
    pub interval: CandleInterval,
    /// `max_proposals` (default 3, 1 to 10): the most proposals taken from one answer.
    pub max_proposals: u8,
    /// `ttl_minutes_max` (default 60, 1 to 1440): the longest time to live the model may give.
    pub ttl_minutes_max: u32,
}

impl AdvisorParams {
    /// The parameter names, for messages.
    pub const FIELDS: &'static str = "candles, interval, max_proposals, ttl_minutes_max";

    /// Reads the parameters.
    ///
    /// # Errors
    /// Every problem, each naming its field.
    pub fn parse(params: &Value) -> Result<AdvisorParams, Vec<ValidationError>> {
        let mut r = ParamReader::new(params);
        let parsed = AdvisorParams {
            candles: u16::try_from(r.whole_in("candles", 5, 500, 48)).unwrap_or(48),
            interval: r.interval("interval", CandleInterval::OneHour),
            max_proposals: u8::try_from(r.whole_in("max_proposals", 1, 10, 3)).unwrap_or(3),
            ttl_minutes_max: r.whole_in("ttl_minutes_max", 1, crate::strategy::TTL_MINUTES_MAX, 60),
        };
        r.finish(Self::FIELDS).map(|()| parsed)
    }
}

/// What one advice produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advice {
    /// The valid proposals.
    pub signals: Vec<Signal>,
    /// Proposals dropped, each with its reason.
    pub dropped: Vec<String>,
    /// The model's refusal message, when it refused.
    pub refusal: Option<String>,
    /// Why the model was not asked, when it was not.
    pub not_asked: Option<String>,
    /// The usage entry of the call, once closed.
    pub usage: Option<LlmUsage>,
}

/// Why an advice failed.
#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    /// The user's LLM budget is spent for the day: no call was made.
    #[error("no LLM call: the budget of {} USD for {} is spent ({} USD used, this call could cost up to {} USD)", .0.budget, .0.day, .0.spent, .0.requested)]
    BudgetExhausted(BudgetExhausted),
    /// Market data could not be read: no call was made.
    #[error("no LLM call: market data for {market} could not be read: {source}")]
    MarketData {
        /// The market.
        market: Market,
        /// The exchange error.
        #[source]
        source: BitvavoError,
    },
    /// The call failed; its reservation was released (see the module docs for at what cost).
    #[error("the LLM call failed: {0}")]
    Call(String),
    /// The model answered, but not with the schema; the whole answer was dropped and the call
    /// settled.
    #[error("the LLM answer was dropped: {0}")]
    Unreadable(String),
    /// The store failed (the reservation, if any, stays reserved: it keeps counting its worst
    /// case, failing closed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdvisorError {
    /// Whether trying again soon may help (market data or the endpoint were unavailable), as
    /// opposed to waiting for the next scheduled run.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AdvisorError::MarketData { .. } | AdvisorError::Call(_)
        ) || matches!(self, AdvisorError::Store(e) if e.is_transient())
    }
}

/// The advisor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AdvisorBuildError {
    /// The configuration is invalid.
    #[error("invalid advisor settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ValidationError>),
    /// The HTTP client could not be built.
    #[error("the advisor's HTTP client could not be built: {0}")]
    Http(#[source] reqwest::Error),
}

/// The LLM advisor.
#[derive(Debug)]
pub struct Advisor {
    store: Store,
    market_data: ReadOnlyClient,
    clock: Arc<dyn Clock>,
    chat: ChatClient,
    price: ModelPrice,
    alerts: Arc<dyn Alerts>,
    /// (day, user) pairs already alerted; only today's are kept.
    alerted: Mutex<BTreeSet<(NaiveDate, UserId)>>,
}

impl Advisor {
    /// Builds the advisor. It reads market data with `market_data` (the read-only client) only.
    ///
    /// # Errors
    /// [`AdvisorBuildError::Config`] with every problem of `config`;
    /// [`AdvisorBuildError::Http`] when the HTTP client cannot be built.
    pub fn new(
        store: Store,
        market_data: ReadOnlyClient,
        clock: Arc<dyn Clock>,
        config: &AdvisorConfig,
    ) -> Result<Advisor, AdvisorBuildError> {
        config.validate().map_err(AdvisorBuildError::Config)?;
        let price = *config.prices.price(&config.model).ok_or_else(|| {
            AdvisorBuildError::Config(vec![ValidationError::new(
                "advisor.model",
                &config.model,
                "a model with a price",
            )])
        })?;
        Ok(Advisor {
            store,
            market_data,
            clock,
            chat: ChatClient::new(config).map_err(AdvisorBuildError::Http)?,
            price,
            alerts: Arc::new(TracingAlerts),
            alerted: Mutex::new(BTreeSet::new()),
        })
    }

    /// Sends budget alerts to `alerts` instead of the log only.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> Advisor {
        self.alerts = alerts;
        self
    }

    /// The model asked.
    #[must_use]
    pub fn model(&self) -> &str {
        self.chat.model()
    }

    /// Asks the model for proposals on `job`'s markets (see the module docs for the steps).
    ///
    /// # Errors
    /// [`AdvisorError`]: the budget is spent, market data or the call failed, the answer was
    /// not the schema, or the store failed.
    pub async fn advise(
        &self,
        job: &ScanJob,
        params: &AdvisorParams,
    ) -> Result<Advice, AdvisorError> {
        let user = job.user_id;
        let policy = self.store.policy_get(user).await?;
        let allowlist = self.store.allowlist_list(user).await?;
        if !job.markets.iter().any(|m| allowlist.contains(m)) {
            return Ok(Advice {
                not_asked: Some(
                    "no market of the job is on the user's allowlist, so no proposal could be \
                     valid; add one with `vigil allowlist add`"
                        .to_owned(),
                ),
                ..Advice::default()
            });
        }
        let now = self.clock.now();
        let mut snapshots = Vec::with_capacity(job.markets.len());
        for market in &job.markets {
            let snapshot = fetch_snapshot(
                &self.market_data,
                market,
                params.interval,
                params.candles,
                now,
            )
            .await
            .map_err(|source| AdvisorError::MarketData {
                market: market.clone(),
                source,
            })?;
            snapshots.push(snapshot);
        }
        let messages = prompt::messages(&snapshots, &policy, &allowlist, params, now);
        let worst_case = self.price.cost(TokenUsage {
            prompt_tokens: prompt::prompt_tokens_max(&messages),
            completion_tokens: self.chat.max_tokens(),
        });
        let reservation = match self
            .store
            .llm_budget_reserve(user, self.model(), worst_case, now)
            .await
        {
            Ok(r) => r,
            Err(LlmBudgetError::Exhausted(spent)) => {
                self.alert_once(&spent);
                return Err(AdvisorError::BudgetExhausted(spent));
            }
            Err(LlmBudgetError::Store(e)) => return Err(e.into()),
            Err(other @ LlmBudgetError::NotReserved { .. }) => {
                return Err(AdvisorError::Call(other.to_string()))
            }
        };
        let answer = self.chat.complete(&messages).await;
        let rules = AnswerRules {
            markets: &job.markets,
            allowlist: &allowlist,
            order_cap: policy.order_notional_max,
            ttl_minutes_max: params.ttl_minutes_max,
            max_proposals: params.max_proposals,
            model: self.model(),
        };
        match answer {
            Ok(completion) => {
                self.on_completion(job, &reservation, completion, &rules)
                    .await
            }
            Err(error) => Err(self.on_call_error(job, &reservation, error).await),
        }
    }

    /// Settles a completed call at its reported usage and reads the answer.
    async fn on_completion(
        &self,
        job: &ScanJob,
        reservation: &Reservation,
        completion: Completion,
        rules: &AnswerRules<'_>,
    ) -> Result<Advice, AdvisorError> {
        let (usage, cost) = match completion.usage {
            Some(usage) => (usage, self.price.cost(usage)),
            None => {
                tracing::warn!(job_id = %job.id, "the LLM reported no token usage; counting the reserved worst case");
                (TokenUsage::default(), reservation.reserved_cost)
            }
        };
        let settled = self.close(reservation, usage, cost, true).await?;
        if let Some(refusal) = completion.refusal {
            tracing::warn!(job_id = %job.id, model = self.model(), %refusal, "the LLM refused; no proposal");
            return Ok(Advice {
                refusal: Some(refusal),
                usage: Some(settled),
                ..Advice::default()
            });
        }
        let Some(content) = completion.content else {
            let reason = format!(
                "the completion has no content (finish_reason {:?})",
                completion.finish_reason
            );
            tracing::warn!(job_id = %job.id, "{reason}; no proposal");
            return Err(AdvisorError::Unreadable(reason));
        };
        match read_answer(&content, rules) {
            Ok(read) => {
                for reason in &read.dropped {
                    tracing::warn!(job_id = %job.id, model = self.model(), %reason, "LLM proposal dropped");
                }
                Ok(Advice {
                    signals: read.signals,
                    dropped: read.dropped,
                    usage: Some(settled),
                    ..Advice::default()
                })
            }
            Err(reason) => {
                let start: String = content.chars().take(200).collect();
                tracing::warn!(job_id = %job.id, model = self.model(), %reason, answer = %start, "LLM answer dropped");
                Err(AdvisorError::Unreadable(reason))
            }
        }
    }

    /// Releases a failed call's reservation at what the provider may have billed.
    async fn on_call_error(
        &self,
        job: &ScanJob,
        reservation: &Reservation,
        error: ChatError,
    ) -> AdvisorError {
        let (usage, billed) = match &error {
            ChatError::NotSent(_) | ChatError::Status { .. } => {
                (TokenUsage::default(), Decimal::ZERO)
            }
            ChatError::NoAnswer(_) | ChatError::Malformed { usage: None, .. } => {
                (TokenUsage::default(), reservation.reserved_cost)
            }
            ChatError::Malformed {
                usage: Some(usage), ..
            } => (*usage, self.price.cost(*usage)),
        };
        tracing::warn!(job_id = %job.id, model = self.model(), %error, billed_usd = %billed, "LLM call failed");
        if let Err(e) = self.close(reservation, usage, billed, false).await {
            return e;
        }
        match error {
            ChatError::Malformed { detail, .. } => AdvisorError::Unreadable(detail),
            other => AdvisorError::Call(other.to_string()),
        }
    }

    async fn close(
        &self,
        reservation: &Reservation,
        usage: TokenUsage,
        cost: Decimal,
        settle: bool,
    ) -> Result<LlmUsage, AdvisorError> {
        let now = self.clock.now();
        let closed = if settle {
            self.store
                .llm_budget_settle(reservation, usage, cost, now)
                .await
        } else {
            self.store
                .llm_budget_release(reservation, usage, cost, now)
                .await
        };
        closed.map_err(|e| match e {
            LlmBudgetError::Store(e) => AdvisorError::Store(e),
            other => AdvisorError::Call(other.to_string()),
        })
    }

    /// Raises the budget alert unless this advisor already did for the user today.
    fn alert_once(&self, spent: &BudgetExhausted) {
        let first = {
            let mut alerted = self.alerted.lock().unwrap_or_else(PoisonError::into_inner);
            // Only today's entries matter; dropping older days keeps the set bounded.
            alerted.retain(|(day, _)| *day >= spent.day);
            alerted.insert((spent.day, spent.user))
        };
        if first {
            self.alerts.raise(&Alert {
                kind: AlertKind::LlmBudgetExhausted,
                severity: AlertSeverity::Warning,
                execution_id: None,
                user_id: Some(spent.user),
                message: format!(
                    "the LLM budget of user {} for {} is spent ({} of {} USD); the advisor makes \
                     no more calls for this user until the next UTC day. Raise \
                     llm_daily_budget with `vigil policy set` if this is expected",
                    spent.user, spent.day, spent.spent, spent.budget
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn advisor_params_have_defaults_and_bounds() {
        let p = AdvisorParams::parse(&json!({})).unwrap();
        assert_eq!(
            (p.candles, p.interval, p.max_proposals, p.ttl_minutes_max),
            (48, CandleInterval::OneHour, 3, 60)
        );
        let problems =
            AdvisorParams::parse(&json!({"candles": 1, "max_proposals": 11, "model": "x"}))
                .unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["params.candles", "params.max_proposals", "params.model"]
        );
    }
}
