//! Kill switches (I4) and the policy's trading switch.

use crate::{policy::Policy, refusal::Refusal};

/// Refuses while the global or the user's kill switch is on; the global one is named first.
///
/// # Errors
/// [`Refusal::KillSwitchGlobal`] or [`Refusal::KillSwitchUser`].
pub fn check_kill_switch(global_on: bool, user_on: bool) -> Result<(), Refusal> {
    if global_on {
        return Err(Refusal::KillSwitchGlobal);
    }
    if user_on {
        return Err(Refusal::KillSwitchUser);
    }
    Ok(())
}

/// Refuses unless the user's policy enables trading.
///
/// # Errors
/// [`Refusal::TradingDisabled`].
pub fn check_trading_enabled(policy: &Policy) -> Result<(), Refusal> {
    if policy.trading_enabled {
        Ok(())
    } else {
        Err(Refusal::TradingDisabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i4_either_switch_refuses() {
        assert_eq!(
            check_kill_switch(true, true),
            Err(Refusal::KillSwitchGlobal)
        );
        assert_eq!(check_kill_switch(false, true), Err(Refusal::KillSwitchUser));
        assert_eq!(check_kill_switch(false, false), Ok(()));
    }
}
