//! The admin API under `/_sim/`: unsigned, and refused (HTTP 403) unless the peer is a loopback
//! address. Tests and operators use it to see what the exchange saw and to steer it:
//!
//! | Route | What it does |
//! |---|---|
//! | `GET /_sim/orders` | every accepted order (order log) |
//! | `GET /_sim/requests` | requests per endpoint, refused ones included |
//! | `GET /_sim/balances` | every account's balances |
//! | `PUT /_sim/balances` | `{"account","asset","available"}`: set an available balance |
//! | `GET /_sim/price?market=M` | the current price of a market |
//! | `POST /_sim/price` | `{"market","price"}`: override the price from now on |
//! | `POST /_sim/market-status` | `{"market","status"}`: e.g. halt a market |
//! | `GET /_sim/faults` | the fault plan in force |
//! | `PUT /_sim/faults` | replace the fault plan (a `FaultPlan` as JSON) |
//! | `DELETE /_sim/faults` | remove all faults |
//! | `GET /_sim/fees` | fees collected per asset |
//! | `POST /_sim/reset` | back to the configured start (orders, balances, counters, faults) |

use std::net::SocketAddr;

use http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{faults::FaultPlan, server::json_reply, AdminError, Shared};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBalance {
    account: String,
    asset: String,
    available: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPrice {
    market: String,
    price: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStatus {
    market: String,
    status: String,
}

fn fail(message: &str) -> Value {
    json!({ "error": message })
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, (StatusCode, Value)> {
    serde_json::from_slice(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, fail(&format!("invalid body: {e}"))))
}

fn admin_error(e: &AdminError) -> (StatusCode, Value) {
    let status = match e {
        AdminError::UnknownAccount(_) | AdminError::UnknownMarket(_) => StatusCode::NOT_FOUND,
        AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    (status, fail(&e.to_string()))
}

/// Handles one admin request.
pub(crate) fn handle(
    shared: &Shared,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> http::Response<http_body_util::Full<bytes::Bytes>> {
    if !peer.ip().is_loopback() {
        tracing::warn!(%peer, "admin request from a non-loopback peer refused");
        return json_reply(
            StatusCode::FORBIDDEN,
            &json!({ "error": "the /_sim/ admin API only answers loopback peers" }),
            None,
        );
    }
    let result = route(shared, method, path, query, body);
    let (status, value) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => e,
    };
    json_reply(status, &value, None)
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Result<Value, (StatusCode, Value)> {
    match (method.as_str(), path) {
        ("GET", "/_sim/orders") => {
            Ok(serde_json::to_value(shared.order_log()).unwrap_or(Value::Null))
        }
        ("GET", "/_sim/requests") => Ok(json!(shared.request_counts())),
        ("GET", "/_sim/balances") => Ok(json!(shared.all_balances())),
        ("PUT", "/_sim/balances") => {
            let b: SetBalance = parse(body)?;
            shared
                .set_balance(&b.account, &b.asset, b.available)
                .map_err(|e| admin_error(&e))?;
            Ok(
                json!({ "account": b.account, "asset": b.asset.to_ascii_uppercase(), "available": b.available }),
            )
        }
        ("GET", "/_sim/price") => {
            let market = query
                .split('&')
                .find_map(|p| p.strip_prefix("market="))
                .unwrap_or("");
            let price = shared.price(market).map_err(|e| admin_error(&e))?;
            Ok(json!({ "market": market, "price": price.normalize().to_string() }))
        }
        ("POST", "/_sim/price") => {
            let p: SetPrice = parse(body)?;
            shared
                .set_price(&p.market, p.price)
                .map_err(|e| admin_error(&e))?;
            Ok(
                json!({ "market": p.market, "price": shared.price(&p.market).map_err(|e| admin_error(&e))? }),
            )
        }
        ("POST", "/_sim/market-status") => {
            let s: SetStatus = parse(body)?;
            shared
                .set_market_status(&s.market, &s.status)
                .map_err(|e| admin_error(&e))?;
            Ok(json!({ "market": s.market, "status": s.status }))
        }
        ("GET", "/_sim/faults") => Ok(serde_json::to_value(shared.faults()).unwrap_or(Value::Null)),
        ("PUT", "/_sim/faults") => {
            let plan: FaultPlan = parse(body)?;
            shared.set_faults(plan).map_err(|e| admin_error(&e))?;
            Ok(serde_json::to_value(shared.faults()).unwrap_or(Value::Null))
        }
        ("DELETE", "/_sim/faults") => {
            shared.clear_faults();
            Ok(json!({ "rules": [] }))
        }
        ("GET", "/_sim/fees") => Ok(json!(shared.fees_collected())),
        ("POST", "/_sim/reset") => {
            shared.reset().map_err(|e| admin_error(&e))?;
            Ok(json!({ "reset": true }))
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no admin route {method} {path}; see docs/simulator.md") }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;

    #[test]
    fn non_loopback_peers_are_refused_and_loopback_ones_served() {
        let shared = Shared::new(SimConfig::demo(1)).unwrap();
        // Only the peer address value is used here; nothing is sent anywhere.
        let outside: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let refused = handle(&shared, outside, &Method::GET, "/_sim/orders", "", b"");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let reset = handle(&shared, outside, &Method::POST, "/_sim/reset", "", b"");
        assert_eq!(reset.status(), StatusCode::FORBIDDEN);
        for local in ["127.0.0.1:40000", "[::1]:40000"] {
            let served = handle(
                &shared,
                local.parse().unwrap(),
                &Method::GET,
                "/_sim/orders",
                "",
                b"",
            );
            assert_eq!(served.status(), StatusCode::OK);
        }
    }
}
