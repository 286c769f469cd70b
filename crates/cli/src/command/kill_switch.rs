//! `vigil kill-switch on --cancel-open-orders`: the switch first (no NEW order from now on, I4),
//! then the open orders on the exchange are cancelled with the trade key (and `operatorId`):
//! every open order of the account for the global switch, only the user's orders for a user's
//! switch. Each cancelled order is reported with the execution and user it belonged to.
//!
//! If the exchange cannot be reached, or its settings or keys are missing or wrong, the switch
//! stays ON and the command says the orders are still open (exit code 1, never 2: the switch was
//! written), so the operator can retry or cancel them on the exchange.

use std::process::ExitCode;

use serde_json::json;
use vigil_engine::cancel_open_orders::{cancel_open_orders, CancelScope};

use super::policy;
use crate::{args::KillSwitchCommand, deployment::Deployment, exit, output};

pub(crate) async fn on_and_cancel(
    ctx: &Deployment,
    command: KillSwitchCommand,
) -> anyhow::Result<ExitCode> {
    let (user, json_out) = match &command {
        KillSwitchCommand::On { scope, json, .. } => (scope.user.clone(), json.json),
        _ => (None, false),
    };
    // The switch first: whatever happens on the exchange, no new order is placed.
    policy::kill_switch(ctx, command).await?;
    let scope = match &user {
        Some(name) => CancelScope::User(ctx.user(name).await?.id),
        None => CancelScope::Account,
    };
    // The switch is written whatever the exchange's configuration says (stopping comes first),
    // so a problem from here on is exit code 1, not 2: something WAS written.
    let clients = ctx.exchange_clients().await.map_err(|e| {
        anyhow::anyhow!("the kill switch is ON, but the open orders could NOT be cancelled: {e:#}; fix that and retry `vigil kill-switch on --cancel-open-orders`, or cancel them on the exchange")
    })?;
    let report = cancel_open_orders(&ctx.store, &clients.read_only, &clients.cancel, scope)
        .await
        .map_err(|e| {
            anyhow::anyhow!("the kill switch is ON, but cancelling the open orders failed: {e}")
        })?;
    if json_out {
        output::json(&json!({ "kill_switch": "on", "cancel": report }))?;
    } else {
        if report.cancelled.is_empty() {
            crate::out!("no open order was cancelled (none was open)");
        } else {
            crate::out!("cancelled {} open order(s):", report.cancelled.len());
            let rows: Vec<Vec<String>> = report
                .cancelled
                .iter()
                .map(|o| {
                    vec![
                        o.market.clone(),
                        o.side.clone(),
                        o.order_id.clone(),
                        o.client_order_id
                            .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                        o.execution_id
                            .map_or_else(|| "(not placed by Vigil)".to_owned(), |e| e.to_string()),
                    ]
                })
                .collect();
            output::table(
                &["MARKET", "SIDE", "ORDER", "CLIENT ORDER ID", "EXECUTION"],
                &rows,
            );
        }
        for (order, error) in &report.failed {
            eprintln!(
                "could NOT cancel order {} on {}: {error}",
                order.order_id, order.market
            );
        }
        if report.left_open > 0 {
            crate::out!(
                "{} open order(s) of other users were left alone",
                report.left_open
            );
        }
    }
    Ok(if report.failed.is_empty() {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::FAILURE)
    })
}
