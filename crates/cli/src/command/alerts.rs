//! `vigil alerts test`: one test alert through the deployment's delivery, sent now, and whether
//! it was delivered.

use std::process::ExitCode;

use serde_json::json;
use vigil_core::{Alert, AlertKind, AlertSeverity};

use crate::{deployment::Deployment, exit, output};

/// `vigil alerts test`: sends one test alert now and reports whether it was delivered.
pub(crate) async fn test(ctx: &Deployment, json_out: bool) -> anyhow::Result<ExitCode> {
    let running = ctx.alerts()?;
    let alert = Alert {
        kind: AlertKind::Test,
        severity: AlertSeverity::Warning,
        execution_id: None,
        user_id: None,
        message: format!(
            "test alert from `vigil alerts test` by {}; if you read this, alerts reach you",
            ctx.actor()
        ),
    };
    let result = running.delivery.send_now(&alert).await;
    running.finish().await;
    match result {
        Ok(report) => {
            if json_out {
                output::json(&json!({
                    "delivered": true,
                    "webhook": report.webhook,
                    "status": report.status,
                    "attempts": report.attempts,
                }))?;
            } else {
                crate::out!(
                    "test alert delivered to {} (HTTP {}, {} attempt(s))",
                    report.webhook,
                    report.status,
                    report.attempts
                );
            }
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            if json_out {
                output::json(&json!({
                    "delivered": false,
                    "webhook": e.webhook,
                    "attempts": e.attempts,
                    "error": e.to_string(),
                }))?;
            } else {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::from(exit::ALERT_NOT_DELIVERED))
        }
    }
}
