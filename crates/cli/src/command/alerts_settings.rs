//! The `[alerts]` and `[dead_mans_switch]` configuration keys, parsed in the same one pass as
//! every other key (`config.rs` lists them; this module turns their text into settings and
//! reports every problem with its source).
//!
//! `alerts.webhook_url` is treated as a secret (chat webhooks carry their token in the path): it
//! may come from the file, from `VIGIL_ALERTS_WEBHOOK_URL`, or from the file named by
//! `VIGIL_ALERTS_WEBHOOK_URL_FILE`, and an invalid value is reported without being echoed.

use std::{collections::BTreeMap, time::Duration};

use secrecy::SecretString;
use vigil_alerting::{check_webhook_url, redact_url, AlertDeliveryConfig};

use crate::config::{parse, ConfigProblem, Key, Source, ValueKind};

/// The `[alerts]` and `[dead_mans_switch]` keys (defaults come from the engine's settings).
pub(crate) const KEYS: &[Key] = &[
    Key {
        path: "alerts.webhook_url",
        kind: ValueKind::Text,
        default: None,
        expected: "an http:// or https:// URL with a host (a Slack/Discord-compatible webhook)",
    },
    Key {
        path: "alerts.dedupe_seconds",
        kind: ValueKind::Integer,
        default: None,
        expected: "seconds from 0 to 86400 (the same alert within it is sent once)",
    },
    Key {
        path: "alerts.rate_limit_per_minute",
        kind: ValueKind::Integer,
        default: None,
        expected: "an integer from 1 to 600",
    },
    Key {
        path: "alerts.queue_capacity",
        kind: ValueKind::Integer,
        default: None,
        expected: "an integer from 1 to 10000",
    },
    Key {
        path: "alerts.max_attempts",
        kind: ValueKind::Integer,
        default: None,
        expected: "an integer from 1 to 20",
    },
    Key {
        path: "alerts.attempt_timeout_ms",
        kind: ValueKind::Integer,
        default: None,
        expected: "milliseconds from 100 to 60000",
    },
    Key {
        path: "alerts.delivery_deadline_seconds",
        kind: ValueKind::Integer,
        default: None,
        expected: "seconds from 1 to 600, at least one attempt's timeout",
    },
    Key {
        path: "alerts.source",
        kind: ValueKind::Text,
        default: None,
        expected: "a deployment name of 1 to 64 characters",
    },
    Key {
        path: "dead_mans_switch.enabled",
        kind: ValueKind::Bool,
        default: None,
        expected: "true or false",
    },
    Key {
        path: "dead_mans_switch.interval_seconds",
        kind: ValueKind::Integer,
        default: None,
        expected: "seconds from 1 to 150, at most half the expiry",
    },
    Key {
        path: "dead_mans_switch.expiry_seconds",
        kind: ValueKind::Integer,
        default: None,
        expected: "seconds from 10 to 300 (Bitvavo's limits)",
    },
];

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

    /// Parses the `alerts.*` keys taken from the layers (`take` removes a key's value).
    pub(crate) fn from_layers(
        problems: &mut Vec<ConfigProblem>,
        take: &mut dyn FnMut(&str) -> Option<(String, Source)>,
        env: &BTreeMap<String, String>,
    ) -> AlertsSettings {
        let defaults = AlertDeliveryConfig::default();
        let webhook = take("alerts.webhook_url").or_else(|| {
            let path = env.get(WEBHOOK_URL_FILE_VAR)?;
            match std::fs::read_to_string(path) {
                Ok(text) => Some((
                    text.trim().to_owned(),
                    Source::Env(WEBHOOK_URL_FILE_VAR.into()),
                )),
                Err(e) => {
                    problems.push(ConfigProblem {
                        key: WEBHOOK_URL_FILE_VAR.into(),
                        source: Source::Env(WEBHOOK_URL_FILE_VAR.into()),
                        message: format!("cannot read the webhook URL file: {e}"),
                    });
                    None
                }
            }
        });
        let webhook_url = webhook.and_then(|(text, source)| {
            let text = text.trim().to_owned();
            if text.is_empty() {
                return None;
            }
            match check_webhook_url(&text) {
                Ok(()) => Some(SecretString::from(text)),
                Err(e) => {
                    problems.push(ConfigProblem {
                        key: "alerts.webhook_url".into(),
                        source,
                        message: format!("got {}, expected {}", redact_url(&text), e.expected),
                    });
                    None
                }
            }
        });
        let number = |text: &str, min: u64, max: u64| {
            text.parse::<u64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or(())
        };
        let dedupe_window = parse(
            problems,
            take("alerts.dedupe_seconds"),
            "alerts.dedupe_seconds",
            |s| number(s, 0, 86_400).map(Duration::from_secs),
        )
        .unwrap_or(defaults.dedupe_window);
        let rate_limit_per_minute = parse(
            problems,
            take("alerts.rate_limit_per_minute"),
            "alerts.rate_limit_per_minute",
            |s| number(s, 1, 600).and_then(|v| u32::try_from(v).map_err(|_| ())),
        )
        .unwrap_or(defaults.rate_limit_per_minute);
        let queue_capacity = parse(
            problems,
            take("alerts.queue_capacity"),
            "alerts.queue_capacity",
            |s| number(s, 1, 10_000).and_then(|v| usize::try_from(v).map_err(|_| ())),
        )
        .unwrap_or(defaults.queue_capacity);
        let max_attempts = parse(
            problems,
            take("alerts.max_attempts"),
            "alerts.max_attempts",
            |s| number(s, 1, 20).and_then(|v| u32::try_from(v).map_err(|_| ())),
        )
        .unwrap_or(defaults.max_attempts);
        let attempt_timeout = parse(
            problems,
            take("alerts.attempt_timeout_ms"),
            "alerts.attempt_timeout_ms",
            |s| number(s, 100, 60_000).map(Duration::from_millis),
        )
        .unwrap_or(defaults.attempt_timeout);
        let deadline_given = take("alerts.delivery_deadline_seconds");
        // The cross-field rule below blames the deadline: where it came from, if anywhere.
        let deadline_source = deadline_given
            .as_ref()
            .map_or(Source::Default, |(_, source)| source.clone());
        let delivery_deadline = parse(
            problems,
            deadline_given,
            "alerts.delivery_deadline_seconds",
            |s| number(s, 1, 600).map(Duration::from_secs),
        )
        .unwrap_or(defaults.delivery_deadline);
        let source = parse(problems, take("alerts.source"), "alerts.source", |s| {
            (!s.is_empty() && s.len() <= 64)
                .then(|| s.to_owned())
                .ok_or(())
        })
        .unwrap_or(defaults.source);
        let settings = AlertsSettings {
            webhook_url,
            dedupe_window,
            rate_limit_per_minute,
            queue_capacity,
            max_attempts,
            attempt_timeout,
            delivery_deadline,
            source,
        };
        // Cross-field rules (the deadline must allow one attempt) come from the engine's check.
        if let Err(found) = settings.delivery_config().validate() {
            for e in found
                .into_iter()
                .filter(|e| e.field == "alerts.delivery_deadline_seconds")
            {
                problems.push(ConfigProblem {
                    key: e.field,
                    source: deadline_source.clone(),
                    message: format!("got {}, expected {}", e.value, e.expected),
                });
            }
        }
        settings
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
    /// Parses the `dead_mans_switch.*` keys.
    pub(crate) fn from_layers(
        problems: &mut Vec<ConfigProblem>,
        take: &mut dyn FnMut(&str) -> Option<(String, Source)>,
    ) -> DeadMansSwitchSettings {
        let enabled = parse(
            problems,
            take("dead_mans_switch.enabled"),
            "dead_mans_switch.enabled",
            |s| s.parse::<bool>().map_err(|_| ()),
        )
        .unwrap_or(true);
        let seconds = |s: &str, min: u64, max: u64| {
            s.parse::<u64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .map(Duration::from_secs)
                .ok_or(())
        };
        let interval = parse(
            problems,
            take("dead_mans_switch.interval_seconds"),
            "dead_mans_switch.interval_seconds",
            |s| seconds(s, 1, 150),
        )
        .unwrap_or(Duration::from_secs(20));
        let expiry = parse(
            problems,
            take("dead_mans_switch.expiry_seconds"),
            "dead_mans_switch.expiry_seconds",
            |s| seconds(s, 10, 300),
        )
        .unwrap_or(Duration::from_secs(60));
        if interval.saturating_mul(2) > expiry {
            problems.push(ConfigProblem {
                key: "dead_mans_switch.interval_seconds".into(),
                source: Source::Default,
                message: format!(
                    "got {} s with an expiry of {} s, expected at most half the expiry (one failed re-arm must not let it run out)",
                    interval.as_secs(),
                    expiry.as_secs()
                ),
            });
        }
        DeadMansSwitchSettings {
            enabled,
            interval,
            expiry,
        }
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
