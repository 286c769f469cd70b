//! Cooldown (I6): no two orders by a user on one market within the policy's window, counting
//! in-flight orders; and no new order while an earlier one's outcome is unknown (I3).

use crate::{clock::Timestamp, policy::Policy, refusal::Refusal};

use super::MarketActivity;

/// Refuses while the latest order on the market is younger than the cooldown.
///
/// # Errors
/// [`Refusal::CooldownActive`] with the time the next order is allowed.
pub fn check_cooldown(
    activity: &MarketActivity,
    policy: &Policy,
    now: Timestamp,
) -> Result<(), Refusal> {
    if let Some(last) = activity.last_order_at {
        let until = last + policy.cooldown();
        if now < until {
            return Err(Refusal::CooldownActive { until });
        }
    }
    Ok(())
}

/// Refuses while an execution on this market has an unknown outcome.
///
/// # Errors
/// [`Refusal::UnresolvedExecution`].
pub fn check_unresolved(activity: &MarketActivity) -> Result<(), Refusal> {
    match activity.unresolved {
        Some(execution_id) => Err(Refusal::UnresolvedExecution { execution_id }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    #[test]
    fn i6_cooldown_window_is_half_open() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let policy = Policy {
            cooldown_minutes: 5,
            ..Policy::default()
        };
        let activity = MarketActivity {
            last_order_at: Some(t0),
            ..MarketActivity::default()
        };
        assert_eq!(
            check_cooldown(&activity, &policy, t0 + Duration::minutes(4)),
            Err(Refusal::CooldownActive {
                until: t0 + Duration::minutes(5)
            })
        );
        assert!(check_cooldown(&activity, &policy, t0 + Duration::minutes(5)).is_ok());
        assert!(check_cooldown(&MarketActivity::default(), &policy, t0).is_ok());
    }
}
