//! Alert delivery: the production [`Alerts`] — every alert goes to the log at once and, when a
//! webhook is configured, to the webhook through a BOUNDED queue drained by a background task.
//!
//! Why this shape: alerts are raised on the order path (the executor, the reconciler) and must
//! never slow it down or fail it. [`AlertDelivery::raise`] therefore does only memory work — log,
//! de-duplicate, rate-limit, `try_send` — and returns; the network belongs to the
//! [`AlertDispatcher`] task. When the queue is full the alert is dropped from the webhook path
//! (it is already in the log), counted, and a log line says so.
//!
//! - De-duplication: the same key (kind, execution, user) within `dedupe_window` reaches the
//!   webhook once; the log still gets every alert.
//! - Rate limit: at most `rate_limit_per_minute` alerts reach the webhook in any 60 seconds.
//! - Delivery (`webhook.rs`): retried with exponential back-off and seeded jitter on connection
//!   errors, timeouts, 429 and 5xx, bounded by `max_attempts` and `delivery_deadline`; other
//!   answers are final.
//! - `operator_actions.rs`: a watch over `audit_log` that raises an alert for kill-switch and
//!   policy changes, whichever interface made them.
//! - `execution_watch.rs`: a watch over the executions that raises an alert for each one that
//!   ends `FAILED` and each `SUBMITTING` one past its access window plus the margin.
//! - `rate_limit_watch.rs`: a watch over both exchange keys' rate-limit budgets (sampled from
//!   the `vigil-bitvavo` clients, nothing sent) that raises an alert once per ban and key.
//!
//! Times come from the [`Clock`] given in (de-duplication and rate limit are tested with a
//! `ManualClock`); the back-off sleeps are tokio's.

mod dispatcher;
mod execution_watch;
mod operator_actions;
mod rate_limit_watch;
mod webhook;

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use vigil_core::{Clock, Timestamp, ValidationError};

pub use dispatcher::AlertDispatcher;
pub use execution_watch::ExecutionWatch;
pub use operator_actions::OperatorActionWatch;
pub use rate_limit_watch::RateLimitWatch;
pub use webhook::{DeliveryError, DeliveryReport, WebhookPayload};

use vigil_core::alert::{Alert, Alerts, TracingAlerts};

/// How alerts are delivered. Every bound is explicit (STYLE rule 12).
#[derive(Clone)]
pub struct AlertDeliveryConfig {
    /// Where alerts are POSTed as JSON; `None`: the log only. Treated as a secret (Slack and
    /// Discord webhook URLs carry their token in the path): only its scheme and host are ever
    /// printed.
    pub webhook_url: Option<SecretString>,
    /// An alert with the same key within this window is sent once.
    pub dedupe_window: Duration,
    /// At most this many alerts reach the webhook in any 60 seconds.
    pub rate_limit_per_minute: u32,
    /// How many alerts may wait for delivery; beyond it new alerts are dropped (and counted).
    pub queue_capacity: usize,
    /// The most delivery attempts per alert (the first one included).
    pub max_attempts: u32,
    /// The timeout of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// The most time one alert's delivery may take, retries and back-off included.
    pub delivery_deadline: Duration,
    /// The first back-off delay.
    pub backoff_min: Duration,
    /// The largest back-off delay.
    pub backoff_max: Duration,
    /// Seeds the back-off jitter (a failing run replays from its seed).
    pub jitter_seed: u64,
    /// Names the deployment in every payload (`source`), e.g. `vigil-prod`.
    pub source: String,
}

impl Default for AlertDeliveryConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            dedupe_window: Duration::from_secs(300),
            rate_limit_per_minute: 30,
            queue_capacity: 256,
            max_attempts: 5,
            attempt_timeout: Duration::from_secs(5),
            delivery_deadline: Duration::from_secs(60),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            jitter_seed: 0x0a1e_7d15_9a7c,
            source: "vigil".to_owned(),
        }
    }
}

impl fmt::Debug for AlertDeliveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertDeliveryConfig")
            .field(
                "webhook_url",
                &self
                    .webhook_url
                    .as_ref()
                    .map(|u| redact_url(u.expose_secret())),
            )
            .field("dedupe_window", &self.dedupe_window)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_attempts", &self.max_attempts)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("delivery_deadline", &self.delivery_deadline)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AlertDeliveryConfig {
    /// Checks every setting and returns all problems at once, each naming its config key.
    ///
    /// # Errors
    /// Every problem found.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut problems = Vec::new();
        if let Some(url) = &self.webhook_url {
            if let Err(e) = check_webhook_url(url.expose_secret()) {
                problems.push(e);
            }
        }
        let mut check = |ok: bool, field: &str, value: String, expected: &str| {
            if !ok {
                problems.push(ValidationError::new(field, value, expected));
            }
        };
        check(
            self.dedupe_window <= Duration::from_secs(86_400),
            "alerts.dedupe_seconds",
            self.dedupe_window.as_secs().to_string(),
            "0 to 86400 seconds",
        );
        check(
            (1..=600).contains(&self.rate_limit_per_minute),
            "alerts.rate_limit_per_minute",
            self.rate_limit_per_minute.to_string(),
            "1 to 600",
        );
        check(
            (1..=10_000).contains(&self.queue_capacity),
            "alerts.queue_capacity",
            self.queue_capacity.to_string(),
            "1 to 10000",
        );
        check(
            (1..=20).contains(&self.max_attempts),
            "alerts.max_attempts",
            self.max_attempts.to_string(),
            "1 to 20",
        );
        check(
            self.attempt_timeout >= Duration::from_millis(100)
                && self.attempt_timeout <= Duration::from_secs(60),
            "alerts.attempt_timeout_ms",
            self.attempt_timeout.as_millis().to_string(),
            "100 to 60000 milliseconds",
        );
        check(
            self.delivery_deadline >= self.attempt_timeout
                && self.delivery_deadline <= Duration::from_secs(600),
            "alerts.delivery_deadline_seconds",
            self.delivery_deadline.as_secs().to_string(),
            "at least one attempt's timeout and at most 600 seconds",
        );
        check(
            self.backoff_min > Duration::ZERO && self.backoff_min <= self.backoff_max,
            "alerts.backoff_min_ms",
            self.backoff_min.as_millis().to_string(),
            "more than 0 and at most the largest back-off",
        );
        check(
            !self.source.trim().is_empty() && self.source.len() <= 64,
            "alerts.source",
            self.source.clone(),
            "a deployment name of 1 to 64 characters",
        );
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The webhook's scheme and host, safe to print (`https://hooks.slack.com/…`), or `None`.
    #[must_use]
    pub fn webhook_display(&self) -> Option<String> {
        self.webhook_url
            .as_ref()
            .map(|u| redact_url(u.expose_secret()))
    }
}

/// Checks a webhook URL: http or https with a host.
///
/// # Errors
/// A [`ValidationError`] for `alerts.webhook_url` that does not show the URL (it may hold a
/// token).
pub fn check_webhook_url(url: &str) -> Result<(), ValidationError> {
    let ok = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    match ok {
        Some(_) => Ok(()),
        None => Err(ValidationError::new(
            "alerts.webhook_url",
            redact_url(url),
            "an http:// or https:// URL with a host, e.g. https://hooks.slack.com/services/…",
        )),
    }
}

/// The scheme and host of a URL followed by `/…`: the path and query of a webhook URL carry its
/// token, so they are never printed.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", u.scheme()),
            (Some(host), None) => format!("{}://{host}/…", u.scheme()),
            _ => "(an URL without a host)".to_owned(),
        },
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// Why alert delivery could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertDeliveryBuildError {
    /// A setting is invalid.
    #[error("invalid alert settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ValidationError>),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for alert delivery: {0}")]
    Http(String),
}

/// What happened to the alerts raised so far (for `/metrics`, `vigil alerts test` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertDeliveryStats {
    /// Alerts raised (all of them reached the log).
    pub raised: u64,
    /// Alerts queued for the webhook.
    pub queued: u64,
    /// Alerts the webhook acknowledged with a 2xx.
    pub delivered: u64,
    /// Alerts whose delivery failed after every attempt (or hit the deadline).
    pub failed: u64,
    /// Alerts not sent because the same key was sent within the de-duplication window.
    pub deduplicated: u64,
    /// Alerts not sent because of the rate limit.
    pub rate_limited: u64,
    /// Alerts dropped because the queue was full or closed.
    pub dropped: u64,
    /// Delivery attempts that were retried.
    pub retries: u64,
}

#[derive(Debug, Default)]
struct Counters {
    raised: AtomicU64,
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    deduplicated: AtomicU64,
    rate_limited: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> AlertDeliveryStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AlertDeliveryStats {
            raised: read(&self.raised),
            queued: read(&self.queued),
            delivered: read(&self.delivered),
            failed: read(&self.failed),
            deduplicated: read(&self.deduplicated),
            rate_limited: read(&self.rate_limited),
            dropped: read(&self.dropped),
            retries: read(&self.retries),
        }
    }
}

/// The most de-duplication keys remembered; older ones are forgotten first (bounded memory).
const DEDUPE_KEYS_MAX: usize = 4_096;

/// De-duplication and rate-limit state, behind one short-held mutex.
#[derive(Debug, Default)]
struct Gate {
    last_sent: HashMap<String, Timestamp>,
    sent_in_last_minute: VecDeque<Timestamp>,
}

/// Why [`Gate::admit`] turned an alert away from the webhook.
enum Turned {
    Duplicate,
    RateLimited,
}

impl Gate {
    fn admit(
        &mut self,
        key: &str,
        now: Timestamp,
        dedupe_window: Duration,
        per_minute: u32,
    ) -> Result<(), Turned> {
        let window = chrono::TimeDelta::from_std(dedupe_window).unwrap_or(chrono::TimeDelta::MAX);
        if let Some(last) = self.last_sent.get(key) {
            if now - *last < window {
                return Err(Turned::Duplicate);
            }
        }
        let minute_ago = now - chrono::TimeDelta::seconds(60);
        while self
            .sent_in_last_minute
            .front()
            .is_some_and(|t| *t <= minute_ago)
        {
            self.sent_in_last_minute.pop_front();
        }
        if self.sent_in_last_minute.len() >= per_minute as usize {
            return Err(Turned::RateLimited);
        }
        if self.last_sent.len() >= DEDUPE_KEYS_MAX {
            self.last_sent.retain(|_, at| now - *at < window);
            if self.last_sent.len() >= DEDUPE_KEYS_MAX {
                // Every key is recent: forget the oldest, so memory stays bounded.
                if let Some(oldest) = self
                    .last_sent
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
                {
                    self.last_sent.remove(&oldest);
                }
            }
        }
        self.last_sent.insert(key.to_owned(), now);
        self.sent_in_last_minute.push_back(now);
        Ok(())
    }
}

/// An alert waiting for the webhook.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) alert: Alert,
    pub(crate) raised_at: Timestamp,
}

pub(crate) struct Shared {
    pub(crate) config: AlertDeliveryConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
    counters: Counters,
    gate: Mutex<Gate>,
}

impl Shared {
    pub(crate) fn count_delivered(&self) {
        Counters::bump(&self.counters.delivered);
    }

    pub(crate) fn count_failed(&self) {
        Counters::bump(&self.counters.failed);
    }

    pub(crate) fn count_dropped(&self) {
        Counters::bump(&self.counters.dropped);
    }

    pub(crate) fn count_retry(&self) {
        Counters::bump(&self.counters.retries);
    }
}

/// The production [`Alerts`]: the log always, the webhook through a bounded queue. Cheap to
/// clone; clones share the queue, the counters and the de-duplication state.
#[derive(Clone)]
pub struct AlertDelivery {
    shared: Arc<Shared>,
    queue: mpsc::Sender<Queued>,
}

impl fmt::Debug for AlertDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertDelivery")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl AlertDelivery {
    /// Builds the delivery and its background task. Spawn [`AlertDispatcher::run`] and join it
    /// on shutdown: until it runs, webhook alerts wait in the queue (the log has them at once).
    ///
    /// # Errors
    /// [`AlertDeliveryBuildError::Config`] listing every invalid setting;
    /// [`AlertDeliveryBuildError::Http`] when the HTTP client cannot be built.
    pub fn new(
        config: AlertDeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<(AlertDelivery, AlertDispatcher), AlertDeliveryBuildError> {
        config.validate().map_err(AlertDeliveryBuildError::Config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.attempt_timeout)
            .timeout(config.attempt_timeout)
            // A webhook never needs to redirect; following one could leak the alert elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| AlertDeliveryBuildError::Http(e.to_string()))?;
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            config,
            clock,
            http,
            counters: Counters::default(),
            gate: Mutex::new(Gate::default()),
        });
        let dispatcher = AlertDispatcher::new(Arc::clone(&shared), receiver);
        Ok((
            AlertDelivery {
                shared,
                queue: sender,
            },
            dispatcher,
        ))
    }

    /// What happened to the alerts raised so far.
    #[must_use]
    pub fn stats(&self) -> AlertDeliveryStats {
        self.shared.counters.snapshot()
    }

    /// Whether a webhook is configured (otherwise alerts go to the log only).
    #[must_use]
    pub fn has_webhook(&self) -> bool {
        self.shared.config.webhook_url.is_some()
    }

    /// The webhook's scheme and host, safe to print.
    #[must_use]
    pub fn webhook_display(&self) -> Option<String> {
        self.shared.config.webhook_display()
    }

    /// Sends `alert` to the webhook now, waiting for the answer (retries included), bypassing
    /// the queue, the de-duplication and the rate limit: for `vigil alerts test` and the
    /// sign-off, which must know whether delivery works. The alert is logged as well.
    ///
    /// # Errors
    /// [`DeliveryError`] when no webhook is configured or delivery failed, with the attempts
    /// made and the last problem.
    pub async fn send_now(&self, alert: &Alert) -> Result<DeliveryReport, DeliveryError> {
        TracingAlerts.raise(alert);
        Counters::bump(&self.shared.counters.raised);
        let now = self.shared.clock.now();
        let result = webhook::deliver(&self.shared, alert, now).await;
        match &result {
            Ok(_) => self.shared.count_delivered(),
            Err(_) => self.shared.count_failed(),
        }
        result
    }
}

/// The de-duplication key of an alert: kind, execution and user.
#[must_use]
pub fn dedupe_key(alert: &Alert) -> String {
    let id = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    format!(
        "{}:{}:{}",
        alert.kind.as_str(),
        id(alert.execution_id.map(|e| e.to_string())),
        id(alert.user_id.map(|u| u.to_string()))
    )
}

impl Alerts for AlertDelivery {
    fn raise(&self, alert: &Alert) {
        // The log first: whatever happens to the webhook, the alert is on record.
        TracingAlerts.raise(alert);
        Counters::bump(&self.shared.counters.raised);
        if self.shared.config.webhook_url.is_none() {
            return;
        }
        let now = self.shared.clock.now();
        let key = dedupe_key(alert);
        let admitted = self
            .shared
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(
                &key,
                now,
                self.shared.config.dedupe_window,
                self.shared.config.rate_limit_per_minute,
            );
        match admitted {
            Ok(()) => {}
            Err(Turned::Duplicate) => {
                Counters::bump(&self.shared.counters.deduplicated);
                tracing::debug!(key, "alert already sent within the de-duplication window");
                return;
            }
            Err(Turned::RateLimited) => {
                Counters::bump(&self.shared.counters.rate_limited);
                tracing::warn!(
                    key,
                    limit_per_minute = self.shared.config.rate_limit_per_minute,
                    "alert not sent to the webhook: the alert rate limit is reached (it is in the log)"
                );
                return;
            }
        }
        match self.queue.try_send(Queued {
            alert: alert.clone(),
            raised_at: now,
        }) {
            Ok(()) => Counters::bump(&self.shared.counters.queued),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.count_dropped();
                tracing::warn!(
                    key,
                    capacity = self.shared.config.queue_capacity,
                    dropped_total = self.shared.counters.dropped.load(Ordering::Relaxed),
                    "alert queue full: alert dropped from webhook delivery (it is in the log); \
                     check that the webhook answers"
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.shared.count_dropped();
                tracing::warn!(
                    key,
                    "alert delivery has stopped: alert dropped from webhook delivery (it is in the log)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn t(seconds: i64) -> Timestamp {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn gate_deduplicates_within_the_window_and_forgets_after_it() {
        let mut gate = Gate::default();
        let window = Duration::from_secs(300);
        assert!(gate.admit("a", t(0), window, 100).is_ok());
        assert!(matches!(
            gate.admit("a", t(299), window, 100),
            Err(Turned::Duplicate)
        ));
        assert!(gate.admit("b", t(299), window, 100).is_ok());
        assert!(gate.admit("a", t(300), window, 100).is_ok());
    }

    #[test]
    fn gate_rate_limits_per_sliding_minute() {
        let mut gate = Gate::default();
        let window = Duration::ZERO;
        for i in 0..3 {
            assert!(gate.admit(&format!("k{i}"), t(i), window, 3).is_ok());
        }
        assert!(matches!(
            gate.admit("k9", t(10), window, 3),
            Err(Turned::RateLimited)
        ));
        // 60 seconds after the first one, a place frees up.
        assert!(gate.admit("k9", t(60), window, 3).is_ok());
    }

    #[test]
    fn gate_memory_is_bounded() {
        let mut gate = Gate::default();
        let window = Duration::from_secs(86_400);
        for i in 0..(DEDUPE_KEYS_MAX + 10) {
            gate.admit(&format!("k{i}"), t(0), window, 600).ok();
            gate.sent_in_last_minute.clear();
        }
        assert!(gate.last_sent.len() <= DEDUPE_KEYS_MAX);
    }

    #[test]
    fn config_reports_every_problem_and_hides_the_webhook_path() {
        let bad = AlertDeliveryConfig {
            webhook_url: Some(SecretString::from("ftp://hooks.example/T0K3N".to_owned())),
            rate_limit_per_minute: 0,
            queue_capacity: 0,
            max_attempts: 0,
            ..AlertDeliveryConfig::default()
        };
        let problems = bad.validate().unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "alerts.webhook_url",
                "alerts.rate_limit_per_minute",
                "alerts.queue_capacity",
                "alerts.max_attempts"
            ]
        );
        let text = format!("{problems:?} {bad:?}");
        assert!(!text.contains("T0K3N"), "{text}");
        let good = AlertDeliveryConfig {
            webhook_url: Some(SecretString::from(
                "https://hooks.slack.com/services/T0K3N".to_owned(),
            )),
            ..AlertDeliveryConfig::default()
        };
        good.validate().unwrap();
        assert_eq!(
            good.webhook_display().as_deref(),
            Some("https://hooks.slack.com/…")
        );
        assert!(!format!("{good:?}").contains("T0K3N"));
    }
}
