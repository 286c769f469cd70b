//! The market allowlist (I5): deny by default.

use std::collections::BTreeSet;

use crate::{market::Market, refusal::Refusal};

/// Refuses a market that is not on the allowlist; an empty allowlist refuses everything.
///
/// # Errors
/// [`Refusal::MarketNotAllowlisted`].
pub fn check_allowlist(allowlist: &BTreeSet<Market>, market: &Market) -> Result<(), Refusal> {
    if allowlist.contains(market) {
        Ok(())
    } else {
        Err(Refusal::MarketNotAllowlisted {
            market: market.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i5_empty_allowlist_refuses_everything() {
        let btc = Market::parse("BTC-EUR").unwrap();
        assert!(check_allowlist(&BTreeSet::new(), &btc).is_err());
        let list: BTreeSet<_> = [Market::parse("ETH-EUR").unwrap()].into();
        assert!(check_allowlist(&list, &btc).is_err());
        let list: BTreeSet<_> = [btc.clone()].into();
        assert!(check_allowlist(&list, &btc).is_ok());
    }
}
