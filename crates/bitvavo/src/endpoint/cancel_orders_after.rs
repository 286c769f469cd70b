//! `POST /cancelOrdersAfter`: the exchange-side dead man's switch (bitvavo-api.md 4.20; weight
//! 5). Unless renewed, the exchange cancels the account's open orders when the timer runs out;
//! an expiry of 0 switches it off.

use serde::Serialize;
use serde_json::Value;
use vigil_core::ValidationError;

use super::{compact_json, Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire::Obj, BitvavoError};

/// Arms (or disarms) the dead man's switch of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelOrdersAfter {
    cod_group_id: u16,
    expiry_after_seconds: u16,
}

impl CancelOrdersAfter {
    /// Cancels the open orders after `expiry_after_seconds` (10 to 300) unless renewed.
    ///
    /// # Errors
    /// A [`ValidationError`] naming `cod_group_id` outside 1..=1000 or `expiry_after_seconds`
    /// outside 10..=300.
    pub fn arm(cod_group_id: u16, expiry_after_seconds: u16) -> Result<Self, ValidationError> {
        check_group(cod_group_id)?;
        if !(10..=300).contains(&expiry_after_seconds) {
            return Err(ValidationError::new(
                "expiry_after_seconds",
                expiry_after_seconds,
                "10 to 300 seconds",
            ));
        }
        Ok(Self {
            cod_group_id,
            expiry_after_seconds,
        })
    }

    /// Switches the timer of the group off (expiry 0).
    ///
    /// # Errors
    /// A [`ValidationError`] naming `cod_group_id` outside 1..=1000.
    pub fn disarm(cod_group_id: u16) -> Result<Self, ValidationError> {
        check_group(cod_group_id)?;
        Ok(Self {
            cod_group_id,
            expiry_after_seconds: 0,
        })
    }
}

fn check_group(id: u16) -> Result<(), ValidationError> {
    if (1..=1000).contains(&id) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "cod_group_id",
            id,
            "a group id from 1 to 1000",
        ))
    }
}

/// What the exchange set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelOrdersAfterAck {
    /// The group.
    pub cod_group_id: i64,
    /// When the timer runs out, as Bitvavo reports it (`timeOfExpirySeconds`).
    pub time_of_expiry_seconds: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    cod_group_id: u16,
    expiry_after_seconds: u16,
}

impl Endpoint for CancelOrdersAfter {
    type Response = CancelOrdersAfterAck;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        let body = Body {
            cod_group_id: self.cod_group_id,
            expiry_after_seconds: self.expiry_after_seconds,
        };
        Ok(RequestParts {
            method: reqwest::Method::POST,
            body: Some(compact_json(&body)?),
            mutates: true,
            ..RequestParts::get("POST /v2/cancelOrdersAfter", "/cancelOrdersAfter", 5)
        })
    }

    fn parse(&self, body: &Value) -> Result<CancelOrdersAfterAck, Malformed> {
        let o = Obj::new(body, "")?;
        Ok(CancelOrdersAfterAck {
            cod_group_id: o.int("codGroupId")?,
            time_of_expiry_seconds: o.int("timeOfExpirySeconds")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_bounds() {
        let parts = CancelOrdersAfter::arm(1, 60)
            .unwrap()
            .parts(OperatorId::new(1).unwrap())
            .unwrap();
        assert_eq!(
            parts.body.as_deref(),
            Some(br#"{"codGroupId":1,"expiryAfterSeconds":60}"#.as_slice())
        );
        assert_eq!(parts.weight, 5);
        assert!(CancelOrdersAfter::arm(1, 5).is_err());
        assert!(CancelOrdersAfter::arm(0, 60).is_err());
        assert!(CancelOrdersAfter::disarm(1001).is_err());
        assert_eq!(
            CancelOrdersAfter::disarm(3).unwrap().expiry_after_seconds,
            0
        );
    }
}
