//! The operator's controls over a user: `vigil policy`, `vigil allowlist`, `vigil kill-switch`.
//! Every change goes to `audit_log` (who, when, before, after) inside the store.

use std::process::ExitCode;

use serde_json::json;
use vigil_core::{Market, Notional, ValidationError};
use vigil_store::{Authority, KillSwitchScope};

use super::CommandError;
use crate::deployment::Deployment;
use crate::{
    args::{AllowlistCommand, KillSwitchCommand, PolicyCommand, PolicySetArgs},
    exit, output,
};

pub(crate) async fn run(ctx: &Deployment, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Show { user, json } => {
            let user = ctx.user(&user.user).await?;
            let policy = ctx.store.policy_get(user.id).await?;
            if json.json {
                output::json(&json!({ "user": user.name, "policy": policy }))?;
            } else {
                output::fields(&[
                    ("user", user.name),
                    ("trading_enabled", policy.trading_enabled.to_string()),
                    ("order_notional_max", policy.order_notional_max.to_string()),
                    ("daily_notional_max", policy.daily_notional_max.to_string()),
                    ("cooldown_minutes", policy.cooldown_minutes.to_string()),
                    ("anti_flip_minutes", policy.anti_flip_minutes.to_string()),
                    ("auto_approve", policy.auto_approve.to_string()),
                    ("llm_daily_budget", policy.llm_daily_budget.to_string()),
                ]);
            }
        }
        PolicyCommand::Set(args) => set(ctx, args).await?,
    }
    Ok(exit::SUCCESS)
}

async fn set(ctx: &Deployment, args: PolicySetArgs) -> anyhow::Result<()> {
    // Parse every flag first and report all problems together, before looking anything up.
    let mut problems = Vec::new();
    let mut notional = |flag: &str, text: &Option<String>| -> Option<Notional> {
        let text = text.as_deref()?;
        Notional::parse_non_negative(flag, text)
            .map_err(|e| problems.push(e))
            .ok()
    };
    let order_max = notional("--order-notional-max", &args.order_notional_max);
    let daily_max = notional("--daily-notional-max", &args.daily_notional_max);
    let budget = notional("--llm-daily-budget", &args.llm_daily_budget);
    if !problems.is_empty() {
        return Err(CommandError::invalid(&problems).into());
    }
    let user = ctx.user(&args.user.user).await?;
    let before = ctx.store.policy_get(user.id).await?;
    let mut policy = before.clone();
    if let Some(v) = args.trading_enabled {
        policy.trading_enabled = v;
    }
    if let Some(v) = order_max {
        policy.order_notional_max = v;
    }
    if let Some(v) = daily_max {
        policy.daily_notional_max = v;
    }
    if let Some(v) = args.cooldown_minutes {
        policy.cooldown_minutes = v;
    }
    if let Some(v) = args.anti_flip_minutes {
        policy.anti_flip_minutes = v;
    }
    if let Some(v) = args.auto_approve {
        policy.auto_approve = v;
    }
    if let Some(v) = budget {
        policy.llm_daily_budget = v.value();
    }
    if policy == before {
        crate::out!("policy of {} unchanged", user.name);
        return Ok(());
    }
    // An inconsistent policy is a usage error whatever the window or the override says.
    policy.validate().map_err(CommandError::invalid_flags)?;
    // Raising a cap needs a stable day, or an admin's override (command/cap_window.rs); the
    // policy is written only if it is still the one the window judged, the override's entry
    // with it (`vigil_ops::Operations::replace_policy`, as the API does).
    let override_ = super::cap_window::requested_override(ctx, &args).await?;
    let replaced = ctx
        .operations()
        .replace_policy(
            user.id,
            &before,
            &policy,
            &ctx.operator(args.reason.as_deref()),
            vigil_store::PolicyLimits::Operator,
            override_.as_ref(),
        )
        .await
        .map_err(super::operation_error)?;
    super::cap_window::warn_if_overridden(&replaced.decision, &user);
    crate::out!(
        "policy of {} updated (recorded in the audit log)",
        user.name
    );
    Ok(())
}

pub(crate) async fn allowlist(
    ctx: &Deployment,
    command: AllowlistCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        AllowlistCommand::Add(args) => {
            change(
                ctx,
                &args.user.user,
                &args.markets,
                args.reason.as_deref(),
                true,
            )
            .await?
        }
        AllowlistCommand::Remove(args) => {
            change(
                ctx,
                &args.user.user,
                &args.markets,
                args.reason.as_deref(),
                false,
            )
            .await?
        }
        AllowlistCommand::List { user, json } => {
            let user = ctx.user(&user.user).await?;
            let markets: Vec<String> = ctx
                .store
                .allowlist_list(user.id)
                .await?
                .iter()
                .map(ToString::to_string)
                .collect();
            if json.json {
                output::json(&json!({ "user": user.name, "markets": markets }))?;
            } else if markets.is_empty() {
                crate::out!(
                    "{}: the allowlist is empty: every market is refused (deny by default)",
                    user.name
                );
            } else {
                for market in markets {
                    crate::out!("{market}");
                }
            }
        }
    }
    Ok(exit::SUCCESS)
}

async fn change(
    ctx: &Deployment,
    user: &str,
    markets: &[String],
    reason: Option<&str>,
    add: bool,
) -> anyhow::Result<()> {
    let (parsed, problems): (Vec<_>, Vec<_>) = markets
        .iter()
        .map(|m| Market::parse(m))
        .partition(Result::is_ok);
    if !problems.is_empty() {
        let problems: Vec<ValidationError> = problems.into_iter().filter_map(Result::err).collect();
        return Err(CommandError::invalid(&problems).into());
    }
    let user = ctx.user(user).await?;
    let by = ctx.attribution(reason);
    for market in parsed.into_iter().filter_map(Result::ok) {
        let changed = if add {
            ctx.store.allowlist_add(user.id, &market, &by).await?
        } else {
            ctx.store.allowlist_remove(user.id, &market, &by).await?
        };
        let verb = match (add, changed) {
            (true, true) => "added to",
            (true, false) => "already on",
            (false, true) => "removed from",
            (false, false) => "was not on",
        };
        crate::out!("{market} {verb} the allowlist of {}", user.name);
    }
    Ok(())
}

pub(crate) async fn kill_switch(
    ctx: &Deployment,
    command: KillSwitchCommand,
) -> anyhow::Result<ExitCode> {
    let (scope, on, reason) = match command {
        KillSwitchCommand::On { scope, reason, .. } => (scope, true, reason),
        KillSwitchCommand::Off { scope, reason } => (scope, false, reason),
        KillSwitchCommand::Status { scope, json } => {
            let (label, state, setter) = match &scope.user {
                None => (
                    "global".to_owned(),
                    ctx.store.kill_switch_read_global().await?,
                    None,
                ),
                Some(name) => {
                    let user = ctx.user(name).await?;
                    (
                        format!("user {}", user.name),
                        ctx.store.kill_switch_read(user.id).await?.user,
                        ctx.store.kill_switch_setter(user.id).await?,
                    )
                }
            };
            if json.json {
                output::json(&json!({ "scope": label, "on": state, "set_by": setter }))?;
            } else {
                let by = setter
                    .map(|s| {
                        format!(
                            ", set by {}{}{}",
                            s.actor,
                            match s.authority {
                                Authority::Admin => " as an admin: only an admin turns it off",
                                Authority::Owner => " (the user: they or an admin turn it off)",
                            },
                            s.at.map(|at| format!(", at {}", at.to_rfc3339()))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                crate::out!(
                    "{label} kill switch: {}{by}",
                    if state {
                        "ON (no orders will be placed)"
                    } else {
                        "off"
                    }
                );
            }
            return Ok(exit::SUCCESS);
        }
    };
    let (store_scope, label) = match &scope.user {
        None => (KillSwitchScope::Global, "global".to_owned()),
        Some(name) => {
            let user = ctx.user(name).await?;
            (
                KillSwitchScope::User(user.id),
                format!("user {}", user.name),
            )
        }
    };
    let previous = ctx
        .operations()
        .set_kill_switch(store_scope, on, &ctx.operator(reason.as_deref()))
        .await
        .map_err(super::operation_error)?;
    let changed = previous != on;
    let state = if on {
        "ON: no orders will be placed"
    } else {
        "off"
    };
    if changed {
        crate::out!("{label} kill switch is now {state} (recorded in the audit log)");
    } else {
        crate::out!("{label} kill switch was already {state}");
    }
    Ok(exit::SUCCESS)
}
