//! Request signing (bitvavo-api.md sections 2 and 3), as pure functions.
//!
//! The signed string is `timestamp + METHOD + request target + body`: the timestamp as decimal
//! milliseconds (the same text as the `Bitvavo-Access-Timestamp` header), the upper-case verb, the
//! request target exactly as sent starting at `/v2` (with `?` and the query when there is one),
//! and the body bytes exactly as sent (empty for GET and DELETE, which Vigil sends without a
//! body). The signature is the lower-case hex HMAC-SHA256 of those bytes, keyed with the secret's
//! raw UTF-8 bytes.
//!
//! Nothing here reads a clock or touches the network, so every published and project vector is a
//! unit test below.

use hmac::{Hmac, Mac};
use reqwest::Method;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC implementation refused the key. HMAC accepts keys of any length, so this cannot
/// happen with the `hmac` crate; it exists so signing fails closed (nothing is sent) instead of
/// panicking if that ever changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the API secret could not be used as an HMAC-SHA256 key; check the configured secret")]
pub struct SigningError;

/// The exact bytes that are signed: `timestamp + METHOD + target + body`.
#[must_use]
pub fn prehash(timestamp_ms: i64, method: &Method, target: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + target.len() + body.len());
    out.extend_from_slice(timestamp_ms.to_string().as_bytes());
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The `Bitvavo-Access-Signature` of a request: lower-case hex HMAC-SHA256 over [`prehash`],
/// keyed with `secret` as raw bytes (Bitvavo uses the secret's UTF-8 text, not a decoding of it).
///
/// # Errors
/// [`SigningError`] if the HMAC implementation refuses the key (see its docs; not expected).
pub fn signature(
    secret: &[u8],
    timestamp_ms: i64,
    method: &Method,
    target: &str,
    body: &[u8],
) -> Result<String, SigningError> {
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SigningError)?;
    mac.update(&prehash(timestamp_ms, method, target, body));
    Ok(hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The project secret `S`: `fedcba9876543210` eight times (128 ASCII characters).
    fn project_secret() -> Vec<u8> {
        "fedcba9876543210".repeat(8).into_bytes()
    }

    const T: i64 = 1_700_000_000_000;

    fn sign(secret: &[u8], ts: i64, method: Method, target: &str, body: &str) -> String {
        signature(secret, ts, &method, target, body.as_bytes()).unwrap()
    }

    #[test]
    fn v0_docs_example_post_order() {
        let body = r#"{"market":"BTC-EUR","side":"buy","price":"5000","amount":"1.23","orderType":"limit"}"#;
        assert_eq!(
            sign(
                b"bitvavo",
                1_548_172_481_125,
                Method::POST,
                "/v2/order",
                body
            ),
            "44d022723a20973a18f7ee97398b9fdd405d2d019c8d39e24b8cc0dcb39ca016"
        );
    }

    #[test]
    fn v0b_docs_example_get_rfq_trades() {
        assert_eq!(
            sign(
                b"bitvavo",
                1_548_172_481_125,
                Method::GET,
                "/v2/rfq/trades",
                ""
            ),
            "5cabebe6735355a6e359bebc4a3c9ceef649afa455b7cf6cc11af65627cb99f3"
        );
    }

    #[test]
    fn v0c_docs_example_websocket_authenticate() {
        assert_eq!(
            sign(
                b"bitvavo",
                1_548_175_200_641,
                Method::GET,
                "/v2/websocket",
                ""
            ),
            "653fc0505431c63a043273da4bd2f0927eae83948d796084f313e5d1131b0d6f"
        );
    }

    #[test]
    fn v1_get_time() {
        assert_eq!(
            sign(&project_secret(), T, Method::GET, "/v2/time", ""),
            "67ec84aeaa0f61d6dff2de4d2aab3fcfec1a7540e72e682cfa7568bc9ab01f41"
        );
    }

    #[test]
    fn v2_get_markets_with_query() {
        assert_eq!(
            sign(
                &project_secret(),
                T,
                Method::GET,
                "/v2/markets?market=BTC-EUR",
                ""
            ),
            "bea4cc6b7515bed968df6be6e107d9e518fc9d474323145498582fb639b294ee"
        );
    }

    #[test]
    fn v3_get_order_by_client_order_id() {
        assert_eq!(
            sign(
                &project_secret(),
                T,
                Method::GET,
                "/v2/order?market=BTC-EUR&clientOrderId=2be7d0df-d8dc-7b93-a550-8876f3b393e9",
                ""
            ),
            "ee2661bd2820369968759bd656bff1fbc9956e076831fb0139e2141d6942c64f"
        );
    }

    #[test]
    fn v4_get_candles() {
        assert_eq!(
            sign(
                &project_secret(),
                T,
                Method::GET,
                "/v2/BTC-EUR/candles?interval=1h&limit=2&start=1699990000000&end=1700000000000",
                ""
            ),
            "7314e2428b042b3f63525b909fbfacfcdedb325be82d88759f2f4a56a3ff8be2"
        );
    }

    const V5_BODY: &str = r#"{"amount":"0.001","price":"50000","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462,"timeInForce":"GTC","postOnly":false,"market":"BTC-EUR","side":"buy","orderType":"limit"}"#;
    const V5: &str = "4db03990f8f47f5ea7c090f401e9a3a46500230ae91d528c7a00abf6bdabe3b1";
    const V6_TARGET: &str =
        "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6&operatorId=543462";
    const V6: &str = "527d633a334c3bde1d301e0ee11c68a31eef7253f7c6bdbb54f4ca53e0f38214";

    #[test]
    fn v5_post_order_compact_body() {
        assert_eq!(
            sign(&project_secret(), T, Method::POST, "/v2/order", V5_BODY),
            V5
        );
        // The prehash is the 26-character prefix followed by the body, byte for byte.
        let pre = prehash(T, &Method::POST, "/v2/order", V5_BODY.as_bytes());
        assert_eq!(&pre[..26], b"1700000000000POST/v2/order");
        assert_eq!(&pre[26..], V5_BODY.as_bytes());
    }

    #[test]
    fn v6_delete_order_with_operator_id_and_empty_body() {
        assert_eq!(
            sign(&project_secret(), T, Method::DELETE, V6_TARGET, ""),
            V6
        );
    }

    #[test]
    fn v7_put_order() {
        let body = r#"{"price":"51000","operatorId":543462,"market":"BTC-EUR","orderId":"1be6d0df-d5dc-4b53-a250-3376f3b393e6"}"#;
        assert_eq!(
            sign(&project_secret(), T, Method::PUT, "/v2/order", body),
            "7f022e3640a545dec5b88d372e93474cc6fa8752e803c9909733a58311da6f65"
        );
    }

    #[test]
    fn v8a_non_ascii_escaped_as_python_sends_it() {
        // The six characters backslash-u-0-0-e-9 literally.
        let body = r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"1","price":"1","clientOrderId":"caf\u00e9-\u20ac"}"#;
        assert_eq!(
            sign(&project_secret(), T, Method::POST, "/v2/order", body),
            "8118d4ff627a491ec191f49bed570e704e53a9f3edc81762429d1a654d706c69"
        );
    }

    #[test]
    fn v8b_non_ascii_raw_utf8() {
        let body = "{\"market\":\"BTC-EUR\",\"side\":\"buy\",\"orderType\":\"limit\",\"amount\":\"1\",\"price\":\"1\",\"clientOrderId\":\"caf\u{e9}-\u{20ac}\"}";
        assert!(body
            .as_bytes()
            .windows(9)
            .any(|w| w == [0x63, 0x61, 0x66, 0xc3, 0xa9, 0x2d, 0xe2, 0x82, 0xac]));
        assert_eq!(
            sign(&project_secret(), T, Method::POST, "/v2/order", body),
            "cc85ae112c3e2b57609eede9a0f5ba857bb6baed8abb3ad821cdc0ed2a6c0809"
        );
    }

    #[test]
    fn v5_neg_spaced_python_wire_body_does_not_match_v5() {
        let spaced = r#"{"amount": "0.001", "price": "50000", "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9", "operatorId": 543462, "timeInForce": "GTC", "postOnly": false, "market": "BTC-EUR", "side": "buy", "orderType": "limit"}"#;
        let wrong = sign(&project_secret(), T, Method::POST, "/v2/order", spaced);
        assert_eq!(
            wrong,
            "ab8dae54efe129d28663cb9ba24de17cbd426fee0772a16ed204ea0a754e3445"
        );
        assert_ne!(wrong, V5);
    }

    #[test]
    fn v6_neg_empty_object_body_does_not_match_v6() {
        let wrong = sign(&project_secret(), T, Method::DELETE, V6_TARGET, "{}");
        assert_eq!(
            wrong,
            "85f9ce934f69ffe536d1387fedc8b3e1861358ed2e04c943d199de134cf8db71"
        );
        assert_ne!(wrong, V6);
    }

    #[test]
    fn signature_is_lower_case_hex_of_64_characters() {
        let s = sign(&project_secret(), T, Method::GET, "/v2/time", "");
        assert_eq!(s.len(), 64);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }

    #[test]
    fn anything_different_changes_the_signature() {
        let base = sign(&project_secret(), T, Method::GET, "/v2/time", "");
        assert_ne!(
            base,
            sign(&project_secret(), T + 1, Method::GET, "/v2/time", "")
        );
        assert_ne!(
            base,
            sign(&project_secret(), T, Method::DELETE, "/v2/time", "")
        );
        assert_ne!(
            base,
            sign(&project_secret(), T, Method::GET, "/v2/time?", "")
        );
        assert_ne!(base, sign(b"other", T, Method::GET, "/v2/time", ""));
    }
}
