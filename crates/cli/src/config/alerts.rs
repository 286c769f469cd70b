//! The `[alerts]` and `[dead_mans_switch]` sections, built from their keys in the same one pass
//! as every other section (the keys are in the table in `keys.rs`; this module turns their
//! values into settings and adds the rules that span two keys).
//!
//! `alerts.webhook_url` is treated as a secret (chat webhooks carry their token in the path): it
//! may come from the file, from `VIGIL_ALERTS_WEBHOOK_URL`, or from the file named by
//! `VIGIL_ALERTS_WEBHOOK_URL_FILE`, and an invalid value is reported without being echoed.

use std::{collections::BTreeMap, time::Duration};

use secrecy::SecretString;
use vigil_alerting::AlertDeliveryConfig;

use super::{
    keys::{
        ALERT_SOURCE, ATTEMPT_TIMEOUT, DEDUPE, DELIVERY_DEADLINE, MAX_ATTEMPTS, QUEUE_CAPACITY,
        RATE_LIMIT, SWITCH_ENABLED, SWITCH_EXPIRY, SWITCH_INTERVAL, WEBHOOK_URL,
    },
    layers::{Sourced, Values},
    Source,
};

/// The variable naming a file that holds the webhook URL.
pub(crate) const WEBHOOK_URL_FILE_VAR: &str = "VIGIL_ALERTS_WEBHOOK_URL_FILE";

/// Where alerts go and how they are bounded.
#[derive(Debug, Clone)]
pub(crate) struct AlertsSettings {
    webhook_url: Option<SecretString>,
    dedupe_window: Duration,
    rate_limit_per_minute: u32,
    queue_capacity: usize,
    max_attempts: u32,
    attempt_timeout: Duration,
    delivery_deadline: Duration,
    source: String,
}

impl AlertsSettings {
    /// The engine's delivery settings.
    pub(crate) fn delivery_config(&self) -> AlertDeliveryConfig {
        AlertDeliveryConfig {
            webhook_url: self.webhook_url.clone(),
            dedupe_window: self.dedupe_window,
            rate_limit_per_minute: self.rate_limit_per_minute,
            queue_capacity: self.queue_capacity,
            max_attempts: self.max_attempts,
            attempt_timeout: self.attempt_timeout,
            delivery_deadline: self.delivery_deadline,
            source: self.source.clone(),
            // Each process its own jitter, so instances do not retry in lock-step.
            jitter_seed: u64::from(std::process::id()),
            ..AlertDeliveryConfig::default()
        }
    }

    /// The `[alerts]` settings. A key no layer set, or one that was refused (a problem), takes
    /// the engine's default, so the rule that spans two keys is still checked.
    pub(super) fn from_values(
        values: &mut Values,
        env: &BTreeMap<String, String>,
    ) -> AlertsSettings {
        let defaults = AlertDeliveryConfig::default();
        let webhook = values
            .take(&WEBHOOK_URL)
            .or_else(|| webhook_from_file(values, env));
        // The cross-field rule below blames the deadline: where it came from, if anywhere.
        let deadline_source = values
            .source_of(&DELIVERY_DEADLINE)
            .cloned()
            .unwrap_or(Source::Default);
        let settings = AlertsSettings {
            webhook_url: webhook
                .and_then(|v| values.parse(&WEBHOOK_URL, v))
                .flatten(),
            dedupe_window: values.get_or(&DEDUPE, defaults.dedupe_window),
            rate_limit_per_minute: values.get_or(&RATE_LIMIT, defaults.rate_limit_per_minute),
            queue_capacity: values.get_or(&QUEUE_CAPACITY, defaults.queue_capacity),
            max_attempts: values.get_or(&MAX_ATTEMPTS, defaults.max_attempts),
            attempt_timeout: values.get_or(&ATTEMPT_TIMEOUT, defaults.attempt_timeout),
            delivery_deadline: values.get_or(&DELIVERY_DEADLINE, defaults.delivery_deadline),
            source: values.get_or(&ALERT_SOURCE, defaults.source),
        };
        // Cross-field rules (the deadline must allow one attempt) come from the engine's check.
        if let Err(found) = settings.delivery_config().validate() {
            for e in found
                .into_iter()
                .filter(|e| e.field == DELIVERY_DEADLINE.path)
            {
                let message = format!("got {}, expected {}", e.value, e.expected);
                values.problem(e.field, deadline_source.clone(), message);
            }
        }
        settings
    }
}

/// The webhook URL from the file named by [`WEBHOOK_URL_FILE_VAR`], when no layer set it.
fn webhook_from_file(values: &mut Values, env: &BTreeMap<String, String>) -> Option<Sourced> {
    let path = env.get(WEBHOOK_URL_FILE_VAR)?;
    let source = Source::Env(WEBHOOK_URL_FILE_VAR.into());
    match std::fs::read_to_string(path) {
        Ok(text) => Some(Sourced {
            text: text.trim().to_owned(),
            source,
        }),
        Err(e) => {
            let message = format!("cannot read the webhook URL file: {e}");
            values.problem(WEBHOOK_URL_FILE_VAR, source, message);
            None
        }
    }
}

/// The exchange-side dead man's switch (`cancelOrdersAfter`) that `vigil run` keeps armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadMansSwitchSettings {
    /// Whether `vigil run` arms it (live trading; paper trading too, against the simulator).
    pub(crate) enabled: bool,
    /// How often it is re-armed.
    pub(crate) interval: Duration,
    /// How long after the last re-arm the exchange cancels every open order.
    pub(crate) expiry: Duration,
}

impl DeadMansSwitchSettings {
    /// The `[dead_mans_switch]` settings (`None` when a value was refused: a problem). A refused
    /// interval or expiry is checked against the other as its default.
    pub(super) fn from_values(values: &mut Values) -> Option<DeadMansSwitchSettings> {
        let enabled = values.get(&SWITCH_ENABLED);
        let interval = values
            .get(&SWITCH_INTERVAL)
            .or_else(|| SWITCH_INTERVAL.default_value())?;
        let expiry = values
            .get(&SWITCH_EXPIRY)
            .or_else(|| SWITCH_EXPIRY.default_value())?;
        if interval.saturating_mul(2) > expiry {
            let message = format!(
                "got {} s with an expiry of {} s, expected at most half the expiry (one failed re-arm must not let it run out)",
                interval.as_secs(),
                expiry.as_secs()
            );
            values.problem(SWITCH_INTERVAL.path, Source::Default, message);
        }
        Some(DeadMansSwitchSettings {
            enabled: enabled?,
            interval,
            expiry,
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use crate::config::{Config, FlagLayer};

    fn load(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(FlagLayer::default(), &env)
    }

    #[test]
    fn defaults_are_the_engine_s_and_the_switch_is_on() {
        let config = load(&[]).unwrap();
        let delivery = config.alerts.delivery_config();
        assert!(delivery.webhook_url.is_none());
        assert_eq!(delivery.dedupe_window.as_secs(), 300);
        assert!(config.dead_mans_switch.enabled);
        assert_eq!(config.dead_mans_switch.interval.as_secs(), 20);
        assert_eq!(config.dead_mans_switch.expiry.as_secs(), 60);
    }

    #[test]
    fn the_webhook_may_come_from_a_file_and_is_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hook");
        std::fs::write(&file, "https://hooks.example/services/T0K3N\n").unwrap();
        let config = load(&[(super::WEBHOOK_URL_FILE_VAR, file.to_str().unwrap())]).unwrap();
        let delivery = config.alerts.delivery_config();
        assert_eq!(
            delivery.webhook_url.unwrap().expose_secret(),
            "https://hooks.example/services/T0K3N"
        );
        let err = load(&[("VIGIL_ALERTS_WEBHOOK_URL", "hooks.example/T0K3N")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("alerts.webhook_url"), "{text}");
        assert!(!text.contains("T0K3N"), "{text}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = load(&[
            ("VIGIL_ALERTS_DEDUPE_SECONDS", "-1"),
            ("VIGIL_ALERTS_QUEUE_CAPACITY", "0"),
            ("VIGIL_DEAD_MANS_SWITCH_INTERVAL_SECONDS", "40"),
            ("VIGIL_DEAD_MANS_SWITCH_EXPIRY_SECONDS", "60"),
        ])
        .unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alerts.dedupe_seconds",
                "alerts.queue_capacity",
                "dead_mans_switch.interval_seconds"
            ]
        );
    }
}
