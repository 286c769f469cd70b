//! Proposal expiry: checked at entry and again when `SUBMITTING` is committed.

use crate::{clock::Timestamp, refusal::Refusal};

/// Refuses at or after `expires_at`.
///
/// # Errors
/// [`Refusal::ProposalExpired`].
pub fn check_expiry(expires_at: Timestamp, now: Timestamp) -> Result<(), Refusal> {
    if now >= expires_at {
        Err(Refusal::ProposalExpired {
            expired_at: expires_at,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;

    #[test]
    fn expiry_is_inclusive() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert!(check_expiry(t, t - Duration::milliseconds(1)).is_ok());
        assert!(check_expiry(t, t).is_err());
    }
}
