//! `vigil audit [--since DURATION] [--json] [--database-only]`: checks I1–I3 and I5–I7 over the
//! database and compares it with the exchange by clientOrderId (engine `audit`). Exits with
//! `exit::AUDIT_FINDINGS` when anything is found; each finding is printed with its evidence and
//! raised as an alert.

use std::{collections::BTreeMap, process::ExitCode, sync::Arc};

use vigil_bitvavo::{ReadOnlyClient, ReadOnlyKey};
use vigil_core::SystemClock;
use vigil_ops::{audit::parse_duration, AuditConfig, Auditor};

use super::{alerts::RunningDelivery, CommandError, Context};
use crate::{
    args::AuditArgs,
    config::{Config, ExchangeKeys},
    exit, output,
};

/// The read-only client alone (the audit and the rollback never trade), connected and with the
/// clock offset measured.
pub(crate) async fn read_only_client(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<ReadOnlyClient> {
    let Some(base_url) = config.bitvavo.base_url.clone() else {
        return Err(CommandError::Invalid(
            "no exchange configured: set bitvavo.base_url (VIGIL_BITVAVO_BASE_URL), or pass \
             --database-only to check the database alone"
                .into(),
        )
        .into());
    };
    let Some(read) = ExchangeKeys::from_env(env)?.read else {
        return Err(CommandError::Invalid(
            "the read-only key is required: set VIGIL_BITVAVO_READ_KEY and VIGIL_BITVAVO_READ_SECRET \
             (a View-only key), or pass --database-only"
                .into(),
        )
        .into());
    };
    let key = ReadOnlyKey::new(&read.key, read.secret)
        .map_err(|e| CommandError::Invalid(format!("VIGIL_BITVAVO_READ_KEY/SECRET: {e}")))?;
    let client_config = config.bitvavo.client_config(base_url);
    let client = ReadOnlyClient::new(&client_config, key, Arc::new(SystemClock))
        .map_err(|e| CommandError::Invalid(e.to_string()))?;
    client.sync_time().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the exchange at {} to read its time: {e}",
            client_config.base_url
        )
    })?;
    Ok(client)
}

pub(crate) async fn run(
    ctx: &Context,
    args: &AuditArgs,
    config: &Config,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<ExitCode> {
    let since = parse_duration("--since", &args.since).map_err(|e| CommandError::invalid(&[e]))?;
    let read_only = if args.database_only {
        None
    } else {
        Some(read_only_client(config, env).await?)
    };
    let running = RunningDelivery::start(config)?;
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
