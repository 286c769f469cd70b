//! Authentication over HTTP: every rule of bitvavo-api.md 2 and 11.3, with its error code.

use chrono::Duration;
use reqwest::Method;
use vigil_sim::{DEMO_TRADE_KEY, DEMO_TRADE_SECRET};

use crate::support::{sign, spawn};

fn headers(
    key: &str,
    ts: &str,
    sig: &str,
    window: Option<&str>,
    upper: bool,
) -> Vec<(&'static str, String)> {
    let names = if upper {
        [
            "BITVAVO-ACCESS-KEY",
            "BITVAVO-ACCESS-TIMESTAMP",
            "BITVAVO-ACCESS-SIGNATURE",
            "BITVAVO-ACCESS-WINDOW",
        ]
    } else {
        [
            "bitvavo-access-key",
            "bitvavo-access-timestamp",
            "bitvavo-access-signature",
            "bitvavo-access-window",
        ]
    };
    let mut h = vec![
        (names[0], key.to_owned()),
        (names[1], ts.to_owned()),
        (names[2], sig.to_owned()),
    ];
    if let Some(w) = window {
        h.push((names[3], w.to_owned()));
    }
    h
}

#[tokio::test]
async fn header_names_are_case_insensitive() {
    let sim = spawn().await;
    let ts = sim.now_ms().to_string();
    let sig = sign(DEMO_TRADE_SECRET, &format!("{ts}GET/v2/balance"));
    for upper in [true, false] {
        let a = sim
            .raw(
                Method::GET,
                "/v2/balance",
                &headers(DEMO_TRADE_KEY, &ts, &sig, Some("10000"), upper),
                None,
            )
            .await
            .unwrap();
        a.ok();
    }
}

#[tokio::test]
async fn each_malformed_credential_gets_its_code() {
    let sim = spawn().await;
    let now = sim.now_ms();
    let ts = now.to_string();
    let good = sign(DEMO_TRADE_SECRET, &format!("{ts}GET/v2/balance"));
    let get = |h: Vec<(&'static str, String)>| {
        let sim = &sim;
        async move { sim.raw(Method::GET, "/v2/balance", &h, None).await.unwrap() }
    };
    // No credentials on a private endpoint.
    get(vec![]).await.error(300, 403);
    // Key of the wrong length.
    get(headers("short", &ts, &good, None, false))
        .await
        .error(301, 403);
    // Timestamp not a number.
    get(headers(DEMO_TRADE_KEY, "yesterday", &good, None, false))
        .await
        .error(302, 403);
    // Windows outside 100..60000.
    get(headers(DEMO_TRADE_KEY, &ts, &good, Some("99"), false))
        .await
        .error(303, 403);
    get(headers(DEMO_TRADE_KEY, &ts, &good, Some("60001"), false))
        .await
        .error(303, 403);
    // Signature of the wrong length.
    get(headers(DEMO_TRADE_KEY, &ts, "abc", None, false))
        .await
        .error(308, 403);
    // Unknown key of the right length.
    get(headers(&"f".repeat(64), &ts, &good, None, false))
        .await
        .error(305, 403);
    // Wrong signature value.
    let wrong = sign("not-the-secret", &format!("{ts}GET/v2/balance"));
    get(headers(DEMO_TRADE_KEY, &ts, &wrong, None, false))
        .await
        .error(309, 403);
    // The same valid credentials pass (the default window applies without the header).
    get(headers(DEMO_TRADE_KEY, &ts, &good, None, false))
        .await
        .ok();
    get(headers(DEMO_TRADE_KEY, &ts, &good, Some("100"), false))
        .await
        .ok();
}

#[tokio::test]
async fn a_request_older_than_its_window_is_refused_with_304_and_http_403() {
    let sim = spawn().await;
    let ts = sim.now_ms().to_string();
    let sig = sign(DEMO_TRADE_SECRET, &format!("{ts}GET/v2/balance"));
    let h = headers(DEMO_TRADE_KEY, &ts, &sig, Some("5000"), false);
    sim.advance(Duration::milliseconds(5000));
    sim.raw(Method::GET, "/v2/balance", &h, None)
        .await
        .unwrap()
        .ok();
    sim.advance(Duration::milliseconds(1));
    sim.raw(Method::GET, "/v2/balance", &h, None)
        .await
        .unwrap()
        .error(304, 403);
    // A timestamp far in the future is refused the same way.
    let future = (sim.now_ms() + 5000).to_string();
    let sig = sign(DEMO_TRADE_SECRET, &format!("{future}GET/v2/balance"));
    sim.raw(
        Method::GET,
        "/v2/balance",
        &headers(DEMO_TRADE_KEY, &future, &sig, None, false),
        None,
    )
    .await
    .unwrap()
    .error(304, 403);
}

#[tokio::test]
async fn python_sdk_shapes_are_accepted() {
    let sim = spawn().await;
    let ts = sim.now_ms().to_string();
    // GET with the unsigned `{}` body the Python SDK sends.
    let sig = sign(DEMO_TRADE_SECRET, &format!("{ts}GET/v2/balance"));
    sim.raw(
        Method::GET,
        "/v2/balance",
        &headers(DEMO_TRADE_KEY, &ts, &sig, Some("10000"), false),
        Some("{}"),
    )
    .await
    .unwrap()
    .ok();
    // POST signed compact, sent spaced.
    let compact = r#"{"amount":"0.001","price":"50000","clientOrderId":"2be7d0df-d8dc-7b93-a550-8876f3b393e9","operatorId":543462,"market":"BTC-EUR","side":"buy","orderType":"limit"}"#;
    let spaced = r#"{"amount": "0.001", "price": "50000", "clientOrderId": "2be7d0df-d8dc-7b93-a550-8876f3b393e9", "operatorId": 543462, "market": "BTC-EUR", "side": "buy", "orderType": "limit"}"#;
    let sig = sign(DEMO_TRADE_SECRET, &format!("{ts}POST/v2/order{compact}"));
    let a = sim
        .raw(
            Method::POST,
            "/v2/order",
            &headers(DEMO_TRADE_KEY, &ts, &sig, Some("10000"), false),
            Some(spaced),
        )
        .await
        .unwrap();
    assert_eq!(a.ok()["status"], "new");
    // Signing the spaced wire body instead is also what the raw-body rule accepts, but a
    // signature over different text is refused.
    let bad = sign(DEMO_TRADE_SECRET, &format!("{ts}POST/v2/order{{}}"));
    sim.raw(
        Method::POST,
        "/v2/order",
        &headers(DEMO_TRADE_KEY, &ts, &bad, None, false),
        Some(spaced),
    )
    .await
    .unwrap()
    .error(309, 403);
}

#[tokio::test]
async fn the_signature_covers_the_raw_query_order() {
    let sim = spawn().await;
    let placed = sim
        .limit("buy", "0.001", "50000", Some(crate::support::COID))
        .await;
    placed.ok();
    let ts = sim.now_ms().to_string();
    // ccxt's order: operatorId before clientOrderId.
    let target = format!(
        "/v2/order?market=BTC-EUR&operatorId=543462&clientOrderId={}",
        crate::support::COID
    );
    let sig = sign(DEMO_TRADE_SECRET, &format!("{ts}DELETE{target}"));
    let reordered = format!(
        "/v2/order?market=BTC-EUR&clientOrderId={}&operatorId=543462",
        crate::support::COID
    );
    sim.raw(
        Method::DELETE,
        &reordered,
        &headers(DEMO_TRADE_KEY, &ts, &sig, None, true),
        None,
    )
    .await
    .unwrap()
    .error(309, 403);
    let a = sim
        .raw(
            Method::DELETE,
            &target,
            &headers(DEMO_TRADE_KEY, &ts, &sig, None, true),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.ok()["clientOrderId"], crate::support::COID);
}

#[tokio::test]
async fn public_endpoints_need_no_signature_but_verify_one_when_sent() {
    let sim = spawn().await;
    sim.public("/v2/time").await.ok();
    // The Python SDK signs public requests when it has a key.
    sim.trade(Method::GET, "/v2/markets", None).await.ok();
    let ts = sim.now_ms().to_string();
    sim.raw(
        Method::GET,
        "/v2/time",
        &headers(DEMO_TRADE_KEY, &ts, &"0".repeat(64), None, false),
        None,
    )
    .await
    .unwrap()
    .error(309, 403);
}

#[tokio::test]
async fn permissions_310_and_311() {
    let sim = spawn().await;
    let body = r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","operatorId":1}"#;
    sim.view(Method::POST, "/v2/order", Some(body))
        .await
        .error(310, 403);
    sim.view(Method::DELETE, "/v2/orders?operatorId=1", None)
        .await
        .error(310, 403);
    sim.view(Method::GET, "/v2/balance", None).await.ok();
    sim.view(Method::GET, "/v2/ordersOpen", None).await.ok();
    // A trade-only key cannot read balances.
    let key = "7".repeat(64);
    let (config, clock) = crate::support::config();
    let mut accounts = config.accounts.clone();
    accounts[0] = accounts[0].clone().with_key(vigil_sim::KeyConfig::new(
        &key,
        "s3cret",
        &[vigil_sim::Permission::Trade],
    ));
    let sim = crate::support::spawn_with(config.with_accounts(accounts), clock).await;
    sim.signed_as(&key, "s3cret", Method::GET, "/v2/balance", None)
        .await
        .error(311, 403);
    sim.signed_as(&key, "s3cret", Method::POST, "/v2/order", Some(body))
        .await
        .ok();
}
