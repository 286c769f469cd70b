//! `vigil audit [--since DURATION] [--json] [--database-only]`: checks I1–I3 and I5–I7 over the
//! database and compares it with the exchange by clientOrderId (engine `audit`). Exits with
//! `exit::AUDIT_FINDINGS` when anything is found; each finding is printed with its evidence and
//! raised as an alert.

use std::{process::ExitCode, sync::Arc};

use vigil_core::SystemClock;
use vigil_ops::{audit::parse_duration, AuditConfig, Auditor};

use super::CommandError;
use crate::{args::AuditArgs, deployment::Deployment, exit, output};

pub(crate) async fn run(ctx: &Deployment, args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let since = parse_duration("--since", &args.since).map_err(|e| CommandError::invalid(&[e]))?;
    let read_only = if args.database_only {
        None
    } else {
        Some(
            ctx.read_only_client(", or pass --database-only to check the database alone")
                .await?,
        )
    };
    let running = ctx.alerts()?;
    let auditor = Auditor::new(
        ctx.store.clone(),
        read_only,
        Arc::new(SystemClock),
        AuditConfig::default(),
    )
    .with_alerts(Arc::new(running.delivery.clone()));
    let report = auditor.run(since).await;
    running.finish().await;
    let report = report?;
    if args.json.json {
        output::json(&report)?;
    } else {
        crate::output::write(format_args!("{}", report.to_text()));
    }
    Ok(if report.is_clean() {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::AUDIT_FINDINGS)
    })
}
