//! Operations: `/healthz`, `/readyz` (database, exchange, reconciler) and `/metrics`.
//!
//! `/readyz` must tell the truth: a closed database, an exchange that does not answer, and an
//! execution whose outcome has stayed unknown past the limit (the reconciler is behind, I3) each
//! make it answer 503 with the failed check named. The exchange checks run against the
//! simulator over loopback (a real `GET /time`) and against a port nobody listens on.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::Value;
use vigil_bitvavo::{ClientConfig, ReadOnlyClient, ReadOnlyKey};
use vigil_core::{Clock, SystemClock};
use vigil_server::ReadinessView;
use vigil_testkit::sim::FaultPlan;

use crate::app::TestApp;

async fn readiness(app: &TestApp) -> (u16, ReadinessView) {
    let answer = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    (answer.status, answer.parse())
}

async fn healthz_and_readyz_when_all_is_well(app: &TestApp) {
    let health: Value = app
        .send(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(health["status"], "ok");
    let (status, ready) = readiness(app).await;
    assert_eq!(status, 200, "{ready:?}");
    assert!(ready.ready);
    assert_eq!(ready.checks.database.status, "ok");
    assert_eq!(ready.checks.exchange.status, "skipped");
    assert_eq!(ready.checks.reconciler.status, "ok");
    assert_eq!(ready.checks.reconciler.unknown_outcome_backlog, Some(0));
}

async fn readyz_reports_a_down_database(app: &TestApp) {
    app.store.close().await;
    let (status, ready) = readiness(app).await;
    assert_eq!(status, 503);
    assert!(!ready.ready);
    assert_eq!(ready.checks.database.status, "failed");
    assert_eq!(ready.checks.reconciler.status, "unknown");
    // Liveness is about the process, not its dependencies.
    app.send(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

async fn i3_readyz_reports_the_reconciler_behind(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let claimed = app.claimed_execution(&alice, "BTC-EUR").await;
    app.outcome_unknown(&claimed).await;
    let (status, ready) = readiness(app).await;
    assert_eq!(
        status, 200,
        "a fresh unknown outcome is the reconciler's normal work"
    );
    assert_eq!(ready.checks.reconciler.unknown_outcome_backlog, Some(1));

    app.clock.advance(chrono::Duration::seconds(301));
    let (status, ready) = readiness(app).await;
    assert_eq!(status, 503);
    assert!(!ready.ready);
    assert_eq!(ready.checks.reconciler.status, "failed");
    assert_eq!(
        ready.checks.reconciler.oldest_unknown_outcome_age_seconds,
        Some(301)
    );
    assert_eq!(ready.checks.reconciler.limit_seconds, 300);

    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await
        .expect(200)
        .text
        .clone();
    assert!(metrics.contains("vigil_reconciler_backlog 1"), "{metrics}");
    assert!(
        metrics.contains("vigil_reconciler_oldest_unknown_outcome_age_seconds 301"),
        "{metrics}"
    );
}

async fn metrics_expose_the_named_series(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.get(&alice, "/api/v1/policy").await.expect(200);
    let answer = app.send(reqwest::Method::GET, "/metrics", None, None).await;
    answer.expect(200);
    let content_type = answer.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for name in [
        "vigil_reconciler_backlog",
        "vigil_reconciler_oldest_unknown_outcome_age_seconds",
        "vigil_scheduler_lag_seconds",
        "vigil_http_requests_total",
    ] {
        assert!(
            answer.text.contains(name),
            "{name} missing:\n{}",
            answer.text
        );
    }
    assert!(
        answer.text.contains(
            r#"vigil_http_requests_total{method="GET",route="/api/v1/policy",status="200"} 1"#
        ),
        "{}",
        answer.text
    );
    // Series reported through the handle appear once something reports them.
    app.state
        .metrics()
        .execution_finished(vigil_core::ExecutionState::Filled);
    app.state
        .metrics()
        .execution_refused(&vigil_core::Refusal::TradingDisabled);
    app.state.metrics().order_path(
        vigil_server::OrderPathStage::ClaimToOrderSent,
        std::time::Duration::from_millis(30),
    );
    let text = app
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text
        .clone();
    for line in [
        r#"vigil_executions_final_total{state="FILLED"} 1"#,
        r#"vigil_execution_refusals_total{reason="trading_disabled"} 1"#,
        r#"vigil_order_path_seconds_count{stage="claim_to_order_sent"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}

async fn metrics_read_scheduler_lag_and_llm_spend_from_the_store(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let now = app.clock.now();
    let job = |seconds_ago: i64| {
        serde_json::json!({"strategy": "dca", "markets": ["BTC-EUR"], "params": {"amount_quote": "10"}, "interval_seconds": 3600,
                           "first_run_at": now - chrono::Duration::seconds(seconds_ago)})
    };
    // The oldest due job is paused, the next one is held under a live lease (being run): only
    // the third counts as late.
    let paused: Value = app
        .post(&alice, "/api/v1/jobs", job(500))
        .await
        .expect(201)
        .json();
    app.post(
        &alice,
        &format!("/api/v1/jobs/{}/pause", paused["id"].as_str().unwrap()),
        serde_json::json!({}),
    )
    .await
    .expect(200);
    app.post(&alice, "/api/v1/jobs", job(300)).await.expect(201);
    let leased = app
        .store
        .scan_job_lease("worker-1", now, chrono::Duration::seconds(60), 1)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    app.post(&alice, "/api/v1/jobs", job(90)).await.expect(201);
    app.store
        .llm_budget_reserve(
            alice.user.id,
            "test-model",
            rust_decimal::Decimal::new(25, 2),
            now,
        )
        .await
        .unwrap();

    let text = app
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await
        .expect(200)
        .text
        .clone();
    for line in [
        "vigil_scheduler_lag_seconds 90",
        r#"vigil_llm_spend_today_usd{user="alice"} 0.25"#,
        r#"vigil_llm_daily_budget_usd{user="alice"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;

    metrics_read_scheduler_lag_and_llm_spend_from_the_store,
    healthz_and_readyz_when_all_is_well,
    readyz_reports_a_down_database,
    i3_readyz_reports_the_reconciler_behind,
    metrics_expose_the_named_series,
);

fn read_only_client(base_url: &str, key: &str, secret: &str) -> ReadOnlyClient {
    let key = ReadOnlyKey::new(key, SecretString::from(secret.to_owned())).unwrap();
    ReadOnlyClient::new(&ClientConfig::new(base_url, 1), key, Arc::new(SystemClock)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_the_exchange_with_get_time() {
    let sim = vigil_testkit::sim::spawn(7, FaultPlan::none()).await;
    let client = read_only_client(&sim.base_url, sim.view_key, sim.view_secret);
    let app = TestApp::sqlite_with(|deps| vigil_server::ApiDeps {
        exchange: Some(client),
        ..deps
    })
    .await;
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 200, "{ready:?}");
    assert_eq!(ready.checks.exchange.status, "ok");
    assert!(sim.handle.request_count("GET /v2/time") >= 1);
    app.stop().await;
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_an_unreachable_exchange() {
    // A loopback port that was just released: nothing listens there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = read_only_client(
        &format!("http://127.0.0.1:{port}"),
        "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09",
        "a-test-secret-that-no-exchange-knows",
    );
    let app = TestApp::sqlite_with(|deps| vigil_server::ApiDeps {
        exchange: Some(client),
        ..deps
    })
    .await;
    let (status, ready) = readiness(&app).await;
    assert_eq!(status, 503);
    assert_eq!(ready.checks.exchange.status, "failed");
    assert_eq!(ready.checks.database.status, "ok");
    app.stop().await;
}
