//! `GET /time`: the exchange's clock (bitvavo-api.md 4.1; weight 1).
//!
//! Sent unsigned: the client uses it to measure its clock offset, so it must work even when the
//! local clock is so far off that a signed request would be refused with 304.

use serde_json::Value;
use vigil_core::Timestamp;

use super::{Endpoint, RequestParts};
use crate::{config::OperatorId, error::Malformed, wire::Obj, BitvavoError};

/// Asks for the server time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerTimeQuery;

/// The exchange's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTime {
    /// Milliseconds, as `time`.
    pub time: Timestamp,
    /// Nanoseconds, as `timeNs` (newer answers only; beyond 2^53, so never read via a float).
    pub time_ns: Option<i64>,
}

impl Endpoint for ServerTimeQuery {
    type Response = ServerTime;

    fn parts(&self, _operator: OperatorId) -> Result<RequestParts, BitvavoError> {
        Ok(RequestParts {
            signed: false,
            ..RequestParts::get("GET /v2/time", "/time", 1)
        })
    }

    fn parse(&self, body: &Value) -> Result<ServerTime, Malformed> {
        let o = Obj::new(body, "")?;
        let ms = o.int("time")?;
        // The clock offset is computed from this; a time outside 2000..2100 is garbage.
        let time = crate::wire::plausible_time_ms(ms).ok_or_else(|| {
            Malformed::new("time", format!("{ms} ms is not a plausible exchange time"))
        })?;
        Ok(ServerTime {
            time,
            time_ns: o.opt_int("timeNs")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ns_beyond_two_to_the_53_is_exact() {
        let body: Value =
            serde_json::from_str(r#"{"time": 1752139200000, "timeNs": 1752139200000000001}"#)
                .unwrap();
        let t = ServerTimeQuery.parse(&body).unwrap();
        assert_eq!(t.time_ns, Some(1_752_139_200_000_000_001));
        assert_eq!(t.time.timestamp_millis(), 1_752_139_200_000);
        assert_eq!(
            ServerTimeQuery
                .parse(&serde_json::json!({"time": 1}))
                .unwrap_err()
                .field,
            "time"
        );
        let parts = ServerTimeQuery.parts(OperatorId::new(1).unwrap()).unwrap();
        assert!(!parts.signed);
    }
}
