//! Request ids: every request gets one, every response carries it in `x-request-id`, every
//! error body repeats it, and every log line about the request names it.
//!
//! A client may send its own `x-request-id` (1 to 64 of `A-Z a-z 0-9 - _ .`, so it is safe to
//! log and echo); anything else is replaced by a fresh UUID. The id is held in a tokio
//! task-local for the duration of the request, so [`crate::error::ApiError`]'s one
//! `IntoResponse` impl can put it in the body without every handler passing it along.

use std::time::Instant;

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-chosen request id that is kept.
const CLIENT_ID_MAX_LEN: usize = 64;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
#[must_use]
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The client's id when it is acceptable, else a fresh one.
fn choose(header: Option<&HeaderValue>) -> String {
    header
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= CLIENT_ID_MAX_LEN
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Middleware: assigns the id, serves the request inside its scope, logs one line per request,
/// and sets the response header.
pub(crate) async fn assign(request: Request, next: Next) -> Response {
    let id = choose(request.headers().get(&REQUEST_ID_HEADER));
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    tracing::info!(
        request_id = %id,
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request served"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_safe_client_id_and_replaces_anything_else() {
        let ok = HeaderValue::from_static("abc-123_x.y");
        assert_eq!(choose(Some(&ok)), "abc-123_x.y");
        for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
            let value = HeaderValue::from_str(bad).unwrap();
            let chosen = choose(Some(&value));
            assert_ne!(chosen, bad);
            assert!(uuid::Uuid::parse_str(&chosen).is_ok());
        }
        assert!(uuid::Uuid::parse_str(&choose(None)).is_ok());
    }
}
