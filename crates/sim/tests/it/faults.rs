//! Each fault kind over HTTP, and whether the order was placed, as the simulator's own order log
//! (not the client's view) tells.

use std::time::Duration as StdDuration;

use reqwest::{Method, StatusCode};
use vigil_sim::{FaultKind, FaultPlan, FaultRule};

use crate::support::{spawn, COID};

fn order_rule(kind: FaultKind) -> FaultPlan {
    FaultPlan::single(FaultRule::new("POST /v2/order", kind).times(1))
}

const BODY: &str = r#"{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","operatorId":1}"#;

#[tokio::test]
async fn injected_errors_answer_without_placing() {
    let sim = spawn().await;
    for (code, status) in [
        (101u16, 500u16),
        (109, 503),
        (304, 403),
        (110, 429),
        (105, 429),
    ] {
        sim.handle
            .set_faults(order_rule(FaultKind::Error {
                error_code: code,
                http_status: status,
                message: None,
            }))
            .unwrap();
        let a = sim.trade(Method::POST, "/v2/order", Some(BODY)).await;
        a.error(i64::from(code), status);
        assert!(a.headers.contains_key("bitvavo-ratelimit-remaining"));
        if code == 105 {
            assert!(a.body["error"].as_str().unwrap().contains("expires at "));
        }
    }
    assert!(sim.handle.order_log().is_empty());
    // The rule fired once: the next order goes through.
    sim.trade(Method::POST, "/v2/order", Some(BODY)).await.ok();
    assert_eq!(sim.handle.order_log().len(), 1);
    assert_eq!(sim.handle.request_count("POST /v2/order"), 6);
}

#[tokio::test]
async fn accept_then_drop_places_the_order_and_the_client_sees_no_answer() {
    let sim = spawn().await;
    sim.handle
        .set_faults(order_rule(FaultKind::AcceptThenDrop))
        .unwrap();
    let body = format!(
        r#"{{"market":"BTC-EUR","side":"buy","orderType":"limit","amount":"0.001","price":"50000","operatorId":1,"clientOrderId":"{COID}"}}"#
    );
    let err = sim
        .try_signed_as(
            vigil_sim::DEMO_TRADE_KEY,
            vigil_sim::DEMO_TRADE_SECRET,
            Method::POST,
            "/v2/order",
            Some(&body),
        )
        .await
        .err()
        .expect("the connection must be dropped");
    assert!(!err.is_status(), "{err}");
    let log = sim.handle.order_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].client_order_id.as_deref(), Some(COID));
    // The reconciler's lookup finds it.
    let found = sim
        .trade(
            Method::GET,
            &format!("/v2/order?market=BTC-EUR&clientOrderId={COID}"),
            None,
        )
        .await;
    assert_eq!(found.ok()["status"], "new");
}

#[tokio::test]
async fn accept_then_error_places_the_order_but_answers_500() {
    let sim = spawn().await;
    sim.handle
        .set_faults(order_rule(FaultKind::AcceptThenError {
            error_code: 101,
            http_status: 500,
        }))
        .unwrap();
    let a = sim.trade(Method::POST, "/v2/order", Some(BODY)).await;
    a.error(101, 500);
    assert_eq!(sim.handle.order_log().len(), 1);
}

#[tokio::test]
async fn drop_request_places_nothing() {
    let sim = spawn().await;
    sim.handle
        .set_faults(order_rule(FaultKind::DropRequest))
        .unwrap();
    let result = sim
        .try_signed_as(
            vigil_sim::DEMO_TRADE_KEY,
            vigil_sim::DEMO_TRADE_SECRET,
            Method::POST,
            "/v2/order",
            Some(BODY),
        )
        .await;
    assert!(result.is_err());
    assert!(sim.handle.order_log().is_empty());
    assert_eq!(sim.handle.request_count("POST /v2/order"), 1);
}

#[tokio::test]
async fn delayed_answer_exceeds_the_client_timeout_but_the_order_is_placed() {
    let sim = spawn().await;
    sim.handle
        .set_faults(order_rule(FaultKind::DelayResponse { ms: 3_000 }))
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(StdDuration::from_millis(300))
        .build()
        .unwrap();
    let ts = sim.now_ms().to_string();
    let sig = crate::support::sign(
        vigil_sim::DEMO_TRADE_SECRET,
        &format!("{ts}POST/v2/order{BODY}"),
    );
    let err = impatient
        .post(format!("{}/v2/order", sim.base))
        .header("bitvavo-access-key", vigil_sim::DEMO_TRADE_KEY)
        .header("bitvavo-access-timestamp", ts)
        .header("bitvavo-access-signature", sig)
        .body(BODY)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sim.handle.order_log().len(), 1);
}

#[tokio::test]
async fn latency_still_answers() {
    let sim = spawn().await;
    sim.handle
        .set_faults(FaultPlan::single(FaultRule::new(
            "GET /v2/time",
            FaultKind::Latency { ms: 20 },
        )))
        .unwrap();
    sim.public("/v2/time").await.ok();
}

#[tokio::test]
async fn clock_skew_moves_server_time_and_the_window_check() {
    let sim = spawn().await;
    sim.handle
        .set_faults(FaultPlan::single(FaultRule::new(
            "*",
            FaultKind::ClockSkew { offset_ms: 20_000 },
        )))
        .unwrap();
    let t = sim.public("/v2/time").await;
    assert_eq!(t.ok()["time"], sim.now_ms() + 20_000);
    // A client signing with its own (now 20 s behind) clock is outside the window.
    sim.trade(Method::GET, "/v2/balance", None)
        .await
        .error(304, 403);
    sim.handle.clear_faults();
    sim.trade(Method::GET, "/v2/balance", None).await.ok();
}

#[tokio::test]
async fn generated_plans_replay_from_their_seed() {
    let kinds = [
        FaultKind::DropRequest,
        FaultKind::Error {
            error_code: 109,
            http_status: 503,
            message: None,
        },
    ];
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let sim = spawn().await;
        sim.handle
            .set_faults(FaultPlan::generate(99, &["POST /v2/order"], &kinds, 3))
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..8 {
            let r = sim
                .try_signed_as(
                    vigil_sim::DEMO_TRADE_KEY,
                    vigil_sim::DEMO_TRADE_SECRET,
                    Method::POST,
                    "/v2/order",
                    Some(BODY),
                )
                .await;
            seen.push(match r {
                Ok(a) if a.status == StatusCode::OK => 0,
                Ok(a) => a.code().unwrap(),
                Err(_) => -1,
            });
        }
        outcomes.push(seen);
    }
    assert_eq!(outcomes[0], outcomes[1], "seed 99");
    assert!(
        outcomes[0].iter().any(|o| *o != 0),
        "seed 99 injected nothing: {:?}",
        outcomes[0]
    );
}
