//! Request authentication, exactly as bitvavo-api.md sections 2 and 11.3 describe it.
//!
//! The signed string is `timestamp + METHOD + request target + body`, where the request target is
//! the raw path and query as received (never re-encoded or re-ordered: ccxt sends `operatorId`
//! before `clientOrderId`, and the signature covers that order). Which body text counts depends
//! on the client (section 2.2), so a request is accepted when the signature matches any of:
//! 1. GET and DELETE: the empty string only (the Python SDK sends an unsigned `{}`);
//! 2. POST and PUT: the raw body bytes;
//! 3. the body minified with non-ASCII as raw UTF-8 (JavaScript, orjson);
//! 4. the body minified with non-ASCII escaped (Python), with `{}` counting as empty.
//!
//! Checks run in this order, each with its error code: key present (300), key length (301),
//! timestamp (302), window (303), signature length (308), key known (305), signature value (309),
//! request age against the sim clock (304, HTTP 403). Comparisons of signatures are constant-time.

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::{
    canonical_json::{minify, NonAscii},
    error::ApiError,
};

type HmacSha256 = Hmac<Sha256>;

/// The access window when the client sends none (Bitvavo's default).
pub const DEFAULT_WINDOW_MS: i64 = 10_000;

/// Lower-case hex HMAC-SHA256 of `prehash`, keyed with the secret's UTF-8 bytes.
#[must_use]
pub fn sign(secret: &str, prehash: &str) -> String {
    mac(secret.as_bytes(), &[prehash.as_bytes()])
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// The MAC over `parts`; `None` only if the HMAC implementation refused the key, which it never
/// does for HMAC (any key length is valid), and which then fails every check closed.
fn mac(secret: &[u8], parts: &[&[u8]]) -> Option<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(secret).ok()?;
    for p in parts {
        m.update(p);
    }
    Some(m)
}

/// The authentication headers of a request, read case-insensitively.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessHeaders<'a> {
    pub(crate) key: Option<&'a str>,
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
    window: Option<&'a str>,
}

impl<'a> AccessHeaders<'a> {
    pub(crate) fn read(headers: &'a HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        Self {
            key: get("bitvavo-access-key"),
            timestamp: get("bitvavo-access-timestamp"),
            signature: get("bitvavo-access-signature"),
            window: get("bitvavo-access-window"),
        }
    }

    /// Whether the request carries any authentication header (then it is verified even on a
    /// public endpoint, and rate-limited per key).
    pub(crate) fn present(&self) -> bool {
        self.key.is_some() || self.signature.is_some() || self.timestamp.is_some()
    }
}

/// What a request must be checked against.
pub(crate) struct SignedRequest<'a> {
    pub(crate) method: &'a Method,
    /// The raw request target (`/v2/order?market=...`).
    pub(crate) target: &'a str,
    pub(crate) body: &'a [u8],
}

/// Verifies a request; returns the key that signed it.
///
/// `secret_of` looks a key up (None: unknown key). `now_ms` is the sim clock (with any injected
/// skew); `future_tolerance_ms` is how far ahead of it a timestamp may be.
pub(crate) fn verify<'a>(
    headers: &AccessHeaders<'a>,
    request: &SignedRequest<'_>,
    now_ms: i64,
    future_tolerance_ms: i64,
    secret_of: impl Fn(&str) -> Option<SecretString>,
) -> Result<&'a str, ApiError> {
    let key = headers
        .key
        .ok_or_else(|| ApiError::new(300, "Authentication is required for this endpoint."))?;
    if key.chars().count() != 64 {
        return Err(ApiError::new(301, "API Key must be of length 64."));
    }
    let timestamp: i64 = headers
        .timestamp
        .and_then(|t| t.trim().parse().ok())
        .filter(|t| *t > 0)
        .ok_or_else(|| {
            ApiError::new(
                302,
                "Timestamp is invalid. This must be a timestamp in ms. See Bitvavo-Access-Timestamp header or timestamp parameter for websocket.",
            )
        })?;
    let window = match headers.window {
        None => DEFAULT_WINDOW_MS,
        Some(w) => w
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|w| (100..=60_000).contains(w))
            .ok_or_else(|| ApiError::new(303, "Window must be between 100 and 60000 ms."))?,
    };
    let signature = headers
        .signature
        .filter(|s| s.len() == 64)
        .ok_or_else(|| ApiError::new(308, "The signature length is invalid (HMAC-SHA256 should return a 64 length hexadecimal string)."))?;
    let secret = secret_of(key).ok_or_else(|| ApiError::new(305, "No active API key found."))?;
    let invalid = || ApiError::new(309, "The signature is invalid.");
    let wanted = hex::decode(signature).map_err(|_| invalid())?;
    let ts_text = headers.timestamp.unwrap_or_default().trim();
    let head = format!("{ts_text}{}{}", request.method.as_str(), request.target);
    let matched = candidate_bodies(request.method, request.body)
        .iter()
        .any(|body| {
            mac(secret.expose_secret().as_bytes(), &[head.as_bytes(), body])
                .is_some_and(|m| m.verify_slice(&wanted).is_ok())
        });
    if !matched {
        return Err(invalid());
    }
    if now_ms > timestamp.saturating_add(window)
        || timestamp > now_ms.saturating_add(future_tolerance_ms)
    {
        return Err(ApiError::new(
            304,
            "Request was not received within acceptance window.",
        ));
    }
    Ok(key)
}

/// The body texts a signature may have been computed over (module docs, rules 1-4).
pub(crate) fn candidate_bodies(method: &Method, body: &[u8]) -> Vec<Vec<u8>> {
    if *method == Method::GET || *method == Method::DELETE {
        return vec![Vec::new()];
    }
    let mut out = vec![body.to_vec()];
    for mode in [NonAscii::Raw, NonAscii::Escaped] {
        if let Ok(text) = minify(body, mode) {
            let text = if text == "{}" { String::new() } else { text };
            if !out.iter().any(|b| b.as_slice() == text.as_bytes()) {
                out.push(text.into_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\
                     fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const T: i64 = 1_700_000_000_000;

    #[test]
    fn published_and_project_vectors() {
        assert_eq!(
            sign("bitvavo", "1548172481125POST/v2/order{\"market\":\"BTC-EUR\",\"side\":\"buy\",\"price\":\"5000\",\"amount\":\"1.23\",\"orderType\":\"limit\"}"),
            "44d022723a20973a18f7ee97398b9fdd405d2d019c8d39e24b8cc0dcb39ca016"
        );
        assert_eq!(
            sign("bitvavo", "1548172481125GET/v2/rfq/trades"),
            "5cabebe6735355a6e359bebc4a3c9ceef649afa455b7cf6cc11af65627cb99f3"
        );
        assert_eq!(
            sign(S, "1700000000000GET/v2/time"),
            "67ec84aeaa0f61d6dff2de4d2aab3fcfec1a7540e72e682cfa7568bc9ab01f41"
        );
        assert_eq!(
            sign(S, "1700000000000GET/v2/markets?market=BTC-EUR"),
            "bea4cc6b7515bed968df6be6e107d9e518fc9d474323145498582fb639b294ee"
        );
        assert_eq!(
            sign(S, "1700000000000GET/v2/order?market=BTC-EUR&clientOrderId=2be7d0df-d8dc-7b93-a550-8876f3b393e9"),
            "ee2661bd2820369968759bd656bff1fbc9956e076831fb0139e2141d6942c64f"
        );
        assert_eq!(
            sign(S, "1700000000000GET/v2/BTC-EUR/candles?interval=1h&limit=2&start=1699990000000&end=1700000000000"),
            "7314e2428b042b3f63525b909fbfacfcdedb325be82d88759f2f4a56a3ff8be2"
        );
        assert_eq!(
            sign(S, "1700000000000PUT/v2/order{\"price\":\"51000\",\"operatorId\":543462,\"market\":\"BTC-EUR\",\"orderId\":\"1be6d0df-d5dc-4b53-a250-3376f3b393e6\"}"),
            "7f022e3640a545dec5b88d372e93474cc6fa8752e803c9909733a58311da6f65"
        );
    }

    fn check(method: Method, target: &str, body: &[u8], sig: &str) -> Result<(), ApiError> {
        let mut h = HeaderMap::new();
        h.insert("BITVAVO-ACCESS-KEY", KEY.parse().unwrap());
        h.insert("bitvavo-access-timestamp", T.to_string().parse().unwrap());
        h.insert("Bitvavo-Access-Signature", sig.parse().unwrap());
        let headers = AccessHeaders::read(&h);
        verify(
            &headers,
            &SignedRequest {
                method: &method,
                target,
                body,
            },
            T,
            1000,
            |k| (k == KEY).then(|| SecretString::from(S.to_owned())),
        )
        .map(|_| ())
    }

    #[test]
    fn v6_accepted_with_python_empty_object_body_and_v6_neg_refused() {
        let target =
            "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6&operatorId=543462";
        let v6 = "527d633a334c3bde1d301e0ee11c68a31eef7253f7c6bdbb54f4ca53e0f38214";
        let v6_neg = "85f9ce934f69ffe536d1387fedc8b3e1861358ed2e04c943d199de134cf8db71";
        check(Method::DELETE, target, b"{}", v6).unwrap();
        check(Method::DELETE, target, b"", v6).unwrap();
        assert_eq!(
            check(Method::DELETE, target, b"{}", v6_neg)
                .unwrap_err()
                .code,
            309
        );
    }

    #[test]
    fn v5_accepted_from_the_spaced_python_body_and_v5_neg_refused_for_the_compact_one() {
        let compact = br#"{"amount":"0.001","price":"50000","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462,"timeInForce":"GTC","postOnly":false,"market":"BTC-EUR","side":"buy","orderType":"limit"}"#;
        let spaced = br#"{"amount": "0.001", "price": "50000", "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9", "operatorId": 543462, "timeInForce": "GTC", "postOnly": false, "market": "BTC-EUR", "side": "buy", "orderType": "limit"}"#;
        let v5 = "4db03990f8f47f5ea7c090f401e9a3a46500230ae91d528c7a00abf6bdabe3b1";
        let v5_neg = "ab8dae54efe129d28663cb9ba24de17cbd426fee0772a16ed204ea0a754e3445";
        check(Method::POST, "/v2/order", compact, v5).unwrap();
        check(Method::POST, "/v2/order", spaced, v5).unwrap();
        assert_eq!(
            check(Method::POST, "/v2/order", compact, v5_neg)
                .unwrap_err()
                .code,
            309
        );
    }

    #[test]
    fn reordered_query_is_not_accepted() {
        let sig = sign(S, "1700000000000GET/v2/order?market=BTC-EUR&orderId=x");
        check(Method::GET, "/v2/order?market=BTC-EUR&orderId=x", b"", &sig).unwrap();
        assert_eq!(
            check(Method::GET, "/v2/order?orderId=x&market=BTC-EUR", b"", &sig)
                .unwrap_err()
                .code,
            309
        );
    }
}
