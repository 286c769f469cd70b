//! The HTTP/1.1 server: accept loop, per-connection tasks, and the life of one request
//! (count → faults → rate limit → authentication → permission → handler → after-faults).
//!
//! Every request notes the monotonic instant it reached [`handle`] (its HTTP head read, nothing
//! else) and, when it created an order, the instant its answer was built; both are kept on the
//! order ([`crate::RequestTiming`], in the in-process order log) so a benchmark can tell the
//! order's arrival and the simulator's own handling time apart from the client's.
//!
//! hyper is used directly rather than through a router so that a request's raw target, raw body
//! and peer address are at hand (signatures cover the raw target) and so that a fault can close a
//! connection without any response: the service returns an error and hyper drops the connection.
//!
//! Shutdown is two-phase: when the token is cancelled the accept loop stops taking connections,
//! every connection is asked to finish its current request and close, and the loop waits (at
//! most a few seconds) for them before aborting the stragglers.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    admin,
    auth::{self, AccessHeaders, SignedRequest},
    config::BanCode,
    error::ApiError,
    exchange::{params::Params, Caller},
    faults::{default_message, After, Before, InjectedError},
    rate_limit::{Bucket, Headers, Verdict},
    routes::{self, Access, Route},
    Shared, SimError,
};

/// Largest request body accepted (orders are a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How long shutdown waits for open connections.
const DRAIN: Duration = Duration::from_secs(5);
/// How often resting orders and dead man's switches are checked without requests.
const TICK: Duration = Duration::from_millis(200);

/// The service error that makes hyper close the connection without a response.
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

type Reply = Response<Full<Bytes>>;

/// Serves until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let mut connections = JoinSet::new();
    let ticker_shared = Arc::clone(&shared);
    let ticker_stop = shutdown.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                () = ticker_stop.cancelled() => break,
                _ = interval.tick() => ticker_shared.settle(),
            }
        }
    });
    let closing = CancellationToken::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&shared);
                    let closing = closing.clone();
                    connections.spawn(connection(stream, peer, shared, closing));
                }
                Err(e) => {
                    // Usually out of file descriptors; pause instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    closing.cancel();
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    ticker.abort();
    if let Err(e) = ticker.await {
        if e.is_panic() {
            return Err(SimError::Task(format!("price ticker panicked: {e}")));
        }
    }
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    closing: CancellationToken,
) {
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { handle(shared, peer, req).await }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        }
        () = closing.cancelled() => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended during shutdown");
            }
        }
    }
}

pub(crate) fn json_reply(status: StatusCode, body: &Value, limits: Option<Headers>) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(l) = limits {
        add_limit_headers(&mut response, l);
    }
    response
}

fn add_limit_headers(response: &mut Reply, l: Headers) {
    let h = response.headers_mut();
    h.insert("bitvavo-ratelimit-limit", HeaderValue::from(l.limit));
    h.insert(
        "bitvavo-ratelimit-remaining",
        HeaderValue::from(l.remaining),
    );
    h.insert(
        "bitvavo-ratelimit-resetat",
        HeaderValue::from(l.reset_at_ms),
    );
}

fn error_reply(e: &ApiError, limits: Option<Headers>) -> Reply {
    json_reply(e.status, &e.body(), limits)
}

fn injected(e: &InjectedError, now_ms: i64) -> ApiError {
    ApiError::with_status(
        e.code,
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.message
            .clone()
            .unwrap_or_else(|| default_message(e.code, now_ms)),
    )
}

/// The life of one request.
async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Reply, DropConnection> {
    // First thing: the arrival, before the body is read or anything is parsed or checked.
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let bucket = {
        let headers = AccessHeaders::read(&parts.headers);
        match headers.key {
            Some(k) if headers.present() => Bucket::Key(k.to_owned()),
            _ => Bucket::Ip(peer.ip()),
        }
    };
    // Every answer, even one that never reaches a handler, carries the rate-limit headers.
    let peek = |shared: &Shared, bucket: &Bucket| {
        let ex = shared.lock();
        ex.limiter.peek(bucket, ex.now_ms())
    };
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let e = ApiError::new(102, "The request body is too large or could not be read.");
            return Ok(error_reply(&e, Some(peek(&shared, &bucket))));
        }
    };
    let path = parts.uri.path().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let query = parts.uri.query().unwrap_or("").to_owned();
    if path == "/_sim" || path.starts_with("/_sim/") {
        let mut reply = admin::handle(&shared, peer, &parts.method, &path, &query, &body);
        add_limit_headers(&mut reply, peek(&shared, &bucket));
        return Ok(reply);
    }
    let Some(route) = Route::resolve(&parts.method, &path) else {
        let mut ex = shared.lock();
        *ex.requests
            .entry(format!("{} (unknown endpoint)", parts.method))
            .or_default() += 1;
        let limits = ex.limiter.peek(&bucket, ex.now_ms());
        let e = ApiError::with_status(
            110,
            StatusCode::NOT_FOUND,
            "Invalid endpoint. Please check url and HTTP method.",
        );
        return Ok(error_reply(&e, Some(limits)));
    };
    let decision = {
        let mut ex = shared.lock();
        *ex.requests.entry(route.endpoint().to_owned()).or_default() += 1;
        ex.faults.decide(route.endpoint())
    };
    if decision.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(decision.latency_ms)).await;
    }
    match &decision.before {
        Some(Before::Drop) => {
            tracing::info!(endpoint = route.endpoint(), "fault: request dropped");
            return Err(DropConnection);
        }
        Some(Before::Error(e)) => {
            let ex = shared.lock();
            let now = ex.now_ms();
            let limits = ex.limiter.peek(&bucket, now);
            return Ok(error_reply(&injected(e, now), Some(limits)));
        }
        None => {}
    }
    let (reply, another) = {
        let mut ex = shared.lock();
        let now = ex.now_ms();
        let server_now = now + decision.skew_ms;
        ex.settle(now);
        let first_new_order = ex.order_count();
        let reply = carry_out(
            &mut ex, &route, &parts, &target, &query, &body, &bucket, now, server_now,
        );
        if ex.order_count() > first_new_order {
            let answered = Instant::now();
            ex.record_request_timing(first_new_order, crate::RequestTiming { arrived, answered });
        }
        let another = matches!(decision.after, Some(After::AnswerAnother))
            .then(|| another_order(&ex, first_new_order))
            .flatten();
        (reply, another)
    };
    match decision.after {
        None => Ok(reply),
        Some(After::Drop) => {
            tracing::info!(
                endpoint = route.endpoint(),
                "fault: connection dropped after the request was carried out"
            );
            Err(DropConnection)
        }
        Some(After::Error(e)) => {
            let now = shared.lock().now_ms();
            let limits = Headers {
                limit: header_u32(&reply, "bitvavo-ratelimit-limit"),
                remaining: header_u32(&reply, "bitvavo-ratelimit-remaining"),
                reset_at_ms: header_i64(&reply, "bitvavo-ratelimit-resetat"),
            };
            Ok(error_reply(&injected(&e, now), Some(limits)))
        }
        Some(After::Delay(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(reply)
        }
        Some(After::AnswerAnother) => match another {
            Some(order) => {
                tracing::info!(
                    endpoint = route.endpoint(),
                    "fault: the request was carried out and answered with another order"
                );
                let limits = Headers {
                    limit: header_u32(&reply, "bitvavo-ratelimit-limit"),
                    remaining: header_u32(&reply, "bitvavo-ratelimit-remaining"),
                    reset_at_ms: header_i64(&reply, "bitvavo-ratelimit-resetat"),
                };
                Ok(json_reply(StatusCode::OK, &order, Some(limits)))
            }
            // The request placed no order (refused, or not a create): its own answer stands.
            None => Ok(reply),
        },
    }
}

/// For [`After::AnswerAnother`]: the newest order accepted before `first_new_order`, or the new
/// order itself under a fresh `orderId` and `clientOrderId`; `None` when the request placed none.
fn another_order(ex: &crate::exchange::Exchange, first_new_order: usize) -> Option<Value> {
    if ex.order_count() <= first_new_order {
        return None;
    }
    match first_new_order.checked_sub(1) {
        Some(previous) => ex.order_answer(previous),
        None => ex.order_answer(first_new_order).map(|mut order| {
            order["orderId"] = Value::String(uuid::Uuid::new_v4().to_string());
            order["clientOrderId"] = Value::String(uuid::Uuid::new_v4().to_string());
            order
        }),
    }
}

fn header_u32(r: &Reply, name: &str) -> u32 {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

fn header_i64(r: &Reply, name: &str) -> i64 {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// Rate limit, authentication, permission, parameters and the handler, under the state lock.
#[allow(clippy::too_many_arguments)]
fn carry_out(
    ex: &mut crate::exchange::Exchange,
    route: &Route,
    parts: &http::request::Parts,
    target: &str,
    query: &str,
    body: &Bytes,
    bucket: &Bucket,
    now: i64,
    server_now: i64,
) -> Reply {
    // Parameters first only to know the weight (it depends on `market`); errors wait until the
    // caller is authenticated.
    let params: Result<Params, ApiError> = if route.has_body() {
        parse_body(body)
    } else {
        Ok(Params::from_query(query))
    };
    let weight = params.as_ref().map_or(1, |p| route.weight(p));
    let limits = match ex.limiter.charge(bucket, weight, now) {
        Verdict::Allowed(h) => h,
        Verdict::Banned { headers, until_ms } => {
            let e = match ex.limiter.ban_code() {
                BanCode::Current110 => ApiError::with_status(
                    110,
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Rate limit exceeded. You are blocked until {until_ms}."),
                ),
                BanCode::Legacy105 => ApiError::with_status(
                    105,
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Your IP or API key has been banned for not respecting the rate limit. The ban expires at {until_ms}."),
                ),
            };
            return error_reply(&e, Some(headers));
        }
    };
    let headers = AccessHeaders::read(&parts.headers);
    let caller = if route.access() != Access::Public || headers.present() {
        let request = SignedRequest {
            method: &parts.method,
            target,
            body,
        };
        let verified = auth::verify(
            &headers,
            &request,
            server_now,
            ex.config.future_timestamp_tolerance_ms,
            |k| ex.keys.get(k).map(|e| e.secret.clone()),
        );
        let key = match verified {
            Ok(k) => k,
            Err(e) => return error_reply(&e, Some(limits)),
        };
        let Some(entry) = ex.keys.get(key) else {
            return error_reply(
                &ApiError::new(305, "No active API key found."),
                Some(limits),
            );
        };
        if let Err(e) = routes::check_permission(route.access(), &entry.permissions) {
            return error_reply(&e, Some(limits));
        }
        Some(Caller {
            account: entry.account,
            key: key.to_owned(),
        })
    } else {
        None
    };
    let params = match params {
        Ok(p) => p,
        Err(e) => return error_reply(&e, Some(limits)),
    };
    if route.has_body() && !query.is_empty() {
        if let Some((name, _)) = query
            .split('&')
            .next()
            .map(|p| p.split_once('=').unwrap_or((p, "")))
        {
            return error_reply(&ApiError::query_not_accepted(name), Some(limits));
        }
    }
    match routes::dispatch(ex, route, caller.as_ref(), &params, now, server_now) {
        Ok(v) => json_reply(StatusCode::OK, &v, Some(limits)),
        Err(e) => {
            tracing::debug!(endpoint = route.endpoint(), code = e.code, "refused");
            error_reply(&e, Some(limits))
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Params, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::from_body(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Params::from_body(map)),
        _ => Err(ApiError::new(102, "The JSON object you sent is invalid.")),
    }
}
