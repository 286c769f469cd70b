//! `vigil execute`, `vigil executions list|show` and `vigil reconcile`.
//!
//! `execute` is one hardened attempt; its exit code says what happened (README.md, "Exit
//! codes"): placed, already claimed (the first execution is shown; nothing was sent), refused
//! (with the named reason), outcome unknown (left for the reconciler), or failed.
//!
//! Both `execute` and `reconcile` raise their alerts through the configured delivery (the log,
//! and the webhook when `alerts.webhook_url` is set), the same as `vigil run`'s; the command
//! waits at its end, within `alerts.delivery_deadline_seconds`, for what it queued.

use std::process::ExitCode;

use serde_json::json;
use vigil_core::{Execution, ExecutionId, ExecutionState, ProposalId};
use vigil_engine::{ExecuteError, ExecutionOutcome};
use vigil_store::{ExecutionFilter, StoreError};

use super::CommandError;
use crate::{
    args::{ExecuteArgs, ExecutionsCommand},
    deployment::Deployment,
    exit, output,
};

pub(crate) async fn execute(ctx: &Deployment, args: &ExecuteArgs) -> anyhow::Result<ExitCode> {
    let proposal_id = ProposalId::parse(&args.proposal)
        .map_err(|e| CommandError::invalid(&[e.for_field("--proposal")]))?;
    // Every flag is checked before anything is looked up (exit code 2 before 4).
    if let Some(name) = &args.user {
        vigil_store::model::validate_user_name(name)
            .map_err(|e| CommandError::invalid(&[e.for_field("--user")]))?;
    }
    let proposal = match ctx.store.proposal_get(proposal_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound { .. }) => {
            return Err(CommandError::NotFound(format!(
                "no proposal {proposal_id}; `vigil proposals list` shows them"
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    // The caller is the named user, or the proposal's owner when none is named; the executor
    // refuses a proposal that is not the caller's.
    let user_id = match &args.user {
        Some(name) => ctx.user(name).await?.id,
        None => proposal.user_id,
    };
    let session = ctx.trading().await?;
    let executed = session.trading.executor.execute(user_id, proposal_id).await;
    // What the execution raised (outcome unknown, send aborted, …) is delivered, or its failure
    // logged, before the answer is printed and the process exits; the order path only queued it.
    session.finish().await;
    let outcome = match executed {
        Ok(outcome) => outcome,
        Err(ExecuteError::ProposalNotFound { proposal_id }) => {
            return Err(CommandError::NotFound(format!("no proposal {proposal_id}")).into())
        }
        Err(ExecuteError::UserNotFound { user_id }) => {
            return Err(CommandError::NotFound(format!("no user {user_id}")).into())
        }
        Err(e) => return Err(e.into()),
    };
    if args.json.json {
        output::json(&json!({
            "outcome": outcome.name(),
            "refusal": outcome.refusal().map(|r| json!({ "code": r.code(), "detail": r, "message": r.to_string() })),
            "execution": outcome.execution(),
        }))?;
    } else {
        match &outcome {
            ExecutionOutcome::Placed(e) => crate::out!("placed: order {} on {} (clientOrderId {})", e.exchange_order_id.as_deref().unwrap_or("?"), e.market, e.client_order_id),
            ExecutionOutcome::AlreadyClaimed(e) => crate::out!("already claimed: proposal {} has execution {} ({}); nothing was sent", e.proposal_id, e.id, e.state),
            ExecutionOutcome::Refused { refusal, .. } => crate::out!("refused: {refusal}"),
            ExecutionOutcome::OutcomeUnknown(e) => crate::out!("outcome unknown: execution {} stays SUBMITTING; `vigil reconcile` resolves it by clientOrderId {}", e.id, e.client_order_id),
            ExecutionOutcome::Failed(e) => crate::out!("failed, not placed: {}", e.failure.as_deref().unwrap_or("?")),
        }
        if let Some(e) = outcome.execution() {
            print_execution(e);
        }
    }
    Ok(ExitCode::from(match outcome {
        ExecutionOutcome::Placed(_) => 0,
        ExecutionOutcome::AlreadyClaimed(_) => exit::ALREADY_CLAIMED,
        ExecutionOutcome::Refused { .. } => exit::REFUSED,
        ExecutionOutcome::OutcomeUnknown(_) => exit::OUTCOME_UNKNOWN,
        ExecutionOutcome::Failed(_) => exit::ORDER_FAILED,
    }))
}

pub(crate) async fn executions(
    ctx: &Deployment,
    command: ExecutionsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ExecutionsCommand::List {
            user,
            state,
            limit,
            json,
        } => {
            let state = state
                .map(|s| {
                    s.parse::<ExecutionState>()
                        .map_err(|e| CommandError::invalid(&[e.for_field("--state")]))
                })
                .transpose()?;
            let user = match user {
                Some(name) => Some(ctx.user(&name).await?.id),
                None => None,
            };
            let list = ctx
                .store
                .execution_list(&ExecutionFilter {
                    user,
                    state,
                    market: None,
                    limit,
                })
                .await?;
            if json.json {
                output::json(&list)?;
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            format!(
                                "{}{}",
                                e.state,
                                if e.outcome_unknown { " (unknown)" } else { "" }
                            ),
                            e.market.to_string(),
                            e.side.to_string(),
                            e.notional.to_string(),
                            e.refusal.as_ref().map_or_else(
                                || e.failure.clone().unwrap_or_default(),
                                |r| r.code().to_owned(),
                            ),
                            e.created_at.to_rfc3339(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "STATE", "MARKET", "SIDE", "NOTIONAL", "REASON", "CREATED",
                    ],
                    &rows,
                );
            }
        }
        ExecutionsCommand::Show { id, json } => {
            let id =
                ExecutionId::parse(&id).map_err(|e| CommandError::invalid(&[e.for_field("ID")]))?;
            let execution = match ctx.store.execution_get(id).await {
                Ok(e) => e,
                Err(StoreError::NotFound { .. }) => {
                    return Err(CommandError::NotFound(format!(
                        "no execution {id}; `vigil executions list` shows them"
                    ))
                    .into())
                }
                Err(e) => return Err(e.into()),
            };
            let events = ctx.store.execution_events(id).await?;
            if json.json {
                output::json(&json!({ "execution": execution, "events": events }))?;
            } else {
                print_execution(&execution);
                crate::out!("");
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|ev| {
                        vec![
                            ev.seq.to_string(),
                            ev.at.to_rfc3339(),
                            ev.event.clone(),
                            format!(
                                "{} -> {}",
                                ev.from_state.map_or("-".into(), |s| s.to_string()),
                                ev.to_state
                            ),
                        ]
                    })
                    .collect();
                output::table(&["SEQ", "AT", "EVENT", "TRANSITION"], &rows);
            }
        }
    }
    Ok(exit::SUCCESS)
}

pub(crate) async fn reconcile(ctx: &Deployment, json: bool) -> anyhow::Result<ExitCode> {
    let session = ctx.trading().await?;
    let report = session.trading.reconciler.reconcile_once().await;
    // The pass's alerts (declared not placed, abandoned, unresolved) reach the webhook first.
    session.finish().await;
    let ids = |v: &Vec<ExecutionId>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    if json {
        output::json(&json!({
            "found": ids(&report.found),
            "not_placed": ids(&report.not_placed),
            "waiting": ids(&report.waiting),
            "abandoned": ids(&report.abandoned),
            "filled": ids(&report.filled),
            "canceled": ids(&report.canceled),
            "open": ids(&report.open),
            "fills_recorded": report.fills_recorded,
            "problems": report.problems.iter().map(|p| json!({ "execution_id": p.execution_id.map(|i| i.to_string()), "detail": p.detail })).collect::<Vec<_>>(),
            "clean": report.is_clean(),
        }))?;
    } else {
        output::fields(&[
            ("found on the exchange", report.found.len().to_string()),
            ("not placed (failed)", report.not_placed.len().to_string()),
            ("waiting for the window", report.waiting.len().to_string()),
            ("abandoned claims ended", report.abandoned.len().to_string()),
            ("filled", report.filled.len().to_string()),
            ("canceled", report.canceled.len().to_string()),
            ("still open", report.open.len().to_string()),
            ("fills recorded", report.fills_recorded.to_string()),
            ("problems", report.problems.len().to_string()),
        ]);
        for p in &report.problems {
            crate::out!(
                "problem: {} {}",
                p.execution_id.map_or_else(|| "-".into(), |i| i.to_string()),
                p.detail
            );
        }
    }
    // Anything left unresolved (waiting for a window, or a problem) is worth a non-zero exit for
    // scripts; a clean pass is 0.
    Ok(if report.is_clean() {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::OUTCOME_UNKNOWN)
    })
}

fn print_execution(e: &Execution) {
    output::fields(&[
        ("execution", e.id.to_string()),
        ("proposal", e.proposal_id.to_string()),
        (
            "state",
            format!(
                "{}{}",
                e.state,
                if e.outcome_unknown {
                    " (outcome unknown)"
                } else {
                    ""
                }
            ),
        ),
        ("market", e.market.to_string()),
        ("side", e.side.to_string()),
        ("notional", e.notional.to_string()),
        ("client_order_id", e.client_order_id.to_string()),
        (
            "exchange_order_id",
            e.exchange_order_id.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "refusal",
            e.refusal
                .as_ref()
                .map_or_else(|| "-".into(), ToString::to_string),
        ),
        ("failure", e.failure.clone().unwrap_or_else(|| "-".into())),
        (
            "signed_at",
            e.signed_at.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
        ),
        ("created_at", e.created_at.to_rfc3339()),
    ]);
}
