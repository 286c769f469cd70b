//! The rate-limit watch: a `rate_limit_ban` alert when the exchange bans either key.
//!
//! Bitvavo bans a key that exceeds its rate limit for the rest of the minute plus one more
//! (bitvavo-api.md section 7); while it lasts, the executor cannot place or cancel (trade key) or
//! read the facts it needs (read-only key). The clients already refuse to send during a ban;
//! this watch tells a person. Each key's budget is sampled from its client (memory only: the
//! watch sends nothing to the exchange), and each ban is alerted once per key: a ban that
//! continues is not raised again, a new ban (a later `banned_until`) is.
//!
//! The trade key's budget is read through the [`CancelClient`]: the watch never needs the order
//! capability, which only the executor holds (I10).

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{CancelClient, ExchangeKey, RateLimitStatus, ReadOnlyClient};
use vigil_core::{
    alert::{Alert, AlertKind, AlertSeverity, Alerts},
    Timestamp,
};

/// Watches both keys' rate-limit budgets and raises an alert for each new ban.
#[derive(Debug, Clone)]
pub struct RateLimitWatch {
    read_only: ReadOnlyClient,
    trade_key: CancelClient,
    alerts: Arc<dyn Alerts>,
}

impl RateLimitWatch {
    /// A watch over the read-only key (`read_only`) and the trade key (read through `trade_key`,
    /// the cancel capability), raising to `alerts`.
    #[must_use]
    pub fn new(
        read_only: ReadOnlyClient,
        trade_key: CancelClient,
        alerts: Arc<dyn Alerts>,
    ) -> RateLimitWatch {
        RateLimitWatch {
            read_only,
            trade_key,
            alerts,
        }
    }

    /// Samples both keys every `interval` (the first sample at once) until `shutdown` is
    /// cancelled.
    pub async fn run(&self, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bans = BansAlerted::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let samples = [
                (ExchangeKey::ReadOnly, self.read_only.rate_limit()),
                (ExchangeKey::Trade, self.trade_key.rate_limit()),
            ];
            for (key, status) in samples {
                if let Some(alert) = bans.alert_for(key, &status) {
                    self.alerts.raise(&alert);
                }
            }
        }
    }
}

/// The last ban alerted for each key (its `banned_until`).
#[derive(Debug, Default)]
struct BansAlerted {
    read_only: Option<Timestamp>,
    trade: Option<Timestamp>,
}

impl BansAlerted {
    /// The alert for a ban of `key` not alerted yet, remembering it; `None` without a ban or
    /// for one already alerted.
    fn alert_for(&mut self, key: ExchangeKey, status: &RateLimitStatus) -> Option<Alert> {
        let until = status.banned_until?;
        let alerted = match key {
            ExchangeKey::ReadOnly => &mut self.read_only,
            ExchangeKey::Trade => &mut self.trade,
        };
        if *alerted == Some(until) {
            return None;
        }
        *alerted = Some(until);
        let consequence = match key {
            ExchangeKey::ReadOnly => {
                "no market data, balance or order lookup is sent with it until then"
            }
            ExchangeKey::Trade => "no order is placed or cancelled until then",
        };
        Some(Alert {
            kind: AlertKind::RateLimitBan,
            severity: AlertSeverity::Critical,
            execution_id: None,
            user_id: None,
            message: format!(
                "the exchange banned the {} key for exceeding its rate limit until {}; \
                 {consequence}",
                key.label(),
                until.to_rfc3339()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    fn status(banned_until: Option<Timestamp>) -> RateLimitStatus {
        RateLimitStatus {
            limit: 1000,
            remaining: 0,
            reset_at: None,
            banned_until,
        }
    }

    #[test]
    fn a_ban_is_alerted_once() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let key = ExchangeKey::Trade;
        let mut bans = BansAlerted::default();
        assert!(bans.alert_for(key, &status(None)).is_none());
        let alert = bans.alert_for(key, &status(Some(t))).unwrap();
        assert_eq!(alert.kind, AlertKind::RateLimitBan);
        assert_eq!(alert.severity, AlertSeverity::Critical);
        assert!(
            alert.message.contains("the trade key") && alert.message.contains("no order"),
            "{}",
            alert.message
        );
        assert!(
            bans.alert_for(key, &status(Some(t))).is_none(),
            "the same ban twice"
        );
        assert!(
            bans.alert_for(key, &status(Some(t + Duration::minutes(2))))
                .is_some(),
            "a new ban"
        );
    }

    #[test]
    fn each_key_has_its_own_ban() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut bans = BansAlerted::default();
        let trade = bans
            .alert_for(ExchangeKey::Trade, &status(Some(t)))
            .unwrap();
        // The same ban time on the other key is a ban of its own, alerted for that key.
        let read = bans
            .alert_for(ExchangeKey::ReadOnly, &status(Some(t)))
            .unwrap();
        assert!(
            read.message.contains("the read_only key"),
            "{}",
            read.message
        );
        assert!(trade.message.contains("the trade key"), "{}", trade.message);
    }
}
