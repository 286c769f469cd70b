//! Extractors that turn bad input into [`ApiError`]s with a stable code and the field's name,
//! instead of axum's plain-text rejections.
//!
//! - [`ApiJson`]: a JSON body. Not `application/json` → 415; larger than the limit → 413; not
//!   JSON → 400 `malformed_json`; JSON of the wrong shape (missing, unknown or mistyped field)
//!   → 422 `invalid_field` naming the field (its path, e.g. `markets[1]`).
//! - [`OptionalJson`]: the same, but an empty body is `None` (for actions whose body only
//!   carries an optional reason).
//! - [`QueryParams`]: query parameters, taken by name; an unknown or repeated one → 422.
//! - [`NoQuery`]: for a route that takes no query parameters: any one → 422 naming it (the same
//!   refusal as [`QueryParams::finish`] with nothing known). Every handler takes one of the two,
//!   so no route ignores a parameter (docs/api.md: unknown parameters are refused).
//! - [`PathSegment`]: the one path parameter of a route, as text for the handler to parse.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Query, Request},
    http::{header::CONTENT_TYPE, request::Parts, HeaderMap, StatusCode},
};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON request body.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// A JSON request body that may be absent (empty).
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than the server accepts; send a smaller body",
                )
            } else {
                ApiError::new(
                    ErrorCode::MalformedJson,
                    "the request body could not be read; send it again",
                )
                .with_detail(rejection.body_text())
            }
        })
}

/// Parses JSON text into `T`, naming the offending field on a shape error.
///
/// # Errors
/// 400 `malformed_json` for text that is not JSON; 422 `invalid_field` for JSON that does not
/// fit `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the request body is not valid JSON ({e}); send a JSON object"),
        )
    })?;
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let inner = error.inner().to_string();
        let path = error.path().to_string();
        // A missing or unknown field is reported at its parent; serde names it in backticks.
        let field = if path == "." || path.is_empty() {
            backticked(&inner).unwrap_or_else(|| "body".to_owned())
        } else {
            path
        };
        ApiError::invalid_field(field.clone(), format!("invalid field {field}: {inner}"))
    })
}

/// The first `name` in "... `name` ..." (how serde names missing and unknown fields).
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = body_bytes(request, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let declared_json = is_json(request.headers());
        let has_type = request.headers().contains_key(CONTENT_TYPE);
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !declared_json {
            let message = if has_type {
                "send the body as JSON with Content-Type: application/json"
            } else {
                "a body was sent without Content-Type: application/json"
            };
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType, message));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// The query parameters of a request. Handlers [`QueryParams::take`] the ones they know and then
/// call [`QueryParams::finish`], which refuses anything left over, so a misspelt filter is an
/// error rather than silently ignored.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Removes and returns the parameter `name`.
    ///
    /// # Errors
    /// 422 when it was given more than once.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(key, _)| key == name);
        self.0 = rest;
        match taken.len() {
            0 => Ok(None),
            1 => Ok(taken.into_iter().next().map(|(_, value)| value)),
            _ => Err(ApiError::invalid_field(
                name,
                format!("query parameter {name} was given more than once; give it once"),
            )),
        }
    }

    /// Refuses parameters nobody took.
    ///
    /// # Errors
    /// 422 naming the first unknown parameter and listing the known ones.
    pub fn finish(self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::invalid_field(
                name.clone(),
                format!(
                    "unknown query parameter {name}; this route takes: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid_field(
                    "query",
                    "the query string could not be decoded; percent-encode parameter values",
                )
                .with_detail(rejection.body_text())
            })?;
        Ok(QueryParams(pairs))
    }
}

/// The query string of a route that takes no parameters: any parameter is refused with 422
/// naming it, so a misspelt or misplaced filter is an error rather than silently ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        QueryParams::from_request_parts(parts, state)
            .await?
            .finish(&[])
            .map(|()| NoQuery)
    }
}

/// The route's one path parameter, as text.
#[derive(Debug, Clone)]
pub struct PathSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid_field("path", "the path segment could not be decoded")
                    .with_detail(rejection.body_text())
            })?;
        Ok(PathSegment(segment))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are only deserialised")]
    struct Body {
        market: String,
        amount: Option<String>,
        markets: Option<Vec<String>>,
    }

    #[test]
    fn shape_errors_name_the_field() {
        let missing = parse_json::<Body>(br#"{"amount": "1"}"#).unwrap_err();
        assert_eq!(missing.field(), Some("market"));
        assert_eq!(missing.code(), ErrorCode::InvalidField);
        let unknown = parse_json::<Body>(br#"{"market": "BTC-EUR", "colour": 1}"#).unwrap_err();
        assert_eq!(unknown.field(), Some("colour"));
        let mistyped = parse_json::<Body>(br#"{"market": 5}"#).unwrap_err();
        assert_eq!(mistyped.field(), Some("market"));
        let nested = parse_json::<Body>(br#"{"market": "x", "markets": ["a", 2]}"#).unwrap_err();
        assert_eq!(nested.field(), Some("markets[1]"));
        let broken = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(broken.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn query_params_refuse_repeats_and_leftovers() {
        let mut q = QueryParams(vec![
            ("status".into(), "PENDING".into()),
            ("limit".into(), "5".into()),
            ("colour".into(), "red".into()),
        ]);
        assert_eq!(q.take("status").unwrap().as_deref(), Some("PENDING"));
        assert_eq!(q.take("absent").unwrap(), None);
        q.take("limit").unwrap();
        let error = q.finish(&["status", "limit"]).unwrap_err();
        assert_eq!(error.field(), Some("colour"));
        let mut twice = QueryParams(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert_eq!(twice.take("a").unwrap_err().field(), Some("a"));
    }
}
