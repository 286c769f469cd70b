//! The cap stability window for `vigil policy set`: raising `order_notional_max` or
//! `daily_notional_max` is refused unless the last 24 hours were stable (ops
//! `stability_window`, applied by `vigil_ops::Operations::replace_policy`), or an admin passes
//! `--override-stability-window --reason TEXT` (the acting admin is `--actor NAME`). Lowering a
//! cap is always allowed. This module turns the flags into the override and says when one was
//! used.

use vigil_ops::stability_window::{CapDecision, StabilityOverride};
use vigil_store::{StoreError, User};

use super::CommandError;
use crate::args::PolicySetArgs;
use crate::deployment::Deployment;

/// The override `--override-stability-window` asks for, with the acting admin (`--actor`) and
/// `--reason`; `None` without the flag. Whether the actor is an admin is checked with the
/// window (`CapChangeError::InvalidOverride`).
pub(crate) async fn requested_override(
    ctx: &Deployment,
    args: &PolicySetArgs,
) -> anyhow::Result<Option<StabilityOverride>> {
    if !args.override_stability_window {
        return Ok(None);
    }
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
            "--override-stability-window needs --reason TEXT (recorded in the audit log)".into(),
        )
        .into());
    };
    Ok(Some(StabilityOverride { admin, reason }))
}

/// Says on stderr that the window was overridden, once the change is written.
pub(crate) fn warn_if_overridden(decision: &CapDecision, user: &User) {
    if let CapDecision::Overridden { raises, .. } = decision {
        let raised: Vec<String> = raises.iter().map(ToString::to_string).collect();
        eprintln!(
            "warning: the stability window was OVERRIDDEN for {} ({}); recorded in the audit log",
            user.name,
            raised.join(", ")
        );
    }
}
