//! Notional caps (I7): per order, and per UTC day counting in-flight orders.

use crate::{money::Notional, policy::Policy, refusal::Refusal};

/// Refuses an order worth more than the per-order cap (equal to the cap is allowed).
///
/// # Errors
/// [`Refusal::CapPerOrder`].
pub fn check_order_cap(policy: &Policy, requested: Notional) -> Result<(), Refusal> {
    if requested > policy.order_notional_max {
        return Err(Refusal::CapPerOrder {
            limit: policy.order_notional_max,
            requested,
        });
    }
    Ok(())
}

/// Refuses an order that would take the day's total past the daily cap.
///
/// # Errors
/// [`Refusal::CapDaily`].
pub fn check_daily_cap(
    policy: &Policy,
    used: Notional,
    requested: Notional,
) -> Result<(), Refusal> {
    if used + requested > policy.daily_notional_max {
        return Err(Refusal::CapDaily {
            limit: policy.daily_notional_max,
            used,
            requested,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i7_caps_are_inclusive_limits() {
        let p = Policy::default(); // 25 per order, 100 per day
        assert!(check_order_cap(&p, Notional::from_whole(25)).is_ok());
        assert!(check_order_cap(&p, Notional::from_whole(26)).is_err());
        assert!(check_daily_cap(&p, Notional::from_whole(75), Notional::from_whole(25)).is_ok());
        assert!(check_daily_cap(&p, Notional::from_whole(76), Notional::from_whole(25)).is_err());
    }
}
