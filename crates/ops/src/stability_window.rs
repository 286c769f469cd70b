//! The cap stability window: a per-order or daily cap may be RAISED only after a stable day.
//!
//! "Stable" means, over the last 24 hours ([`WINDOW`]): no execution ended `FAILED`, none had an
//! unknown outcome (resolved or not; one still unresolved counts whatever its age), the user
//! existed (a new user's caps have not had a day of operation), and the user's caps did not
//! change (read from `audit_log`, I11). Failures anywhere in the deployment
//! count, not only the user's: they say the exchange or Vigil misbehaved, which is exactly when
//! more money should not be at stake. Lowering a cap is always allowed.
//!
//! An admin may override with a reason; the override is written to `audit_log` twice over: in
//! the reason of the `policy.set` entry itself (same transaction as the change) and as its own
//! [`OVERRIDE_ACTION`] entry, which the alert watch turns into a critical alert.
//!
//! When the store's bounded lists cannot show every execution of the window, the window is
//! reported as unverifiable, which refuses a raise (fail closed).

use std::{fmt, sync::Arc};

use chrono::TimeDelta;
use serde::Serialize;
use vigil_core::{
    Clock, ExecutionId, ExecutionState, Notional, Policy, Timestamp, UserId, ValidationError,
};
use vigil_store::{Attribution, AuditEntry, Store, StoreError, User, STABILITY_OVERRIDE_ACTION};

use crate::recent;

/// How long the deployment must have been stable before a cap may be raised.
pub const WINDOW: TimeDelta = TimeDelta::hours(24);

/// Something in the window that makes it unstable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Instability {
    /// An execution ended `FAILED` in the window.
    FailedExecution {
        /// The execution.
        execution_id: ExecutionId,
        /// Its user.
        user_id: UserId,
        /// When it failed.
        at: Timestamp,
        /// Why.
        failure: Option<String>,
    },
    /// An order call's outcome was unknown (still, or at some point in the window).
    UnknownOutcome {
        /// The execution.
        execution_id: ExecutionId,
        /// Its user.
        user_id: UserId,
        /// When the outcome became unknown.
        at: Timestamp,
        /// Whether the reconciler has resolved it since.
        resolved: bool,
    },
    /// The user's per-order or daily cap changed in the window.
    CapChange {
        /// When.
        at: Timestamp,
        /// Who.
        actor: String,
        /// Which caps, `field before → after`.
        change: String,
    },
    /// The user was created in the window: their caps have not had a day of operation yet
    /// (#18 case 5).
    NewUser {
        /// When the user was created.
        created_at: Timestamp,
    },
    /// The window could not be read completely; the check fails closed.
    Unverifiable {
        /// What could not be read.
        detail: String,
    },
}

impl fmt::Display for Instability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = |t: &Timestamp| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            Instability::FailedExecution {
                execution_id,
                at,
                failure,
                ..
            } => write!(
                f,
                "execution {execution_id} FAILED at {}{}",
                when(at),
                failure
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            Instability::UnknownOutcome {
                execution_id,
                at,
                resolved,
                ..
            } => write!(
                f,
                "execution {execution_id} had an unknown outcome at {}{}",
                when(at),
                if *resolved {
                    " (resolved since)"
                } else {
                    " (STILL unresolved)"
                }
            ),
            Instability::CapChange { at, actor, change } => {
                write!(f, "caps changed at {} by {actor}: {change}", when(at))
            }
            Instability::NewUser { created_at } => write!(
                f,
                "the user was created at {}: their caps have not had 24 hours of operation",
                when(created_at)
            ),
            Instability::Unverifiable { detail } => {
                write!(f, "the window could not be verified: {detail}")
            }
        }
    }
}

/// The window as it stands now, for one user's caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowStatus {
    /// The start of the window (now − 24 h).
    pub window_start: Timestamp,
    /// Now.
    pub now: Timestamp,
    /// What makes it unstable; empty when stable.
    pub instabilities: Vec<Instability>,
}

impl WindowStatus {
    /// Whether a cap may be raised without an override.
    #[must_use]
    pub fn is_stable(&self) -> bool {
        self.instabilities.is_empty()
    }
}

/// A cap that goes up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapRaise {
    /// `order_notional_max` or `daily_notional_max`.
    pub field: &'static str,
    /// The current value.
    pub before: Notional,
    /// The requested value.
    pub after: Notional,
}

impl fmt::Display for CapRaise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.field, self.before, self.after)
    }
}

/// The caps that go up from `before` to `after` (lowering is not a raise).
#[must_use]
pub fn cap_raises(before: &Policy, after: &Policy) -> Vec<CapRaise> {
    let mut raises = Vec::new();
    if after.order_notional_max > before.order_notional_max {
        raises.push(CapRaise {
            field: "order_notional_max",
            before: before.order_notional_max,
            after: after.order_notional_max,
        });
    }
    if after.daily_notional_max > before.daily_notional_max {
        raises.push(CapRaise {
            field: "daily_notional_max",
            before: before.daily_notional_max,
            after: after.daily_notional_max,
        });
    }
    raises
}

/// An admin's override of the window.
#[derive(Debug, Clone)]
pub struct StabilityOverride {
    /// The admin who overrides (must be an admin user).
    pub admin: User,
    /// Why, in their words (required, not blank).
    pub reason: String,
}

/// What a policy change may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapDecision {
    /// No cap goes up: allowed without looking at the window.
    NoRaise,
    /// Caps go up and the window is stable.
    Allowed {
        /// The raises.
        raises: Vec<CapRaise>,
    },
    /// Caps go up although the window is not stable, by an admin's override. Write
    /// [`CapDecision::override_entry`] with the change and put [`CapDecision::audit_reason`] into
    /// the `policy.set` entry.
    Overridden {
        /// The raises.
        raises: Vec<CapRaise>,
        /// What made the window unstable.
        status: WindowStatus,
        /// Who overrode.
        admin: String,
        /// Why.
        reason: String,
    },
}

impl CapDecision {
    /// The reason to record with the `policy.set` entry: the caller's, extended with the
    /// override when there is one.
    #[must_use]
    pub fn audit_reason(&self, reason: Option<&str>) -> Option<String> {
        match self {
            CapDecision::Overridden {
                admin, reason: why, ..
            } => Some(format!(
                "stability window OVERRIDDEN by admin {admin}: {why}"
            )),
            _ => reason.map(str::to_owned),
        }
    }

    /// The audit entry that records an override ([`OVERRIDE_ACTION`] on `user:<id>`, with the
    /// raises and what made the window unstable), to be written in the same transaction as the
    /// policy change (`Store::policy_replace`); `None` for other decisions.
    #[must_use]
    pub fn override_entry(&self, user: UserId, by: &Attribution) -> Option<AuditEntry> {
        let CapDecision::Overridden {
            raises,
            status,
            reason,
            ..
        } = self
        else {
            return None;
        };
        Some(AuditEntry::new(
            &by.clone().because(reason.clone()),
            STABILITY_OVERRIDE_ACTION,
            format!("user:{user}"),
            Some(serde_json::json!({ "instabilities": status.instabilities })),
            Some(serde_json::json!({ "raises": raises })),
        ))
    }
}

/// Why a cap change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CapChangeError {
    /// A cap goes up and the window is not stable.
    #[error(
        "refusing to raise {}: the last 24 hours were not stable ({}). Raise it after a stable day, \
         or, as an admin, pass --override-stability-window --reason TEXT (recorded in the audit log)",
        .raises.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        .status.instabilities.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Refused {
        /// The raises asked for.
        raises: Vec<CapRaise>,
        /// The window.
        status: WindowStatus,
    },
    /// The override was asked for by someone who is not an admin, or without a reason.
    #[error("{0}")]
    InvalidOverride(ValidationError),
    /// The store could not be read.
    #[error("cannot check the stability window: {0}")]
    Store(#[from] StoreError),
}

/// Reads the window from the store.
#[derive(Debug, Clone)]
pub struct StabilityWindow {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl StabilityWindow {
    /// A window over `store`, with now from `clock`.
    #[must_use]
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        StabilityWindow { store, clock }
    }

    /// The window for `user`'s caps: the deployment's failed and unknown-outcome executions and
    /// the user's cap changes in the last 24 hours.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    pub async fn status(&self, user: UserId) -> Result<WindowStatus, StoreError> {
        let now = self.clock.now();
        let window_start = now - WINDOW;
        let mut instabilities = Vec::new();

        // An order call happens within moments of its claim, so executions claimed an hour
        // before the window are the oldest that can have had an outcome become unknown in it.
        let recent =
            recent::executions_since(&self.store, window_start - TimeDelta::hours(1)).await?;
        for detail in &recent.truncated {
            instabilities.push(Instability::Unverifiable {
                detail: detail.clone(),
            });
        }
        for execution in recent.iter() {
            if execution.state == ExecutionState::Failed && execution.updated_at >= window_start {
                instabilities.push(Instability::FailedExecution {
                    execution_id: execution.id,
                    user_id: execution.user_id,
                    at: execution.updated_at,
                    failure: execution.failure.clone(),
                });
            }
            if !execution.state.may_hold_an_order() && execution.state != ExecutionState::Failed {
                continue;
            }
            let events = self.store.execution_events(execution.id).await?;
            if let Some(unknown) = events
                .iter()
                .rev()
                .find(|e| e.event == "outcome_unknown" && e.at >= window_start)
            {
                instabilities.push(Instability::UnknownOutcome {
                    execution_id: execution.id,
                    user_id: execution.user_id,
                    at: unknown.at,
                    resolved: !execution.outcome_unknown,
                });
            }
        }
        // Unresolved unknown outcomes count whatever their age.
        for execution in self
            .store
            .execution_list_unresolved(vigil_store::LIST_LIMIT_MAX)
            .await?
        {
            let listed = instabilities.iter().any(|i| {
                matches!(i, Instability::UnknownOutcome { execution_id, .. } if *execution_id == execution.id)
            });
            if execution.outcome_unknown && !listed {
                instabilities.push(Instability::UnknownOutcome {
                    execution_id: execution.id,
                    user_id: execution.user_id,
                    at: execution.signed_at.unwrap_or(execution.updated_at),
                    resolved: false,
                });
            }
        }

        let created_at = self.store.user_get(user).await?.created_at;
        if created_at > window_start {
            instabilities.push(Instability::NewUser { created_at });
        }
        let (entries, truncated) =
            recent::audit_since(&self.store, &format!("user:{user}"), window_start).await?;
        if truncated {
            instabilities.push(Instability::Unverifiable {
                detail: "the user's audit log has more entries in the window than one page shows"
                    .to_owned(),
            });
        }
        for entry in entries.iter().filter(|e| e.action == "policy.set") {
            if let Some(change) = cap_change(entry) {
                instabilities.push(Instability::CapChange {
                    at: entry.at,
                    actor: entry.actor.clone(),
                    change,
                });
            }
        }
        Ok(WindowStatus {
            window_start,
            now,
            instabilities,
        })
    }

    /// Decides whether `user`'s policy may go from `before` to `after`.
    ///
    /// # Errors
    /// [`CapChangeError::Refused`] when a cap goes up in an unstable window without a valid
    /// override; [`CapChangeError::InvalidOverride`] for an override by a non-admin or without a
    /// reason; [`CapChangeError::Store`] when the window cannot be read.
    pub async fn check_cap_change(
        &self,
        user: UserId,
        before: &Policy,
        after: &Policy,
        override_: Option<&StabilityOverride>,
    ) -> Result<CapDecision, CapChangeError> {
        if let Some(o) = override_ {
            if !o.admin.is_admin {
                return Err(CapChangeError::InvalidOverride(ValidationError::new(
                    "--actor",
                    &o.admin.name,
                    "an admin user to override the stability window (`vigil users list` shows who is admin)",
                )));
            }
            if o.reason.trim().is_empty() {
                return Err(CapChangeError::InvalidOverride(ValidationError::new(
                    "--reason",
                    "",
                    "a reason for overriding the stability window, for the audit log",
                )));
            }
        }
        let raises = cap_raises(before, after);
        if raises.is_empty() {
            return Ok(CapDecision::NoRaise);
        }
        let status = self.status(user).await?;
        if status.is_stable() {
            return Ok(CapDecision::Allowed { raises });
        }
        match override_ {
            Some(o) => Ok(CapDecision::Overridden {
                raises,
                status,
                admin: o.admin.name.clone(),
                reason: o.reason.trim().to_owned(),
            }),
            None => Err(CapChangeError::Refused { raises, status }),
        }
    }
}

/// `field before → after` for each cap a `policy.set` entry changed, or `None`.
fn cap_change(entry: &AuditEntry) -> Option<String> {
    let read = |v: Option<&serde_json::Value>| {
        v.and_then(|v| serde_json::from_value::<Policy>(v.clone()).ok())
    };
    let (before, after) = (read(entry.before.as_ref()), read(entry.after.as_ref()));
    let (Some(before), Some(after)) = (before, after) else {
        // An entry that does not read as a policy: count it, rather than miss a change.
        return Some("a policy entry that does not parse".to_owned());
    };
    let mut changes = Vec::new();
    if before.order_notional_max != after.order_notional_max {
        changes.push(format!(
            "order_notional_max {} → {}",
            before.order_notional_max, after.order_notional_max
        ));
    }
    if before.daily_notional_max != after.daily_notional_max {
        changes.push(format!(
            "daily_notional_max {} → {}",
            before.daily_notional_max, after.daily_notional_max
        ));
    }
    (!changes.is_empty()).then(|| changes.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raises_count_as_raises() {
        let before = Policy::default();
        let lower = Policy {
            order_notional_max: Notional::from_whole(10),
            ..before.clone()
        };
        assert!(cap_raises(&before, &lower).is_empty());
        let higher = Policy {
            daily_notional_max: Notional::from_whole(200),
            ..before.clone()
        };
        let raises = cap_raises(&before, &higher);
        assert_eq!(raises.len(), 1);
        assert_eq!(raises[0].to_string(), "daily_notional_max 100 → 200");
    }

    #[test]
    fn a_policy_entry_changing_caps_is_a_cap_change() {
        let by = Attribution::new(
            "alice",
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        );
        let before = Policy::default();
        let after = Policy {
            order_notional_max: Notional::from_whole(50),
            daily_notional_max: Notional::from_whole(200),
            ..before.clone()
        };
        let entry = |b: &Policy, a: &Policy| {
            AuditEntry::new(
                &by,
                "policy.set",
                "user:x",
                Some(serde_json::to_value(b).unwrap()),
                Some(serde_json::to_value(a).unwrap()),
            )
        };
        assert_eq!(
            cap_change(&entry(&before, &after)).as_deref(),
            Some("order_notional_max 25 → 50, daily_notional_max 100 → 200")
        );
        let only_cooldown = Policy {
            cooldown_minutes: 9,
            ..before.clone()
        };
        assert_eq!(cap_change(&entry(&before, &only_cooldown)), None);
    }
}
