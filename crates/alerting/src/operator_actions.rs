//! Alerts for operator actions: a watch over `audit_log` that raises an alert when a kill switch
//! is toggled, a policy changes, or the cap stability window is overridden.
//!
//! Why a watch and not a call in each command: the same change can come from the CLI, the HTTP
//! API or a script against the database, from any machine. Every one of them writes `audit_log`
//! (I11), so watching it catches them all, once, in the process that runs `vigil run`.
//!
//! Entries are read newest first in bounded pages; the watch remembers the ids it has seen
//! within a grace period, so entries written with a slightly older timestamp by another machine
//! are still alerted once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::TimeDelta;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vigil_core::{Clock, Timestamp};
use vigil_store::{AuditEntry, AuditFilter, Store, StoreError};

use vigil_core::alert::{Alert, AlertKind, AlertSeverity, Alerts};

/// How far back, before the newest entry seen, entries are still accepted (clock differences
/// between machines writing the same database).
const GRACE: TimeDelta = TimeDelta::seconds(120);
/// The most entries read per poll.
const PAGE: u32 = 200;

/// Raises alerts for new kill-switch, policy and override entries in `audit_log`.
#[derive(Debug)]
pub struct OperatorActionWatch {
    store: Store,
    alerts: Arc<dyn Alerts>,
    clock: Arc<dyn Clock>,
    watermark: Timestamp,
    seen: HashMap<Uuid, Timestamp>,
}

impl OperatorActionWatch {
    /// A watch that alerts on entries written from now on: what `audit_log` already holds is
    /// read once and marked as seen, never replayed.
    ///
    /// # Errors
    /// [`StoreError`] when `audit_log` cannot be read.
    pub async fn start(
        store: Store,
        alerts: Arc<dyn Alerts>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let mut watch = OperatorActionWatch {
            watermark: clock.now(),
            store,
            alerts,
            clock,
            seen: HashMap::new(),
        };
        for entry in watch.page().await? {
            watch.watermark = watch.watermark.max(entry.at);
            watch.seen.insert(entry.id, entry.at);
        }
        Ok(watch)
    }

    async fn page(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.store
            .audit_list(&AuditFilter {
                limit: PAGE,
                ..AuditFilter::default()
            })
            .await
    }

    /// Reads new entries once and raises an alert for each operator action among them.
    /// Returns how many alerts were raised.
    ///
    /// # Errors
    /// [`StoreError`] when `audit_log` cannot be read (the next poll tries again).
    pub async fn poll_once(&mut self) -> Result<usize, StoreError> {
        let entries = self.page().await?;
        let floor = self.watermark - GRACE;
        let mut fresh: Vec<AuditEntry> = entries
            .into_iter()
            .filter(|e| e.at >= floor && !self.seen.contains_key(&e.id))
            .collect();
        fresh.sort_by_key(|e| (e.at, e.id));
        let mut raised = 0;
        for entry in &fresh {
            self.seen.insert(entry.id, entry.at);
            self.watermark = self.watermark.max(entry.at);
            if let Some(alert) = alert_for(entry) {
                self.alerts.raise(&alert);
                raised += 1;
            }
        }
        let floor = self.watermark - GRACE;
        self.seen.retain(|_, at| *at >= floor);
        Ok(raised)
    }

    /// Polls every `interval` until `shutdown` is cancelled. A failed poll is logged and tried
    /// again at the next tick.
    pub async fn run(mut self, interval: Duration, shutdown: CancellationToken) {
        tracing::info!(
            interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            since = %self.watermark,
            "watching audit_log for operator actions"
        );
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, "cannot read audit_log for operator-action alerts; trying again");
            }
            // Keep the watermark moving on a quiet log, so the grace window stays small.
            self.watermark = self.watermark.max(self.clock.now() - GRACE);
        }
    }
}

/// The alert an audit entry calls for, if any.
#[must_use]
pub(super) fn alert_for(entry: &AuditEntry) -> Option<Alert> {
    let reason = entry
        .reason
        .as_deref()
        .map(|r| format!(" (reason: {r})"))
        .unwrap_or_default();
    let (kind, severity, what) = match entry.action.as_str() {
        "kill_switch.set" => {
            let on = entry.after.as_ref().and_then(serde_json::Value::as_bool)?;
            let was = entry.before.as_ref().and_then(serde_json::Value::as_bool);
            if was == Some(on) {
                return None;
            }
            let (severity, what) = if on {
                (
                    AlertSeverity::Critical,
                    "kill switch turned ON: no orders will be placed",
                )
            } else {
                (
                    AlertSeverity::Warning,
                    "kill switch turned off: trading may resume",
                )
            };
            (AlertKind::KillSwitchToggled, severity, what.to_owned())
        }
        "policy.set" => {
            let changes = policy_changes(entry.before.as_ref(), entry.after.as_ref());
            if changes.is_empty() {
                return None;
            }
            (
                AlertKind::PolicyChanged,
                AlertSeverity::Warning,
                format!("policy changed: {}", changes.join(", ")),
            )
        }
        vigil_store::STABILITY_OVERRIDE_ACTION => (
            AlertKind::PolicyChanged,
            AlertSeverity::Critical,
            "a cap was raised with the stability window OVERRIDDEN".to_owned(),
        ),
        _ => return None,
    };
    Some(Alert {
        kind,
        severity,
        execution_id: None,
        user_id: user_of(&entry.target),
        message: format!(
            "{what} on {} by {} at {}{reason}",
            entry.target,
            entry.actor,
            entry.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

/// `field: before → after` for each policy field that changed.
fn policy_changes(
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> Vec<String> {
    let Some(after) = after.and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    let before = before.and_then(serde_json::Value::as_object);
    after
        .iter()
        .filter_map(|(field, new)| {
            let old = before.and_then(|b| b.get(field));
            (old != Some(new)).then(|| {
                let old = old.map_or_else(|| "(unset)".to_owned(), compact);
                format!("{field}: {old} → {}", compact(new))
            })
        })
        .collect()
}

fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The user of a `user:<id>` target.
fn user_of(target: &str) -> Option<vigil_core::UserId> {
    target
        .strip_prefix("user:")
        .and_then(|id| vigil_core::UserId::parse(id).ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vigil_store::Attribution;

    use super::*;

    fn entry(action: &str, before: serde_json::Value, after: serde_json::Value) -> AuditEntry {
        let by = Attribution::new(
            "alice",
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .because("drill");
        AuditEntry::new(&by, action, "global", Some(before), Some(after))
    }

    #[test]
    fn kill_switch_on_is_critical_and_a_no_op_is_silent() {
        let on = alert_for(&entry("kill_switch.set", json!(false), json!(true))).unwrap();
        assert_eq!(on.kind, AlertKind::KillSwitchToggled);
        assert_eq!(on.severity, AlertSeverity::Critical);
        assert!(on.message.contains("ON"), "{}", on.message);
        assert!(on.message.contains("by alice"), "{}", on.message);
        assert!(on.message.contains("reason: drill"), "{}", on.message);
        let off = alert_for(&entry("kill_switch.set", json!(true), json!(false))).unwrap();
        assert_eq!(off.severity, AlertSeverity::Warning);
        assert!(alert_for(&entry("kill_switch.set", json!(true), json!(true))).is_none());
    }

    #[test]
    fn policy_change_names_each_changed_field() {
        let alert = alert_for(&entry(
            "policy.set",
            json!({"order_notional_max": "25", "cooldown_minutes": 5}),
            json!({"order_notional_max": "50", "cooldown_minutes": 5}),
        ))
        .unwrap();
        assert_eq!(alert.kind, AlertKind::PolicyChanged);
        assert!(
            alert.message.contains("order_notional_max: 25 → 50"),
            "{}",
            alert.message
        );
        assert!(!alert.message.contains("cooldown"), "{}", alert.message);
        assert!(alert_for(&entry("allowlist.add", json!(null), json!("BTC-EUR"))).is_none());
    }
}
