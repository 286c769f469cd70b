//! One alert to the webhook: the JSON payload and the POST with bounded, jittered retries.
//!
//! The payload is generic JSON whose `text` field is what Slack (and Discord's Slack-compatible
//! endpoint) shows, plus structured fields for anything that routes on them. Retries follow
//! STYLE rule 12: at most `max_attempts`, within `delivery_deadline`, each attempt with its own
//! timeout; only answers that may succeed later (connection errors, timeouts, 408, 429, 5xx) are
//! retried.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use secrecy::ExposeSecret;
use serde::Serialize;
use vigil_core::Timestamp;

use super::{redact_url, Shared};
use vigil_core::alert::{Alert, AlertSeverity};

/// The JSON body POSTed for one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookPayload {
    /// One line for chat tools (Slack's and Discord's `text`).
    pub text: String,
    /// The deployment (`alerts.source`).
    pub source: String,
    /// The alert kind's stable name (`outcome_unknown`, `kill_switch_toggled`, …).
    pub kind: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// What happened and what to do.
    pub message: String,
    /// The execution concerned, if any.
    pub execution_id: Option<String>,
    /// The user concerned, if any.
    pub user_id: Option<String>,
    /// When the alert was raised (RFC 3339, UTC).
    pub raised_at: String,
    /// The de-duplication key (kind, execution, user).
    pub dedupe_key: String,
}

impl WebhookPayload {
    /// The payload for `alert`, raised at `raised_at` by the deployment `source`.
    #[must_use]
    pub fn new(alert: &Alert, raised_at: Timestamp, source: &str) -> WebhookPayload {
        let severity = match alert.severity {
            AlertSeverity::Critical => "critical",
            AlertSeverity::Warning => "warning",
        };
        WebhookPayload {
            text: format!(
                "[{}] {source}: {} — {}",
                severity.to_ascii_uppercase(),
                alert.kind.as_str(),
                alert.message
            ),
            source: source.to_owned(),
            kind: alert.kind.as_str().to_owned(),
            severity: severity.to_owned(),
            message: alert.message.clone(),
            execution_id: alert.execution_id.map(|e| e.to_string()),
            user_id: alert.user_id.map(|u| u.to_string()),
            raised_at: raised_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            dedupe_key: super::dedupe_key(alert),
        }
    }
}

/// A delivered alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// How many attempts it took (1 when the first one succeeded).
    pub attempts: u32,
    /// The webhook's HTTP status.
    pub status: u16,
    /// The webhook, as scheme and host only.
    pub webhook: String,
}

/// An alert that could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the alert was not delivered to {webhook} after {attempts} attempt(s): {detail}; {hint}")]
pub struct DeliveryError {
    /// How many attempts were made.
    pub attempts: u32,
    /// The last problem.
    pub detail: String,
    /// The webhook, as scheme and host only (or `(none)`).
    pub webhook: String,
    /// What to check.
    pub hint: &'static str,
}

/// One failed attempt, and whether another may succeed.
#[derive(Debug)]
struct AttemptError {
    detail: String,
    retryable: bool,
}

/// POSTs `alert` to the configured webhook with retries; counts retries on `shared`.
pub(crate) async fn deliver(
    shared: &Shared,
    alert: &Alert,
    raised_at: Timestamp,
) -> Result<DeliveryReport, DeliveryError> {
    let config = &shared.config;
    let Some(url) = config.webhook_url.as_ref() else {
        return Err(DeliveryError {
            attempts: 0,
            detail: "no webhook is configured".to_owned(),
            webhook: "(none)".to_owned(),
            hint: "set alerts.webhook_url (VIGIL_ALERTS_WEBHOOK_URL) to receive alerts outside the log",
        });
    };
    let webhook = redact_url(url.expose_secret());
    let payload = WebhookPayload::new(alert, raised_at, &config.source);
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let attempt = || async {
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        post_once(&shared.http, url.expose_secret(), &payload).await
    };
    let backoff = ExponentialBuilder::new()
        .with_min_delay(config.backoff_min)
        .with_max_delay(config.backoff_max)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .with_jitter_seed(config.jitter_seed)
        .with_total_delay(Some(config.delivery_deadline));
    let retried = attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &AttemptError| e.retryable)
        .notify(|e: &AttemptError, after: Duration| {
            shared.count_retry();
            tracing::info!(
                webhook = %webhook,
                kind = alert.kind.as_str(),
                retry_in_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                "alert delivery failed ({}); retrying",
                e.detail
            );
        });
    let outcome = tokio::time::timeout(config.delivery_deadline, retried).await;
    let made = attempts.load(std::sync::atomic::Ordering::Relaxed);
    let failed = |detail: String| {
        tracing::error!(
            webhook = %webhook,
            kind = alert.kind.as_str(),
            attempts = made,
            "alert NOT delivered to the webhook: {detail} (the alert is in the log)"
        );
        DeliveryError {
            attempts: made,
            detail,
            webhook: webhook.clone(),
            hint: "check that the webhook URL is right and that the receiver answers 2xx",
        }
    };
    match outcome {
        Ok(Ok(status)) => Ok(DeliveryReport {
            attempts: made,
            status,
            webhook,
        }),
        Ok(Err(e)) => Err(failed(e.detail)),
        Err(_) => Err(failed(format!(
            "no success within the delivery deadline of {} s",
            config.delivery_deadline.as_secs()
        ))),
    }
}

async fn post_once(
    http: &reqwest::Client,
    url: &str,
    payload: &WebhookPayload,
) -> Result<u16, AttemptError> {
    let answer = http.post(url).json(payload).send().await.map_err(|e| {
        // The error text may contain the URL (with its token): describe the failure without it.
        let what = if e.is_timeout() {
            "the request timed out"
        } else if e.is_connect() {
            "the connection failed"
        } else {
            "the request failed"
        };
        AttemptError {
            detail: what.to_owned(),
            retryable: true,
        }
    })?;
    let status = answer.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let retryable = status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT;
    Err(AttemptError {
        detail: format!("the webhook answered HTTP {}", status.as_u16()),
        retryable,
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use vigil_core::{ExecutionId, UserId};

    use super::*;
    use vigil_core::alert::AlertKind;

    #[test]
    fn payload_has_a_chat_text_and_structured_fields() {
        let (e, u) = (ExecutionId::new(), UserId::new());
        let alert = Alert::execution(
            AlertKind::OutcomeUnknown,
            AlertSeverity::Warning,
            e,
            u,
            "order outcome unknown",
        );
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let p = WebhookPayload::new(&alert, at, "vigil-paper");
        assert_eq!(
            p.text,
            "[WARNING] vigil-paper: outcome_unknown — order outcome unknown"
        );
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "outcome_unknown");
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["execution_id"], e.to_string());
        assert_eq!(json["user_id"], u.to_string());
        assert_eq!(json["raised_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(json["dedupe_key"], format!("outcome_unknown:{e}:{u}"));
    }
}
