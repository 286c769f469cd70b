//! Reading an HTTP answer into a result: the error model of bitvavo-api.md section 8 as a pure
//! function of status, body and headers, so every branch is unit-tested without a server.
//!
//! The rules, in order:
//! - 2xx with a JSON body: success. 2xx without JSON: `Ambiguous` for a request that creates or
//!   cancels something (it was accepted, but we cannot tell what happened), `Malformed` for a read.
//! - An error body `{"errorCode": n, "error": "..."}`: classified by the code AND the status
//!   ([`classify_code`]): for a create or a cancel only the codes the protocol names as definite
//!   refusals of that request, with a 4xx status, are `Refused`; errorCode 220 on a create
//!   becomes `ClientOrderIdInUse`; everything else is `Ambiguous`.
//! - HTTP 429 without a code: rate limited for a read, `Ambiguous` for a create or a cancel (an
//!   answer that cannot be read proves nothing about what was carried out).
//! - Anything else (5xx from a proxy, an HTML error page, an empty body): `Ambiguous`.

use reqwest::header::HeaderMap;
use serde_json::Value;
use vigil_core::Timestamp;

use crate::{
    error::{classify_code, BitvavoError, CodeClass, RateLimitSource, RequestEffect},
    rate_limit::Observation,
    wire,
};

/// The longest ban the client believes: a garbled expiry must not silence it for days.
const BAN_MAX: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The `bitvavo-ratelimit-*` headers of an answer (any may be missing or unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    pub(crate) limit: Option<u32>,
    pub(crate) remaining: Option<i64>,
    /// `resetat`, in exchange milliseconds.
    pub(crate) reset_at_ms: Option<i64>,
}

impl RateHeaders {
    pub(crate) fn read(headers: &HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        Self {
            limit: number("bitvavo-ratelimit-limit").and_then(|v| u32::try_from(v).ok()),
            remaining: number("bitvavo-ratelimit-remaining"),
            reset_at_ms: number("bitvavo-ratelimit-resetat"),
        }
    }

    /// The reset time on the local clock: exchange time minus the clock offset.
    fn reset_at_local(&self, offset_ms: i64) -> Option<Timestamp> {
        self.reset_at_ms
            .and_then(|ms| wire::plausible_time_ms(ms.saturating_sub(offset_ms)))
    }

    /// What the budget learns from these headers.
    pub(crate) fn observation(&self, offset_ms: i64) -> Option<Observation> {
        Some(Observation {
            limit: self.limit,
            remaining: self.remaining?,
            reset_at: self.reset_at_local(offset_ms)?,
        })
    }
}

/// What the request was, for reading its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerContext<'a> {
    /// `METHOD /v2/template`.
    pub(crate) name: &'a str,
    pub(crate) mutates: bool,
    pub(crate) creates_order: bool,
    /// The local clock when the answer arrived.
    pub(crate) now: Timestamp,
    /// Exchange minus local clock, in ms.
    pub(crate) offset_ms: i64,
}

/// The result of reading an answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    Success(Value),
    Failure {
        error: BitvavoError,
        /// Set when the exchange banned the key: send nothing until then (local clock).
        ban_until: Option<Timestamp>,
    },
}

impl Answer {
    fn fail(error: BitvavoError) -> Self {
        Self::Failure {
            error,
            ban_until: None,
        }
    }
}

/// At most 200 characters of a body, for messages.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}

/// Reads an answer; see the module docs.
pub(crate) fn read_answer(
    status: u16,
    body: &[u8],
    rate: &RateHeaders,
    ctx: &AnswerContext<'_>,
) -> Answer {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return match json {
            Some(value) => Answer::Success(value),
            None if ctx.mutates => Answer::fail(BitvavoError::Ambiguous {
                detail: format!(
                    "{} was answered with HTTP {status} but the body is not JSON: {}",
                    ctx.name,
                    body_excerpt(body)
                ),
            }),
            None => Answer::fail(BitvavoError::Malformed {
                field: "body".into(),
                detail: format!("not JSON: {}", body_excerpt(body)),
            }),
        };
    }
    let effect = RequestEffect::of(ctx.mutates, ctx.creates_order);
    let coded = json.as_ref().and_then(|v| {
        let code = wire::int_value(v.get("errorCode")?).ok()?;
        let message = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(500)
            .collect::<String>();
        Some((code, message))
    });
    match coded {
        Some((code, message)) => match classify_code(code, status, effect) {
            CodeClass::OrderExists => Answer::fail(BitvavoError::ClientOrderIdInUse {
                message,
                http_status: status,
            }),
            CodeClass::Definite => Answer::fail(BitvavoError::Refused {
                code,
                message,
                http_status: status,
            }),
            CodeClass::Unknown => ambiguous(
                format!(
                    "{} was answered with errorCode {code} (HTTP {status}): {message}",
                    ctx.name
                ),
                status,
                Some(code),
                &message,
                rate,
                ctx,
            ),
            CodeClass::RateLimit => rate_limited(Some(code), status, &message, rate, ctx),
        },
        None if status == 429 && effect == RequestEffect::Read => {
            rate_limited(None, status, &body_excerpt(body), rate, ctx)
        }
        None => ambiguous(
            format!(
                "{} was answered with HTTP {status} without a Bitvavo error code: {}",
                ctx.name,
                body_excerpt(body)
            ),
            status,
            None,
            "",
            rate,
            ctx,
        ),
    }
}

/// An unknown outcome. When the status is 429 (a contradictory answer, such as 101 with 429, or
/// a 429 on a create without a readable code), the key still stays away as for a rate limit:
/// the outcome is unknown, and the exchange asked for a pause.
fn ambiguous(
    detail: String,
    status: u16,
    code: Option<i64>,
    message: &str,
    rate: &RateHeaders,
    ctx: &AnswerContext<'_>,
) -> Answer {
    Answer::Failure {
        error: BitvavoError::Ambiguous { detail },
        ban_until: (status == 429).then(|| stay_away_until(code, message, rate, ctx)),
    }
}

/// A rate-limit refusal: how long to stay away, and the error.
fn rate_limited(
    code: Option<i64>,
    status: u16,
    message: &str,
    rate: &RateHeaders,
    ctx: &AnswerContext<'_>,
) -> Answer {
    let until = stay_away_until(code, message, rate, ctx);
    let code_text = code.map_or_else(String::new, |c| format!("errorCode {c}, "));
    Answer::Failure {
        error: BitvavoError::RateLimited {
            retry_at: until,
            by: RateLimitSource::Exchange { code },
            detail: format!(
                "Bitvavo refused {} ({code_text}HTTP {status}): {message}",
                ctx.name
            ),
        },
        ban_until: Some(until),
    }
}

/// How long a key stays away after a rate-limit answer (local clock).
fn stay_away_until(
    code: Option<i64>,
    message: &str,
    rate: &RateHeaders,
    ctx: &AnswerContext<'_>,
) -> Timestamp {
    let now = ctx.now;
    let reset = rate.reset_at_local(ctx.offset_ms);
    match code {
        // "... The ban expires at <ms>." (the shape the official SDK parses), or "... blocked
        // until <ms>." where a 110 carries its end.
        Some(105 | 110) => ban_expiry(message)
            .and_then(|ms| wire::plausible_time_ms(ms.saturating_sub(ctx.offset_ms))),
        // The order-rate limit is per second.
        Some(104) => Some(now + chrono::TimeDelta::seconds(1)),
        Some(103) => reset,
        _ => None,
    }
    // A key ban lasts until the end of the minute after the current one.
    .or_else(|| reset.map(|r| r + chrono::TimeDelta::minutes(1)))
    .unwrap_or(now + chrono::TimeDelta::minutes(2))
    .clamp(now + chrono::TimeDelta::seconds(1), now + BAN_MAX)
}

/// The `<ms>` of "... expires at <ms>." (105) or "... blocked until <ms>." (110).
fn ban_expiry(message: &str) -> Option<i64> {
    let (_, rest) = message
        .rsplit_once(" at ")
        .or_else(|| message.rsplit_once(" until "))?;
    let digits: String = rest
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};
    use serde_json::json;

    use super::*;

    fn now() -> Timestamp {
        DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
    }

    fn ctx(mutates: bool, creates_order: bool) -> AnswerContext<'static> {
        AnswerContext {
            name: "POST /v2/order",
            mutates,
            creates_order,
            now: now(),
            offset_ms: 0,
        }
    }

    fn error(status: u16, body: &str, ctx: &AnswerContext<'_>) -> BitvavoError {
        match read_answer(status, body.as_bytes(), &RateHeaders::default(), ctx) {
            Answer::Failure { error, .. } => error,
            Answer::Success(v) => panic!("unexpected success {v}"),
        }
    }

    #[test]
    fn success_needs_json_and_an_unreadable_order_answer_is_ambiguous() {
        let h = RateHeaders::default();
        assert_eq!(
            read_answer(200, br#"{"a":1}"#, &h, &ctx(true, true)),
            Answer::Success(json!({"a": 1}))
        );
        assert!(matches!(
            error(200, "<html>", &ctx(true, true)),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(200, "", &ctx(false, false)),
            BitvavoError::Malformed { field, .. } if field == "body"
        ));
    }

    #[test]
    fn codes_are_classified() {
        let create = ctx(true, true);
        assert!(matches!(
            error(
                500,
                r#"{"errorCode":101,"error":"Unknown error."}"#,
                &create
            ),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(503, r#"{"errorCode":109,"error":"x"}"#, &create),
            BitvavoError::Ambiguous { .. }
        ));
        assert_eq!(
            error(403, r#"{"errorCode":304,"error":"late"}"#, &create),
            BitvavoError::Refused {
                code: 304,
                message: "late".into(),
                http_status: 403
            }
        );
        assert!(matches!(
            error(400, r#"{"errorCode":220,"error":"dup"}"#, &create),
            BitvavoError::ClientOrderIdInUse {
                http_status: 400,
                ..
            }
        ));
        // 220 to a cancel is no refusal the protocol names for it: unknown, never "not done";
        // to a read it is an ordinary refusal.
        assert!(matches!(
            error(400, r#"{"errorCode":220,"error":"dup"}"#, &ctx(true, false)),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(
                400,
                r#"{"errorCode":220,"error":"dup"}"#,
                &ctx(false, false)
            ),
            BitvavoError::Refused { code: 220, .. }
        ));
        // #18 cases 1 and 3: "no order found" and a 429 with 101 or 109 answer a create with
        // an unknown outcome, and the 429 still makes the key stay away.
        for status in [400, 403, 404, 500, 503] {
            assert!(matches!(
                error(
                    status,
                    r#"{"errorCode":240,"error":"No order found."}"#,
                    &create
                ),
                BitvavoError::Ambiguous { .. }
            ));
        }
        for code in [101, 109] {
            let body = format!(r#"{{"errorCode":{code},"error":"may or may not have succeeded"}}"#);
            let Answer::Failure { error, ban_until } =
                read_answer(429, body.as_bytes(), &RateHeaders::default(), &create)
            else {
                panic!("a 429 is a failure");
            };
            assert!(matches!(error, BitvavoError::Ambiguous { .. }), "{error:?}");
            assert!(ban_until.is_some(), "a 429 still stops the key for a while");
        }
        assert!(matches!(
            error(429, "", &create),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(502, "Bad Gateway", &create),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(404, "", &ctx(false, false)),
            BitvavoError::Ambiguous { .. }
        ));
        assert!(matches!(
            error(
                400,
                r#"{"errorCode":"205","error":"amount parameter is invalid."}"#,
                &create
            ),
            BitvavoError::Refused { code: 205, .. }
        ));
    }

    #[test]
    fn bans_from_headers_or_the_105_message() {
        let c = ctx(false, false);
        let rate = RateHeaders {
            limit: Some(1000),
            remaining: Some(0),
            reset_at_ms: Some(1_700_000_040_000),
        };
        let Answer::Failure { error, ban_until } = read_answer(
            429,
            br#"{"errorCode":110,"error":"Rate limit exceeded."}"#,
            &rate,
            &c,
        ) else {
            panic!()
        };
        let reset = DateTime::from_timestamp_millis(1_700_000_040_000).unwrap();
        assert_eq!(ban_until, Some(reset + TimeDelta::minutes(1)));
        assert!(matches!(
            error,
            BitvavoError::RateLimited {
                by: RateLimitSource::Exchange { code: Some(110) },
                ..
            }
        ));
        let legacy = r#"{"errorCode":105,"error":"Your IP or API key has been banned for not respecting the rate limit. The ban expires at 1700000090000."}"#;
        let Answer::Failure { ban_until, .. } =
            read_answer(429, legacy.as_bytes(), &RateHeaders::default(), &c)
        else {
            panic!()
        };
        assert_eq!(
            ban_until,
            DateTime::from_timestamp_millis(1_700_000_090_000)
        );
        let until = r#"{"errorCode":110,"error":"Rate limit exceeded. You are blocked until 1700000100000."}"#;
        let Answer::Failure { ban_until, .. } = read_answer(429, until.as_bytes(), &rate, &c)
        else {
            panic!()
        };
        assert_eq!(
            ban_until,
            DateTime::from_timestamp_millis(1_700_000_100_000)
        );
        // A 429 without any body or headers still stops the key for a while.
        let Answer::Failure { ban_until, .. } = read_answer(429, b"", &RateHeaders::default(), &c)
        else {
            panic!()
        };
        assert_eq!(ban_until, Some(now() + TimeDelta::minutes(2)));
        // A garbled expiry far in the future is capped.
        let far = r#"{"errorCode":105,"error":"The ban expires at 4000000000000."}"#;
        let Answer::Failure { ban_until, .. } =
            read_answer(429, far.as_bytes(), &RateHeaders::default(), &c)
        else {
            panic!()
        };
        assert_eq!(ban_until, Some(now() + BAN_MAX));
    }

    #[test]
    fn clock_offset_moves_exchange_times_to_local_time() {
        let rate = RateHeaders {
            limit: Some(1000),
            remaining: Some(10),
            reset_at_ms: Some(1_700_000_060_000),
        };
        // The exchange is 5 s ahead: its reset is 5 s earlier on our clock.
        let o = rate.observation(5_000).unwrap();
        assert_eq!(o.reset_at.timestamp_millis(), 1_700_000_055_000);
        assert_eq!(RateHeaders::default().observation(0), None);
    }

    #[test]
    fn implausible_exchange_times_are_ignored() {
        // The largest representable time: adding a minute to it would panic.
        let max_ms = chrono::DateTime::<chrono::Utc>::MAX_UTC.timestamp_millis();
        let rate = RateHeaders {
            limit: Some(10),
            remaining: Some(0),
            reset_at_ms: Some(max_ms),
        };
        assert_eq!(rate.observation(0), None);
        let c = ctx(false, false);
        let Answer::Failure { ban_until, .. } = read_answer(429, b"", &rate, &c) else {
            panic!()
        };
        assert_eq!(ban_until, Some(now() + TimeDelta::minutes(2)));
        let far = format!(r#"{{"errorCode":105,"error":"The ban expires at {max_ms}."}}"#);
        let Answer::Failure { ban_until, .. } =
            read_answer(429, far.as_bytes(), &RateHeaders::default(), &c)
        else {
            panic!()
        };
        assert_eq!(ban_until, Some(now() + TimeDelta::minutes(2)));
    }

    #[test]
    fn garbage_never_panics() {
        let bodies: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"null".to_vec(),
            b"[]".to_vec(),
            b"{\"errorCode\": 1e400}".to_vec(),
            b"{\"errorCode\": 99999999999999999999999}".to_vec(),
            b"{\"errorCode\": null, \"error\": 5}".to_vec(),
            vec![0xff, 0xfe, 0x00],
            "[".repeat(10_000).into_bytes(),
            format!("{{\"errorCode\":105,\"error\":\"at {}\"}}", "9".repeat(400)).into_bytes(),
        ];
        for status in [200, 201, 400, 403, 404, 429, 500, 503, 599] {
            for body in &bodies {
                for c in [ctx(true, true), ctx(false, false)] {
                    drop(read_answer(status, body, &RateHeaders::default(), &c));
                }
            }
        }
    }
}
