//! The client's errors, shaped by what the caller does next (bitvavo-api.md section 8.4).
//!
//! - [`BitvavoError::Refused`]: a definite exchange error code; the request was not carried out
//!   (for an order: certainly not placed). Record it and move on.
//! - [`BitvavoError::ClientOrderIdInUse`]: errorCode 220 on a create; an *open* order already has
//!   this `clientOrderId`, so Vigil's order exists. Look it up; never record the execution as
//!   failed.
//! - [`BitvavoError::Ambiguous`]: the request may have been carried out (timeout after sending,
//!   dropped connection, 5xx without a definite code, 101, 109, an order answer that is not
//!   JSON). Reconcile; never retry an order blindly.
//! - [`BitvavoError::RateLimited`]: nothing was carried out; try again at `retry_at`.
//! - [`BitvavoError::Malformed`]: a 2xx answer Vigil cannot read; a bug or an API change. For a
//!   create this means the exchange *accepted* the order, so the order exists.
//! - [`BitvavoError::NotSent`]: failed before any byte left (connect refused, DNS); safe to retry.
//!
//! No variant ever carries a secret: messages are built from codes, exchange texts, field names
//! and transport descriptions only.

use vigil_core::Timestamp;

/// Who stopped a request for rate-limit reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitSource {
    /// Vigil's own budget refused to send (the request never left).
    OwnBudget,
    /// The exchange refused it (HTTP 429, or errorCode 103, 104, 105 or 110).
    Exchange {
        /// The exchange's `errorCode`, when the answer had one.
        code: Option<i64>,
    },
}

/// What went wrong with a Bitvavo call; see the module docs for what each variant asks of the
/// caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitvavoError {
    /// The exchange refused the request with a definite error code: it was not carried out.
    /// Never errorCode 220 on a create (that is [`BitvavoError::ClientOrderIdInUse`]).
    #[error("Bitvavo refused the request with errorCode {code} (HTTP {http_status}): {message}. It was not carried out. {}", refusal_hint(*code))]
    Refused {
        /// Bitvavo's `errorCode`.
        code: i64,
        /// Bitvavo's `error` text.
        message: String,
        /// The HTTP status of the answer.
        http_status: u16,
    },
    /// errorCode 220 on a create: an open order already uses this `clientOrderId`. Since Vigil
    /// sends each `clientOrderId` once, that order is Vigil's own.
    #[error("Bitvavo says an open order already uses this clientOrderId (errorCode 220, HTTP {http_status}): {message}. That order exists: look it up by clientOrderId and do not record the execution as failed")]
    ClientOrderIdInUse {
        /// Bitvavo's `error` text.
        message: String,
        /// The HTTP status of the answer.
        http_status: u16,
    },
    /// The request may or may not have been carried out.
    #[error("the outcome is unknown: {detail}. The request may have been carried out; look the order up (reconcile) before acting again, and never resend an order blindly")]
    Ambiguous {
        /// What happened.
        detail: String,
    },
    /// Not carried out because of rate limits; try again at `retry_at` (local clock).
    #[error("rate limited: {detail}. Nothing was carried out; try again after {retry_at}")]
    RateLimited {
        /// When a new attempt may succeed (local clock, UTC).
        retry_at: Timestamp,
        /// Who refused: Vigil's own budget or the exchange.
        by: RateLimitSource,
        /// What happened.
        detail: String,
    },
    /// A successful answer that cannot be read.
    #[error("Bitvavo answered successfully but the answer cannot be read: field {field}: {detail}. This is a bug in Vigil or a change of the Bitvavo API; for an order request the order was accepted and exists")]
    Malformed {
        /// The field path, e.g. `orders[3].amount` (`body` for the whole answer).
        field: String,
        /// What was wrong.
        detail: String,
    },
    /// Failed before any byte of the request left this machine.
    #[error(
        "the request was not sent: {detail}. Nothing reached Bitvavo, so trying again is safe"
    )]
    NotSent {
        /// Why.
        detail: String,
    },
}

impl BitvavoError {
    /// Whether an order request that ended with this error may have left an order on the
    /// exchange: true for `Ambiguous`, `ClientOrderIdInUse` and `Malformed` (a 2xx answer), false
    /// for `Refused`, `RateLimited` and `NotSent`. The executor keeps the execution in
    /// `SUBMITTING` for the reconciler when this is true.
    #[must_use]
    pub fn order_may_exist(&self) -> bool {
        matches!(
            self,
            Self::Ambiguous { .. } | Self::ClientOrderIdInUse { .. } | Self::Malformed { .. }
        )
    }

    /// The exchange's `errorCode` when the exchange answered with one.
    #[must_use]
    pub fn error_code(&self) -> Option<i64> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::ClientOrderIdInUse { .. } => Some(220),
            Self::RateLimited {
                by: RateLimitSource::Exchange { code },
                ..
            } => *code,
            _ => None,
        }
    }

    /// Whether this is errorCode 240, "no order found" (the reconciler asks again before
    /// believing it, bitvavo-api.md 11.2).
    #[must_use]
    pub fn is_order_not_found(&self) -> bool {
        matches!(self, Self::Refused { code: 240, .. })
    }
}

/// A field of a successful answer that could not be read; becomes [`BitvavoError::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) field: String,
    pub(crate) detail: String,
}

impl Malformed {
    pub(crate) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

impl From<Malformed> for BitvavoError {
    fn from(m: Malformed) -> Self {
        Self::Malformed {
            field: m.field,
            detail: m.detail,
        }
    }
}

/// How an error answer with a Bitvavo `errorCode` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeClass {
    /// Definitely not carried out.
    Definite,
    /// May have been carried out.
    Unknown,
    /// Rate limit or ban.
    RateLimit,
}

/// Section 8.4 as a function: what an `errorCode` says about the request's outcome. `status` is
/// the HTTP status; `mutates` says whether the request creates or cancels something (then an
/// unrecognised code is treated as unknown, never as definite).
pub(crate) fn classify_code(code: i64, status: u16, mutates: bool) -> CodeClass {
    match code {
        _ if status == 429 => CodeClass::RateLimit,
        103..=105 => CodeClass::RateLimit,
        // 110 means the rate-limit block with HTTP 429 (handled above); with any other status it
        // is the legacy "invalid endpoint or method", a definite refusal.
        110 => CodeClass::Definite,
        101 | 109 | 400 => CodeClass::Unknown,
        102 | 107 | 108 | 200..=240 | 300..=317 | 401..=414 => CodeClass::Definite,
        _ if mutates || status >= 500 => CodeClass::Unknown,
        _ => CodeClass::Definite,
    }
}

/// What to do about a refusal, in words the operator can act on.
fn refusal_hint(code: i64) -> &'static str {
    match code {
        102 | 200..=206 | 210..=215 | 217..=219 | 231..=239 => {
            "The request broke a rule of the endpoint or market (see the message); check the market rules from /markets."
        }
        107 | 108 => "The matching engine was busy or too slow; the order was not placed and may be sent again with a new check.",
        216 => "The balance is insufficient for this order.",
        220 => "An open order already uses this clientOrderId.",
        240 => "No such order was found; if it was just placed, ask again before concluding it does not exist.",
        300..=303 | 308 => "The request's authentication headers are invalid; this is a client bug, report it.",
        304 => "The request arrived after its access window: check the local clock (the client's clock sync) or widen access_window.",
        305 | 306 => "The API key is unknown or not activated; check the key in the Bitvavo dashboard (new keys must be confirmed by e-mail).",
        307 => "The API key is not allowed from this IP address; add it to the key's IP whitelist.",
        309 => "The signature is invalid: the API secret does not belong to the API key; check the configured secret.",
        310 => "The API key lacks the Trade permission; the trade key must have it (and only the trade key).",
        311 => "The API key lacks the View permission; give the read-only key the View permission.",
        317 => "The account is locked; contact Bitvavo.",
        _ => "See the message for the reason.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_section_8_4() {
        use CodeClass::{Definite, RateLimit, Unknown};
        for (code, status, mutates, want) in [
            (101, 500, true, Unknown),
            (101, 500, false, Unknown),
            (109, 503, true, Unknown),
            (400, 500, true, Unknown),
            (107, 503, true, Definite),
            (108, 503, true, Definite),
            (102, 400, true, Definite),
            (205, 400, true, Definite),
            (216, 400, true, Definite),
            (220, 400, true, Definite),
            (233, 400, true, Definite),
            (240, 404, false, Definite),
            (304, 403, true, Definite),
            (309, 403, true, Definite),
            (310, 403, true, Definite),
            (110, 429, true, RateLimit),
            (105, 429, true, RateLimit),
            (105, 400, false, RateLimit),
            (103, 400, false, RateLimit),
            (999, 429, false, RateLimit),
            (110, 400, false, Definite),
            (999, 400, true, Unknown),
            (999, 400, false, Definite),
            (999, 502, false, Unknown),
            (-1, 400, true, Unknown),
        ] {
            assert_eq!(
                classify_code(code, status, mutates),
                want,
                "code {code} status {status} mutates {mutates}"
            );
        }
    }

    #[test]
    fn only_possibly_placed_outcomes_say_the_order_may_exist() {
        let ambiguous = BitvavoError::Ambiguous { detail: "x".into() };
        let refused = BitvavoError::Refused {
            code: 216,
            message: "m".into(),
            http_status: 400,
        };
        let in_use = BitvavoError::ClientOrderIdInUse {
            message: "m".into(),
            http_status: 400,
        };
        let not_sent = BitvavoError::NotSent { detail: "x".into() };
        let malformed = BitvavoError::from(Malformed::new("orderId", "missing"));
        assert!(ambiguous.order_may_exist());
        assert!(in_use.order_may_exist());
        assert!(malformed.order_may_exist());
        assert!(!refused.order_may_exist());
        assert!(!not_sent.order_may_exist());
        assert_eq!(in_use.error_code(), Some(220));
        assert_eq!(refused.error_code(), Some(216));
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = BitvavoError::Refused {
            code: 304,
            message: "Request was not received within acceptance window.".into(),
            http_status: 403,
        };
        assert!(e.to_string().contains("clock"), "{e}");
        let e = BitvavoError::Refused {
            code: 309,
            message: "The signature is invalid.".into(),
            http_status: 403,
        };
        assert!(e.to_string().contains("secret"), "{e}");
        assert!(BitvavoError::Refused {
            code: 240,
            message: String::new(),
            http_status: 404
        }
        .is_order_not_found());
    }
}
