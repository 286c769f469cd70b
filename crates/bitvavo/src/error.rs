//! The client's errors, shaped by what the caller does next (bitvavo-api.md section 8.4).
//!
//! - [`BitvavoError::Refused`]: a definite exchange error code; the request was not carried out
//!   (for an order: certainly not placed). For a create or a cancel only the codes listed in
//!   `CREATE_REFUSALS` / `CANCEL_REFUSALS` with a 4xx status are definite; docs/safety.md
//!   has the table. Record it and move on.
//! - [`BitvavoError::ClientOrderIdInUse`]: errorCode 220 on a create; an *open* order already has
//!   this `clientOrderId`, so Vigil's order exists. Look it up; never record the execution as
//!   failed.
//! - [`BitvavoError::Ambiguous`]: the request may have been carried out (timeout after sending,
//!   dropped connection, any 5xx, 101, 109, 240 or any code not named as a refusal of that
//!   request, a 429 that carries no rate-limit code, an order answer that is not JSON). Reconcile; never retry an order blindly.
//! - [`BitvavoError::NotOurOrder`]: a 2xx create answer that does not echo our `clientOrderId`,
//!   market, side or size: not our order; ours may exist. Reconcile by our `clientOrderId`.
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
    /// A successful create answer that is not the answer to our request: it does not echo our
    /// `clientOrderId` (or market, side, size). It is not our order; ours may exist, so the
    /// outcome is unknown and is resolved by OUR `clientOrderId` only.
    #[error("Bitvavo accepted the request but answered with an order that is not ours: {detail}. Our order may exist: resolve it by our clientOrderId (reconcile), never by the order in this answer")]
    NotOurOrder {
        /// What differs.
        detail: String,
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
    /// exchange: true for `Ambiguous`, `ClientOrderIdInUse`, `NotOurOrder` and `Malformed` (a 2xx
    /// answer), false
    /// for `Refused`, `RateLimited` and `NotSent`. The executor keeps the execution in
    /// `SUBMITTING` for the reconciler when this is true.
    #[must_use]
    pub fn order_may_exist(&self) -> bool {
        matches!(
            self,
            Self::Ambiguous { .. }
                | Self::ClientOrderIdInUse { .. }
                | Self::Malformed { .. }
                | Self::NotOurOrder { .. }
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
    /// errorCode 220 on a create: an open order already has our `clientOrderId`, so it exists.
    OrderExists,
    /// May have been carried out.
    Unknown,
    /// Rate limit or ban: not carried out.
    RateLimit,
}

/// What a request does, for reading its error answers: a read is never "carried out" in a way
/// that matters, a create or a cancel is, so for those only the codes the protocol names as
/// definite refusals of THAT request mean "not carried out".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestEffect {
    /// Reads only (market data, balances, lookups).
    Read,
    /// `POST /order`.
    CreateOrder,
    /// `DELETE /order`, `DELETE /orders`, `POST /cancelOrdersAfter`.
    Cancel,
}

impl RequestEffect {
    pub(crate) fn of(mutates: bool, creates_order: bool) -> RequestEffect {
        match (mutates, creates_order) {
            (_, true) => RequestEffect::CreateOrder,
            (true, false) => RequestEffect::Cancel,
            (false, false) => RequestEffect::Read,
        }
    }
}

/// The `errorCode`s that refuse a create definitely (bitvavo-api.md 8.3 and 8.4): the create's
/// validation codes, the authentication and trade-permission codes, and the two "resubmit"
/// codes of the matching engine. Listed one by one, never as ranges: a code that is not here
/// (240 "no order found", the update-only codes 232, 233, 234 and 239, codes the document does
/// not list) is an unknown outcome. And only with an HTTP 4xx status other than 429: every 5xx,
/// and any status that contradicts a refusal, is an unknown outcome too (so 107 and 108, which
/// usually come with 503, are resolved by the reconciler).
pub(crate) const CREATE_REFUSALS: &[i64] = &[
    102, 107, 108, 200, 201, 202, 203, 204, 205, 206, 210, 211, 212, 213, 214, 215, 216, 217, 218,
    219, 230, 231, 235, 236, 237, 238, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 317,
];

/// The `errorCode`s that refuse a cancel definitely (not carried out): validation, 233 (the
/// order is already filled or canceled), 240 (no such order), authentication and permission.
pub(crate) const CANCEL_REFUSALS: &[i64] = &[
    102, 200, 201, 202, 203, 204, 205, 206, 233, 240, 300, 301, 302, 303, 304, 305, 306, 307, 308,
    309, 310, 317,
];

/// Rate-limit and ban codes (not carried out); 110 means a rate-limit block only with HTTP 429.
const RATE_LIMIT_CODES: &[i64] = &[103, 104, 105];

/// Section 8.4 as a function: what an `errorCode` says about the request's outcome. `status` is
/// the HTTP status. For a create or a cancel only the tables above are definite; every other
/// code, every 5xx and every contradictory pair (a refusal code with 429, 101 or 109 with any
/// status) is an unknown outcome.
pub(crate) fn classify_code(code: i64, status: u16, effect: RequestEffect) -> CodeClass {
    match effect {
        RequestEffect::Read => classify_read(code, status),
        RequestEffect::CreateOrder | RequestEffect::Cancel => {
            classify_mutation(code, status, effect)
        }
    }
}

fn classify_mutation(code: i64, status: u16, effect: RequestEffect) -> CodeClass {
    if !(400..500).contains(&status) {
        return CodeClass::Unknown;
    }
    let rate_limit = RATE_LIMIT_CODES.contains(&code);
    if status == 429 {
        return if rate_limit || code == 110 {
            CodeClass::RateLimit
        } else {
            CodeClass::Unknown
        };
    }
    if rate_limit {
        return CodeClass::RateLimit;
    }
    match effect {
        RequestEffect::CreateOrder if code == 220 => CodeClass::OrderExists,
        RequestEffect::CreateOrder if CREATE_REFUSALS.contains(&code) => CodeClass::Definite,
        RequestEffect::Cancel if CANCEL_REFUSALS.contains(&code) => CodeClass::Definite,
        _ => CodeClass::Unknown,
    }
}

/// A read carries nothing out: a refusal code means the answer is not coming (`Refused`), and
/// only 101, 109, 400 and a 5xx without a known code leave it unclear.
fn classify_read(code: i64, status: u16) -> CodeClass {
    match code {
        _ if status == 429 => CodeClass::RateLimit,
        103..=105 => CodeClass::RateLimit,
        // 110 means the rate-limit block with HTTP 429 (handled above); with any other status it
        // is the legacy "invalid endpoint or method", a definite refusal.
        110 => CodeClass::Definite,
        101 | 109 | 400 => CodeClass::Unknown,
        102 | 107 | 108 | 200..=240 | 300..=317 | 401..=414 => CodeClass::Definite,
        _ if status >= 500 => CodeClass::Unknown,
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

    use RequestEffect::{Cancel, CreateOrder, Read};

    #[test]
    fn reads_follow_section_8_4() {
        use CodeClass::{Definite, RateLimit, Unknown};
        for (code, status, want) in [
            (101, 500, Unknown),
            (109, 503, Unknown),
            (240, 404, Definite),
            (105, 400, RateLimit),
            (103, 400, RateLimit),
            (999, 429, RateLimit),
            (110, 400, Definite),
            (999, 400, Definite),
            (999, 502, Unknown),
        ] {
            assert_eq!(
                classify_code(code, status, Read),
                want,
                "code {code} status {status}"
            );
        }
    }

    /// #18 case 1: every code the protocol names as a definite refusal of a create is
    /// "not placed" with each 4xx status it can come with, and with no other status.
    #[test]
    fn i3_each_create_refusal_code_is_definite_only_with_a_4xx_status() {
        for &code in CREATE_REFUSALS {
            for status in [400, 403, 404] {
                assert_eq!(
                    classify_code(code, status, CreateOrder),
                    CodeClass::Definite,
                    "create refused with errorCode {code}, HTTP {status}"
                );
            }
            for status in [200, 302, 429, 500, 502, 503] {
                assert_eq!(
                    classify_code(code, status, CreateOrder),
                    CodeClass::Unknown,
                    "errorCode {code} with HTTP {status} contradicts a refusal"
                );
            }
        }
    }

    /// #18 case 1: codes outside the table are unknown outcomes of a create, whatever the
    /// status: 240 ("no order found": the order may exist), the update-only codes, the
    /// "may have been carried out" codes and codes the document does not list.
    #[test]
    fn i3_a_create_answered_with_a_code_outside_the_table_is_an_unknown_outcome() {
        for code in [
            240, 232, 233, 234, 239, 101, 109, 400, 207, 221, 229, 311, 312, 313, 315, 401, 0, -1,
            999,
        ] {
            for status in [400, 403, 404, 500, 503] {
                assert_eq!(
                    classify_code(code, status, CreateOrder),
                    CodeClass::Unknown,
                    "create answered errorCode {code}, HTTP {status}"
                );
            }
        }
    }

    /// #18 case 3: 429 is read with its code, never before it: 101 and 109 say the request may
    /// have succeeded, so a 429 carrying them is an unknown outcome; only the rate-limit codes
    /// make a 429 "not carried out".
    #[test]
    fn i3_a_429_with_a_may_have_succeeded_code_is_an_unknown_outcome() {
        for code in [101, 109, 205, 216, 240, 999] {
            assert_eq!(
                classify_code(code, 429, CreateOrder),
                CodeClass::Unknown,
                "429 with errorCode {code}"
            );
        }
        for code in [103, 104, 105, 110] {
            assert_eq!(classify_code(code, 429, CreateOrder), CodeClass::RateLimit);
        }
        // 110 without 429 is the legacy "invalid endpoint": not a refusal the table names.
        assert_eq!(classify_code(110, 400, CreateOrder), CodeClass::Unknown);
    }

    #[test]
    fn i1_a_220_on_a_create_means_our_order_exists() {
        assert_eq!(classify_code(220, 400, CreateOrder), CodeClass::OrderExists);
        // With a 5xx the answer is unclear anyway: unknown, resolved by clientOrderId.
        assert_eq!(classify_code(220, 500, CreateOrder), CodeClass::Unknown);
    }

    #[test]
    fn each_cancel_refusal_code_is_definite_and_others_are_unknown() {
        for &code in CANCEL_REFUSALS {
            assert_eq!(
                classify_code(code, 400, Cancel),
                CodeClass::Definite,
                "cancel refused with errorCode {code}"
            );
            assert_eq!(classify_code(code, 503, Cancel), CodeClass::Unknown);
        }
        for code in [101, 109, 216, 220, 230, 999] {
            assert_eq!(
                classify_code(code, 400, Cancel),
                CodeClass::Unknown,
                "{code}"
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
