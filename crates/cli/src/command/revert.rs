//! `vigil proposals revert ID (--dry-run | --apply) [--to pending|cancelled] [--reason TEXT]`:
//! shows, then performs, the rollback of a proposal's status, only when no order was ever placed
//! for it (engine `rollback`); recorded in `audit_log` with its evidence; refused otherwise,
//! saying why (exit code 5).

use std::{process::ExitCode, sync::Arc};

use serde_json::json;
use vigil_core::{ProposalId, SystemClock};
use vigil_ops::{
    rollback::{RollbackError, RollbackPlan},
    RevertTo, Rollback,
};

use super::CommandError;
use crate::{
    args::{RevertArgs, RevertToArg},
    deployment::Deployment,
    exit, output,
};

pub(crate) async fn run(ctx: &Deployment, args: &RevertArgs) -> anyhow::Result<ExitCode> {
    let id =
        ProposalId::parse(&args.id).map_err(|e| CommandError::invalid(&[e.for_field("ID")]))?;
    let to = match args.to {
        RevertToArg::Pending => RevertTo::Pending,
        RevertToArg::Cancelled => RevertTo::Cancelled,
    };
    // The exchange is asked only when the proposal has an execution; without a configured
    // exchange such a rollback is refused (the plan says why), others go ahead.
    let read_only = match ctx.config().bitvavo.base_url {
        Some(_) => Some(ctx.read_only_client("").await?),
        None => None,
    };
    let rollback = Rollback::new(ctx.store.clone(), read_only, Arc::new(SystemClock));
    if args.dry_run {
        let plan = rollback.plan(id, to).await.map_err(map_error)?;
        show(&plan, args.json.json, "dry run: nothing was changed")?;
        return Ok(if plan.allowed() {
            exit::SUCCESS
        } else {
            ExitCode::from(exit::CONFLICT)
        });
    }
    let by = ctx.attribution(args.reason.as_deref());
    match rollback.apply(id, to, &by).await {
        Ok((plan, proposal)) => {
            show(
                &plan,
                args.json.json,
                &format!(
                    "done: proposal {} is now {} (recorded in the audit log)",
                    proposal.id, proposal.status
                ),
            )?;
            Ok(exit::SUCCESS)
        }
        Err(RollbackError::Refused(plan)) => {
            show(&plan, args.json.json, "nothing was changed")?;
            Ok(ExitCode::from(exit::CONFLICT))
        }
        Err(e) => Err(map_error(e)),
    }
}

fn show(plan: &RollbackPlan, json_out: bool, outcome: &str) -> anyhow::Result<()> {
    if json_out {
        output::json(&json!({ "plan": plan, "allowed": plan.allowed(), "outcome": outcome }))?;
    } else {
        crate::out!("{plan}\n{outcome}");
    }
    Ok(())
}

fn map_error(error: RollbackError) -> anyhow::Error {
    match error {
        RollbackError::NotFound(_) => CommandError::NotFound(error.to_string()).into(),
        RollbackError::Changed { .. } | RollbackError::Refused(_) => {
            CommandError::Conflict(error.to_string()).into()
        }
        RollbackError::Store(e) => e.into(),
    }
}
