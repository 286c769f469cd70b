//! `vigil signoff [--json]`: checks the configured deployment (engine `signoff`) and prints the
//! report, markdown or JSON, one line per item with pass/fail and evidence; exit code
//! `exit::SIGNOFF_FAILED` on any failure.
//!
//! The CLI supplies what the engine may not depend on: an in-process simulator on 127.0.0.1:0
//! (its own order log and faults, for the scenarios), the keys from the environment, and the
//! alert settings.

use std::{process::ExitCode, sync::Arc};

use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{ClientConfig, KeyError, ReadOnlyKey, TradeKey};
use vigil_core::{ClientOrderId, SystemClock};
use vigil_ops::signoff::{self, KeyMaterial, ScenarioExchange, SignoffExchange, SignoffInputs};
use vigil_sim::{FaultKind, FaultPlan, FaultRule, SimConfig, SimHandle};

use crate::{config::KeyPair, deployment::Deployment, exit, output};

/// The simulator seed of the scenarios (fixed: a failing sign-off replays the same way).
const SCENARIO_SEED: u64 = 20_250_101;

/// The in-process simulator the scenarios run against.
#[derive(Debug)]
struct ScenarioSim {
    handle: SimHandle,
    operator_id: i64,
}

impl ScenarioExchange for ScenarioSim {
    fn client_config(&self) -> ClientConfig {
        ClientConfig::new(self.handle.base_url(), self.operator_id)
    }
    fn read_key(&self) -> Result<ReadOnlyKey, KeyError> {
        ReadOnlyKey::new(
            vigil_sim::DEMO_VIEW_KEY,
            SecretString::from(vigil_sim::DEMO_VIEW_SECRET),
        )
    }
    fn trade_key(&self) -> Result<TradeKey, KeyError> {
        TradeKey::new(
            vigil_sim::DEMO_TRADE_KEY,
            SecretString::from(vigil_sim::DEMO_TRADE_SECRET),
        )
    }
    fn orders_with_client_order_id(&self, id: ClientOrderId) -> usize {
        let id = id.to_string();
        self.handle
            .order_log()
            .iter()
            .filter(|o| o.client_order_id.as_deref() == Some(id.as_str()))
            .count()
    }
    fn lose_next_order_answer(&self) -> Result<(), String> {
        let rule = FaultRule::new("POST /v2/order", FaultKind::AcceptThenDrop).times(1);
        self.handle
            .set_faults(FaultPlan::single(rule))
            .map_err(|e| e.to_string())
    }
    fn clear_faults(&self) {
        self.handle.clear_faults();
    }
    fn set_balance(&self, asset: &str, available: Decimal) -> Result<(), String> {
        self.handle
            .set_balance(vigil_sim::DEMO_ACCOUNT, asset, available)
            .map_err(|e| e.to_string())
    }
}

fn material(pair: KeyPair) -> KeyMaterial {
    KeyMaterial {
        key: pair.key,
        secret: pair.secret,
    }
}

pub(crate) async fn run(ctx: &Deployment, json_out: bool) -> anyhow::Result<ExitCode> {
    let config = ctx.config();
    let keys = ctx.settings.exchange_keys()?;
    let exchange = config
        .bitvavo
        .base_url
        .clone()
        .map(|base_url| SignoffExchange {
            config: config.bitvavo.client_config(base_url),
            read: keys.read.map(material),
            trade: keys.trade.map(material),
        });
    let alerts = ctx.alerts()?;

    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let handle = vigil_sim::spawn(
        listener,
        SimConfig::demo(SCENARIO_SEED).with_flat_prices(),
        shutdown.clone(),
    )
    .await?;
    let inputs = SignoffInputs {
        store: ctx.store.clone(),
        database_url: SecretString::from(config.database_url.clone()),
        exchange,
        alerts: Some(alerts.delivery.clone()),
        scenario_exchange: Arc::new(ScenarioSim {
            handle,
            operator_id: config.bitvavo.operator_id,
        }),
        clock: Arc::new(SystemClock),
        actor: ctx.actor().to_owned(),
    };
    let report = signoff::run(&inputs).await;
    shutdown.cancel();
    alerts.finish().await;
    if json_out {
        output::json(&report)?;
    } else {
        crate::output::write(format_args!("{}", report.to_markdown()));
    }
    Ok(if report.passed {
        exit::SUCCESS
    } else {
        ExitCode::from(exit::SIGNOFF_FAILED)
    })
}
