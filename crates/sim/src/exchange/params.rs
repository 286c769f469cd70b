//! Request parameters from the query string (GET, DELETE) or the JSON body (POST, PUT), with the
//! typed accessors the endpoints need. Every accessor refuses a wrong value with the error code
//! Bitvavo uses: 203 when a required parameter is missing, 205 when a value is invalid, 200/201
//! when the endpoint does not take a parameter at all.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parameters of one request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, Value)>,
    from_query: bool,
}

impl Params {
    /// From a raw query string (`a=1&b=2`, values percent-decoded; the first of a repeated name
    /// wins).
    pub(crate) fn from_query(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), Value::String(percent_decode(v)))
            })
            .collect();
        Self {
            pairs,
            from_query: true,
        }
    }

    /// From a parsed JSON object.
    pub(crate) fn from_body(body: Map<String, Value>) -> Self {
        Self {
            pairs: body.into_iter().collect(),
            from_query: false,
        }
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Whether `name` was sent.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    /// Refuses any parameter not in `allowed` (200 in the query, 201 in the body).
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) if self.from_query => Err(ApiError::query_not_accepted(k)),
            Some((k, _)) => Err(ApiError::body_not_accepted(k)),
        }
    }

    /// A string parameter (205 if it is not a string).
    pub(crate) fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::invalid(name)),
        }
    }

    /// A required string parameter (203 if missing).
    pub(crate) fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        self.str(name)?.ok_or_else(|| ApiError::required(name))
    }

    /// A positive decimal sent as a string (Bitvavo sends and expects amounts as strings).
    pub(crate) fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        let Some(text) = self.str(name)? else {
            return Ok(None);
        };
        let value: Decimal = text.trim().parse().map_err(|_| ApiError::invalid(name))?;
        if value <= Decimal::ZERO {
            return Err(ApiError::invalid_because(
                name,
                "It must be greater than zero.",
            ));
        }
        Ok(Some(value))
    }

    /// A boolean (a JSON boolean in bodies; `true`/`false` text in queries).
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.from_query && (s == "true" || s == "false") => {
                Ok(Some(s == "true"))
            }
            Some(_) => Err(ApiError::invalid(name)),
        }
    }

    /// An integer (a JSON integer in bodies; decimal text in queries).
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) if !self.from_query => {
                n.as_i64().map(Some).ok_or_else(|| ApiError::invalid(name))
            }
            Some(Value::String(s)) if self.from_query => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(name)),
            Some(_) => Err(ApiError::invalid(name)),
        }
    }

    /// An integer within `range`, or `default` when absent.
    pub(crate) fn integer_in(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> Result<i64, ApiError> {
        let v = self.integer(name)?.unwrap_or(default);
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(ApiError::invalid_because(
                name,
                &format!("It must be between {} and {}.", range.start(), range.end()),
            ))
        }
    }

    /// The mandatory `operatorId`: an int64 of at least 1, a JSON number in bodies.
    pub(crate) fn operator_id(&self) -> Result<i64, ApiError> {
        let id = self.integer("operatorId")?.ok_or_else(|| {
            ApiError::new(
                203,
                "operatorId parameter is required. Send your own int64 operatorId with every create, update and cancel.",
            )
        })?;
        if id < 1 {
            return Err(ApiError::invalid_because(
                "operatorId",
                "It must be an int64 of at least 1.",
            ));
        }
        Ok(id)
    }
}

/// Whether `s` has the UUID shape 8-4-4-4-12 of hex digits (any version, either case).
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_checked() {
        let p = Params::from_query("market=BTC-EUR&operatorId=543462&x=%2Fa%20b&flag=true");
        assert_eq!(p.str("market").unwrap(), Some("BTC-EUR"));
        assert_eq!(p.operator_id().unwrap(), 543_462);
        assert_eq!(p.str("x").unwrap(), Some("/a b"));
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(p.only(&["market"]).unwrap_err().code, 200);
    }

    #[test]
    fn operator_id_must_be_a_json_number_in_bodies() {
        let body = |v: Value| {
            Params::from_body(
                serde_json::from_value(serde_json::json!({ "operatorId": v })).unwrap(),
            )
        };
        assert_eq!(body(serde_json::json!(5)).operator_id().unwrap(), 5);
        assert_eq!(
            body(serde_json::json!("5")).operator_id().unwrap_err().code,
            205
        );
        assert_eq!(
            body(serde_json::json!(0)).operator_id().unwrap_err().code,
            205
        );
        let missing = Params::from_body(Map::new()).operator_id().unwrap_err();
        assert_eq!(missing.code, 203);
        assert!(missing.message.contains("operatorId"));
        assert_eq!(body(serde_json::json!(1)).only(&[]).unwrap_err().code, 201);
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid("2be7d0df-d8dc-7b93-a550-8876f3b393e9"));
        assert!(is_uuid("2BE7D0DF-D8DC-7B93-A550-8876F3B393E9"));
        assert!(!is_uuid("2be7d0dfd8dc7b93a5508876f3b393e9"));
        assert!(!is_uuid("café-€"));
        assert!(!is_uuid("2be7d0df-d8dc-7b93-a550-8876f3b393eg"));
    }
}
