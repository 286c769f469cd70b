//! Errors: [`SimError`] for whoever starts the simulator, and [`ApiError`] for what a client of
//! the simulated exchange receives (`{"errorCode": n, "error": "..."}` with an HTTP status).
//!
//! HTTP statuses follow bitvavo-api.md section 8. Where that table says "?", the simulator picks
//! the status of the group the code belongs to (400 for 1xx/2xx validation, 403 for 3xx
//! authentication, 404 for 240, 429 for rate limits, 500 for 101, 503 for 107–109); the choices
//! are listed in docs/simulator.md.

use http::StatusCode;

/// Why the simulator could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration is invalid; every problem names its field.
    #[error("invalid simulator configuration: {}", problems.join("; "))]
    Config {
        /// One entry per problem, each starting with the field path.
        problems: Vec<String>,
    },
    /// A candle CSV for price replay could not be read or parsed.
    #[error("cannot replay candles for {market} from {path}: {reason}")]
    Replay {
        /// The market whose CSV failed.
        market: String,
        /// The file.
        path: String,
        /// What was wrong (with the line number where it applies).
        reason: String,
    },
    /// The listener failed (e.g. its local address could not be read).
    #[error("simulator listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server task panicked or was aborted.
    #[error("simulator task ended abnormally: {0}")]
    Task(String),
}

/// An error answer of the simulated exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Bitvavo's `errorCode`.
    pub code: u16,
    /// The HTTP status sent with it.
    pub status: StatusCode,
    /// Bitvavo's `error` text.
    pub message: String,
}

impl ApiError {
    /// An error with the status of its code's group (see the module docs).
    #[must_use]
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status: status_for(code),
            message: message.into(),
        }
    }

    /// An error with an explicit HTTP status (fault injection may pair any code and status).
    #[must_use]
    pub fn with_status(code: u16, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// 205: `<param> parameter is invalid.`
    #[must_use]
    pub fn invalid(param: &str) -> Self {
        Self::new(205, format!("{param} parameter is invalid."))
    }

    /// 205 with an explanation after the standard text.
    #[must_use]
    pub fn invalid_because(param: &str, why: &str) -> Self {
        Self::new(205, format!("{param} parameter is invalid. {why}"))
    }

    /// 203: `<param> parameter is required.`
    #[must_use]
    pub fn required(param: &str) -> Self {
        Self::new(203, format!("{param} parameter is required."))
    }

    /// 200: a query parameter this endpoint does not take.
    #[must_use]
    pub fn query_not_accepted(param: &str) -> Self {
        Self::new(
            200,
            format!("{param} url parameter is not supported for this endpoint."),
        )
    }

    /// 201: a body parameter this endpoint does not take.
    #[must_use]
    pub fn body_not_accepted(param: &str) -> Self {
        Self::new(
            201,
            format!("{param} body parameter is not supported for this endpoint."),
        )
    }

    /// 202: a parameter the order type does not support.
    #[must_use]
    pub fn not_for_order_type(param: &str, order_type: &str) -> Self {
        Self::new(
            202,
            format!("{param} parameter is not supported for orderType {order_type}."),
        )
    }

    /// 240: no order found (HTTP 404).
    #[must_use]
    pub fn order_not_found() -> Self {
        Self::new(
            240,
            "No order found. Please be aware that simultaneously updating the same order may return this error.",
        )
    }

    /// The JSON body `{"errorCode": n, "error": "..."}`.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "errorCode": self.code, "error": self.message })
    }
}

/// The HTTP status the simulator sends with `code` (see the module docs for the choices).
#[must_use]
pub(crate) fn status_for(code: u16) -> StatusCode {
    match code {
        101 => StatusCode::INTERNAL_SERVER_ERROR,
        103..=105 | 112 => StatusCode::TOO_MANY_REQUESTS,
        107..=109 => StatusCode::SERVICE_UNAVAILABLE,
        240 => StatusCode::NOT_FOUND,
        300..=399 => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_protocol_table() {
        assert_eq!(ApiError::new(304, "x").status, StatusCode::FORBIDDEN);
        assert_eq!(
            ApiError::new(101, "x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            ApiError::new(109, "x").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(ApiError::order_not_found().status, StatusCode::NOT_FOUND);
        assert_eq!(ApiError::new(216, "x").status, StatusCode::BAD_REQUEST);
        assert_eq!(
            ApiError::new(105, "x").status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn body_has_exactly_two_members() {
        let b = ApiError::invalid("market").body();
        assert_eq!(b["errorCode"], 205);
        assert_eq!(b["error"], "market parameter is invalid.");
        assert_eq!(b.as_object().unwrap().len(), 2);
    }
}
