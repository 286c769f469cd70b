//! The market allowlist (I5): deny by default.
//!
//! Checked twice: when a person creates a proposal ([`check_proposal_market`]: a proposal they
//! could never execute is refused as bad input, before it is stored), and by the executor in the
//! transaction that commits `SUBMITTING` ([`check_allowlist`]), which is the rail: the allowlist
//! may change between creation and execution, and strategies store proposals of their own.

use std::collections::BTreeSet;

use crate::{error::ValidationError, market::Market, refusal::Refusal};

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

/// At proposal creation by a person (CLI, API): refuses a market that is not on the user's
/// allowlist as bad input for `field`, naming the market and, in `how_to_allow`, how to allow it.
/// Nothing else is decided here; the executor checks again ([`check_allowlist`]).
///
/// # Errors
/// A [`ValidationError`] for `field` quoting the market.
pub fn check_proposal_market(
    field: &str,
    allowlist: &BTreeSet<Market>,
    market: &Market,
    how_to_allow: &str,
) -> Result<(), ValidationError> {
    if allowlist.contains(market) {
        return Ok(());
    }
    let allowed = if allowlist.is_empty() {
        "the allowlist is empty, so no market may be traded".to_owned()
    } else {
        let markets: Vec<String> = allowlist.iter().map(ToString::to_string).collect();
        format!("it holds {}", markets.join(", "))
    };
    Err(ValidationError::new(
        field,
        market,
        format!(
            "a market on the user's allowlist (deny by default): {market} is not on it, \
             {allowed}; {how_to_allow}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i5_a_proposal_for_a_market_off_the_allowlist_is_refused_naming_it() {
        let foo = Market::parse("FOO-EUR").unwrap();
        let btc = Market::parse("BTC-EUR").unwrap();
        let how = "allow it with `vigil allowlist add`";
        let err = check_proposal_market("--market", &BTreeSet::new(), &foo, how).unwrap_err();
        assert_eq!(err.field, "--market");
        assert_eq!(err.value, "FOO-EUR");
        assert!(err.expected.contains("the allowlist is empty"), "{err}");
        assert!(err.expected.ends_with(how), "{err}");
        let list: BTreeSet<_> = [btc.clone()].into();
        let err = check_proposal_market("market", &list, &foo, how).unwrap_err();
        assert!(err.expected.contains("it holds BTC-EUR"), "{err}");
        assert!(check_proposal_market("market", &list, &btc, how).is_ok());
    }

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
