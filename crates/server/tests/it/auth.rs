//! Authentication and roles, walked over the router's own route table.
//!
//! Every route whose access class needs credentials must answer 401 `unauthenticated` (JSON
//! body, `WWW-Authenticate`, request id) without them, with a malformed header, with an unknown
//! token and with a revoked one; a body is sent too, to show it is not even read first. Admin
//! routes refuse users with 403; public routes answer without credentials.

use reqwest::Method;
use serde_json::json;
use vigil_core::Clock;
use vigil_server::{route_table, Access};
use vigil_store::Attribution;

use crate::{
    app::{Account, TestApp},
    fill_path,
};

fn sample_path(template: &str) -> String {
    fill_path(template, |name| match name {
        "market" => "BTC-EUR".to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    })
}

/// Calls every credentialed route with `authorization` (or none) and expects 401.
async fn walk_expecting_401(app: &TestApp, authorization: Option<&str>) -> usize {
    let mut walked = 0;
    for route in route_table() {
        if !route.access.needs_credentials() {
            continue;
        }
        let path = sample_path(route.path);
        let mut request = reqwest::Client::new()
            .request(route.method.clone(), app.url(&path))
            .json(&json!({}));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let answer = TestApp::answer(request).await;
        assert_eq!(
            answer.status, 401,
            "{route} answered {} without valid credentials: {}",
            answer.status, answer.text
        );
        let body = answer.expect_error(401, "unauthenticated");
        assert!(body["field"].is_null());
        assert!(
            answer.headers.get("www-authenticate").is_some(),
            "{route}: 401 without WWW-Authenticate"
        );
        walked += 1;
    }
    walked
}

async fn every_route_refuses_requests_without_credentials(app: &TestApp) {
    let walked = walk_expecting_401(app, None).await;
    // The table has far more than this; a table that lost its routes must not pass silently.
    assert!(walked >= 20, "only {walked} credentialed routes walked");
    walk_expecting_401(app, Some("Basic dXNlcjpwYXNz")).await;
    walk_expecting_401(app, Some("Bearer")).await;
    walk_expecting_401(app, Some("Bearer not-a-known-token")).await;
}

async fn revoked_token_is_refused(app: &TestApp) {
    let alice = app.account("alice", false).await;
    app.get(&alice, "/api/v1/policy").await.expect(200);
    app.store
        .api_token_revoke(alice.token_id, &Attribution::new("test", app.clock.now()))
        .await
        .unwrap();
    app.get(&alice, "/api/v1/policy")
        .await
        .expect_error(401, "unauthenticated");
    walk_expecting_401(app, Some(&format!("Bearer {}", alice.token))).await;
}

async fn admin_routes_refuse_users_and_serve_admins(app: &TestApp) {
    let user = app.account("user", false).await;
    let admin = app.account("root", true).await;
    let admin_routes: Vec<_> = route_table()
        .into_iter()
        .filter(|r| r.access == Access::Admin)
        .collect();
    assert!(admin_routes.len() >= 4);
    for route in &admin_routes {
        let answer = app
            .send(
                route.method.clone(),
                &sample_path(route.path),
                Some(&user.token),
                Some(json!({})),
            )
            .await;
        answer.expect_error(403, "admin_required");
    }
    // An admin gets past the role check (the GETs answer 200).
    for route in admin_routes.iter().filter(|r| r.method == Method::GET) {
        app.get(&admin, route.path).await.expect(200);
    }
}

async fn public_routes_answer_without_credentials(app: &TestApp) {
    for route in route_table() {
        if route.access.needs_credentials() {
            continue;
        }
        let answer = app.send(route.method.clone(), route.path, None, None).await;
        assert_eq!(answer.status, 200, "{route}: {}", answer.text);
        answer.request_id();
    }
}

async fn a_user_acts_as_themselves(app: &TestApp) {
    let alice: Account = app.account("alice", false).await;
    let created = app.create_proposal(&alice, "BTC-EUR", "10").await;
    assert_eq!(created.user_id, alice.user.id.as_uuid());
    assert_eq!(created.source, "person:alice");
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;

    every_route_refuses_requests_without_credentials,
    revoked_token_is_refused,
    admin_routes_refuse_users_and_serve_admins,
    public_routes_answer_without_credentials,
    a_user_acts_as_themselves,
);
