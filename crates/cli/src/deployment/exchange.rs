//! The deployment's exchange side: the two Bitvavo clients built from the configuration and the
//! two keys (I10: a read-only key and a different trade key), the server-time offset measured
//! once, and the executor and reconciler on top.
//! Trading clients are built only for a live database (the deployment mode, #18 case 11).
//!
//! [`Trading::assemble`] is the one place the executor and the reconciler are built, with the
//! alert delivery they raise to, for `vigil run` and for the one-shot commands alike; a one-shot
//! command (`vigil execute`, `vigil reconcile`) opens a [`TradingSession`], which runs that
//! delivery for the length of the command, webhook included, and waits (bounded) at its end for
//! what was queued.

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;

use vigil_alerting::AlertDelivery;
use vigil_bitvavo::{BitvavoClients, CancelClient, ReadOnlyClient, ReadOnlyKey, TradeKey};
use vigil_core::{Clock, SystemClock};
use vigil_engine::{Executor, ExecutorConfig, Reconciler, ReconcilerConfig};
use vigil_store::{DeploymentMode, Store};

use super::{alerts::RunningDelivery, Deployment};
use crate::{
    config::{Config, ExchangeKeys},
    exit::CommandError,
};

/// Records `mode` as the database's deployment mode when none is recorded, and refuses a
/// database recorded with the other mode, before anything is sent or written for the
/// deployment: a live command on a paper database would trade the paper user's jobs with real
/// money, a paper run on a live database would mix simulated orders into a real account's
/// history (#18 case 11).
pub(crate) async fn ensure_deployment_mode(
    store: &Store,
    mode: DeploymentMode,
) -> anyhow::Result<()> {
    let recorded = store
        .deployment_mode_record(mode, SystemClock.now())
        .await?;
    if recorded == mode {
        return Ok(());
    }
    let what_to_do = match mode {
        DeploymentMode::Live => {
            "a live command (with the exchange's real keys) refuses it, so paper jobs never trade \
             real money. For live trading use a database of its own: `vigil --database-url \
             sqlite://./vigil-data/vigil.db init` (or a PostgreSQL URL); to keep paper trading, \
             run `vigil run --paper`, which uses ./vigil-data/paper.db unless told otherwise"
        }
        DeploymentMode::Paper => {
            "`vigil run --paper` refuses it, so simulated orders never mix with a real account's \
             history. Paper trading uses a database of its own: leave --database-url, \
             VIGIL_DATABASE_URL and database.url unset (it then uses ./vigil-data/paper.db), or \
             point it at another database (`vigil init --paper` sets one up with users)"
        }
    };
    Err(CommandError::Conflict(format!(
        "{} holds a {recorded} deployment; {what_to_do}",
        store.url()
    ))
    .into())
}

/// The live exchange's two clients, built from the configuration and the keys in the
/// environment, before anything is contacted or written: the base URL, both keys, their
/// difference (I10) and the client settings are checked here.
pub(crate) struct LiveExchange {
    clients: BitvavoClients,
    base_url: String,
}

impl LiveExchange {
    /// Checks the configuration and the keys and builds the clients; sends nothing.
    ///
    /// # Errors
    /// A [`CommandError::Invalid`] or [`crate::config::ConfigError`] naming the setting.
    pub(crate) fn from_config(config: &Config, keys: ExchangeKeys) -> anyhow::Result<LiveExchange> {
        let Some(base_url) = config.bitvavo.base_url.clone() else {
            return Err(CommandError::Invalid(
                "no exchange configured: set bitvavo.base_url (VIGIL_BITVAVO_BASE_URL), e.g. https://api.bitvavo.com, \
                 or http://127.0.0.1:18080 with `vigil sim` running"
                    .into(),
            )
            .into());
        };
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
        let client_config = config.bitvavo.client_config(base_url);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let clients = BitvavoClients::new(&client_config, read, trade, clock)
            .map_err(|e| CommandError::Invalid(e.to_string()))?;
        Ok(LiveExchange {
            clients,
            base_url: client_config.base_url,
        })
    }

    /// Makes sure the database is (or becomes) a live one, then measures the exchange's clock
    /// offset (signing timestamps follow the exchange's clock from here on).
    ///
    /// # Errors
    /// A paper database ([`CommandError::Conflict`]), or an exchange that does not answer.
    pub(crate) async fn connect(self, store: &Store) -> anyhow::Result<BitvavoClients> {
        ensure_deployment_mode(store, DeploymentMode::Live).await?;
        self.clients.read_only.sync_time().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the exchange at {} to read its time: {e}",
                self.base_url
            )
        })?;
        Ok(self.clients)
    }
}

/// Both clients for paper trading: the simulator at `base_url` (started by `vigil run --paper`
/// in-process on loopback) with its demo keys, connected and with the clock offset measured.
///
/// # Errors
/// A client that cannot be built, or a simulator that does not answer.
pub(crate) async fn paper_clients(
    config: &Config,
    base_url: &str,
) -> anyhow::Result<BitvavoClients> {
    let client_config = config.bitvavo.client_config(base_url);
    let read = ReadOnlyKey::new(
        vigil_sim::DEMO_VIEW_KEY,
        SecretString::from(vigil_sim::DEMO_VIEW_SECRET),
    )?;
    let trade = TradeKey::new(
        vigil_sim::DEMO_TRADE_KEY,
        SecretString::from(vigil_sim::DEMO_TRADE_SECRET),
    )?;
    let clients = BitvavoClients::new(&client_config, read, trade, Arc::new(SystemClock))
        .map_err(|e| CommandError::Invalid(e.to_string()))?;
    // The server task may need a moment to accept; a few quick tries.
    let mut last = None;
    for _ in 0..50 {
        match clients.read_only.sync_time().await {
            Ok(_) => return Ok(clients),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(anyhow::anyhow!(
        "the paper simulator did not answer: {}",
        last.map_or_else(String::new, |e| e.to_string())
    ))
}

/// The money path as a command uses it: the executor (the only holder of the order capability,
/// I10), the reconciler, the read-only and cancel clients, and the alert delivery the executor
/// and the reconciler raise to.
pub(crate) struct Trading {
    pub(crate) read_only: ReadOnlyClient,
    pub(crate) cancel: CancelClient,
    pub(crate) executor: Executor,
    pub(crate) reconciler: Reconciler,
    pub(crate) alerts: AlertDelivery,
}

impl Trading {
    /// Builds the executor and the reconciler over `store` and `clients`, both raising to
    /// `alerts`; the trading client goes to the executor and nowhere else.
    ///
    /// # Errors
    /// A [`CommandError::Invalid`] naming the executor's or reconciler's setting.
    pub(crate) fn assemble(
        store: &Store,
        clients: BitvavoClients,
        config: &Config,
        alerts: AlertDelivery,
    ) -> anyhow::Result<Trading> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let raise: Arc<dyn vigil_engine::Alerts> = Arc::new(alerts.clone());
        let BitvavoClients {
            read_only,
            trading,
            cancel,
        } = clients;
        let executor = Executor::new(
            store.clone(),
            read_only.clone(),
            trading,
            Arc::clone(&clock),
            ExecutorConfig::default(),
        )
        .map_err(|e| CommandError::Invalid(e.to_string()))?
        .with_alerts(Arc::clone(&raise));
        let reconciler = Reconciler::new(
            store.clone(),
            read_only.clone(),
            clock,
            reconciler_config(config),
        )
        .map_err(|e| CommandError::Invalid(e.to_string()))?
        .with_alerts(raise);
        Ok(Trading {
            read_only,
            cancel,
            executor,
            reconciler,
            alerts,
        })
    }
}

/// [`Trading`] for one command, with its alert delivery running until [`TradingSession::finish`].
pub(crate) struct TradingSession {
    pub(crate) trading: Trading,
    delivery: RunningDelivery,
}

impl TradingSession {
    /// Checks the alert settings, connects to the live exchange
    /// ([`Deployment::exchange_clients`]) and assembles
    /// [`Trading`] with the configured alert delivery (the log, and the webhook when
    /// `alerts.webhook_url` is set).
    ///
    /// # Errors
    /// Invalid alert, exchange or key settings (exit code 2), a paper database, or an exchange
    /// that does not answer.
    pub(crate) async fn open(deployment: &Deployment) -> anyhow::Result<TradingSession> {
        // The alert settings first: a bad one is refused before the exchange is contacted.
        let delivery = deployment.alerts()?;
        let assembled = match deployment.exchange_clients().await {
            Ok(clients) => Trading::assemble(
                &deployment.store,
                clients,
                deployment.config(),
                delivery.delivery.clone(),
            ),
            Err(e) => Err(e),
        };
        match assembled {
            Ok(trading) => Ok(TradingSession { trading, delivery }),
            Err(e) => {
                delivery.finish().await;
                Err(e)
            }
        }
    }

    /// Ends the command's alert delivery: what is queued is delivered to the webhook, or its
    /// failure logged, within `alerts.delivery_deadline_seconds`; then the session is closed.
    /// Raising never waits for this (the order path only queues); only the command's end does.
    pub(crate) async fn finish(self) {
        self.delivery.finish().await;
    }
}

/// The reconciler's settings from the configuration.
pub(crate) fn reconciler_config(config: &Config) -> ReconcilerConfig {
    ReconcilerConfig {
        window_margin: config.reconciler.window_margin,
        abandon_claimed_after: config.reconciler.abandon_claimed_after,
        ..ReconcilerConfig::default()
    }
}
