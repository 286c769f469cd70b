//! The exchange-side dead man's switch: while Vigil runs, Bitvavo's `cancelOrdersAfter` timer is
//! kept armed, so that if Vigil stops answering (crash, network partition, frozen host) the
//! exchange itself cancels the account's open orders when the timer runs out.
//!
//! [`DeadMansSwitch::run`] arms the timer at once, re-arms it every `interval` (well before
//! `expiry`), and disarms it on a clean shutdown, when Vigil leaves on purpose and its resting
//! orders should stay. A failed re-arm is logged and retried at the next tick; when the last
//! successful arm is about to run out an alert is raised, because the exchange is then about to
//! cancel everything (which is the point of the switch, but a person must know why).

use std::{sync::Arc, time::Duration};

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{CancelClient, CancelOrdersAfter};
use vigil_core::ValidationError;

use crate::alerts::{Alert, AlertKind, AlertSeverity, Alerts, TracingAlerts};

/// The group Vigil arms (Bitvavo allows one group per account unless it enables more).
pub const DEFAULT_GROUP: u16 = 1;

/// Why the switch could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadMansSwitchError {
    /// The settings are invalid.
    #[error("invalid dead man's switch settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ValidationError>),
}

/// Keeps `cancelOrdersAfter` armed while it runs.
#[derive(Debug, Clone)]
pub struct DeadMansSwitch {
    cancel: CancelClient,
    interval: Duration,
    expiry_seconds: u16,
    group: u16,
    alerts: Arc<dyn Alerts>,
}

impl DeadMansSwitch {
    /// A switch that re-arms every `interval` with an expiry of `expiry` (10 to 300 seconds, at
    /// least twice the interval, so one failed re-arm does not let it run out).
    ///
    /// # Errors
    /// [`DeadMansSwitchError::Config`] listing every problem.
    pub fn new(
        cancel: CancelClient,
        interval: Duration,
        expiry: Duration,
    ) -> Result<DeadMansSwitch, DeadMansSwitchError> {
        let mut problems = Vec::new();
        let expiry_seconds = u16::try_from(expiry.as_secs())
            .ok()
            .filter(|s| (10..=300).contains(s) && expiry.subsec_nanos() == 0);
        if expiry_seconds.is_none() {
            problems.push(ValidationError::new(
                "dead_mans_switch.expiry_seconds",
                format!("{expiry:?}"),
                "whole seconds from 10 to 300 (Bitvavo's limits)",
            ));
        }
        if interval < Duration::from_secs(1) || interval.saturating_mul(2) > expiry {
            problems.push(ValidationError::new(
                "dead_mans_switch.interval_seconds",
                format!("{interval:?}"),
                "at least 1 second and at most half the expiry",
            ));
        }
        match expiry_seconds {
            Some(expiry_seconds) if problems.is_empty() => Ok(DeadMansSwitch {
                cancel,
                interval,
                expiry_seconds,
                group: DEFAULT_GROUP,
                alerts: Arc::new(TracingAlerts),
            }),
            _ => Err(DeadMansSwitchError::Config(problems)),
        }
    }

    /// The same switch raising its alerts to `alerts`.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<dyn Alerts>) -> DeadMansSwitch {
        self.alerts = alerts;
        self
    }

    /// Arms at once, re-arms every interval until `shutdown` is cancelled, then disarms.
    /// Never returns early: a failing exchange is retried at every tick.
    pub async fn run(self, shutdown: CancellationToken) {
        let Ok(arm) = CancelOrdersAfter::arm(self.group, self.expiry_seconds) else {
            // `new` validated the expiry; this cannot happen, and if it did, arming nothing is
            // the only honest behaviour.
            tracing::error!("dead man's switch settings refused by the request type; not armed");
            return;
        };
        let expiry = Duration::from_secs(u64::from(self.expiry_seconds));
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_armed: Option<Instant> = None;
        let mut warned = false;
        tracing::info!(
            interval_ms = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            expiry_seconds = self.expiry_seconds,
            "dead man's switch running"
        );
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match self.cancel.cancel_orders_after(&arm).await {
                Ok(ack) => {
                    last_armed = Some(Instant::now());
                    warned = false;
                    tracing::debug!(
                        expires_at_seconds = ack.time_of_expiry_seconds,
                        "dead man's switch re-armed"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not re-arm the dead man's switch; retrying");
                    let running_out =
                        last_armed.is_none_or(|at| at.elapsed() + self.interval >= expiry);
                    if running_out && !warned {
                        warned = true;
                        self.alerts.raise(&Alert {
                            kind: AlertKind::DeadMansSwitch,
                            severity: AlertSeverity::Critical,
                            execution_id: None,
                            user_id: None,
                            message: format!(
                                "the dead man's switch could not be re-armed ({e}); the exchange \
                                 will cancel every open order of the account when it runs out. \
                                 Check the exchange connection and the trade key"
                            ),
                        });
                    }
                }
            }
        }
        match CancelOrdersAfter::disarm(self.group) {
            Ok(disarm) => match self.cancel.cancel_orders_after(&disarm).await {
                Ok(_) => tracing::info!("dead man's switch disarmed (clean shutdown)"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not disarm the dead man's switch; the exchange will cancel open \
                     orders when it runs out"
                ),
            },
            Err(e) => tracing::error!(error = %e, "cannot build the disarm request"),
        }
    }
}

/// Keeps Bitvavo's `cancelOrdersAfter` armed with `cancel` until `shutdown`, re-arming every
/// `interval` with `expiry`, and disarms it on the way out.
///
/// # Errors
/// [`DeadMansSwitchError::Config`] for invalid settings (nothing is armed).
pub async fn run(
    cancel: CancelClient,
    interval: Duration,
    expiry: Duration,
    shutdown: CancellationToken,
) -> Result<(), DeadMansSwitchError> {
    DeadMansSwitch::new(cancel, interval, expiry)?
        .run(shutdown)
        .await;
    Ok(())
}
