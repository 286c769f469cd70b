//! The cap stability window for `vigil policy set`: raising `order_notional_max` or
//! `daily_notional_max` is refused unless the last 24 hours were stable (engine
//! `stability_window`), or an admin passes `--override-stability-window --reason TEXT`
//! (the acting admin is `--actor NAME`). Lowering a cap is always allowed.

use std::sync::Arc;

use vigil_core::{Policy, SystemClock};
use vigil_ops::{
    stability_window::{CapChangeError, CapDecision, StabilityOverride},
    StabilityWindow,
};
use vigil_store::{AuditEntry, StoreError, User};

use super::CommandError;
use crate::args::PolicySetArgs;
use crate::deployment::Deployment;

/// A policy change that passed the window (or was overridden), waiting to be written.
pub(crate) struct CapGuard {
    decision: CapDecision,
}

impl CapGuard {
    /// The reason to write with the `policy.set` entry.
    pub(crate) fn reason(&self, given: Option<&str>) -> Option<String> {
        self.decision.audit_reason(given)
    }

    /// The override's own audit entry, written with the policy in one transaction.
    pub(crate) fn override_entry(&self, ctx: &Deployment, user: &User) -> Option<AuditEntry> {
        self.decision
            .override_entry(user.id, &ctx.attribution(None))
    }

    /// Says on stderr that the window was overridden, once the change is written.
    pub(crate) fn warn_if_overridden(&self, user: &User) {
        if let CapDecision::Overridden { raises, .. } = &self.decision {
            let raised: Vec<String> = raises.iter().map(ToString::to_string).collect();
            eprintln!(
                "warning: the stability window was OVERRIDDEN for {} ({}); recorded in the audit log",
                user.name,
                raised.join(", ")
            );
        }
    }
}

/// Checks the change from `before` to `after` against the window.
pub(crate) async fn guard(
    ctx: &Deployment,
    user: &User,
    before: &Policy,
    after: &Policy,
    args: &PolicySetArgs,
) -> anyhow::Result<CapGuard> {
    let window = StabilityWindow::new(ctx.store.clone(), Arc::new(SystemClock));
    let override_ = if args.override_stability_window {
        let admin = match ctx.store.user_get_by_name(ctx.actor()).await {
            Ok(admin) => admin,
            Err(StoreError::NotFound { .. }) => {
                return Err(CommandError::Invalid(format!(
                    "--override-stability-window needs an admin: --actor {:?} is not a Vigil user; \
                     pass --actor NAME of an admin user (`vigil users list`)",
                    ctx.actor()
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        let Some(reason) = args.reason.clone() else {
            return Err(CommandError::Invalid(
                "--override-stability-window needs --reason TEXT (recorded in the audit log)"
                    .into(),
            )
            .into());
        };
        Some(StabilityOverride { admin, reason })
    } else {
        None
    };
    match window
        .check_cap_change(user.id, before, after, override_.as_ref())
        .await
    {
        Ok(decision) => Ok(CapGuard { decision }),
        Err(e @ CapChangeError::Refused { .. }) => {
            Err(CommandError::Conflict(e.to_string()).into())
        }
        Err(CapChangeError::InvalidOverride(e)) => Err(CommandError::invalid(&[e]).into()),
        Err(CapChangeError::Store(e)) => Err(e.into()),
    }
}
