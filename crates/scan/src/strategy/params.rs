//! Reading a scan job's JSON parameters into typed values, collecting every problem at once.
//!
//! Each problem names the field as `params.<name>`, what was given and what was expected, so a
//! person fixing `vigil jobs add --params '…'` sees all mistakes in one go. Unknown fields are
//! refused (a misspelt `amount_qoute` must not silently fall back to a default). Money and other
//! decimals are JSON strings (`"10.50"`) or integers; a JSON number with a fraction is refused,
//! because it would have passed through binary floating point on the way in.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use vigil_bitvavo::CandleInterval;
use vigil_core::{Notional, Side, ValidationError};

/// Candle intervals a strategy may use: fixed-length ones (a month has no fixed length).
pub(crate) const STRATEGY_INTERVALS: &str = "one of 1m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1W";

/// The longest proposal time to live a job may ask for: the one bound every proposal has.
pub use vigil_core::proposal::TTL_MINUTES_MAX;

/// Reads one JSON object of parameters field by field.
pub(crate) struct ParamReader<'a> {
    fields: Option<&'a Map<String, Value>>,
    seen: BTreeSet<&'static str>,
    problems: Vec<ValidationError>,
}

fn field(name: &str) -> String {
    format!("params.{name}")
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(params: &'a Value) -> ParamReader<'a> {
        let mut problems = Vec::new();
        let fields = match params {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => {
                problems.push(ValidationError::new(
                    "params",
                    other,
                    "a JSON object such as {\"amount_quote\": \"10\"}",
                ));
                None
            }
        };
        ParamReader {
            fields,
            seen: BTreeSet::new(),
            problems,
        }
    }

    fn get(&mut self, name: &'static str) -> Option<&'a Value> {
        self.seen.insert(name);
        self.fields
            .and_then(|f| f.get(name))
            .filter(|v| !v.is_null())
    }

    fn problem(&mut self, name: &str, value: impl std::fmt::Display, expected: impl Into<String>) {
        self.problems
            .push(ValidationError::new(field(name), value, expected));
    }

    /// A decimal from a JSON string or integer.
    fn decimal_value(&mut self, name: &'static str, expected: &str) -> Option<Decimal> {
        let value = self.get(name)?;
        let parsed = match value {
            Value::String(text) => vigil_core::parse_exact_decimal(name, text, expected).ok(),
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                vigil_core::parse_exact_decimal(name, &n.to_string(), expected).ok()
            }
            _ => None,
        };
        if parsed.is_none() {
            self.problem(name, value, expected);
        }
        parsed
    }

    /// A required positive quote amount.
    pub(crate) fn notional(&mut self, name: &'static str) -> Notional {
        let expected = "a positive quote amount as a string, such as \"10\" or \"12.50\"";
        let present = self
            .fields
            .and_then(|f| f.get(name))
            .is_some_and(|v| !v.is_null());
        if !present {
            self.seen.insert(name);
            self.problem(name, "(missing)", expected);
            return Notional::ZERO;
        }
        match self.decimal_value(name, expected) {
            Some(d) => match Notional::positive(&field(name), d) {
                Ok(n) => n,
                Err(e) => {
                    self.problems.push(e);
                    Notional::ZERO
                }
            },
            None => Notional::ZERO,
        }
    }

    /// An optional decimal within `[min, max]`.
    pub(crate) fn decimal_in(
        &mut self,
        name: &'static str,
        min: Decimal,
        max: Decimal,
        default: Decimal,
    ) -> Decimal {
        let expected = format!("a decimal from {min} to {max}, as a string such as \"30\"");
        match self.decimal_value(name, &expected) {
            Some(d) if d >= min && d <= max => d,
            Some(d) => {
                self.problem(name, d, expected);
                default
            }
            None => default,
        }
    }

    /// An optional whole number within `[min, max]`.
    pub(crate) fn whole_in(&mut self, name: &'static str, min: u32, max: u32, default: u32) -> u32 {
        let Some(value) = self.get(name) else {
            return default;
        };
        match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (min..=max).contains(&n) => n,
            _ => {
                self.problem(name, value, format!("a whole number from {min} to {max}"));
                default
            }
        }
    }

    /// An optional candle interval of fixed length.
    pub(crate) fn interval(
        &mut self,
        name: &'static str,
        default: CandleInterval,
    ) -> CandleInterval {
        let Some(value) = self.get(name) else {
            return default;
        };
        let parsed = value
            .as_str()
            .and_then(|s| s.parse::<CandleInterval>().ok())
            .filter(|i| *i != CandleInterval::OneMonth);
        match parsed {
            Some(i) => i,
            None => {
                self.problem(name, value, STRATEGY_INTERVALS);
                default
            }
        }
    }

    /// An optional side.
    pub(crate) fn side(&mut self, name: &'static str, default: Side) -> Side {
        let Some(value) = self.get(name) else {
            return default;
        };
        match value.as_str().and_then(|s| s.parse::<Side>().ok()) {
            Some(side) => side,
            None => {
                self.problem(name, value, "\"buy\" or \"sell\"");
                default
            }
        }
    }

    /// The proposal time to live in minutes (`ttl_minutes`, 1 to [`TTL_MINUTES_MAX`]).
    pub(crate) fn ttl_minutes(&mut self, default: u32) -> u32 {
        self.whole_in("ttl_minutes", 1, TTL_MINUTES_MAX, default)
    }

    /// Adds a problem found by a check across fields.
    pub(crate) fn refuse(&mut self, name: &str, value: impl std::fmt::Display, expected: &str) {
        self.problem(name, value, expected);
    }

    /// Every problem, including fields nobody asked for, or `Ok` when there were none.
    pub(crate) fn finish(mut self, known: &str) -> Result<(), Vec<ValidationError>> {
        if let Some(fields) = self.fields {
            for name in fields.keys() {
                if !self.seen.contains(name.as_str()) {
                    self.problems.push(ValidationError::new(
                        field(name),
                        name,
                        format!("no such parameter; known: {known}"),
                    ));
                }
            }
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_problem_names_its_field() {
        let params = json!({
            "amount_quote": 10.5,
            "fast": 0,
            "interval": "1M",
            "side": "hold",
            "amount_qoute": "10",
        });
        let mut r = ParamReader::new(&params);
        r.notional("amount_quote");
        r.whole_in("fast", 1, 200, 10);
        r.interval("interval", CandleInterval::OneHour);
        r.side("side", Side::Buy);
        let problems = r.finish("amount_quote, fast, interval, side").unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "params.amount_quote",
                "params.fast",
                "params.interval",
                "params.side",
                "params.amount_qoute"
            ]
        );
        assert!(problems[0].expected.contains("string"));
        assert!(problems[4].expected.contains("no such parameter"));
    }

    #[test]
    fn strings_and_integers_are_read_exactly() {
        let params = json!({"a": "12.50", "b": 7, "low": "25.5"});
        let mut r = ParamReader::new(&params);
        assert_eq!(r.notional("a").to_string(), "12.5");
        assert_eq!(r.notional("b").to_string(), "7");
        let low = r.decimal_in("low", Decimal::ONE, Decimal::from(99), Decimal::from(30));
        assert_eq!(low.to_string(), "25.5");
        r.finish("a, b, low").unwrap();
    }

    #[test]
    fn missing_required_and_non_object_are_refused() {
        let mut r = ParamReader::new(&Value::Null);
        r.notional("amount_quote");
        let problems = r.finish("amount_quote").unwrap_err();
        assert_eq!(problems[0].field, "params.amount_quote");
        assert_eq!(problems[0].value, "(missing)");
        let list = json!([1]);
        let problems = ParamReader::new(&list).finish("").unwrap_err();
        assert_eq!(problems[0].field, "params");
        let negative = json!({"amount_quote": "-1"});
        let mut r = ParamReader::new(&negative);
        r.notional("amount_quote");
        assert_eq!(
            r.finish("amount_quote").unwrap_err()[0].field,
            "params.amount_quote"
        );
    }
}
