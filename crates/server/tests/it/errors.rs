//! Bad input and request ids: every refusal is a JSON body with a stable `error_code`, the
//! offending field, and the request id that is also in the `x-request-id` header; internal
//! detail (database URLs, driver messages) never reaches the client.

use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

async fn unparseable_json_is_400_and_bad_fields_are_422(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let path = "/api/v1/proposals";
    let broken = app
        .send_raw(
            Method::POST,
            path,
            &alice.token,
            Some("application/json"),
            "{\"market\": ",
        )
        .await
        .expect_error(400, "malformed_json");
    assert!(broken["field"].is_null());
    app.send_raw(Method::POST, path, &alice.token, Some("text/plain"), "{}")
        .await
        .expect_error(415, "unsupported_media_type");
    app.send_raw(Method::POST, path, &alice.token, None, "{}")
        .await
        .expect_error(415, "unsupported_media_type");

    let cases = [
        (json!({"side": "buy", "amount_quote": "10"}), "market"),
        (
            json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "10", "colour": "red"}),
            "colour",
        ),
        (
            json!({"market": 5, "side": "buy", "amount_quote": "10"}),
            "market",
        ),
        (
            json!({"market": "BTCEUR", "side": "buy", "amount_quote": "10"}),
            "market",
        ),
        (
            json!({"market": "BTC-EUR", "side": "hold", "amount_quote": "10"}),
            "side",
        ),
        (
            json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "-3"}),
            "amount_quote",
        ),
        (json!({"market": "BTC-EUR", "side": "buy"}), "amount_quote"),
        (
            json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "10", "ttl_minutes": 0}),
            "ttl_minutes",
        ),
        (
            json!({"market": "BTC-EUR", "side": "buy", "order_type": "limit", "amount": "1"}),
            "limit_price",
        ),
        (
            json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "10", "ttl_minutes": "soon"}),
            "ttl_minutes",
        ),
    ];
    for (body, field) in cases {
        let error = app
            .post(&alice, path, body.clone())
            .await
            .expect_error(422, "invalid_field");
        assert_eq!(error["field"], field, "body {body}: {error}");
    }
    // Nothing was created by any of them.
    let listed = app.get(&alice, path).await.json();
    assert_eq!(listed, json!([]));
}

async fn bad_query_and_path_values_name_the_parameter(app: &TestApp) {
    let alice = app.account("alice", false).await;
    for (path, field) in [
        ("/api/v1/proposals?status=MAYBE", "status"),
        ("/api/v1/proposals?limit=0", "limit"),
        ("/api/v1/proposals?limit=lots", "limit"),
        ("/api/v1/proposals?limit=5000", "limit"),
        ("/api/v1/proposals?colour=red", "colour"),
        ("/api/v1/proposals?status=PENDING&status=APPROVED", "status"),
        ("/api/v1/executions?state=DONE", "state"),
        ("/api/v1/executions?market=nope", "market"),
        ("/api/v1/proposals/not-a-uuid", "proposal_id"),
        ("/api/v1/executions/42", "execution_id"),
    ] {
        let error = app
            .get(&alice, path)
            .await
            .expect_error(422, "invalid_field");
        assert_eq!(error["field"], field, "{path}: {error}");
    }
    let error = app
        .send(
            Method::DELETE,
            "/api/v1/allowlist/not-a-market",
            Some(&alice.token),
            None,
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(error["field"], "market");
}

async fn oversized_bodies_are_refused(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let huge = format!(
        "{{\"market\": \"BTC-EUR\", \"side\": \"buy\", \"amount_quote\": \"10\", \"rationale\": \"{}\"}}",
        "x".repeat(200 * 1024)
    );
    app.send_raw(
        Method::POST,
        "/api/v1/proposals",
        &alice.token,
        Some("application/json"),
        huge,
    )
    .await
    .expect_error(413, "payload_too_large");
}

async fn unknown_routes_and_methods_answer_json(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.get(&alice, "/api/v1/nothing-here")
        .await
        .expect_error(404, "route_not_found");
    app.send(Method::GET, "/nowhere", None, None)
        .await
        .expect_error(404, "route_not_found");
    app.send(Method::PATCH, "/api/v1/policy", Some(&alice.token), None)
        .await
        .expect_error(405, "method_not_allowed");
}

async fn every_answer_carries_a_request_id(app: &TestApp) {
    let alice = app.account("alice", false).await;
    // A client's own safe id is kept, in the header and the error body.
    let answer = TestApp::answer(
        reqwest::Client::new()
            .get(app.url("/api/v1/proposals/not-a-uuid"))
            .bearer_auth(&alice.token)
            .header("x-request-id", "trace-abc_123"),
    )
    .await;
    assert_eq!(answer.request_id(), "trace-abc_123");
    let body = answer.expect_error(422, "invalid_field");
    assert_eq!(body["request_id"], "trace-abc_123");
    // An unsafe one is replaced by a fresh UUID.
    let answer = TestApp::answer(
        reqwest::Client::new()
            .get(app.url("/healthz"))
            .header("x-request-id", "has spaces; and more"),
    )
    .await;
    assert!(uuid::Uuid::parse_str(&answer.request_id()).is_ok());
    // Without one, every answer (success or not) gets its own.
    let a = app
        .get(&alice, "/api/v1/policy")
        .await
        .expect(200)
        .request_id();
    let b = app
        .get(&alice, "/api/v1/policy")
        .await
        .expect(200)
        .request_id();
    assert_ne!(a, b);
    let c = app
        .send(Method::GET, "/api/v1/policy", None, None)
        .await
        .request_id();
    assert!(uuid::Uuid::parse_str(&c).is_ok());
}

async fn a_down_database_answers_503_without_internal_detail(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.store.close().await;
    let answer = app.get(&alice, "/api/v1/policy").await;
    let body = answer.expect_error(503, "database_unavailable");
    let text = answer.text.to_ascii_lowercase();
    for secret in ["sqlite", "postgres", "vigil.db", "pool"] {
        assert!(
            !text.contains(secret),
            "internal detail {secret:?} leaked: {body}"
        );
    }
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;

    unparseable_json_is_400_and_bad_fields_are_422,
    bad_query_and_path_values_name_the_parameter,
    oversized_bodies_are_refused,
    unknown_routes_and_methods_answer_json,
    every_answer_carries_a_request_id,
    a_down_database_answers_503_without_internal_detail,
);
