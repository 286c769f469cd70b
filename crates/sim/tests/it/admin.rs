//! The admin API over HTTP (loopback only): order log, request counter, balances, price,
//! faults and reset; and the in-process order log's record of when each create arrived.

use std::{collections::BTreeSet, time::Instant};

use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use vigil_sim::{FaultKind, FaultPlan, FaultRule, DEMO_ACCOUNT};

use crate::support::{spawn, Sim};

async fn admin(sim: &Sim, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = sim.http.request(method, format!("{}{path}", sim.base));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test]
async fn admin_routes_expose_and_steer_the_exchange() {
    let sim = spawn().await;
    sim.limit("buy", "0.001", "50000", None).await.ok();
    sim.public("/v2/nowhere").await;
    sim.public("/v2/balance").await;
    let orders = admin(&sim, Method::GET, "/_sim/orders", None).await;
    assert_eq!(orders[0]["apiKey"], vigil_sim::DEMO_TRADE_KEY);
    assert_eq!(orders[0]["operatorId"], 543_462);
    let counts = admin(&sim, Method::GET, "/_sim/requests", None).await;
    assert_eq!(counts["POST /v2/order"], 1);
    assert_eq!(counts["GET /v2/balance"], 1, "refused requests count too");
    // Balances: the test can make "the balance drop".
    admin(
        &sim,
        Method::PUT,
        "/_sim/balances",
        Some(json!({"account": DEMO_ACCOUNT, "asset": "EUR", "available": "3"})),
    )
    .await;
    let b = admin(&sim, Method::GET, "/_sim/balances", None).await;
    assert_eq!(b[DEMO_ACCOUNT]["EUR"]["available"], "3");
    sim.limit("buy", "0.001", "50000", None)
        .await
        .error(216, 400);
    // Price.
    admin(
        &sim,
        Method::POST,
        "/_sim/price",
        Some(json!({"market": "ETH-EUR", "price": "2500"})),
    )
    .await;
    assert_eq!(sim.handle.price("ETH-EUR").unwrap(), dec!(2500));
    let p = admin(&sim, Method::GET, "/_sim/price?market=ETH-EUR", None).await;
    assert_eq!(p["price"], "2500");
    // Faults.
    let plan = FaultPlan::single(FaultRule::new("GET /v2/time", FaultKind::DropRequest).times(1));
    admin(
        &sim,
        Method::PUT,
        "/_sim/faults",
        Some(serde_json::to_value(&plan).unwrap()),
    )
    .await;
    assert_eq!(sim.handle.faults(), plan);
    admin(&sim, Method::DELETE, "/_sim/faults", None).await;
    assert!(sim.handle.faults().rules.is_empty());
    // Reset.
    admin(&sim, Method::POST, "/_sim/reset", None).await;
    assert!(sim.handle.order_log().is_empty());
    assert_eq!(
        sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap().available,
        dec!(1000)
    );
    assert!(sim.handle.request_counts().is_empty());
    let missing = sim
        .http
        .get(format!("{}/_sim/nothing", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let bad = sim
        .http
        .put(format!("{}/_sim/balances", sim.base))
        .json(&json!({"account": "nobody", "asset": "EUR", "available": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
}

#[tokio::test]
async fn handle_stops_the_server() {
    let sim = spawn().await;
    let base = sim.base.clone();
    let http = sim.http.clone();
    sim.handle.stop().await.unwrap();
    assert!(http.get(format!("{base}/v2/time")).send().await.is_err());
}

#[tokio::test]
async fn the_order_log_records_when_each_create_arrived_and_was_answered() {
    let sim = spawn().await;
    let before = Instant::now();
    sim.limit("buy", "0.001", "50000", None).await.ok();
    // A refused create (216: the balance is short) places no order and records nothing.
    sim.limit("buy", "1", "50000", None).await.error(216, 400);
    sim.limit("buy", "0.001", "50000", None).await.ok();
    let after = Instant::now();
    let log = sim.handle.order_log();
    assert_eq!(log.len(), 2);
    let timings: Vec<_> = log
        .iter()
        .map(|entry| {
            entry
                .request
                .expect("every accepted order has its request timing")
        })
        .collect();
    for t in &timings {
        assert!(before <= t.arrived, "arrived before the client sent it");
        assert!(t.arrived <= t.answered, "answered before it arrived: {t:?}");
        assert!(
            t.answered <= after,
            "answered after the client had the answer"
        );
        assert_eq!(t.handling(), t.answered - t.arrived);
    }
    assert!(
        timings[0].answered <= timings[1].arrived,
        "sequential creates: the second arrived after the first was answered"
    );
    // The admin API's JSON keeps exactly its documented fields: the timing is in-process only.
    let orders = admin(&sim, Method::GET, "/_sim/orders", None).await;
    let keys: BTreeSet<&str> = orders[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let documented: BTreeSet<&str> = [
        "orderId",
        "market",
        "clientOrderId",
        "operatorId",
        "apiKey",
        "account",
        "created",
        "updated",
        "side",
        "orderType",
        "amount",
        "amountQuote",
        "price",
        "status",
        "filledAmount",
        "filledAmountQuote",
        "feePaid",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, documented);
    let read_back: Vec<vigil_sim::OrderLogEntry> = serde_json::from_value(orders).unwrap();
    assert!(read_back.iter().all(|e| e.request.is_none()));
}
