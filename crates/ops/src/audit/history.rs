//! A user's policy and allowlist as they stood at a past moment, replayed from `audit_log`.
//!
//! Every policy and allowlist change is written to `audit_log` in the same transaction as the
//! change itself (I11), with the value before and after. So the policy at time T is the `after`
//! of the last `policy.set` at or before T (or the `before` of the first one after T), and the
//! allowlist at T is today's allowlist with every later `allowlist.add` / `allowlist.remove`
//! undone.

use std::collections::BTreeSet;

use vigil_core::{Market, Policy, Timestamp, UserId};
use vigil_store::{AuditEntry, Store, StoreError};

use crate::recent;

/// One user's policy and allowlist history.
#[derive(Debug, Clone)]
pub(crate) struct UserHistory {
    policy_now: Policy,
    allowlist_now: BTreeSet<Market>,
    /// `policy.set`, `allowlist.add` and `allowlist.remove` entries, oldest first.
    entries: Vec<AuditEntry>,
    /// The audit page was full: changes older than the oldest entry read are not known.
    pub(crate) truncated: bool,
}

impl UserHistory {
    pub(crate) async fn load(store: &Store, user: UserId) -> Result<UserHistory, StoreError> {
        let policy_now = store.policy_get(user).await?;
        let allowlist_now = store.allowlist_list(user).await?;
        let (entries, truncated) = recent::audit_all(store, &format!("user:{user}")).await?;
        let entries = entries
            .into_iter()
            .filter(|e| {
                matches!(
                    e.action.as_str(),
                    "policy.set" | "allowlist.add" | "allowlist.remove"
                )
            })
            .collect();
        Ok(UserHistory {
            policy_now,
            allowlist_now,
            entries,
            truncated,
        })
    }

    /// The policy in force at `at`.
    pub(crate) fn policy_at(&self, at: Timestamp) -> Policy {
        let policies = self.entries.iter().filter(|e| e.action == "policy.set");
        let read = |v: Option<&serde_json::Value>| {
            v.and_then(|v| serde_json::from_value::<Policy>(v.clone()).ok())
        };
        let mut in_force = None;
        let mut first_after = None;
        for entry in policies {
            if entry.at <= at {
                in_force = read(entry.after.as_ref());
            } else if first_after.is_none() {
                first_after = Some(read(entry.before.as_ref()));
            }
        }
        in_force
            .or(first_after.flatten())
            .unwrap_or_else(|| self.policy_now.clone())
    }

    /// The allowlist in force at `at`.
    pub(crate) fn allowlist_at(&self, at: Timestamp) -> BTreeSet<Market> {
        let mut markets = self.allowlist_now.clone();
        let market = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .and_then(|m| Market::parse(m).ok())
        };
        for entry in self.entries.iter().rev().filter(|e| e.at > at) {
            match entry.action.as_str() {
                "allowlist.add" => {
                    if let Some(m) = market(entry.after.as_ref()) {
                        markets.remove(&m);
                    }
                }
                "allowlist.remove" => {
                    if let Some(m) = market(entry.before.as_ref()) {
                        markets.insert(m);
                    }
                }
                _ => {}
            }
        }
        markets
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;
    use vigil_core::Notional;
    use vigil_store::Attribution;

    use super::*;

    fn t(minutes: i64) -> Timestamp {
        DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap()
    }

    fn entry(
        at: i64,
        action: &str,
        before: serde_json::Value,
        after: serde_json::Value,
    ) -> AuditEntry {
        let by = Attribution::new("op", t(at));
        AuditEntry::new(&by, action, "user:x", Some(before), Some(after))
    }

    #[test]
    fn the_past_is_replayed_from_the_audit_log() {
        let p25 = Policy::default();
        let p50 = Policy {
            order_notional_max: Notional::from_whole(50),
            ..Policy::default()
        };
        let btc = Market::parse("BTC-EUR").unwrap();
        let eth = Market::parse("ETH-EUR").unwrap();
        let history = UserHistory {
            policy_now: p50.clone(),
            allowlist_now: [eth.clone()].into_iter().collect(),
            entries: vec![
                entry(10, "allowlist.add", json!(null), json!("BTC-EUR")),
                entry(
                    20,
                    "policy.set",
                    serde_json::to_value(&p25).unwrap(),
                    serde_json::to_value(&p50).unwrap(),
                ),
                entry(30, "allowlist.add", json!(null), json!("ETH-EUR")),
                entry(40, "allowlist.remove", json!("BTC-EUR"), json!(null)),
            ],
            truncated: false,
        };
        assert_eq!(history.policy_at(t(5)), p25);
        assert_eq!(history.policy_at(t(20)), p50);
        assert_eq!(history.policy_at(t(99)), p50);
        assert!(history.allowlist_at(t(5)).is_empty());
        assert_eq!(
            history.allowlist_at(t(15)),
            [btc.clone()].into_iter().collect()
        );
        assert_eq!(
            history.allowlist_at(t(35)),
            [btc, eth.clone()].into_iter().collect()
        );
        assert_eq!(history.allowlist_at(t(45)), [eth].into_iter().collect());
    }
}
