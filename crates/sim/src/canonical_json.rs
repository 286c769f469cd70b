//! A JSON minifier over raw bytes, for signature checks.
//!
//! Clients sign a compact JSON text but do not all send that text: the official Python SDK signs
//! `json.dumps(body, separators=(',',':'))` and sends the same object with spaces after `,` and
//! `:` (bitvavo-api.md 2.2). The exchange therefore re-derives the signed text from the body. A
//! parse-and-reserialise through `serde_json` would reorder keys and rewrite numbers unless the
//! `preserve_order` and `arbitrary_precision` features were on, and feature unification would turn
//! them on for the whole workspace. So this module works on the bytes instead: it drops the
//! whitespace outside strings and leaves every token (keys in their order, number text, literals)
//! exactly as received.
//!
//! Non-ASCII text is signed differently by different clients: Python escapes it as `\uXXXX`
//! (lower-case hex, surrogate pairs above U+FFFF), JavaScript and orjson keep raw UTF-8. The
//! [`NonAscii`] mode selects which of the two forms the output uses; escapes of ASCII characters
//! (`\n`, `\"`, `\u0001`) are kept as they are in both modes.

use std::fmt::Write as _;

/// How non-ASCII characters inside strings appear in the minified text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonAscii {
    /// As raw UTF-8 (JavaScript's `JSON.stringify`, orjson); `\uXXXX` escapes of non-ASCII
    /// characters in the input are decoded.
    Raw,
    /// As lower-case `\uXXXX` escapes (Python's `json.dumps` with `ensure_ascii`).
    Escaped,
}

/// Why a body could not be minified (it is not well-formed JSON text at the string level).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinifyError {
    /// The input is not UTF-8.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// A string is not closed.
    #[error("unterminated string")]
    UnterminatedString,
    /// A backslash escape is malformed.
    #[error("malformed escape at byte {0}")]
    BadEscape(usize),
}

/// Removes insignificant whitespace and renders non-ASCII characters in `mode`.
///
/// The input is not otherwise validated (the request parser does that); the output of a valid
/// JSON text is a valid JSON text with the same members in the same order.
///
/// # Errors
/// [`MinifyError`] when the input is not UTF-8 or a string or escape is malformed.
pub fn minify(raw: &[u8], mode: NonAscii) -> Result<String, MinifyError> {
    let text = std::str::from_utf8(raw).map_err(|_| MinifyError::NotUtf8)?;
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {}
            '"' => {
                out.push('"');
                copy_string(&mut chars, &mut out, mode)?;
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Copies a string body up to and including its closing quote.
fn copy_string(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    out: &mut String,
    mode: NonAscii,
) -> Result<(), MinifyError> {
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                return Ok(());
            }
            '\\' => {
                let (_, esc) = chars.next().ok_or(MinifyError::UnterminatedString)?;
                if esc == 'u' {
                    let unit = read_hex4(chars, at)?;
                    copy_unicode_escape(unit, chars, out, mode, at)?;
                } else {
                    out.push('\\');
                    out.push(esc);
                }
            }
            c if c.is_ascii() => out.push(c),
            c => push_non_ascii(c, out, mode),
        }
    }
    Err(MinifyError::UnterminatedString)
}

fn read_hex4(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    at: usize,
) -> Result<u32, MinifyError> {
    let mut unit = 0u32;
    for _ in 0..4 {
        let (_, h) = chars.next().ok_or(MinifyError::BadEscape(at))?;
        let digit = h.to_digit(16).ok_or(MinifyError::BadEscape(at))?;
        unit = unit * 16 + digit;
    }
    Ok(unit)
}

/// Handles `\uXXXX` (and a following low surrogate): ASCII escapes stay as written; non-ASCII
/// characters are rendered in `mode`.
fn copy_unicode_escape(
    unit: u32,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    out: &mut String,
    mode: NonAscii,
    at: usize,
) -> Result<(), MinifyError> {
    if unit < 0x80 {
        // An escaped ASCII character (e.g. a control character): keep the escape verbatim,
        // both encoders write these the same way.
        let _ = write!(out, "\\u{unit:04x}");
        return Ok(());
    }
    let code = if (0xD800..0xDC00).contains(&unit) {
        // A high surrogate must be followed by `\u` and a low surrogate.
        let backslash = chars.next().map(|(_, c)| c);
        let u = chars.next().map(|(_, c)| c);
        if backslash != Some('\\') || u != Some('u') {
            return Err(MinifyError::BadEscape(at));
        }
        let low = read_hex4(chars, at)?;
        if !(0xDC00..0xE000).contains(&low) {
            return Err(MinifyError::BadEscape(at));
        }
        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
    } else {
        unit
    };
    let c = char::from_u32(code).ok_or(MinifyError::BadEscape(at))?;
    push_non_ascii(c, out, mode);
    Ok(())
}

fn push_non_ascii(c: char, out: &mut String, mode: NonAscii) {
    match mode {
        NonAscii::Raw => out.push(c),
        NonAscii::Escaped => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sign;

    const S: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\
                     fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const T: &str = "1700000000000";
    const V5_BODY: &str = r#"{"amount":"0.001","price":"50000","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462,"timeInForce":"GTC","postOnly":false,"market":"BTC-EUR","side":"buy","orderType":"limit"}"#;
    const V5_SPACED: &str = r#"{"amount": "0.001", "price": "50000", "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9", "operatorId": 543462, "timeInForce": "GTC", "postOnly": false, "market": "BTC-EUR", "side": "buy", "orderType": "limit"}"#;
    const V8A_BODY: &str = r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"1","price":"1","clientOrderId":"caf\u00e9-\u20ac"}"#;
    const V8B_BODY: &str = "{\"market\":\"BTC-EUR\",\"side\":\"buy\",\"orderType\":\"limit\",\"amount\":\"1\",\"price\":\"1\",\"clientOrderId\":\"caf\u{e9}-\u{20ac}\"}";

    fn sig(method: &str, target: &str, body: &str) -> String {
        sign(S, &format!("{T}{method}{target}{body}"))
    }

    #[test]
    fn v5_spaced_python_body_minifies_to_the_signed_text() {
        let compact = minify(V5_SPACED.as_bytes(), NonAscii::Raw).unwrap();
        assert_eq!(compact, V5_BODY);
        assert_eq!(
            sig("POST", "/v2/order", &compact),
            "4db03990f8f47f5ea7c090f401e9a3a46500230ae91d528c7a00abf6bdabe3b1"
        );
    }

    #[test]
    fn v5_neg_is_what_signing_the_spaced_wire_body_gives() {
        let wrong = sig("POST", "/v2/order", V5_SPACED);
        assert_eq!(
            wrong,
            "ab8dae54efe129d28663cb9ba24de17cbd426fee0772a16ed204ea0a754e3445"
        );
        let compact = minify(V5_SPACED.as_bytes(), NonAscii::Escaped).unwrap();
        assert_ne!(sig("POST", "/v2/order", &compact), wrong);
    }

    #[test]
    fn v6_and_v6_neg() {
        let target =
            "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6&operatorId=543462";
        assert_eq!(
            sig("DELETE", target, ""),
            "527d633a334c3bde1d301e0ee11c68a31eef7253f7c6bdbb54f4ca53e0f38214"
        );
        assert_eq!(
            sig("DELETE", target, "{}"),
            "85f9ce934f69ffe536d1387fedc8b3e1861358ed2e04c943d199de134cf8db71"
        );
    }

    #[test]
    fn v8a_and_v8b_from_either_wire_form() {
        let v8a = "8118d4ff627a491ec191f49bed570e704e53a9f3edc81762429d1a654d706c69";
        let v8b = "cc85ae112c3e2b57609eede9a0f5ba857bb6baed8abb3ad821cdc0ed2a6c0809";
        for wire in [V8A_BODY, V8B_BODY] {
            let escaped = minify(wire.as_bytes(), NonAscii::Escaped).unwrap();
            assert_eq!(escaped, V8A_BODY);
            assert_eq!(sig("POST", "/v2/order", &escaped), v8a);
            let raw = minify(wire.as_bytes(), NonAscii::Raw).unwrap();
            assert_eq!(raw, V8B_BODY);
            assert_eq!(sig("POST", "/v2/order", &raw), v8b);
        }
    }

    #[test]
    fn whitespace_inside_strings_and_ascii_escapes_survive() {
        let raw = br#" { "a" : "x y\n\"z\u0001" ,	"b":[ 1 , 2.50e3 , true, null ] } "#;
        assert_eq!(
            minify(raw, NonAscii::Escaped).unwrap(),
            r#"{"a":"x y\n\"z\u0001","b":[1,2.50e3,true,null]}"#
        );
    }

    #[test]
    fn astral_characters_use_surrogate_pairs_when_escaped() {
        let raw = "{\"e\":\"\u{1F600}\"}";
        let escaped = minify(raw.as_bytes(), NonAscii::Escaped).unwrap();
        assert_eq!(escaped, r#"{"e":"\ud83d\ude00"}"#);
        assert_eq!(minify(escaped.as_bytes(), NonAscii::Raw).unwrap(), raw);
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(
            minify(br#"{"a":"open"#, NonAscii::Raw),
            Err(MinifyError::UnterminatedString)
        );
        assert!(matches!(
            minify(br#"{"a":"\u12"}"#, NonAscii::Raw),
            Err(MinifyError::BadEscape(_))
        ));
        assert!(matches!(
            minify(br#"{"a":"\ud83d"}"#, NonAscii::Raw),
            Err(MinifyError::BadEscape(_))
        ));
        assert_eq!(
            minify(&[0xff, 0xfe], NonAscii::Raw),
            Err(MinifyError::NotUtf8)
        );
    }
}
