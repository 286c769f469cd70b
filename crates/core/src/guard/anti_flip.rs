//! Anti-flip (I6): no opposite-side order on a market within the policy's window, counting
//! in-flight orders.

use crate::{clock::Timestamp, market::Side, policy::Policy, refusal::Refusal};

use super::MarketActivity;

/// Refuses while the latest order on the opposite side is younger than the anti-flip window.
///
/// # Errors
/// [`Refusal::AntiFlip`] with the time an opposite-side order is allowed.
pub fn check_anti_flip(
    activity: &MarketActivity,
    side: Side,
    policy: &Policy,
    now: Timestamp,
) -> Result<(), Refusal> {
    if let Some(last) = activity.last_on(side.opposite()) {
        let until = last + policy.anti_flip();
        if now < until {
            return Err(Refusal::AntiFlip { until });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    #[test]
    fn i6_anti_flip_only_blocks_the_opposite_side() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let policy = Policy {
            anti_flip_minutes: 60,
            ..Policy::default()
        };
        let activity = MarketActivity {
            last_buy_at: Some(t0),
            last_order_at: Some(t0),
            ..MarketActivity::default()
        };
        assert!(check_anti_flip(&activity, Side::Buy, &policy, t0 + Duration::minutes(1)).is_ok());
        assert_eq!(
            check_anti_flip(&activity, Side::Sell, &policy, t0 + Duration::minutes(59)),
            Err(Refusal::AntiFlip {
                until: t0 + Duration::minutes(60)
            })
        );
        assert!(
            check_anti_flip(&activity, Side::Sell, &policy, t0 + Duration::minutes(60)).is_ok()
        );
    }
}
