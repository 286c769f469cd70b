//! `POST /api/v1/proposals/{id}/execute` through the REAL executor against the simulator.
//!
//! The executor's own guarantees are the engine's tests; these prove the API keeps them and
//! reports them honestly: one order per proposal however often (and however concurrently) the
//! route is called (I1), refusals answered with their reason and no order (I4, I5), another
//! user's proposal answered 404 with no order, and a server without an executor answering 503.
//! Orders are counted in the simulator's own log, never in our tables.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use vigil_bitvavo::{BitvavoClients, ClientConfig, ReadOnlyKey, TradeKey};
use vigil_core::{Clock, SystemClock};
use vigil_engine::{Executor, ExecutorConfig};
use vigil_server::{views::ProposalView, ApiDeps, ExecuteView};
use vigil_testkit::{
    backends::BackendKind,
    sim::{FaultKind, FaultPlan, FaultRule, SpawnedSim},
};

use crate::app::{Account, TestApp};

/// Runs one test against a fresh app on `backend` whose executor trades on a fresh simulator
/// (seed 11), then stops both: the runner of the suites that execute through the API. Without a
/// reachable PostgreSQL (outside CI) the PostgreSQL run is skipped.
pub(crate) async fn with_exchange(
    backend: BackendKind,
    test: impl AsyncFnOnce(&TestApp, &SpawnedSim),
) {
    let sim = vigil_testkit::sim::spawn(11, FaultPlan::none()).await;
    let Some(app) = TestApp::on(backend, with_executor(&sim)).await else {
        return;
    };
    test(&app, &sim).await;
    app.stop().await;
    sim.stop().await;
}

/// The app with an executor whose clients talk to `sim` (wall clock: the simulator checks
/// signing times against its own).
fn with_executor(sim: &SpawnedSim) -> impl FnOnce(ApiDeps) -> ApiDeps {
    let (base_url, view, trade) = (
        sim.base_url.clone(),
        (sim.view_key.to_owned(), sim.view_secret.to_owned()),
        (sim.trade_key.to_owned(), sim.trade_secret.to_owned()),
    );
    move |deps| {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let read = ReadOnlyKey::new(&view.0, SecretString::from(view.1)).unwrap();
        let trade = TradeKey::new(&trade.0, SecretString::from(trade.1)).unwrap();
        let clients = BitvavoClients::new(
            &ClientConfig::new(base_url, 42),
            read,
            trade,
            Arc::clone(&clock),
        )
        .unwrap();
        let executor = Executor::new(
            deps.store.clone(),
            clients.read_only.clone(),
            clients.trading,
            clock,
            ExecutorConfig::default(),
        )
        .unwrap();
        ApiDeps {
            executor: Some(executor),
            exchange: Some(clients.read_only),
            ..deps
        }
    }
}

/// Alice may trade BTC-EUR with the default caps.
async fn trader(app: &TestApp) -> Account {
    let alice = app.account("alice", false).await;
    app.put(
        &alice,
        "/api/v1/policy",
        json!({"trading_enabled": true, "order_notional_max": "25", "daily_notional_max": "100",
               "cooldown_minutes": 0, "anti_flip_minutes": 0, "auto_approve": false,
               "llm_daily_budget": "0"}),
    )
    .await
    .expect(200);
    app.allow(&alice, "BTC-EUR").await;
    alice
}

async fn execute(app: &TestApp, account: &Account, proposal: uuid::Uuid) -> (u16, ExecuteView) {
    let answer = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/proposals/{proposal}/execute"),
            Some(&account.token),
            None,
        )
        .await;
    (answer.status, answer.parse())
}

async fn i1_execute_places_one_order_and_a_retry_answers_the_same_execution(
    app: &TestApp,
    sim: &SpawnedSim,
) {
    let alice = trader(app).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, proposal.id).await;

    let (status, first) = execute(app, &alice, proposal.id).await;
    assert_eq!(status, 200, "{first:?}");
    assert_eq!(first.outcome, "placed", "{first:?}");
    let execution = first.execution.clone().unwrap();
    assert_eq!(execution.state, "SUBMITTED");
    assert!(execution.exchange_order_id.is_some());
    assert!(first.refusal.is_none());

    let (status, again) = execute(app, &alice, proposal.id).await;
    assert_eq!(status, 200);
    assert_eq!(again.outcome, "already_claimed");
    assert_eq!(again.execution.unwrap().id, execution.id);

    let orders = sim.handle.order_log();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(
        orders[0].client_order_id.as_deref(),
        Some(execution.client_order_id.to_string().as_str())
    );
    // The history is readable through the API, and the order path was measured.
    let detail: serde_json::Value = app
        .get(&alice, &format!("/api/v1/executions/{}", execution.id))
        .await
        .expect(200)
        .json();
    let events: Vec<_> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["claimed", "submit_committed", "accepted"]);
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text
        .clone();
    for line in [
        r#"vigil_order_path_seconds_count{stage="claim_to_order_sent"} 1"#,
        r#"vigil_order_path_seconds_count{stage="order_sent_to_submitted"} 1"#,
        r#"vigil_exchange_rate_limit_banned{key="trade"} 0"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    // The trade key's own budget: the order's weight was taken from it.
    let trade_remaining: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"vigil_exchange_rate_limit_remaining{key="trade"} "#))
        .unwrap_or_else(|| panic!("no trade-key gauge:\n{metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!((0..1000).contains(&trade_remaining), "{trade_remaining}");
}

async fn i1_concurrent_executes_through_the_api_place_one_order(app: &TestApp, sim: &SpawnedSim) {
    let alice = trader(app).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, proposal.id).await;
    let calls = (0..8).map(|_| execute(app, &alice, proposal.id));
    let answers = futures::future::join_all(calls).await;
    let placed = answers
        .iter()
        .filter(|(_, a)| a.outcome == "placed")
        .count();
    assert_eq!(placed, 1, "{answers:?}");
    let ids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|(_, a)| a.execution.as_ref().unwrap().id)
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every caller is answered with the one execution"
    );
    assert_eq!(sim.handle.order_log().len(), 1);
}

async fn i4_i5_refusals_are_answered_with_their_reason_and_no_order(
    app: &TestApp,
    sim: &SpawnedSim,
) {
    let alice = trader(app).await;
    // I5: a market taken off the allowlist after the proposal was created (creation refuses
    // one that is not on it): claimed, then REJECTED with the reason.
    let eth = app.create_proposal(&alice, "ETH-EUR", "10").await;
    app.approve(&alice, eth.id).await;
    app.send(
        reqwest::Method::DELETE,
        "/api/v1/allowlist/ETH-EUR",
        Some(&alice.token),
        None,
    )
    .await
    .expect(200);
    let (status, refused) = execute(app, &alice, eth.id).await;
    assert_eq!(status, 200);
    assert_eq!(refused.outcome, "refused");
    assert_eq!(
        refused.refusal.as_ref().unwrap().code,
        "market_not_allowlisted"
    );
    assert_eq!(refused.execution.as_ref().unwrap().state, "REJECTED");

    // I4: the user's kill switch, set through the API: refused at entry, nothing claimed.
    let btc = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, btc.id).await;
    app.put(&alice, "/api/v1/kill-switch", json!({"on": true}))
        .await
        .expect(200);
    let (status, stopped) = execute(app, &alice, btc.id).await;
    assert_eq!(status, 200);
    assert_eq!(stopped.outcome, "refused");
    assert_eq!(stopped.refusal.as_ref().unwrap().code, "kill_switch_user");
    assert!(stopped.execution.is_none());

    // A proposal that is not approved is refused too.
    let pending = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.put(&alice, "/api/v1/kill-switch", json!({"on": false}))
        .await
        .expect(200);
    let (_, not_approved) = execute(app, &alice, pending.id).await;
    assert_eq!(not_approved.refusal.unwrap().code, "proposal_not_approved");

    assert!(sim.handle.order_log().is_empty());
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None)
        .await
        .text
        .clone();
    for line in [
        r#"vigil_execution_refusals_total{reason="market_not_allowlisted"} 1"#,
        r#"vigil_execution_refusals_total{reason="kill_switch_user"} 1"#,
        r#"vigil_executions_final_total{state="REJECTED"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
}

/// #18 case 14: a proposal the executor refused is listed (and shown) with what became of it,
/// REFUSED with the refusal, not only as EXECUTED; a placed one as PLACED; one not yet handed
/// to the executor with no outcome.
async fn a_refused_proposal_is_listed_refused_with_its_refusal(app: &TestApp, sim: &SpawnedSim) {
    let alice = trader(app).await;
    let placed = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, placed.id).await;
    // Over the per-order cap of 25 EUR: the executor's rail refuses it.
    let refused = app.create_proposal(&alice, "BTC-EUR", "30").await;
    app.approve(&alice, refused.id).await;
    let pending = app.create_proposal(&alice, "BTC-EUR", "10").await;
    assert_eq!(execute(app, &alice, placed.id).await.1.outcome, "placed");
    let (_, answer) = execute(app, &alice, refused.id).await;
    assert_eq!(answer.outcome, "refused", "{answer:?}");
    let execution_id = answer.execution.as_ref().unwrap().id;

    let listed: Vec<ProposalView> = app
        .get(&alice, "/api/v1/proposals")
        .await
        .expect(200)
        .parse();
    let find = |id: uuid::Uuid| listed.iter().find(|p| p.id == id).unwrap().clone();
    let shown_refused = find(refused.id);
    assert_eq!(
        shown_refused.outcome.as_deref(),
        Some("REFUSED"),
        "{shown_refused:?}"
    );
    let reason = shown_refused.outcome_reason.as_deref().unwrap();
    assert!(reason.starts_with("cap_per_order"), "{reason}");
    let execution = shown_refused.execution.as_ref().unwrap();
    assert_eq!(execution.id, execution_id);
    assert_eq!(execution.state, "REJECTED");
    assert_eq!(execution.refusal.as_ref().unwrap().code, "cap_per_order");
    assert_eq!(find(placed.id).outcome.as_deref(), Some("PLACED"));
    let shown_pending = find(pending.id);
    assert_eq!(shown_pending.outcome, None);
    assert!(shown_pending.execution.is_none());
    // One proposal shows the same as the list.
    let one: ProposalView = app
        .get(&alice, &format!("/api/v1/proposals/{}", refused.id))
        .await
        .expect(200)
        .parse();
    assert_eq!(one, shown_refused);
    assert_eq!(sim.handle.order_log().len(), 1);
}

async fn another_users_proposal_is_404_and_places_nothing(app: &TestApp, sim: &SpawnedSim) {
    let alice = trader(app).await;
    let bob = app.account("bob", false).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, proposal.id).await;
    app.send(
        reqwest::Method::POST,
        &format!("/api/v1/proposals/{}/execute", proposal.id),
        Some(&bob.token),
        None,
    )
    .await
    .expect_error(404, "not_found");
    assert!(sim.handle.order_log().is_empty());
    let listed: serde_json::Value = app.get(&alice, "/api/v1/executions").await.json();
    assert_eq!(listed, json!([]));
}

/// Fail-open edge (#11): a client that hangs up while the order call is on its way drops only
/// its own wait. The execution, on its own task, records the exchange's answer (`SUBMITTED` with
/// the order id) without the reconciler's help; the order exists once.
async fn a_client_that_disconnects_mid_order_does_not_stop_the_execution(
    app: &TestApp,
    sim: &SpawnedSim,
) {
    let alice = trader(app).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, proposal.id).await;
    sim.handle
        .set_faults(FaultPlan::single(FaultRule::new(
            "POST /v2/order",
            FaultKind::Latency { ms: 1_500 },
        )))
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let hung_up = impatient
        .post(app.url(&format!("/api/v1/proposals/{}/execute", proposal.id)))
        .bearer_auth(&alice.token)
        .send()
        .await;
    assert!(
        hung_up.as_ref().is_err_and(reqwest::Error::is_timeout),
        "the client must give up before the order is answered: {hung_up:?}"
    );
    let user = alice.user.id;
    let proposal_id = vigil_core::ProposalId::from_uuid(proposal.id);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let execution = loop {
        let execution = app
            .store
            .execution_get_by_proposal(user, proposal_id)
            .await
            .unwrap();
        if let Some(e) = execution.filter(|e| {
            e.state != vigil_core::ExecutionState::Claimed
                && e.state != vigil_core::ExecutionState::Submitting
        }) {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution never recorded the exchange's answer after the client hung up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(execution.state, vigil_core::ExecutionState::Submitted);
    assert!(execution.exchange_order_id.is_some());
    assert!(!execution.outcome_unknown);
    let orders = sim.handle.order_log();
    assert_eq!(orders.len(), 1, "{orders:?}");
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::execute::with_exchange;
    i1_execute_places_one_order_and_a_retry_answers_the_same_execution,
    i1_concurrent_executes_through_the_api_place_one_order,
    i4_i5_refusals_are_answered_with_their_reason_and_no_order,
    a_refused_proposal_is_listed_refused_with_its_refusal,
    another_users_proposal_is_404_and_places_nothing,
    a_client_that_disconnects_mid_order_does_not_stop_the_execution,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_executor_execute_answers_503() {
    let app = TestApp::sqlite().await;
    let alice = app.account("alice", false).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.approve(&alice, proposal.id).await;
    app.send(
        reqwest::Method::POST,
        &format!("/api/v1/proposals/{}/execute", proposal.id),
        Some(&alice.token),
        None,
    )
    .await
    .expect_error(503, "executor_unavailable");
    app.stop().await;
}
