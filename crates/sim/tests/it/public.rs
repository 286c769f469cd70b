//! Public endpoints: shapes and JSON types (strings for amounts, integers for timestamps), one
//! object with `market=` and an array without, candles newest first.

use reqwest::Method;
use serde_json::Value;

use crate::support::spawn;

#[tokio::test]
async fn time_is_integer_milliseconds() {
    let sim = spawn().await;
    let t = sim.public("/v2/time").await;
    let t = t.ok();
    assert_eq!(t["time"].as_i64(), Some(sim.now_ms()));
    assert_eq!(
        t["timeNs"].as_u64(),
        Some(u64::try_from(sim.now_ms()).unwrap() * 1_000_000)
    );
}

#[tokio::test]
async fn markets_and_assets() {
    let sim = spawn().await;
    let all = sim.public("/v2/markets").await;
    let all = all.ok().as_array().unwrap().clone();
    let names: Vec<&str> = all.iter().map(|m| m["market"].as_str().unwrap()).collect();
    assert_eq!(names, ["BTC-EUR", "ETH-EUR", "SOL-EUR", "XRP-EUR"]);
    let one = sim.public("/v2/markets?market=BTC-EUR").await;
    let one = one.ok();
    assert!(one.is_object());
    assert_eq!(one["tickSize"], "1");
    assert_eq!(one["quantityDecimals"], 8);
    assert_eq!(one["maxOpenOrders"], 100);
    assert!(one["pricePrecision"].is_null());
    assert_eq!(one["minOrderInQuoteAsset"], "5");
    sim.public("/v2/markets?market=NOPE-EUR")
        .await
        .error(205, 400);
    let assets = sim.public("/v2/assets").await;
    assert!(assets
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["symbol"] == "EUR"));
}

#[tokio::test]
async fn tickers() {
    let sim = spawn().await;
    let p = sim.public("/v2/ticker/price?market=BTC-EUR").await;
    assert_eq!(p.ok()["price"], "60000");
    assert_eq!(
        sim.public("/v2/ticker/price")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let b = sim.public("/v2/ticker/book?market=BTC-EUR").await;
    let b = b.ok();
    let bid: rust_decimal::Decimal = b["bid"].as_str().unwrap().parse().unwrap();
    let ask: rust_decimal::Decimal = b["ask"].as_str().unwrap().parse().unwrap();
    assert!(bid < ask);
    assert!(b["bidSize"].is_string() && b["askSize"].is_string());
    let t = sim.public("/v2/ticker/24h?market=ETH-EUR").await;
    let t = t.ok();
    assert!(t.is_object());
    for f in [
        "open",
        "high",
        "low",
        "last",
        "volume",
        "volumeQuote",
        "bid",
        "ask",
    ] {
        assert!(t[f].is_string(), "{f}: {t}");
    }
    for f in [
        "startTimestamp",
        "timestamp",
        "openTimestamp",
        "closeTimestamp",
    ] {
        assert!(t[f].is_i64(), "{f}: {t}");
    }
    assert!(sim.public("/v2/ticker/24h").await.ok().is_array());
}

#[tokio::test]
async fn candles_are_newest_first_with_integer_timestamps() {
    let sim = spawn().await;
    let c = sim.public("/v2/BTC-EUR/candles?interval=1h&limit=5").await;
    let c = c.ok().as_array().unwrap().clone();
    assert_eq!(c.len(), 5);
    let starts: Vec<i64> = c.iter().map(|k| k[0].as_i64().unwrap()).collect();
    for w in starts.windows(2) {
        assert_eq!(w[0] - w[1], 3_600_000);
    }
    assert_eq!(starts[0], sim.now_ms() / 3_600_000 * 3_600_000);
    assert!(c[0].as_array().unwrap()[1..].iter().all(Value::is_string));
    let ranged = sim
        .public(&format!(
            "/v2/BTC-EUR/candles?interval=1m&start={}&end={}",
            starts[1], starts[0]
        ))
        .await;
    assert_eq!(ranged.ok().as_array().unwrap().len(), 60);
    sim.public("/v2/BTC-EUR/candles?interval=3m")
        .await
        .error(205, 400);
    sim.public("/v2/BTC-EUR/candles").await.error(203, 400);
    sim.public("/v2/BTC-EUR/candles?interval=1m&limit=1441")
        .await
        .error(205, 400);
}

#[tokio::test]
async fn book_and_public_trades() {
    let sim = spawn().await;
    sim.limit("buy", "0.001", "59000", None).await.ok();
    let b = sim.public("/v2/BTC-EUR/book?depth=3").await;
    let b = b.ok();
    assert!(b["nonce"].is_u64() && b["timestamp"].is_i64());
    let bids = b["bids"].as_array().unwrap();
    assert_eq!(bids.len(), 3);
    let p = |v: &Value| {
        v[0].as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    assert!(p(&bids[0]) > p(&bids[1]));
    let asks = b["asks"].as_array().unwrap();
    assert!(p(&asks[0]) < p(&asks[1]));
    let deep = sim.public("/v2/BTC-EUR/book?depth=1000").await;
    assert!(deep.ok()["bids"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l[0] == "59000"));
    let t = sim.public("/v2/BTC-EUR/trades?limit=3").await;
    let t = t.ok().as_array().unwrap().clone();
    assert_eq!(t.len(), 3);
    assert!(t[0]["timestamp"].as_i64() > t[1]["timestamp"].as_i64());
    assert!(t[0]["amount"].is_string() && t[0]["price"].is_string());
    // Balance and account reads.
    let bal = sim.view(Method::GET, "/v2/balance", None).await;
    let bal = bal.ok().as_array().unwrap().clone();
    assert!(bal
        .iter()
        .any(|r| r["symbol"] == "EUR" && r["inOrder"] == "59.1475"));
    let fees = sim
        .view(Method::GET, "/v2/account/fees?market=BTC-EUR", None)
        .await;
    assert_eq!(fees.ok()["taker"], "0.0025");
    let acct = sim.view(Method::GET, "/v2/account", None).await;
    assert_eq!(acct.ok()["fees"]["maker"], "0.0015");
}
