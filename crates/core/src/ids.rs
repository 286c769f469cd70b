//! Typed identifiers: one type per entity, so a proposal id can never be passed where an
//! execution id is expected.
//!
//! All ids are UUIDs. New ids are random (v4); parsing accepts any canonical UUID text.
//! [`ClientOrderId`] is the id Vigil sends to Bitvavo as `clientOrderId`: it is always rendered
//! as a lower-case hyphenated UUID, which is the shape the exchange accepts.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ValidationError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID (e.g. read back from the database).
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the canonical text form.
            ///
            /// # Errors
            /// A [`ValidationError`] naming the field when the text is not a UUID.
            pub fn parse(text: &str) -> Result<Self, ValidationError> {
                Uuid::parse_str(text.trim())
                    .map(Self)
                    .map_err(|_| ValidationError::new($field, text, "a UUID such as 0f8e3a52-5d0e-4c8e-9d59-3f1f7e0c2b6a"))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A Vigil user (an account holder whose policy, allowlist and kill switch apply).
    UserId,
    "user_id"
);
uuid_id!(
    /// A trade proposal.
    ProposalId,
    "proposal_id"
);
uuid_id!(
    /// One hardened attempt to turn a proposal into an order; at most one per (user, proposal).
    ExecutionId,
    "execution_id"
);
uuid_id!(
    /// The id Vigil chooses for an order and sends as `clientOrderId`; stored before sending,
    /// it is how Vigil finds its order on the exchange again (I3).
    ClientOrderId,
    "client_order_id"
);
uuid_id!(
    /// A scheduled scan job.
    ScanJobId,
    "scan_job_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_id_renders_lower_case_hyphenated() {
        let id = ClientOrderId::parse("2BE7D0DF-D8DC-7B93-A550-8876F3B393E9").unwrap();
        assert_eq!(id.to_string(), "2be7d0df-d8dc-7b93-a550-8876f3b393e9");
    }

    #[test]
    fn bad_id_names_field() {
        let err = ProposalId::parse("nope").unwrap_err();
        assert_eq!(err.field, "proposal_id");
        assert_eq!(err.value, "nope");
    }
}
