//! `vigil init` and the API tokens it and `vigil users add` print once.

use std::process::ExitCode;

use rand::{rngs::OsRng, RngCore};
use vigil_core::{Clock, Policy};
use vigil_store::{DeploymentMode, TokenHash, User};

use super::CommandError;
use crate::deployment::Deployment;
use crate::{args::InitArgs, exit};

/// Creates the first (admin) user, their token, and the careful default policy (trading
/// disabled, empty allowlist: deny by default).
pub(crate) async fn run(ctx: &Deployment, args: &InitArgs) -> anyhow::Result<ExitCode> {
    // Bad input is reported as such (exit code 2) before the database's state is looked at.
    vigil_store::model::validate_user_name(&args.user)
        .map_err(|e| CommandError::invalid(&[e.for_field("--user")]))?;
    let existing = ctx.store.user_list().await?;
    if !existing.is_empty() {
        return Err(CommandError::Conflict(format!(
            "{} is already initialised ({} user(s)); add users with `vigil users add NAME`",
            ctx.store.url(),
            existing.len()
        ))
        .into());
    }
    // A live deployment unless --paper (#18 case 11: paper and live never share a database).
    let mode = if args.paper {
        DeploymentMode::Paper
    } else {
        DeploymentMode::Live
    };
    crate::deployment::exchange::ensure_deployment_mode(&ctx.store, mode).await?;
    let (user, token) = create_user_with_token(ctx, &args.user, true).await?;
    crate::out!("initialised {} (a {mode} deployment)", ctx.store.url());
    crate::out!("user:      {} (admin, id {})", user.name, user.id);
    crate::out!(
        "policy:    trading DISABLED, per-order cap {}, empty allowlist (deny by default)",
        Policy::default().order_notional_max
    );
    crate::out!("api token: {token}");
    crate::out!("           (shown once; only its SHA-256 is stored)");
    crate::out!("next:      vigil allowlist add --user {} BTC-EUR; vigil policy set --user {} --trading-enabled true", user.name, user.name);
    Ok(exit::SUCCESS)
}

/// Creates a user with the default policy and a fresh API token; returns the token text.
pub(crate) async fn create_user_with_token(
    ctx: &Deployment,
    name: &str,
    admin: bool,
) -> anyhow::Result<(User, String)> {
    let user = match ctx.store.user_create(name, admin, ctx.clock.now()).await {
        Ok(user) => user,
        Err(vigil_store::StoreError::InvalidInput(problems)) => {
            return Err(CommandError::invalid(&problems).into())
        }
        Err(vigil_store::StoreError::ConstraintViolation { .. }) => {
            return Err(
                CommandError::Conflict(format!("a user named {name:?} already exists")).into(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    // Written explicitly so the audit log shows the policy the user started with.
    ctx.store
        .policy_set(
            user.id,
            &Policy::default(),
            &ctx.attribution(Some("initial policy")),
            vigil_store::PolicyLimits::Operator,
        )
        .await?;
    let token = new_token();
    ctx.store
        .api_token_create(user.id, &TokenHash::of_token(&token), ctx.clock.now())
        .await?;
    Ok((user, token))
}

/// A new API token: `vigil_` and 64 hex digits from the operating system's random source.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("vigil_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 6 + 64);
        assert_ne!(a, b);
    }
}
