//! One user against another's resources, walked over the router's own route table.
//!
//! Alice owns a proposal, an execution, a scan job, an allowlist entry and a policy. Bob calls
//! EVERY user route with Alice's ids in the path. A route with an id answers 404 `not_found`,
//! exactly as for an id that does not exist (ids do not leak); a route without one acts on Bob's
//! own resources, and its answer must not mention anything of Alice's. Afterwards Alice's
//! resources are as they were. Admin routes refuse Bob with 403.

use reqwest::Method;
use serde_json::{json, Value};
use vigil_server::{route_table, views::PolicyView, Access};

use crate::{app::TestApp, fill_path};

/// A valid body for the routes that need one and take no id, so the walk reaches the handler.
fn body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/api/v1/proposals") => Some(json!({
            "market": "ETH-EUR", "side": "sell", "amount": "0.01", "order_type": "limit", "limit_price": "2000"
        })),
        ("PUT", "/api/v1/policy") => Some(json!({
            "trading_enabled": false, "order_notional_max": "20", "daily_notional_max": "40",
            "cooldown_minutes": 1, "anti_flip_minutes": 2, "auto_approve": false, "llm_daily_budget": "0"
        })),
        ("POST", "/api/v1/allowlist") => Some(json!({"market": "ETH-EUR"})),
        ("PUT", "/api/v1/kill-switch") => Some(json!({"on": true, "reason": "bob stops"})),
        ("POST", "/api/v1/jobs") => Some(json!({
            "strategy": "dca", "markets": ["ETH-EUR"], "params": {"amount_quote": "10"}, "interval_seconds": 60
        })),
        (_, p) if p.contains('{') => None,
        ("GET", _) => None,
        (m, p) => panic!("add a sample body for {m} {p} to the cross-user walk"),
    }
}

async fn every_route_refuses_another_users_resources(app: &TestApp) {
    let alice = app.account("alice", false).await;
    let bob = app.account("bob", false).await;
    let proposal = app.create_proposal(&alice, "BTC-EUR", "10").await;
    let execution = app.claimed_execution(&alice, "BTC-EUR").await;
    app.allow(&alice, "BTC-EUR").await;
    let job: Value = app
        .post(
            &alice,
            "/api/v1/jobs",
            json!({"strategy": "dca", "markets": ["BTC-EUR"], "params": {"amount_quote": "10"}, "interval_seconds": 3600}),
        )
        .await
        .expect(201)
        .json();
    let job_id = job["id"].as_str().unwrap().to_owned();
    // Bob's own proposal in the walk needs its market on Bob's allowlist.
    app.allow(&bob, "ETH-EUR").await;
    let alice_policy: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    let alice_ids = [
        proposal.id.to_string(),
        execution.id.to_string(),
        execution.proposal_id.to_string(),
        job_id.clone(),
        alice.user.id.to_string(),
    ];

    let mut with_id = 0;
    for route in route_table() {
        let path = fill_path(route.path, |name| match name {
            "proposal_id" => proposal.id.to_string(),
            "execution_id" => execution.id.to_string(),
            "job_id" => job_id.clone(),
            "market" => "BTC-EUR".to_owned(),
            other => panic!("the cross-user walk does not know path parameter {other}; add it"),
        });
        match route.access {
            Access::Public | Access::Loopback => continue,
            Access::Admin => {
                app.send(
                    route.method.clone(),
                    &path,
                    Some(&bob.token),
                    Some(json!({})),
                )
                .await
                .expect_error(403, "admin_required");
                continue;
            }
            Access::User => {}
        }
        let takes_resource_id = ["{proposal_id}", "{execution_id}", "{job_id}"]
            .iter()
            .any(|p| route.path.contains(p));
        let answer = app
            .send(
                route.method.clone(),
                &path,
                Some(&bob.token),
                body_for(&route.method, route.path),
            )
            .await;
        if takes_resource_id {
            answer.expect_error(404, "not_found");
            // The same answer as for an id nobody has.
            let unknown = fill_path(route.path, |_| uuid::Uuid::new_v4().to_string());
            let other = app
                .send(route.method.clone(), &unknown, Some(&bob.token), None)
                .await;
            other.expect_error(404, "not_found");
            with_id += 1;
        } else {
            assert!(
                (200..300).contains(&answer.status),
                "{route} as bob: {} {}",
                answer.status,
                answer.text
            );
            for id in &alice_ids {
                assert!(
                    !answer.text.contains(id.as_str()),
                    "{route} showed bob alice's {id}: {}",
                    answer.text
                );
            }
        }
    }
    assert!(
        with_id >= 6,
        "only {with_id} routes with resource ids walked"
    );

    // Alice's resources are untouched.
    let after: Value = app
        .get(&alice, &format!("/api/v1/proposals/{}", proposal.id))
        .await
        .expect(200)
        .json();
    assert_eq!(after["status"], "PENDING");
    let allowlist: Value = app.get(&alice, "/api/v1/allowlist").await.json();
    assert_eq!(allowlist["markets"], json!(["BTC-EUR"]));
    let switches: Value = app.get(&alice, "/api/v1/kill-switch").await.json();
    assert_eq!(switches["user"], false);
    let policy: PolicyView = app.get(&alice, "/api/v1/policy").await.parse();
    assert_eq!(policy, alice_policy);
    let jobs: Value = app.get(&alice, "/api/v1/jobs").await.json();
    assert_eq!(jobs[0]["id"], job_id.as_str());
    assert_eq!(jobs[0]["paused"], false);
    app.get(&alice, &format!("/api/v1/executions/{}", execution.id))
        .await
        .expect(200);
    // And bob's own changes landed on bob.
    let bob_switches: Value = app.get(&bob, "/api/v1/kill-switch").await.json();
    assert_eq!(bob_switches["user"], true);
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;
    every_route_refuses_another_users_resources);
