//! Every endpoint's happy path, and the refusals a careful user meets on the way: proposals
//! (create, list with filters, show, approve, reject, expiry), executions (list, show with
//! history), policy, allowlist, kill switches, users and jobs. Operator changes must land in the
//! audit log with the API caller as actor (I11).

use reqwest::Method;
use serde_json::{json, Value};
use vigil_core::{Clock, ExecutionState};
use vigil_server::views::{
    AllowlistChangeView, CreatedUserView, ExecutionDetailView, ExecutionView, KillSwitchView,
    PolicyView, ProposalView, UserView,
};
use vigil_store::{AuditEntry, AuditFilter};

use crate::app::TestApp;

async fn audit(app: &TestApp, action: &str) -> Vec<AuditEntry> {
    app.store
        .audit_list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn proposals_create_list_show_approve_reject(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.allow(&alice, "BTC-EUR").await;
    let limit_order: ProposalView = app
        .post(
            &alice,
            "/api/v1/proposals",
            json!({"market": "btc-eur", "side": "sell", "order_type": "limit", "amount": "0.001",
                   "limit_price": "50000", "ttl_minutes": 30, "rationale": "take profit"}),
        )
        .await
        .expect(201)
        .parse();
    assert_eq!(limit_order.market, "BTC-EUR");
    assert_eq!(limit_order.status, "PENDING");
    assert_eq!(limit_order.size.kind, "base");
    assert_eq!(limit_order.size.value, "0.001");
    assert_eq!(limit_order.limit_price.as_deref(), Some("50000"));
    assert_eq!(
        limit_order.expires_at - limit_order.created_at,
        chrono::Duration::minutes(30)
    );
    let market_order = app.create_proposal(&alice, "ETH-EUR", "25").await;
    assert_eq!(market_order.size.kind, "quote");
    assert_eq!(market_order.order_type, "market");

    let all: Vec<ProposalView> = app
        .get(&alice, "/api/v1/proposals")
        .await
        .expect(200)
        .parse();
    assert_eq!(all.len(), 2);
    let one: Vec<ProposalView> = app.get(&alice, "/api/v1/proposals?limit=1").await.parse();
    assert_eq!(one.len(), 1);
    let shown: ProposalView = app
        .get(&alice, &format!("/api/v1/proposals/{}", market_order.id))
        .await
        .expect(200)
        .parse();
    assert_eq!(shown, market_order);

    let approved = app.approve(&alice, market_order.id).await;
    assert_eq!(approved.status, "APPROVED");
    let entries = audit(app, "proposal.approve").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "api:alice");
    assert_eq!(entries[0].reason.as_deref(), Some("looks right"));

    let rejected: ProposalView = app
        .send(
            Method::POST,
            &format!("/api/v1/proposals/{}/reject", limit_order.id),
            Some(&alice.token),
            None,
        )
        .await
        .expect(200)
        .parse();
    assert_eq!(rejected.status, "REJECTED");

    let approved_only: Vec<ProposalView> = app
        .get(&alice, "/api/v1/proposals?status=approved")
        .await
        .parse();
    assert_eq!(approved_only.len(), 1);
    assert_eq!(approved_only[0].id, market_order.id);

    // Deciding twice is a conflict that says what the proposal is now.
    let again = app
        .post(
            &alice,
            &format!("/api/v1/proposals/{}/approve", limit_order.id),
            json!({}),
        )
        .await
        .expect_error(409, "proposal_state_conflict");
    assert!(again["message"].as_str().unwrap().contains("REJECTED"));
}

/// #18 case 7: an amount a decimal cannot hold exactly is refused with 422 naming the field and
/// quoting what was sent, never rounded (it was stored as `10` and answered 201).
async fn amounts_that_cannot_be_stored_exactly_are_refused_naming_the_field(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.allow(&alice, "BTC-EUR").await;
    let typed = "10.000000000000000000000000000001";
    for (field, body) in [
        (
            "amount_quote",
            json!({"market": "BTC-EUR", "side": "buy", "amount_quote": typed}),
        ),
        (
            "amount",
            json!({"market": "BTC-EUR", "side": "buy", "amount": typed}),
        ),
        (
            "limit_price",
            json!({"market": "BTC-EUR", "side": "buy", "order_type": "limit", "amount": "0.001",
                   "limit_price": typed}),
        ),
    ] {
        let error = app
            .post(&alice, "/api/v1/proposals", body)
            .await
            .expect_error(422, "invalid_field");
        assert_eq!(error["field"], field, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(typed), "{message}");
        assert!(message.contains("28 decimal places"), "{message}");
    }
    let listed: Vec<ProposalView> = app.get(&alice, "/api/v1/proposals").await.parse();
    assert!(
        listed.is_empty(),
        "a refused proposal was stored: {listed:?}"
    );
    // The policy's money the same.
    let error = app
        .put(
            &alice,
            "/api/v1/policy",
            json!({"trading_enabled": false, "order_notional_max": "20", "daily_notional_max": "60",
                   "cooldown_minutes": 10, "anti_flip_minutes": 30, "auto_approve": false,
                   "llm_daily_budget": "0.0000000000000000000000000000001"}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(error["field"], "llm_daily_budget", "{error}");
    assert!(audit(app, "policy.set").await.is_empty());
}

/// #18 case 9: a proposal for a market the caller may not trade (here one no exchange lists) is
/// refused with 422 naming the market and saying how to allow it; nothing is stored.
async fn i5_a_proposal_for_a_market_off_the_allowlist_is_refused_naming_it(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.allow(&alice, "BTC-EUR").await;
    let error = app
        .post(
            &alice,
            "/api/v1/proposals",
            json!({"market": "FOO-EUR", "side": "buy", "amount_quote": "10"}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(error["field"], "market", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("\"FOO-EUR\""), "{message}");
    assert!(message.contains("allowlist"), "{message}");
    assert!(message.contains("POST /api/v1/allowlist"), "{message}");
    let listed: Vec<ProposalView> = app.get(&alice, "/api/v1/proposals").await.parse();
    assert!(
        listed.is_empty(),
        "a refused proposal was stored: {listed:?}"
    );
}

async fn an_expired_proposal_cannot_be_approved(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    app.clock.advance(chrono::Duration::minutes(61));
    app.post(
        &alice,
        &format!("/api/v1/proposals/{}/approve", proposal.id),
        json!({}),
    )
    .await
    .expect_error(409, "proposal_expired");
    let now: ProposalView = app
        .get(&alice, &format!("/api/v1/proposals/{}", proposal.id))
        .await
        .parse();
    assert_eq!(now.status, "EXPIRED");
}

async fn executions_list_and_show_history(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let btc = app.claimed_execution(&alice, "BTC-EUR").await;
    let eth = app.claimed_execution(&alice, "ETH-EUR").await;
    let eth = app.outcome_unknown(&eth).await;

    let all: Vec<ExecutionView> = app
        .get(&alice, "/api/v1/executions")
        .await
        .expect(200)
        .parse();
    assert_eq!(all.len(), 2);
    let submitting: Vec<ExecutionView> = app
        .get(&alice, "/api/v1/executions?state=SUBMITTING")
        .await
        .parse();
    assert_eq!(submitting.len(), 1);
    assert_eq!(submitting[0].id, eth.id.as_uuid());
    assert!(submitting[0].outcome_unknown);
    let on_btc: Vec<ExecutionView> = app
        .get(&alice, "/api/v1/executions?market=BTC-EUR")
        .await
        .parse();
    assert_eq!(on_btc.len(), 1);
    assert_eq!(on_btc[0].id, btc.id.as_uuid());

    let detail: ExecutionDetailView = app
        .get(&alice, &format!("/api/v1/executions/{}", eth.id))
        .await
        .expect(200)
        .parse();
    assert_eq!(detail.execution.state, ExecutionState::Submitting.as_str());
    let events: Vec<_> = detail.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["claimed", "submit_committed", "outcome_unknown"]);
    assert_eq!(detail.events[0].seq, 1);
    assert_eq!(detail.events[1].from_state.as_deref(), Some("CLAIMED"));
    assert!(detail.fills.is_empty());
}

async fn policy_read_and_change_is_audited(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let default: PolicyView = app.get(&alice, "/api/v1/policy").await.expect(200).parse();
    assert!(!default.trading_enabled);
    assert_eq!(default.order_notional_max, "25");
    let changed: PolicyView = app
        .put(
            &alice,
            "/api/v1/policy",
            json!({"trading_enabled": true, "order_notional_max": "20", "daily_notional_max": "60",
                   "cooldown_minutes": 10, "anti_flip_minutes": 30, "auto_approve": false,
                   "llm_daily_budget": "0.5", "reason": "first day"}),
        )
        .await
        .expect(200)
        .parse();
    assert!(changed.trading_enabled);
    assert_eq!(changed.order_notional_max, "20");
    assert_eq!(changed.llm_daily_budget, "0.5");
    let reread: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    assert_eq!(reread, changed);
    let entries = audit(app, "policy.set").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "api:alice");
    assert_eq!(entries[0].reason.as_deref(), Some("first day"));
    assert_eq!(
        entries[0].before.as_ref().unwrap()["trading_enabled"],
        false
    );

    // An inconsistent policy is refused with every problem, naming the first field.
    let refused = app
        .put(
            &alice,
            "/api/v1/policy",
            json!({"trading_enabled": true, "order_notional_max": "50", "daily_notional_max": "10",
                   "cooldown_minutes": 10, "anti_flip_minutes": 30, "auto_approve": false,
                   "llm_daily_budget": "-1"}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(refused["field"], "daily_notional_max");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("llm_daily_budget"));
    let unchanged: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    assert_eq!(unchanged, changed);

    // Raising a cap within 24 hours of a cap change is refused (the stability window); the API
    // has no override, and nothing is written.
    let raise = app
        .put(
            &alice,
            "/api/v1/policy",
            json!({"trading_enabled": true, "order_notional_max": "25", "daily_notional_max": "60",
                   "cooldown_minutes": 10, "anti_flip_minutes": 30, "auto_approve": false,
                   "llm_daily_budget": "0.5"}),
        )
        .await
        .expect_error(409, "conflict");
    assert!(
        raise["message"].as_str().unwrap().contains("not stable"),
        "{raise}"
    );
    let unchanged: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    assert_eq!(unchanged, changed);
    assert_eq!(audit(app, "policy.set").await.len(), 1);

    // A user never sets their own money limits above the deployment's ceilings (the LLM budget's
    // is 5 USD), and raises nothing before the caps have been in force for 24 hours; an admin is
    // bound by neither. Nothing refused is written.
    let budget = |usd: &str| {
        json!({"trading_enabled": true, "order_notional_max": "20", "daily_notional_max": "60",
               "cooldown_minutes": 10, "anti_flip_minutes": 30, "auto_approve": false,
               "llm_daily_budget": usd})
    };
    let above = app
        .put(&alice, "/api/v1/policy", budget("6"))
        .await
        .expect_error(403, "admin_required");
    let message = above["message"].as_str().unwrap();
    assert!(
        message.contains("llm_daily_budget 6 is above the deployment's ceiling 5"),
        "{above}"
    );
    let too_soon = app
        .put(&alice, "/api/v1/policy", budget("1"))
        .await
        .expect_error(403, "admin_required");
    assert!(
        too_soon["message"].as_str().unwrap().contains("24 hours"),
        "{too_soon}"
    );
    let unchanged: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    assert_eq!(unchanged, changed);
    assert_eq!(audit(app, "policy.set").await.len(), 1);
    let root = app.account("root", true).await;
    let admins: PolicyView = app
        .put(&root, "/api/v1/policy", budget("6"))
        .await
        .expect(200)
        .parse();
    assert_eq!(admins.llm_daily_budget, "6");
}

async fn allowlist_add_list_remove(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let empty: Value = app
        .get(&alice, "/api/v1/allowlist")
        .await
        .expect(200)
        .json();
    assert_eq!(empty["markets"], json!([]));
    let added: AllowlistChangeView = app
        .post(
            &alice,
            "/api/v1/allowlist",
            json!({"market": "btc-eur", "reason": "start"}),
        )
        .await
        .expect(201)
        .parse();
    assert!(added.changed);
    assert_eq!(added.markets, ["BTC-EUR"]);
    let again: AllowlistChangeView = app
        .post(&alice, "/api/v1/allowlist", json!({"market": "BTC-EUR"}))
        .await
        .expect(200)
        .parse();
    assert!(!again.changed);
    let removed: AllowlistChangeView = app
        .send(
            Method::DELETE,
            "/api/v1/allowlist/BTC-EUR",
            Some(&alice.token),
            Some(json!({"reason": "stop"})),
        )
        .await
        .expect(200)
        .parse();
    assert!(removed.changed);
    assert!(removed.markets.is_empty());
    assert_eq!(audit(app, "allowlist.add").await.len(), 1);
    let removals = audit(app, "allowlist.remove").await;
    assert_eq!(removals.len(), 1);
    assert_eq!(removals[0].reason.as_deref(), Some("stop"));
}

async fn kill_switches_user_and_global(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let root = app.account("root", true).await;
    let off: KillSwitchView = app
        .get(&alice, "/api/v1/kill-switch")
        .await
        .expect(200)
        .parse();
    assert!(!off.trading_halted);
    let on: KillSwitchView = app
        .put(
            &alice,
            "/api/v1/kill-switch",
            json!({"on": true, "reason": "going on holiday"}),
        )
        .await
        .expect(200)
        .parse();
    assert!(on.user && on.trading_halted && !on.global);
    assert!(
        app.store
            .kill_switch_read(alice.user.id)
            .await
            .unwrap()
            .user
    );
    assert_eq!(
        on.user_set_by
            .as_ref()
            .map(|s| (s.actor.as_str(), s.by_admin)),
        Some(("api:alice", false))
    );
    app.put(&alice, "/api/v1/kill-switch", json!({"on": false}))
        .await
        .expect(200);

    // #18 case 4: a switch an operator turned on is not alice's to turn off.
    app.store
        .kill_switch_set(
            vigil_store::KillSwitchScope::User(alice.user.id),
            true,
            &vigil_store::Attribution::new("cli:operator", app.clock.now()),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap();
    let held: KillSwitchView = app.get(&alice, "/api/v1/kill-switch").await.parse();
    assert_eq!(
        held.user_set_by
            .as_ref()
            .map(|s| (s.actor.as_str(), s.by_admin)),
        Some(("cli:operator", true))
    );
    let refused: Value = app
        .put(&alice, "/api/v1/kill-switch", json!({"on": false}))
        .await
        .expect(403)
        .json();
    assert_eq!(refused["error_code"], "admin_required", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("cli:operator"),
        "{refused}"
    );
    assert!(
        app.store
            .kill_switch_read(alice.user.id)
            .await
            .unwrap()
            .user
    );
    app.store
        .kill_switch_set(
            vigil_store::KillSwitchScope::User(alice.user.id),
            false,
            &vigil_store::Attribution::new("cli:operator", app.clock.now()),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap();

    let global: Value = app
        .put(
            &root,
            "/api/v1/admin/kill-switch",
            json!({"on": true, "reason": "exchange incident"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(global, json!({"on": true, "previous": false}));
    let seen_by_alice: KillSwitchView = app.get(&alice, "/api/v1/kill-switch").await.parse();
    assert!(seen_by_alice.global && seen_by_alice.trading_halted && !seen_by_alice.user);
    let read: Value = app
        .get(&root, "/api/v1/admin/kill-switch")
        .await
        .expect(200)
        .json();
    assert_eq!(read["on"], true);
    let entries = audit(app, "kill_switch.set").await;
    assert_eq!(entries.len(), 5);
    let global_entry = entries.iter().find(|e| e.target == "global").unwrap();
    assert_eq!(global_entry.actor, "api:root");
    assert_eq!(global_entry.reason.as_deref(), Some("exchange incident"));
}

async fn admins_list_and_create_users(app: &TestApp) {
    let root = app.account("root", true).await;
    let created: CreatedUserView = app
        .post(&root, "/api/v1/admin/users", json!({"name": "carol"}))
        .await
        .expect(201)
        .parse();
    assert_eq!(created.user.name, "carol");
    assert!(!created.user.is_admin);
    // The token works, and the new user starts with the careful default policy.
    let policy: PolicyView = app
        .send(
            Method::GET,
            "/api/v1/policy",
            Some(&created.api_token),
            None,
        )
        .await
        .expect(200)
        .parse();
    assert!(!policy.trading_enabled);
    let users: Vec<UserView> = app
        .get(&root, "/api/v1/admin/users")
        .await
        .expect(200)
        .parse();
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["carol", "root"]);
    app.post(&root, "/api/v1/admin/users", json!({"name": "carol"}))
        .await
        .expect_error(409, "user_name_taken");
    let bad = app
        .post(
            &root,
            "/api/v1/admin/users",
            json!({"name": "no spaces please"}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(bad["field"], "name");
}

async fn jobs_create_list_pause_resume_remove(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let first_run = app.clock.now() + chrono::Duration::minutes(5);
    let job: Value = app
        .post(
            &alice,
            "/api/v1/jobs",
            json!({"strategy": "dca", "markets": ["BTC-EUR", "ETH-EUR"], "params": {"amount_quote": "10"},
                   "interval_seconds": 3600, "first_run_at": first_run, "reason": "weekly dca"}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(job["markets"], json!(["BTC-EUR", "ETH-EUR"]));
    assert_eq!(job["paused"], false);
    let id = job["id"].as_str().unwrap();
    let listed: Value = app.get(&alice, "/api/v1/jobs").await.expect(200).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let paused: Value = app
        .post(
            &alice,
            &format!("/api/v1/jobs/{id}/pause"),
            json!({"reason": "market closed"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(paused["paused"], true);
    let resumed: Value = app
        .send(
            Method::POST,
            &format!("/api/v1/jobs/{id}/resume"),
            Some(&alice.token),
            None,
        )
        .await
        .expect(200)
        .json();
    assert_eq!(resumed["paused"], false);
    app.send(
        Method::DELETE,
        &format!("/api/v1/jobs/{id}"),
        Some(&alice.token),
        None,
    )
    .await
    .expect(200);
    let listed: Value = app.get(&alice, "/api/v1/jobs").await.json();
    assert_eq!(listed, json!([]));
    assert_eq!(audit(app, "scan_job.pause").await.len(), 1);

    let bad = app
        .post(
            &alice,
            "/api/v1/jobs",
            json!({"strategy": "dca", "markets": ["BTC-EUR", "nonsense"], "interval_seconds": 60}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(bad["field"], "markets[1]");
    let zero = app
        .post(
            &alice,
            "/api/v1/jobs",
            json!({"strategy": "dca", "markets": ["BTC-EUR"], "params": {"amount_quote": "10"}, "interval_seconds": 0}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(zero["field"], "interval_seconds");
    // The strategy's parameters are checked before the job is stored.
    let params = app
        .post(
            &alice,
            "/api/v1/jobs",
            json!({"strategy": "dca", "markets": ["BTC-EUR"], "params": {"amount_quote": "-5"}, "interval_seconds": 60}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(params["field"], "params.amount_quote");
    let listed: Value = app.get(&alice, "/api/v1/jobs").await.json();
    assert_eq!(listed, json!([]), "a refused job was stored");
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;

    proposals_create_list_show_approve_reject,
    amounts_that_cannot_be_stored_exactly_are_refused_naming_the_field,
    i5_a_proposal_for_a_market_off_the_allowlist_is_refused_naming_it,
    an_expired_proposal_cannot_be_approved,
    executions_list_and_show_history,
    policy_read_and_change_is_audited,
    allowlist_add_list_remove,
    kill_switches_user_and_global,
    admins_list_and_create_users,
    jobs_create_list_pause_resume_remove,
);
