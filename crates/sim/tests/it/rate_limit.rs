//! Rate limits over HTTP: headers on every answer, weights, bans with 110 or legacy 105, and
//! the ban's end, all on the sim clock.

use chrono::Duration;
use reqwest::Method;
use vigil_sim::BanCode;

use crate::support::{config, spawn, spawn_with, Answer};

fn header(a: &Answer, name: &str) -> i64 {
    a.headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_answer_carries_the_three_headers() {
    let sim = spawn().await;
    let minute_end = (sim.now_ms() / 60_000 + 1) * 60_000;
    let answers = vec![
        sim.public("/v2/time").await,
        sim.public("/v2/nowhere").await,
        sim.public("/v2/balance").await,
        sim.trade(Method::GET, "/v2/balance", None).await,
        sim.trade(Method::GET, "/v2/order?market=BTC-EUR&orderId=x", None)
            .await,
        sim.public("/_sim/requests").await,
    ];
    for a in &answers {
        assert_eq!(header(a, "bitvavo-ratelimit-limit"), 1000, "{}", a.body);
        assert!(header(a, "bitvavo-ratelimit-remaining") <= 1000);
        assert_eq!(header(a, "bitvavo-ratelimit-resetat"), minute_end);
    }
    answers[1].error(110, 404);
    // Weights: /balance costs 5 for the key.
    let before = header(&answers[4], "bitvavo-ratelimit-remaining");
    let after = sim.trade(Method::GET, "/v2/balance", None).await;
    assert_eq!(header(&after, "bitvavo-ratelimit-remaining"), before - 5);
}

#[tokio::test]
async fn exceeding_the_budget_bans_with_110_until_the_end_of_the_next_minute() {
    let (config, clock) = config();
    let sim = spawn_with(config.with_rate_limit(10), clock).await;
    for _ in 0..2 {
        sim.trade(Method::GET, "/v2/balance", None).await.ok();
    }
    let banned = sim.trade(Method::GET, "/v2/time", None).await;
    banned.error(110, 429);
    assert_eq!(header(&banned, "bitvavo-ratelimit-remaining"), 0);
    // Unsigned callers (per IP) are counted separately.
    sim.public("/v2/time").await.ok();
    // Still banned at the start of the next minute, free at the end of it.
    let next_minute = (sim.now_ms() / 60_000 + 1) * 60_000;
    sim.advance(Duration::milliseconds(next_minute - sim.now_ms()));
    sim.trade(Method::GET, "/v2/time", None)
        .await
        .error(110, 429);
    sim.advance(Duration::minutes(1));
    sim.trade(Method::GET, "/v2/balance", None).await.ok();
}

#[tokio::test]
async fn legacy_105_message_ends_with_the_ban_expiry_the_python_sdk_parses() {
    let (config, clock) = config();
    let sim = spawn_with(
        config.with_rate_limit(1).with_ban_code(BanCode::Legacy105),
        clock,
    )
    .await;
    sim.trade(Method::GET, "/v2/time", None).await.ok();
    let a = sim.trade(Method::GET, "/v2/time", None).await;
    a.error(105, 429);
    let message = a.body["error"].as_str().unwrap();
    // The SDK does: int(message.split(' at ')[1].split('.')[0]).
    let parts: Vec<&str> = message.split(" at ").collect();
    assert_eq!(parts.len(), 2, "{message}");
    let expiry: i64 = parts[1].split('.').next().unwrap().parse().unwrap();
    assert_eq!(expiry, (sim.now_ms() / 60_000 + 2) * 60_000);
}
