//! Prometheus metrics: the [`Metrics`] handle other parts report into, and the `/metrics`
//! scrape, which adds what the store can tell honestly at that moment.
//!
//! Why the `prometheus` crate and not `metrics` + `metrics-exporter-prometheus`: the `metrics`
//! facade records into ONE process-global recorder, so two servers in one process (every
//! integration test binary) would share counters and a test could not tell its own numbers
//! from another's. `prometheus` keeps series in an explicit [`prometheus::Registry`] owned by
//! this handle; it is used without default features (no protobuf, no push), which leaves a
//! small dependency tree.
//!
//! Two kinds of series:
//! - Reported through the handle by whoever sees the event: executions by final state,
//!   refusals by reason, order-path latency ([`Metrics::execute_answered`], called by the
//!   execute endpoint and by `vigil run`'s executor loop for the executions each runs), and the
//!   rate-limit budget of each exchange key (sampled from the clients). Other parts of the
//!   process (the reconciler moving orders to FILLED) report through the same handle when they
//!   are given it. These are counters of this process.
//! - Read from the store at scrape time: the reconciler backlog (executions whose outcome is
//!   unknown) and the age of the oldest, the scheduler's lag (the oldest due job nobody holds a
//!   live lease on), and each user's LLM spend today against their daily budget. These reflect
//!   the database, so every instance reports the same numbers.

use std::{sync::Arc, time::Duration};

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use rust_decimal::prelude::ToPrimitive;
use vigil_core::{Execution, ExecutionState, Refusal, Timestamp};
use vigil_engine::ExecutionOutcome;
use vigil_store::{ScanJobFilter, Store, StoreError, LIST_LIMIT_MAX};

/// A stage of the order path, timed from the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderPathStage {
    /// From the claim (execution row inserted) to the order request leaving for the exchange.
    ClaimToOrderSent,
    /// From the order request leaving to the exchange's acceptance being recorded (`SUBMITTED`).
    OrderSentToSubmitted,
}

impl OrderPathStage {
    const fn label(self) -> &'static str {
        match self {
            OrderPathStage::ClaimToOrderSent => "claim_to_order_sent",
            OrderPathStage::OrderSentToSubmitted => "order_sent_to_submitted",
        }
    }
}

/// One of the two exchange keys, as the metrics label them (the client's vocabulary).
pub use vigil_bitvavo::ExchangeKey;

#[derive(Debug)]
struct Series {
    registry: Registry,
    executions_final: IntCounterVec,
    refusals: IntCounterVec,
    order_path: HistogramVec,
    reconciler_backlog: IntGauge,
    oldest_unknown_outcome_age: Gauge,
    scheduler_lag: Gauge,
    llm_spend: GaugeVec,
    llm_budget: GaugeVec,
    rate_limit_remaining: IntGaugeVec,
    rate_limit_banned: IntGaugeVec,
    http_requests: IntCounterVec,
    scrape_errors: IntCounterVec,
}

/// The metrics registry and the handle to report into. Cheap to clone; clones share series.
#[derive(Debug, Clone)]
pub struct Metrics {
    series: Arc<Series>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Series {
    /// Every series, registered in a fresh registry.
    fn build() -> Result<Series, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let gauge = |name: &str, help: &str| {
            let g = Gauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let int_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let order_path = HistogramVec::new(
            HistogramOpts::new(
                "vigil_order_path_seconds",
                "Order-path latency by stage: claim to order sent, order sent to SUBMITTED.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["stage"],
        )?;
        registry.register(Box::new(order_path.clone()))?;
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = GaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let int_gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        Ok(Series {
            executions_final: counter(
                "vigil_executions_final_total",
                "Executions that reached a final state, by state (FILLED, CANCELED, REJECTED, FAILED).",
                &["state"],
            )?,
            refusals: counter(
                "vigil_execution_refusals_total",
                "Executions refused by a safety rail, by reason code (cooldown_active, cap_per_order, ...).",
                &["reason"],
            )?,
            order_path,
            reconciler_backlog: int_gauge(
                "vigil_reconciler_backlog",
                "SUBMITTING executions whose outcome is unknown, waiting for the reconciler (read from the store at scrape time; counts at most 1000).",
            )?,
            oldest_unknown_outcome_age: gauge(
                "vigil_reconciler_oldest_unknown_outcome_age_seconds",
                "Age of the oldest unknown-outcome execution since its order was signed (0 when there is none).",
            )?,
            scheduler_lag: gauge(
                "vigil_scheduler_lag_seconds",
                "How overdue the oldest due, unpaused scan job without a live lease is (0 when none is due; read from the store at scrape time).",
            )?,
            llm_spend: gauge_vec(
                "vigil_llm_spend_today_usd",
                "What each user's LLM calls of the current UTC day count against the budget (reserved worst cases plus settled costs), in USD.",
                &["user"],
            )?,
            rate_limit_remaining: int_gauge_vec(
                "vigil_exchange_rate_limit_remaining",
                "Points left in the current Bitvavo rate-limit window, by key (read_only, trade: each key has its own budget).",
                &["key"],
            )?,
            rate_limit_banned: int_gauge_vec(
                "vigil_exchange_rate_limit_banned",
                "1 while the exchange has banned the key for exceeding the rate limit, by key (read_only, trade).",
                &["key"],
            )?,
            llm_budget: gauge_vec(
                "vigil_llm_daily_budget_usd",
                "Each user's daily LLM budget from their policy, in USD.",
                &["user"],
            )?,
            http_requests: counter(
                "vigil_http_requests_total",
                "API requests by route template, method and status code.",
                &["method", "route", "status"],
            )?,
            scrape_errors: counter(
                "vigil_metrics_scrape_errors_total",
                "Store reads that failed while serving /metrics, by series.",
                &["series"],
            )?,
            registry,
        })
    }
}

impl Metrics {
    /// A fresh registry with every Vigil series registered (called once at startup).
    #[must_use]
    pub fn new() -> Metrics {
        #[allow(
            clippy::expect_used,
            reason = "startup only: the series are fixed in this file, and a unit test builds them"
        )]
        let series =
            Series::build().expect("Invariant: Vigil's fixed metric definitions are valid");
        Metrics {
            series: Arc::new(series),
        }
    }

    /// Counts an execution that reached a final state. Non-final states are ignored (they are
    /// not outcomes yet).
    pub fn execution_finished(&self, state: ExecutionState) {
        if state.is_final() {
            self.series
                .executions_final
                .with_label_values(&[state.as_str()])
                .inc();
        }
    }

    /// Counts a refusal by its stable reason code.
    pub fn execution_refused(&self, refusal: &Refusal) {
        self.series
            .refusals
            .with_label_values(&[refusal.code()])
            .inc();
    }

    /// Records how long one stage of the order path took.
    pub fn order_path(&self, stage: OrderPathStage, elapsed: Duration) {
        self.series
            .order_path
            .with_label_values(&[stage.label()])
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn http_request(&self, method: &str, route: &str, status: u16) {
        self.series
            .http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
    }

    /// Samples one key's rate-limit budget as its client knows it.
    pub fn observe_rate_limit(&self, key: ExchangeKey, status: &vigil_bitvavo::RateLimitStatus) {
        self.series
            .rate_limit_remaining
            .with_label_values(&[key.label()])
            .set(status.remaining);
        self.series
            .rate_limit_banned
            .with_label_values(&[key.label()])
            .set(i64::from(status.banned_until.is_some()));
    }

    /// Reports what one execute call answered: its refusal, a final state it reached (REJECTED,
    /// FAILED; FILLED and CANCELED come from the reconciler; a retry's `AlreadyClaimed` was
    /// counted when it happened), and for a placed order the order path's latency, from the
    /// times the executor recorded on the execution itself (its clock, not the caller's view;
    /// no read of the database on the order path).
    pub fn execute_answered(&self, outcome: &ExecutionOutcome) {
        if let Some(refusal) = outcome.refusal() {
            self.execution_refused(refusal);
        }
        match outcome {
            ExecutionOutcome::AlreadyClaimed(_) => {}
            ExecutionOutcome::Placed(execution) => self.order_path_of(execution),
            other => {
                if let Some(execution) = other.execution() {
                    self.execution_finished(execution.state);
                }
            }
        }
    }

    /// Observes both order-path stages of a placed execution: claim (`created_at`) → the
    /// signed order request committed `SUBMITTING` (`signed_at`) → accepted (`updated_at`, the
    /// acceptance being a placed execution's last change).
    fn order_path_of(&self, execution: &Execution) {
        let accepted =
            (execution.state == ExecutionState::Submitted).then_some(execution.updated_at);
        let stages = [
            (
                OrderPathStage::ClaimToOrderSent,
                Some(execution.created_at),
                execution.signed_at,
            ),
            (
                OrderPathStage::OrderSentToSubmitted,
                execution.signed_at,
                accepted,
            ),
        ];
        for (stage, from, to) in stages {
            if let Some((from, to)) = from.zip(to) {
                self.order_path(stage, (to - from).to_std().unwrap_or(Duration::ZERO));
            }
        }
    }

    /// Refreshes the store-derived series, then renders every series in the Prometheus text
    /// format. A store read that fails leaves its series at the last value and counts the
    /// failure in `vigil_metrics_scrape_errors_total` (a scrape still answers, so the other
    /// series stay visible while the database is down).
    pub async fn render(&self, store: &Store, now: Timestamp) -> String {
        match reconciler_backlog(store, now).await {
            Ok((count, oldest)) => {
                self.series.reconciler_backlog.set(count);
                self.series
                    .oldest_unknown_outcome_age
                    .set(oldest.as_secs_f64());
            }
            Err(error) => self.scrape_failed("reconciler_backlog", &error),
        }
        match scheduler_lag(store, now).await {
            Ok(lag) => self.series.scheduler_lag.set(lag.as_secs_f64()),
            Err(error) => self.scrape_failed("scheduler_lag", &error),
        }
        if let Err(error) = self.refresh_llm_spend(store, now).await {
            self.scrape_failed("llm_spend", &error);
        }
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.series.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding /metrics failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

impl Metrics {
    fn scrape_failed(&self, series: &str, error: &StoreError) {
        tracing::warn!(%error, series, "a store read for /metrics failed; the series keeps its last value");
        self.series.scrape_errors.with_label_values(&[series]).inc();
    }

    /// Each user's LLM spend today and daily budget. Two reads per user: fine for the handful
    /// of users one Vigil serves (at most [`LIST_LIMIT_MAX`] are listed).
    async fn refresh_llm_spend(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        for user in store.user_list().await? {
            let budget = store.policy_get(user.id).await?.llm_daily_budget;
            let spent = store.llm_budget_spent(user.id, now).await?;
            // Display only: Prometheus values are floats; the budget guard itself works on
            // exact decimals in the store.
            self.series
                .llm_budget
                .with_label_values(&[user.name.as_str()])
                .set(budget.to_f64().unwrap_or(0.0));
            self.series
                .llm_spend
                .with_label_values(&[user.name.as_str()])
                .set(spent.to_f64().unwrap_or(0.0));
        }
        Ok(())
    }
}

/// How overdue the oldest due job is that the scheduler should have picked up: unpaused, due,
/// and not held under a live lease (a job being run is not late). Zero when there is none.
///
/// # Errors
/// A store error.
pub(crate) async fn scheduler_lag(store: &Store, now: Timestamp) -> Result<Duration, StoreError> {
    // Listed soonest due first, so the oldest due jobs are among the first LIST_LIMIT_MAX.
    let filter = ScanJobFilter {
        user: None,
        limit: LIST_LIMIT_MAX,
    };
    let jobs = store.scan_job_list(&filter).await?;
    let oldest_due = jobs
        .iter()
        .filter(|job| !job.paused && job.next_run_at <= now)
        .filter(|job| job.locked_until.is_none_or(|until| until <= now))
        .map(|job| job.next_run_at)
        .min();
    Ok(oldest_due.map_or(Duration::ZERO, |due| {
        (now - due).to_std().unwrap_or(Duration::ZERO)
    }))
}

/// How many executions have an unknown outcome, and how long ago the oldest one's order was
/// signed (zero when there is none). Counts at most [`LIST_LIMIT_MAX`].
///
/// # Errors
/// A store error.
pub(crate) async fn reconciler_backlog(
    store: &Store,
    now: Timestamp,
) -> Result<(i64, Duration), StoreError> {
    let unresolved = store.execution_list_unresolved(LIST_LIMIT_MAX).await?;
    let unknown: Vec<_> = unresolved.iter().filter(|e| e.outcome_unknown).collect();
    let oldest = unknown
        .iter()
        .map(|e| e.signed_at.unwrap_or(e.created_at))
        .min()
        .map_or(Duration::ZERO, |at| {
            (now - at).to_std().unwrap_or(Duration::ZERO)
        });
    Ok((i64::try_from(unknown.len()).unwrap_or(i64::MAX), oldest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_registers_and_renders() {
        let metrics = Metrics::new();
        metrics.execution_finished(ExecutionState::Filled);
        metrics.execution_finished(ExecutionState::Submitted); // ignored: not final
        metrics.execution_refused(&Refusal::TradingDisabled);
        metrics.order_path(OrderPathStage::ClaimToOrderSent, Duration::from_millis(20));
        metrics.http_request("GET", "/healthz", 200);
        let status = vigil_bitvavo::RateLimitStatus {
            limit: 1000,
            remaining: 990,
            reset_at: None,
            banned_until: None,
        };
        metrics.observe_rate_limit(ExchangeKey::ReadOnly, &status);
        metrics.observe_rate_limit(ExchangeKey::Trade, &status);
        let families = metrics.series.registry.gather();
        let names: Vec<_> = families.iter().map(|f| f.name().to_owned()).collect();
        for name in [
            "vigil_executions_final_total",
            "vigil_execution_refusals_total",
            "vigil_order_path_seconds",
            "vigil_reconciler_backlog",
            "vigil_reconciler_oldest_unknown_outcome_age_seconds",
            "vigil_scheduler_lag_seconds",
            "vigil_http_requests_total",
            "vigil_exchange_rate_limit_remaining",
            "vigil_exchange_rate_limit_banned",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        let filled = metrics
            .series
            .executions_final
            .with_label_values(&["FILLED"])
            .get();
        assert_eq!(filled, 1);
        for key in [ExchangeKey::ReadOnly, ExchangeKey::Trade] {
            let remaining = metrics
                .series
                .rate_limit_remaining
                .with_label_values(&[key.label()]);
            assert_eq!(remaining.get(), 990, "{key:?}");
        }
        assert_eq!(
            metrics
                .series
                .executions_final
                .with_label_values(&["SUBMITTED"])
                .get(),
            0
        );
    }
}
