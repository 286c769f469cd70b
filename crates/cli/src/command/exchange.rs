//! Connecting to the exchange for the commands that need it: the two Bitvavo clients built from
//! the configuration and the two keys in the environment (I10: a read-only key and a different
//! trade key), the server-time offset measured once, and the executor and reconciler on top.

use std::{collections::BTreeMap, sync::Arc};

use vigil_bitvavo::{BitvavoClients, ClientConfig, ReadOnlyKey, TradeKey};
use vigil_core::{Clock, SystemClock};
use vigil_engine::{Executor, ExecutorConfig, Reconciler, ReconcilerConfig};
use vigil_store::Store;

use super::CommandError;
use crate::config::{Config, ExchangeKeys};

/// Both clients, connected and with the clock offset measured.
pub(crate) async fn clients(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<BitvavoClients> {
    let Some(base_url) = config.bitvavo.base_url.clone() else {
        return Err(CommandError::Invalid(
            "no exchange configured: set bitvavo.base_url (VIGIL_BITVAVO_BASE_URL), e.g. https://api.bitvavo.com, \
             or http://127.0.0.1:18080 with `vigil sim` running"
                .into(),
        )
        .into());
    };
    let keys = ExchangeKeys::from_env(env)?;
    let (Some(read), Some(trade)) = (keys.read, keys.trade) else {
        return Err(CommandError::Invalid(
            "both exchange keys are required: set VIGIL_BITVAVO_READ_KEY and VIGIL_BITVAVO_READ_SECRET (a View-only key) \
             and VIGIL_BITVAVO_TRADE_KEY and VIGIL_BITVAVO_TRADE_SECRET (a Trade key); see README.md"
                .into(),
        )
        .into());
    };
    let read = ReadOnlyKey::new(&read.key, read.secret)
        .map_err(|e| CommandError::Invalid(format!("VIGIL_BITVAVO_READ_KEY/SECRET: {e}")))?;
    let trade = TradeKey::new(&trade.key, trade.secret)
        .map_err(|e| CommandError::Invalid(format!("VIGIL_BITVAVO_TRADE_KEY/SECRET: {e}")))?;
    let client_config = ClientConfig {
        access_window: config.bitvavo.access_window,
        request_timeout: config.bitvavo.request_timeout,
        ..ClientConfig::new(base_url, config.bitvavo.operator_id)
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let clients = BitvavoClients::new(&client_config, read, trade, clock)
        .map_err(|e| CommandError::Invalid(e.to_string()))?;
    // Signing timestamps follow the exchange's clock from here on.
    clients.read_only.sync_time().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the exchange at {} to read its time: {e}",
            client_config.base_url
        )
    })?;
    Ok(clients)
}

/// The hardened executor.
pub(crate) fn executor(store: &Store, clients: &BitvavoClients) -> anyhow::Result<Executor> {
    Executor::new(
        store.clone(),
        clients.read_only.clone(),
        clients.trading.clone(),
        Arc::new(SystemClock),
        ExecutorConfig::default(),
    )
    .map_err(|e| CommandError::Invalid(e.to_string()).into())
}

/// The reconciler.
pub(crate) fn reconciler(
    store: &Store,
    clients: &BitvavoClients,
    config: &Config,
) -> anyhow::Result<Reconciler> {
    let reconciler_config = ReconcilerConfig {
        window_margin: config.reconciler.window_margin,
        abandon_claimed_after: config.reconciler.abandon_claimed_after,
        ..ReconcilerConfig::default()
    };
    Reconciler::new(
        store.clone(),
        clients.read_only.clone(),
        Arc::new(SystemClock),
        reconciler_config,
    )
    .map_err(|e| CommandError::Invalid(e.to_string()).into())
}
