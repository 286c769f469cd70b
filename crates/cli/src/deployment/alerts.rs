//! Alert delivery as the deployment runs it: for the length of one command
//! ([`RunningDelivery`]: started, raised to, then shut down two-phase so what is queued is
//! delivered within the deadline before the process exits), or as `vigil run`'s service tasks
//! (the dispatcher, the watches over `audit_log` and executions, the dead man's switch).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vigil_alerting::AlertDelivery;
use vigil_core::SystemClock;

use crate::{config::Config, exit::CommandError};

/// Alert delivery running in the background for the length of one command.
pub(crate) struct RunningDelivery {
    pub(crate) delivery: AlertDelivery,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningDelivery {
    /// Starts delivery as the configuration says (log only without a webhook).
    pub(crate) fn start(config: &Config) -> anyhow::Result<RunningDelivery> {
        let (delivery, dispatcher) =
            AlertDelivery::new(config.alerts.delivery_config(), Arc::new(SystemClock))
                .map_err(|e| CommandError::Invalid(e.to_string()))?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(dispatcher.run(shutdown.clone()));
        Ok(RunningDelivery {
            delivery,
            shutdown,
            task,
        })
    }

    /// Delivers what is queued (within the delivery deadline) and stops.
    pub(crate) async fn finish(self) {
        self.shutdown.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "the alert delivery task failed");
        }
    }
}

/// For `vigil run`: the production alerts as service tasks — the delivery's dispatcher, the watch
/// over `audit_log` (kill-switch and policy changes from any interface) and the watch over
/// executions (FAILED, SUBMITTING past its window) — spawned into `tasks` until `shutdown`.
/// Hand the returned delivery to the executor, the reconciler and the advisor (`with_alerts`),
/// and to [`spawn_dead_mans_switch`].
pub(crate) async fn spawn_for_service(
    store: &vigil_store::Store,
    config: &Config,
    shutdown: &CancellationToken,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<AlertDelivery> {
    use std::time::Duration;

    use vigil_alerting::{ExecutionWatch, OperatorActionWatch};

    let clock: Arc<dyn vigil_core::Clock> = Arc::new(SystemClock);
    let (delivery, dispatcher) =
        AlertDelivery::new(config.alerts.delivery_config(), Arc::clone(&clock))
            .map_err(|e| CommandError::Invalid(e.to_string()))?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        dispatcher.run(token).await;
        Ok(())
    });
    let alerts: Arc<dyn vigil_engine::Alerts> = Arc::new(delivery.clone());
    let watch =
        OperatorActionWatch::start(store.clone(), Arc::clone(&alerts), Arc::clone(&clock)).await?;
    let token = shutdown.clone();
    tasks.spawn(async move {
        watch.run(Duration::from_secs(5), token).await;
        Ok(())
    });
    // The reconciler's margin plus a few of its passes before SUBMITTING counts as overdue.
    let margin = config.reconciler.window_margin + Duration::from_secs(60);
    let executions = ExecutionWatch::new(store.clone(), alerts, clock, margin);
    let token = shutdown.clone();
    tasks.spawn(async move {
        executions.run(Duration::from_secs(10), token).await;
        Ok(())
    });
    if let Some(webhook) = delivery.webhook_display() {
        tracing::info!(webhook = %webhook, "alerts go to the log and to the webhook");
    } else {
        tracing::warn!(
            "no alert webhook configured (alerts.webhook_url): alerts go to the log only"
        );
    }
    Ok(delivery)
}

/// For `vigil run`: keeps Bitvavo's dead man's switch armed with `cancel` until `shutdown`
/// (disarmed on the way out), when `dead_mans_switch.enabled`.
pub(crate) fn spawn_dead_mans_switch(
    cancel: vigil_bitvavo::CancelClient,
    alerts: &AlertDelivery,
    config: &Config,
    shutdown: &CancellationToken,
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let settings = config.dead_mans_switch;
    if !settings.enabled {
        tracing::warn!(
            "the exchange-side dead man's switch is disabled (dead_mans_switch.enabled = false)"
        );
        return Ok(());
    }
    let switch = vigil_engine::DeadMansSwitch::new(cancel, settings.interval, settings.expiry)
        .map_err(|e| CommandError::Invalid(e.to_string()))?
        .with_alerts(Arc::new(alerts.clone()));
    let token = shutdown.clone();
    tasks.spawn(async move {
        switch.run(token).await;
        Ok(())
    });
    Ok(())
}
