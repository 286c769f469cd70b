//! Orders over HTTP: the lifecycle, lookups by both ids, history and fills, and every
//! validation error the simulator implements.

use chrono::Duration;
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use vigil_sim::{MarketConfig, DEMO_ACCOUNT, DEMO_TRADE_KEY};

use crate::support::{spawn, spawn_with, COID};

fn d(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn limit_order_lifecycle_with_both_ids() {
    let sim = spawn().await;
    let placed = sim.limit("buy", "0.001", "50000", Some(COID)).await;
    let o = placed.ok().clone();
    assert_eq!(o["status"], "new");
    assert_eq!(o["clientOrderId"], COID);
    assert_eq!(o["operatorId"], 543_462);
    assert_eq!(o["amount"], "0.001");
    assert_eq!(o["price"], "50000");
    assert!(o["created"].is_i64() && o["updated"].is_i64());
    assert_eq!(o["onHoldCurrency"], "EUR");
    // Funds are held: 50 EUR plus the worst-case (taker) fee.
    let b = sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap();
    assert_eq!(b.in_order, dec!(50.125));
    assert_eq!(b.available, dec!(949.875));
    let id = o["orderId"].as_str().unwrap().to_owned();
    let by_id = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&orderId={id}"),
            None,
        )
        .await;
    assert_eq!(by_id.ok()["orderId"], id.as_str());
    let by_coid = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&clientOrderId={COID}"),
            None,
        )
        .await;
    assert_eq!(by_coid.ok()["orderId"], id.as_str());
    let open = sim
        .view(Method::GET, "/v2/ordersOpen?market=BTC-EUR", None)
        .await;
    assert_eq!(open.ok().as_array().unwrap().len(), 1);
    // Cancel with operatorId; the answer echoes the ids.
    let c = sim
        .trade(
            Method::DELETE,
            &format!("/v2/order?market=BTC-EUR&orderId={id}&operatorId=543462"),
            None,
        )
        .await;
    let c = c.ok();
    assert_eq!(c["orderId"], id.as_str());
    assert_eq!(c["clientOrderId"], COID);
    assert_eq!(c["operatorId"], 543_462);
    assert_eq!(
        sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap().available,
        dec!(1000)
    );
    // Canceled orders stay findable by both ids; a second cancel is 233.
    let again = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&clientOrderId={COID}"),
            None,
        )
        .await;
    assert_eq!(again.ok()["status"], "canceled");
    sim.trade(
        Method::DELETE,
        &format!("/v2/order?market=BTC-EUR&orderId={id}&operatorId=1"),
        None,
    )
    .await
    .error(233, 400);
    // The admin log has it, with the key that placed it.
    let log = sim.handle.order_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].api_key, DEMO_TRADE_KEY);
    assert_eq!(log[0].client_order_id.as_deref(), Some(COID));
    assert_eq!(log[0].status, "canceled");
}

#[tokio::test]
async fn client_order_id_is_echoed_only_when_given_and_reusable_after_close() {
    let sim = spawn().await;
    let o = sim.limit("buy", "0.001", "50000", None).await;
    let o = o.ok();
    assert!(o.get("clientOrderId").is_none());
    let first = sim.limit("buy", "0.001", "50000", Some(COID)).await;
    first.ok();
    sim.limit("buy", "0.001", "50000", Some(COID))
        .await
        .error(220, 400);
    // Another market is a different scope.
    let body = format!(
        r#"{{"market":"ETH-EUR","side":"buy","orderType":"limit","amount":"0.01","price":"2000","operatorId":1,"clientOrderId":"{COID}"}}"#
    );
    sim.trade(Method::POST, "/v2/order", Some(&body)).await.ok();
    sim.trade(
        Method::DELETE,
        &format!("/v2/order?market=BTC-EUR&clientOrderId={COID}&operatorId=1"),
        None,
    )
    .await
    .ok();
    sim.limit("buy", "0.001", "50000", Some(COID)).await.ok();
}

#[tokio::test]
async fn market_orders_fill_with_fees_and_fills_carry_the_client_order_id() {
    let sim = spawn().await;
    let body = format!(
        r#"{{"market":"BTC-EUR","side":"buy","orderType":"market","amountQuote":"100","operatorId":9,"clientOrderId":"{COID}"}}"#
    );
    let a = sim.trade(Method::POST, "/v2/order", Some(&body)).await;
    let o = a.ok();
    assert_eq!(o["status"], "filled");
    assert_eq!(o["amountQuote"], "100");
    assert!(o.get("amount").is_none());
    let fills = o["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0]["taker"], true);
    let spent = d(&o["filledAmountQuote"]) + d(&o["feePaid"]);
    assert!(spent <= dec!(100) && spent > dec!(99), "{spent}");
    let eur = sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap();
    assert_eq!(eur.available, dec!(1000) - spent);
    let btc = sim.handle.balance(DEMO_ACCOUNT, "BTC").unwrap();
    assert_eq!(btc.available, dec!(0.05) + d(&o["filledAmount"]));
    let trades = sim
        .trade(Method::GET, "/v2/trades?market=BTC-EUR", None)
        .await;
    let t = &trades.ok()[0];
    assert_eq!(t["clientOrderId"], COID);
    assert_eq!(t["orderId"], o["orderId"]);
    assert_eq!(t["fee"], o["feePaid"]);
    // Sell by amount.
    let body =
        r#"{"market":"BTC-EUR","side":"sell","orderType":"market","amount":"0.01","operatorId":9}"#;
    let s = sim.trade(Method::POST, "/v2/order", Some(body)).await;
    assert_eq!(s.ok()["filledAmount"], "0.01");
    assert_eq!(sim.handle.fees_collected().len(), 1);
}

#[tokio::test]
async fn resting_orders_fill_when_the_price_crosses_them() {
    let sim = spawn().await;
    let o = sim.limit("buy", "0.001", "59000", Some(COID)).await;
    let id = o.ok()["orderId"].as_str().unwrap().to_owned();
    sim.handle.set_price("BTC-EUR", dec!(58_900)).unwrap();
    let got = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&orderId={id}"),
            None,
        )
        .await;
    let got = got.ok();
    assert_eq!(got["status"], "filled");
    assert_eq!(got["fills"][0]["price"], "59000");
    assert_eq!(got["fills"][0]["taker"], false);
    let eur = sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap();
    assert_eq!(eur.in_order, Decimal::ZERO);
    assert_eq!(eur.available, dec!(1000) - dec!(59) - dec!(0.0885));
}

#[tokio::test]
async fn crossing_limit_orders_take_or_cancel_by_post_only_and_time_in_force() {
    let sim = spawn().await;
    let body = |extra: &str| {
        format!(
            r#"{{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"61000","operatorId":1{extra}}}"#
        )
    };
    let taken = sim.trade(Method::POST, "/v2/order", Some(&body(""))).await;
    assert_eq!(taken.ok()["status"], "filled");
    let post_only = sim
        .trade(
            Method::POST,
            "/v2/order",
            Some(&body(r#","postOnly":true"#)),
        )
        .await;
    assert_eq!(post_only.ok()["status"], "canceledPostOnly");
    let ioc = r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","operatorId":1,"timeInForce":"IOC"}"#;
    assert_eq!(
        sim.trade(Method::POST, "/v2/order", Some(ioc)).await.ok()["status"],
        "canceledIOC"
    );
}

#[tokio::test]
async fn update_changes_price_and_keeps_the_id() {
    let sim = spawn().await;
    let o = sim.limit("buy", "0.001", "50000", Some(COID)).await;
    let id = o.ok()["orderId"].as_str().unwrap().to_owned();
    let body = format!(r#"{{"market":"BTC-EUR","orderId":"{id}","price":"51000","operatorId":2}}"#);
    let u = sim.trade(Method::PUT, "/v2/order", Some(&body)).await;
    let u = u.ok();
    assert_eq!(u["orderId"], id.as_str());
    assert_eq!(u["price"], "51000");
    assert_eq!(u["operatorId"], 2);
    let none = format!(r#"{{"market":"BTC-EUR","orderId":"{id}","operatorId":2}}"#);
    sim.trade(Method::PUT, "/v2/order", Some(&none))
        .await
        .error(232, 400);
    let no_op = format!(r#"{{"market":"BTC-EUR","orderId":"{id}","price":"51000"}}"#);
    let e = sim.trade(Method::PUT, "/v2/order", Some(&no_op)).await;
    e.error(203, 400);
    assert!(e.body["error"].as_str().unwrap().contains("operatorId"));
    let both = format!(
        r#"{{"market":"BTC-EUR","orderId":"{id}","amount":"0.002","amountRemaining":"0.002","operatorId":2}}"#
    );
    sim.trade(Method::PUT, "/v2/order", Some(&both))
        .await
        .error(236, 400);
    // Market orders cannot be updated (234), even by a valid change.
    let market = r#"{"market":"BTC-EUR","side":"buy","orderType":"market","amount":"0.0001","operatorId":2}"#;
    let m = sim.trade(Method::POST, "/v2/order", Some(market)).await;
    let market_id = m.ok()["orderId"].as_str().unwrap().to_owned();
    let change = format!(
        r#"{{"market":"BTC-EUR","orderId":"{market_id}","amount":"0.0002","operatorId":2}}"#
    );
    sim.trade(Method::PUT, "/v2/order", Some(&change))
        .await
        .error(234, 400);
}

#[tokio::test]
async fn validation_errors() {
    let sim = spawn().await;
    let post = |body: String| {
        let sim = &sim;
        async move { sim.trade(Method::POST, "/v2/order", Some(&body)).await }
    };
    let limit = |fields: &str| {
        format!(
            r#"{{"market":"BTC-EUR","side":"buy","orderType":"limit","operatorId":1,{fields}}}"#
        )
    };
    // operatorId missing: 203 naming it.
    let e = post(
        r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000"}"#
            .into(),
    )
    .await;
    e.error(203, 400);
    assert!(e.body["error"].as_str().unwrap().contains("operatorId"));
    // operatorId as a string.
    post(r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","operatorId":"1"}"#.into())
        .await
        .error(205, 400);
    // Unknown market.
    let e = post(r#"{"market":"DOGE-EUR","side":"buy","orderType":"limit","amount":"1","price":"1","operatorId":1}"#.into()).await;
    e.error(205, 400);
    assert_eq!(e.body["error"], "market parameter is invalid.");
    // clientOrderId not a UUID.
    post(limit(
        r#""amount":"0.001","price":"50000","clientOrderId":"café-€""#,
    ))
    .await
    .error(205, 400);
    // Price off the tick.
    post(limit(r#""amount":"0.001","price":"50000.5""#))
        .await
        .error(205, 400);
    // Too many amount decimals.
    post(limit(r#""amount":"0.000000001","price":"50000""#))
        .await
        .error(205, 400);
    // Below the minimum amount, above the maximum, below the minimum notional.
    post(limit(r#""amount":"0.00001","price":"50000""#))
        .await
        .error(212, 400);
    post(limit(r#""amount":"2000000000","price":"50000""#))
        .await
        .error(210, 400);
    post(limit(r#""amount":"0.0001","price":"1000""#))
        .await
        .error(217, 400);
    // More than 15 decimals in the price.
    post(limit(
        r#""amount":"0.001","price":"50000.0000000000000001""#,
    ))
    .await
    .error(215, 400);
    // Not enough funds.
    post(limit(r#""amount":"1","price":"50000""#))
        .await
        .error(216, 400);
    // Both sizes; a limit-only field on a market order; an unknown body field; bad JSON.
    post(r#"{"market":"BTC-EUR","side":"buy","orderType":"market","amount":"0.001","amountQuote":"10","operatorId":1}"#.into())
        .await
        .error(206, 400);
    post(r#"{"market":"BTC-EUR","side":"buy","orderType":"market","amount":"0.001","price":"1","operatorId":1}"#.into())
        .await
        .error(202, 400);
    post(limit(r#""amount":"0.001","price":"50000","colour":"red""#))
        .await
        .error(201, 400);
    post("{not json".into()).await.error(102, 400);
    // Unknown order: 240 with HTTP 404; unknown query parameter: 200.
    sim.trade(
        Method::GET,
        "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6",
        None,
    )
    .await
    .error(240, 404);
    sim.trade(
        Method::GET,
        &format!("/v2/order?market=BTC-EUR&clientOrderId={COID}"),
        None,
    )
    .await
    .error(240, 404);
    sim.trade(Method::GET, "/v2/balance?colour=red", None)
        .await
        .error(200, 400);
    // Cancel and cancel-all without operatorId: 203.
    sim.trade(
        Method::DELETE,
        "/v2/order?market=BTC-EUR&orderId=1be6d0df-d5dc-4b53-a250-3376f3b393e6",
        None,
    )
    .await
    .error(203, 400);
    sim.trade(Method::DELETE, "/v2/orders?market=BTC-EUR", None)
        .await
        .error(203, 400);
    // Nothing was placed by any of these.
    assert!(sim.handle.order_log().is_empty());
}

#[tokio::test]
async fn at_most_max_open_orders_per_market_and_halted_markets_refuse() {
    let (config, clock) = crate::support::config();
    let markets = vec![
        MarketConfig::new("BTC-EUR", Decimal::ONE, 8, dec!(60000))
            .with_minimums(dec!(0.0001), dec!(5))
            .with_max_open_orders(2),
        MarketConfig::new("ETH-EUR", dec!(0.01), 8, dec!(3000)).with_status("halted"),
    ];
    let sim = spawn_with(config.with_markets(markets), clock).await;
    sim.limit("buy", "0.001", "50000", None).await.ok();
    sim.limit("buy", "0.001", "50000", None).await.ok();
    sim.limit("buy", "0.001", "50000", None)
        .await
        .error(235, 400);
    let eth = r#"{"market":"ETH-EUR","side":"buy","orderType":"limit","amount":"0.01","price":"2000","operatorId":1}"#;
    sim.trade(Method::POST, "/v2/order", Some(eth))
        .await
        .error(230, 400);
    // Cancel all answers each canceled order.
    let all = sim
        .trade(
            Method::DELETE,
            "/v2/orders?market=BTC-EUR&operatorId=5",
            None,
        )
        .await;
    let all = all.ok().as_array().unwrap().clone();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["operatorId"], 5);
    sim.limit("buy", "0.001", "50000", None).await.ok();
}

#[tokio::test]
async fn history_is_newest_first_with_limit_and_time_range() {
    let sim = spawn().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let o = sim.limit("buy", "0.001", "50000", None).await;
        ids.push(o.ok()["orderId"].as_str().unwrap().to_owned());
        sim.advance(Duration::seconds(1));
    }
    let h = sim
        .trade(Method::GET, "/v2/orders?market=BTC-EUR&limit=2", None)
        .await;
    let h = h.ok().as_array().unwrap().clone();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["orderId"], ids[2].as_str());
    assert_eq!(h[1]["orderId"], ids[1].as_str());
    let first = sim.handle.order_log()[0].created;
    let h = sim
        .trade(
            Method::GET,
            &format!("/v2/orders?market=BTC-EUR&start={first}&end={first}"),
            None,
        )
        .await;
    assert_eq!(h.ok().as_array().unwrap().len(), 1);
    sim.trade(Method::GET, "/v2/orders?market=BTC-EUR&limit=1001", None)
        .await
        .error(205, 400);
}

#[tokio::test]
async fn cancel_orders_after_cancels_on_expiry_and_zero_disarms() {
    let sim = spawn().await;
    sim.limit("buy", "0.001", "50000", None).await.ok();
    let arm = sim
        .trade(
            Method::POST,
            "/v2/cancelOrdersAfter",
            Some(r#"{"codGroupId":1,"expiryAfterSeconds":10}"#),
        )
        .await;
    assert_eq!(arm.ok()["timeOfExpirySeconds"], sim.now_ms() / 1000 + 10);
    sim.advance(Duration::seconds(9));
    sim.handle.settle();
    assert_eq!(sim.handle.order_log()[0].status, "new");
    sim.advance(Duration::seconds(1));
    sim.handle.settle();
    assert_eq!(sim.handle.order_log()[0].status, "canceled");
    // Armed and disarmed: nothing is canceled.
    sim.limit("buy", "0.001", "50000", None).await.ok();
    sim.trade(
        Method::POST,
        "/v2/cancelOrdersAfter",
        Some(r#"{"expiryAfterSeconds":10}"#),
    )
    .await
    .ok();
    sim.trade(
        Method::POST,
        "/v2/cancelOrdersAfter",
        Some(r#"{"expiryAfterSeconds":0}"#),
    )
    .await
    .ok();
    sim.advance(Duration::seconds(60));
    sim.handle.settle();
    assert_eq!(sim.handle.order_log()[1].status, "new");
    sim.trade(
        Method::POST,
        "/v2/cancelOrdersAfter",
        Some(r#"{"expiryAfterSeconds":5}"#),
    )
    .await
    .error(205, 400);
}

#[tokio::test]
async fn shared_order_ids_are_told_apart_by_market() {
    let (config, clock) = crate::support::config();
    let sim = spawn_with(config.with_shared_order_ids_across_markets(), clock).await;
    let btc = sim.limit("buy", "0.001", "50000", None).await;
    let btc_id = btc.ok()["orderId"].as_str().unwrap().to_owned();
    let eth = r#"{"market":"ETH-EUR","side":"buy","orderType":"limit","amount":"0.01","price":"2000","operatorId":1}"#;
    let eth = sim.trade(Method::POST, "/v2/order", Some(eth)).await;
    assert_eq!(
        eth.ok()["orderId"],
        btc_id.as_str(),
        "the n-th order of each market shares its id"
    );
    sim.trade(
        Method::DELETE,
        &format!("/v2/order?market=ETH-EUR&orderId={btc_id}&operatorId=1"),
        None,
    )
    .await
    .ok();
    let still = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&orderId={btc_id}"),
            None,
        )
        .await;
    assert_eq!(still.ok()["status"], "new");
    assert_eq!(still.ok()["market"], "BTC-EUR");
}

#[tokio::test]
async fn capped_markets_fill_resting_orders_partially_step_by_step() {
    let (config, clock) = crate::support::config();
    let markets = vec![MarketConfig::new("BTC-EUR", Decimal::ONE, 8, dec!(60000))
        .with_minimums(dec!(0.0001), dec!(5))
        .with_max_fill_per_step(dec!(0.0004))];
    let sim = spawn_with(config.with_markets(markets), clock).await;
    let o = sim.limit("buy", "0.001", "59000", Some(COID)).await;
    let id = o.ok()["orderId"].as_str().unwrap().to_owned();
    sim.handle.set_price("BTC-EUR", dec!(58_000)).unwrap();
    let target = format!("/v2/order?market=BTC-EUR&orderId={id}");
    let get = || sim.trade(Method::GET, &target, None);
    let first = get().await;
    let first = first.ok();
    assert_eq!(first["status"], "partiallyFilled");
    assert_eq!(first["filledAmount"], "0.0004");
    assert_eq!(first["amountRemaining"], "0.0006");
    // The rest is still held; the next steps fill it.
    let held = sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap().in_order;
    assert!(held > dec!(0.0006) * dec!(59000), "{held}");
    sim.advance(Duration::minutes(1));
    sim.handle.settle();
    assert_eq!(get().await.ok()["filledAmount"], "0.0008");
    // Cancel the rest: the fills stay, the hold is released.
    sim.trade(
        Method::DELETE,
        &format!("/v2/order?market=BTC-EUR&orderId={id}&operatorId=1"),
        None,
    )
    .await
    .ok();
    let done = get().await;
    let done = done.ok();
    assert_eq!(done["status"], "canceled");
    assert_eq!(done["fills"].as_array().unwrap().len(), 2);
    let eur = sim.handle.balance(DEMO_ACCOUNT, "EUR").unwrap();
    assert_eq!(eur.in_order, Decimal::ZERO);
    assert_eq!(
        eur.available,
        dec!(1000) - dec!(0.0008) * dec!(59000) - d(&done["feePaid"])
    );
    assert_eq!(d(&done["feePaid"]), dec!(0.0708)); // 47.2 EUR at the maker rate 0.15 %
}
