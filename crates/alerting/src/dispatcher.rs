//! The background task that drains the alert queue to the webhook, one alert at a time.
//!
//! Shutdown is two-phase (STYLE rule 7): when the token is cancelled the queue is closed (new
//! alerts are counted as dropped and stay in the log), then what is already queued is delivered
//! within `delivery_deadline`; whatever is left after that is counted as dropped.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{webhook, Queued, Shared};

/// Drains the queue of an [`super::AlertDelivery`]; run it once, in its own task.
pub struct AlertDispatcher {
    shared: Arc<Shared>,
    receiver: mpsc::Receiver<Queued>,
}

impl std::fmt::Debug for AlertDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertDispatcher")
            .field("queued", &self.receiver.len())
            .finish_non_exhaustive()
    }
}

impl AlertDispatcher {
    pub(crate) fn new(shared: Arc<Shared>, receiver: mpsc::Receiver<Queued>) -> AlertDispatcher {
        AlertDispatcher { shared, receiver }
    }

    /// Delivers queued alerts until `shutdown` is cancelled (or every [`super::AlertDelivery`]
    /// is dropped), then delivers what is still queued within one delivery deadline.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                next = self.receiver.recv() => match next {
                    Some(queued) => self.deliver(queued).await,
                    // Every sender is gone: nothing more can arrive.
                    None => return,
                },
            }
        }
        self.receiver.close();
        let deadline = self.shared.config.delivery_deadline;
        let drain = async {
            while let Some(queued) = self.receiver.recv().await {
                self.deliver(queued).await;
            }
        };
        if tokio::time::timeout(deadline, drain).await.is_err() {
            let mut left = 0_u64;
            while self.receiver.try_recv().is_ok() {
                self.shared.count_dropped();
                left += 1;
            }
            tracing::warn!(
                left,
                "alert delivery stopped before every queued alert was sent (they are in the log)"
            );
        }
    }

    async fn deliver(&self, queued: Queued) {
        match webhook::deliver(&self.shared, &queued.alert, queued.raised_at).await {
            Ok(report) => {
                self.shared.count_delivered();
                tracing::debug!(
                    kind = queued.alert.kind.as_str(),
                    attempts = report.attempts,
                    "alert delivered to the webhook"
                );
            }
            // `deliver` has logged why.
            Err(_) => self.shared.count_failed(),
        }
    }
}
