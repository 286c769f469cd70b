//! Reading Bitvavo's JSON at the edge: typed, strict, never panicking.
//!
//! Answers are first parsed into a `serde_json::Value`, then read field by field through [`Obj`],
//! so every failure names the exact field path (`orders[3].amount`) and nothing can panic on a
//! wrong type, a missing field or a huge number. Decimals are read only from JSON strings and
//! parsed exactly (never through `f64`; a value that does not fit a `Decimal` exactly is refused).
//! Integer-like fields accept a JSON integer or a string of digits, because ccxt's examples show
//! some of them (`quantityDecimals`, `maxOpenOrders`) as strings (bitvavo-api.md section 1).

use chrono::DateTime;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use vigil_core::{Asset, Market, Notional, Price, Quantity, Side, Timestamp, ValidationError};

use crate::error::Malformed;

/// A JSON object being read, with its path for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

/// The path of `name` inside `path` (`order.amount`, or `amount` at the root).
fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A short description of what a JSON value is, for error messages (never the whole value,
/// which could be huge).
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most 40 characters of a text, for error messages.
fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

impl<'a> Obj<'a> {
    /// Reads `value` at `path` as an object.
    pub(crate) fn new(value: &'a Value, path: &'a str) -> Result<Self, Malformed> {
        match value {
            Value::Object(map) => Ok(Self { map, path }),
            other => Err(Malformed::new(
                if path.is_empty() { "body" } else { path },
                format!("expected an object, got {}", kind(other)),
            )),
        }
    }

    /// The path of a field of this object.
    pub(crate) fn field(&self, name: &str) -> String {
        join(self.path, name)
    }

    /// The field, or `None` when it is absent or `null`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value, Malformed> {
        self.get(name)
            .ok_or_else(|| Malformed::new(self.field(name), "missing"))
    }

    /// A string field.
    pub(crate) fn str(&self, name: &str) -> Result<&'a str, Malformed> {
        match self.required(name)? {
            Value::String(s) => Ok(s),
            other => Err(Malformed::new(
                self.field(name),
                format!("expected a string, got {}", kind(other)),
            )),
        }
    }

    /// An optional string field.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, Malformed> {
        self.get(name).map(|_| self.str(name)).transpose()
    }

    /// A string field converted by a fallible domain constructor.
    pub(crate) fn parse<T>(
        &self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<T, Malformed> {
        let text = self.str(name)?;
        f(text).map_err(|e| {
            Malformed::new(
                self.field(name),
                format!("{:?} is not {}", excerpt(text), e.expected),
            )
        })
    }

    /// An optional string field converted by a fallible domain constructor.
    pub(crate) fn opt_parse<T>(
        &self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, Malformed> {
        self.get(name).map(|_| self.parse(name, f)).transpose()
    }

    /// A decimal sent as a JSON string.
    pub(crate) fn decimal(&self, name: &str) -> Result<Decimal, Malformed> {
        let text = self.str(name)?;
        decimal_text(text).map_err(|detail| Malformed::new(self.field(name), detail))
    }

    /// An optional decimal sent as a JSON string. An empty string counts as absent (Bitvavo
    /// sends `""` for some prices of markets without trades).
    pub(crate) fn opt_decimal(&self, name: &str) -> Result<Option<Decimal>, Malformed> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(_) => self.decimal(name).map(Some),
        }
    }

    /// A positive price.
    pub(crate) fn price(&self, name: &str) -> Result<Price, Malformed> {
        let v = self.decimal(name)?;
        Price::positive(name, v).map_err(|e| self.domain(name, &e))
    }

    /// An optional positive price.
    pub(crate) fn opt_price(&self, name: &str) -> Result<Option<Price>, Malformed> {
        self.opt_decimal(name)?
            .map(|v| Price::positive(name, v).map_err(|e| self.domain(name, &e)))
            .transpose()
    }

    /// A base quantity of zero or more.
    pub(crate) fn quantity(&self, name: &str) -> Result<Quantity, Malformed> {
        let v = self.decimal(name)?;
        Quantity::non_negative(name, v).map_err(|e| self.domain(name, &e))
    }

    /// An optional base quantity of zero or more.
    pub(crate) fn opt_quantity(&self, name: &str) -> Result<Option<Quantity>, Malformed> {
        self.opt_decimal(name)?
            .map(|v| Quantity::non_negative(name, v).map_err(|e| self.domain(name, &e)))
            .transpose()
    }

    /// An optional quote amount of zero or more.
    pub(crate) fn opt_notional(&self, name: &str) -> Result<Option<Notional>, Malformed> {
        self.opt_decimal(name)?
            .map(|v| Notional::non_negative(name, v).map_err(|e| self.domain(name, &e)))
            .transpose()
    }

    fn domain(&self, name: &str, e: &ValidationError) -> Malformed {
        Malformed::new(
            self.field(name),
            format!("{} is not {}", e.value, e.expected),
        )
    }

    /// An integer sent as a JSON integer or as a string of digits.
    pub(crate) fn int(&self, name: &str) -> Result<i64, Malformed> {
        let value = self.required(name)?;
        int_value(value).map_err(|detail| Malformed::new(self.field(name), detail))
    }

    /// An optional integer (JSON integer or string of digits).
    pub(crate) fn opt_int(&self, name: &str) -> Result<Option<i64>, Malformed> {
        self.get(name).map(|_| self.int(name)).transpose()
    }

    /// A non-negative integer that fits a `u32`.
    pub(crate) fn u32(&self, name: &str) -> Result<u32, Malformed> {
        let v = self.int(name)?;
        u32::try_from(v).map_err(|_| {
            Malformed::new(
                self.field(name),
                format!("{v} is not an integer from 0 to 4294967295"),
            )
        })
    }

    /// An optional non-negative integer that fits a `u32`.
    pub(crate) fn opt_u32(&self, name: &str) -> Result<Option<u32>, Malformed> {
        self.get(name).map(|_| self.u32(name)).transpose()
    }

    /// A millisecond timestamp (JSON integer, or a string of digits as one docs example shows).
    pub(crate) fn timestamp(&self, name: &str) -> Result<Timestamp, Malformed> {
        let ms = self.int(name)?;
        timestamp_ms(ms).map_err(|detail| Malformed::new(self.field(name), detail))
    }

    /// An optional millisecond timestamp.
    pub(crate) fn opt_timestamp(&self, name: &str) -> Result<Option<Timestamp>, Malformed> {
        self.get(name).map(|_| self.timestamp(name)).transpose()
    }

    /// A boolean.
    pub(crate) fn bool(&self, name: &str) -> Result<bool, Malformed> {
        match self.required(name)? {
            Value::Bool(b) => Ok(*b),
            other => Err(Malformed::new(
                self.field(name),
                format!("expected a boolean, got {}", kind(other)),
            )),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, Malformed> {
        self.get(name).map(|_| self.bool(name)).transpose()
    }

    /// A market id (`BTC-EUR`).
    pub(crate) fn market(&self, name: &str) -> Result<Market, Malformed> {
        self.parse(name, Market::parse)
    }

    /// An asset symbol (`BTC`).
    pub(crate) fn asset(&self, name: &str) -> Result<Asset, Malformed> {
        self.parse(name, |t| Asset::parse(name, t))
    }

    /// An optional asset symbol; an empty string counts as absent.
    pub(crate) fn opt_asset(&self, name: &str) -> Result<Option<Asset>, Malformed> {
        match self.get(name) {
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(_) => self.asset(name).map(Some),
            None => Ok(None),
        }
    }

    /// `buy` or `sell`.
    pub(crate) fn side(&self, name: &str) -> Result<Side, Malformed> {
        self.parse(name, str::parse)
    }

    /// An array field, or an empty list when it is absent.
    pub(crate) fn opt_array(&self, name: &str) -> Result<&'a [Value], Malformed> {
        match self.get(name) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(Malformed::new(
                self.field(name),
                format!("expected an array, got {}", kind(other)),
            )),
        }
    }

    /// An array of strings (absent: empty).
    pub(crate) fn opt_strings(&self, name: &str) -> Result<Vec<String>, Malformed> {
        self.opt_array(name)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(Malformed::new(
                    format!("{}[{i}]", self.field(name)),
                    format!("expected a string, got {}", kind(other)),
                )),
            })
            .collect()
    }
}

/// Exact decimal text such as `0.001` or `-5`; no exponent, no rounding.
pub(crate) fn decimal_text(text: &str) -> Result<Decimal, String> {
    let trimmed = text.trim();
    let plain = !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
    if !plain {
        return Err(format!("{:?} is not a decimal number", excerpt(text)));
    }
    Decimal::from_str_exact(trimmed).map_err(|_| {
        format!(
            "{:?} is not a decimal number that fits exactly",
            excerpt(text)
        )
    })
}

/// A JSON integer, or a string holding one.
pub(crate) fn int_value(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not an integer that fits 64 bits")),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| format!("{:?} is not an integer", excerpt(s))),
        other => Err(format!("expected an integer, got {}", kind(other))),
    }
}

/// A millisecond Unix timestamp as a UTC time.
pub(crate) fn timestamp_ms(ms: i64) -> Result<Timestamp, String> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("{ms} ms is not a representable time"))
}

/// The exchange times the client computes with (rate-limit resets, ban ends, the server clock)
/// must fall in 2000..2100: anything else is garbage, and refusing it keeps every later
/// `time + duration` far from the representable range, where chrono would panic.
const PLAUSIBLE_MS: std::ops::RangeInclusive<i64> = 946_684_800_000..=4_102_444_800_000;

/// A millisecond timestamp the client may compute with, or `None` outside 2000..2100.
pub(crate) fn plausible_time_ms(ms: i64) -> Option<Timestamp> {
    if PLAUSIBLE_MS.contains(&ms) {
        DateTime::from_timestamp_millis(ms)
    } else {
        None
    }
}

/// Each element of a JSON array with its path (`name[i]`).
pub(crate) fn items<'a>(
    value: &'a Value,
    name: &str,
) -> Result<Vec<(String, &'a Value)>, Malformed> {
    match value {
        Value::Array(items) => Ok(items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{name}[{i}]"), v))
            .collect()),
        other => Err(Malformed::new(
            "body",
            format!("expected an array, got {}", kind(other)),
        )),
    }
}

/// An array, or a single object taken as a one-element array: with `market=` some endpoints
/// answer one object instead of a list (bitvavo-api.md 4.2, 4.4, 4.6).
pub(crate) fn one_or_many<'a>(
    value: &'a Value,
    name: &str,
) -> Result<Vec<(String, &'a Value)>, Malformed> {
    match value {
        Value::Object(_) => Ok(vec![(name.to_owned(), value)]),
        other => items(other, name),
    }
}

/// Parses each element with `f`.
pub(crate) fn list<T>(
    value: &Value,
    name: &str,
    single_allowed: bool,
    f: impl Fn(Obj<'_>) -> Result<T, Malformed>,
) -> Result<Vec<T>, Malformed> {
    let elements = if single_allowed {
        one_or_many(value, name)?
    } else {
        items(value, name)?
    };
    elements
        .iter()
        .map(|(path, v)| f(Obj::new(v, path)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn decimals_only_from_exact_strings() {
        let v = json!({"a": "0.001", "b": 0.001, "c": "1e-8", "d": "", "e": "99999999999999999999999999999999999", "f": "abc"});
        let o = Obj::new(&v, "x").unwrap();
        assert_eq!(o.decimal("a").unwrap().to_string(), "0.001");
        assert_eq!(o.decimal("b").unwrap_err().field, "x.b");
        assert!(o.decimal("c").is_err());
        assert_eq!(o.opt_decimal("d").unwrap(), None);
        assert!(o.decimal("e").is_err());
        assert!(o.decimal("f").unwrap_err().detail.contains("abc"));
        assert_eq!(o.decimal("zzz").unwrap_err().detail, "missing");
    }

    #[test]
    fn integers_from_numbers_or_strings_and_huge_ones_refused() {
        let v: Value = serde_json::from_str(
            r#"{"a": 8, "b": "8", "c": 1.5, "d": 123456789012345678901234567890, "e": "x", "f": -1}"#,
        )
        .unwrap();
        let o = Obj::new(&v, "").unwrap();
        assert_eq!(o.int("a").unwrap(), 8);
        assert_eq!(o.u32("b").unwrap(), 8);
        assert!(o.int("c").is_err());
        assert!(o.int("d").is_err());
        assert!(o.int("e").is_err());
        assert_eq!(o.u32("f").unwrap_err().field, "f");
    }

    #[test]
    fn timestamps_out_of_range_are_refused() {
        let v = json!({"t": i64::MAX, "ok": 1_700_000_000_000_i64});
        let o = Obj::new(&v, "").unwrap();
        assert!(o.timestamp("t").is_err());
        assert_eq!(
            o.timestamp("ok").unwrap().timestamp_millis(),
            1_700_000_000_000
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "z".repeat(10_000);
        let v = json!({ "m": long });
        let err = Obj::new(&v, "").unwrap().market("m").unwrap_err();
        assert!(err.detail.len() < 200, "{}", err.detail);
    }

    #[test]
    fn one_object_counts_as_a_list_where_allowed() {
        let v = json!({"market": "BTC-EUR"});
        let got = list(&v, "tickers", true, |o| o.market("market")).unwrap();
        assert_eq!(got.len(), 1);
        assert!(list(&v, "tickers", false, |o| o.market("market")).is_err());
        let err = list(&json!([{"market": 1}]), "tickers", true, |o| {
            o.market("market")
        })
        .unwrap_err();
        assert_eq!(err.field, "tickers[0].market");
    }
}
