//! The OpenAPI document's statuses are the server's (#18 case 10): for every operation, every
//! status the document lists is provoked here and answered, and every status provoked is listed.
//!
//! The table is explicit for what a handler answers itself (successes, 404 for an id not among
//! the caller's, 409, a route's own 403, 202) and derived for what the shared layers answer on
//! every route of a kind (the route table's access class: 401, 403 for admin routes, 500, 503;
//! a documented body: 400, 413, 415; every route: 422 for an unknown query parameter). Each
//! entry is SENT and its answer compared, so a derived entry proves the layer is really there.
//! The test fails when the document lists a status no entry provokes (a new route without
//! entries, a claim nobody proved), when an entry's status is not documented, and when an
//! answer differs from the entry.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use reqwest::Method;
use serde_json::{json, Value};
use vigil_server::{route_table, Access, ErrorCode};
use vigil_testkit::sim::{FaultKind, FaultPlan, FaultRule, SpawnedSim};

use crate::{
    app::{Account, Answer, TestApp},
    fill_path,
};

/// How an entry provokes its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provoke {
    /// No `Authorization` header.
    NoToken,
    /// A non-administrator's token.
    NotAdmin,
    /// `?vigil_unknown=1`.
    UnknownQuery,
    /// A `text/plain` body.
    TextBody,
    /// `application/json` that is not JSON.
    BrokenJson,
    /// A body over the limit.
    HugeBody,
    /// A well-formed id nobody has.
    UnknownId,
    /// The users table can no longer be read (a column renamed).
    BrokenDatabase,
    /// The store is closed.
    DownDatabase,
    /// A named situation, made by [`scenario`].
    Scenario(&'static str),
}
use Provoke::{Scenario as S, UnknownId};

/// What each handler answers itself: (method, path, status, how).
#[rustfmt::skip]
const OWN: &[(&str, &str, u16, Provoke)] = &[
    ("GET", "/healthz", 200, S("ok")),
    ("GET", "/readyz", 200, S("ok")),
    ("GET", "/readyz", 503, Provoke::DownDatabase),
    ("GET", "/metrics", 200, S("ok")),
    ("GET", "/metrics", 403, S("remote")),
    ("GET", "/api/v1/openapi.json", 200, S("ok")),
    ("GET", "/api/v1/proposals", 200, S("ok")),
    ("POST", "/api/v1/proposals", 201, S("ok")),
    ("GET", "/api/v1/proposals/{proposal_id}", 200, S("ok")),
    ("GET", "/api/v1/proposals/{proposal_id}", 404, UnknownId),
    ("POST", "/api/v1/proposals/{proposal_id}/approve", 200, S("ok")),
    ("POST", "/api/v1/proposals/{proposal_id}/approve", 404, UnknownId),
    ("POST", "/api/v1/proposals/{proposal_id}/approve", 409, S("decided")),
    ("POST", "/api/v1/proposals/{proposal_id}/reject", 200, S("ok")),
    ("POST", "/api/v1/proposals/{proposal_id}/reject", 404, UnknownId),
    ("POST", "/api/v1/proposals/{proposal_id}/reject", 409, S("decided")),
    ("POST", "/api/v1/proposals/{proposal_id}/execute", 200, S("ok")),
    ("POST", "/api/v1/proposals/{proposal_id}/execute", 202, S("outcome_unknown")),
    ("POST", "/api/v1/proposals/{proposal_id}/execute", 404, UnknownId),
    ("GET", "/api/v1/executions", 200, S("ok")),
    ("GET", "/api/v1/executions/{execution_id}", 200, S("ok")),
    ("GET", "/api/v1/executions/{execution_id}", 404, UnknownId),
    ("GET", "/api/v1/policy", 200, S("ok")),
    ("PUT", "/api/v1/policy", 200, S("ok")),
    ("PUT", "/api/v1/policy", 403, S("above_ceiling")),
    ("PUT", "/api/v1/policy", 409, S("unstable")),
    ("GET", "/api/v1/allowlist", 200, S("ok")),
    ("POST", "/api/v1/allowlist", 201, S("ok")),
    ("POST", "/api/v1/allowlist", 200, S("again")),
    ("DELETE", "/api/v1/allowlist/{market}", 200, S("ok")),
    ("GET", "/api/v1/kill-switch", 200, S("ok")),
    ("PUT", "/api/v1/kill-switch", 200, S("ok")),
    ("PUT", "/api/v1/kill-switch", 403, S("admin_set")),
    ("GET", "/api/v1/jobs", 200, S("ok")),
    ("POST", "/api/v1/jobs", 201, S("ok")),
    ("POST", "/api/v1/jobs/{job_id}/pause", 200, S("ok")),
    ("POST", "/api/v1/jobs/{job_id}/pause", 404, UnknownId),
    ("POST", "/api/v1/jobs/{job_id}/resume", 200, S("ok")),
    ("POST", "/api/v1/jobs/{job_id}/resume", 404, UnknownId),
    ("DELETE", "/api/v1/jobs/{job_id}", 200, S("ok")),
    ("DELETE", "/api/v1/jobs/{job_id}", 404, UnknownId),
    ("GET", "/api/v1/admin/kill-switch", 200, S("ok")),
    ("PUT", "/api/v1/admin/kill-switch", 200, S("ok")),
    ("GET", "/api/v1/admin/users", 200, S("ok")),
    ("POST", "/api/v1/admin/users", 201, S("ok")),
    ("POST", "/api/v1/admin/users", 409, S("taken")),
];

/// One entry of the whole table.
#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    status: u16,
    provoke: Provoke,
}

/// An operation: (method, path).
type Operation = (String, String);
/// Each operation's documented statuses.
type Documented = BTreeMap<Operation, BTreeSet<u16>>;

/// The document's (method, path) → documented statuses, and which operations take a body.
fn documented(doc: &Value) -> (Documented, BTreeSet<Operation>) {
    let mut statuses = BTreeMap::new();
    let mut bodies = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let key = (method.to_ascii_uppercase(), path.clone());
            let listed = operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse::<u16>().unwrap())
                .collect();
            if operation.get("requestBody").is_some() {
                bodies.insert(key.clone());
            }
            statuses.insert(key, listed);
        }
    }
    (statuses, bodies)
}

/// The explicit entries and the derived ones.
fn table(bodies: &BTreeSet<(String, String)>) -> Vec<Case> {
    let mut cases: Vec<Case> = OWN
        .iter()
        .map(|&(method, path, status, provoke)| Case {
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            provoke,
        })
        .collect();
    for route in route_table() {
        let key = (route.method.to_string(), route.path.to_owned());
        let mut shared = vec![(422, Provoke::UnknownQuery)];
        if route.access.needs_credentials() {
            shared.extend([
                (401, Provoke::NoToken),
                (500, Provoke::BrokenDatabase),
                (503, Provoke::DownDatabase),
            ]);
        }
        if route.access == Access::Admin {
            shared.push((403, Provoke::NotAdmin));
        }
        if bodies.contains(&key) {
            shared.extend([
                (400, Provoke::BrokenJson),
                (413, Provoke::HugeBody),
                (415, Provoke::TextBody),
            ]);
        }
        for (status, provoke) in shared {
            cases.push(Case {
                method: key.0.clone(),
                path: key.1.clone(),
                status,
                provoke,
            });
        }
    }
    cases
}

/// The users of the walk: `alice` (an administrator who trades), `bob` (a plain user), `carol`
/// (a plain user whose switch an administrator turned on).
struct Fixtures {
    alice: Account,
    bob: Account,
    carol: Account,
}

async fn fixtures(app: &TestApp) -> Fixtures {
    let alice = app.account("alice", true).await;
    // 20 per order: a change of the caps, so raising them again within 24 hours is refused.
    app.put(&alice, "/api/v1/policy", alice_policy("20"))
        .await
        .expect(200);
    app.allow(&alice, "BTC-EUR").await;
    Fixtures {
        alice,
        bob: app.account("bob", false).await,
        carol: app.account("carol", false).await,
    }
}

fn alice_policy(order_max: &str) -> Value {
    json!({"trading_enabled": true, "order_notional_max": order_max, "daily_notional_max": "100",
           "cooldown_minutes": 0, "anti_flip_minutes": 0, "auto_approve": false,
           "llm_daily_budget": "0"})
}

async fn request(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut builder = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some((content_type, body)) = body {
        builder = builder.header("content-type", content_type).body(body);
    }
    TestApp::answer(builder).await
}

/// A path with some id in each segment (the refusals under test come before any lookup).
fn any_path(template: &str) -> String {
    fill_path(template, |name| match name {
        "market" => "BTC-EUR".to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    })
}

async fn provoke(app: &TestApp, sim: &SpawnedSim, fx: &Fixtures, case: &Case) -> Answer {
    let (method, path, alice) = (
        case.method.as_str(),
        case.path.as_str(),
        Some(fx.alice.token.as_str()),
    );
    match case.provoke {
        Provoke::NoToken => request(app, method, &any_path(path), None, None).await,
        Provoke::NotAdmin => request(app, method, &any_path(path), Some(&fx.bob.token), None).await,
        Provoke::UnknownQuery => {
            let answer = request(
                app,
                method,
                &format!("{}?vigil_unknown=1", any_path(path)),
                alice,
                None,
            )
            .await;
            if answer.status == 422 {
                assert_eq!(
                    answer.json()["field"],
                    "vigil_unknown",
                    "{method} {path}: {}",
                    answer.text
                );
            }
            answer
        }
        Provoke::TextBody => {
            request(
                app,
                method,
                &any_path(path),
                alice,
                Some(("text/plain", "x".into())),
            )
            .await
        }
        Provoke::BrokenJson => {
            request(
                app,
                method,
                &any_path(path),
                alice,
                Some(("application/json", "{".into())),
            )
            .await
        }
        Provoke::HugeBody => {
            let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(200 * 1024));
            request(
                app,
                method,
                &any_path(path),
                alice,
                Some(("application/json", huge)),
            )
            .await
        }
        Provoke::UnknownId | Provoke::BrokenDatabase | Provoke::DownDatabase => {
            let body = (method != "GET").then(|| ("application/json", "{}".to_owned()));
            request(app, method, &any_path(path), alice, body).await
        }
        Provoke::Scenario(name) => scenario(app, sim, fx, method, path, name).await,
    }
}

/// The named situations: each makes what it needs and sends the request.
async fn scenario(
    app: &TestApp,
    sim: &SpawnedSim,
    fx: &Fixtures,
    method: &str,
    path: &str,
    name: &str,
) -> Answer {
    let alice = &fx.alice;
    let send = |path: String, body: Option<Value>| {
        let body = body.map(|b| ("application/json", b.to_string()));
        async move { request(app, method, &path, Some(&alice.token), body).await }
    };
    let proposal = || async { app.create_proposal(alice, "BTC-EUR", "10").await.id };
    let with_proposal = |id: uuid::Uuid| fill_path(path, |_| id.to_string());
    match (path, name) {
        ("/metrics", "remote") => {
            // The router as `run` serves it, to a client that is not on loopback.
            let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
            let router = vigil_server::router(app.state.clone())
                .layer(axum::extract::connect_info::MockConnectInfo(remote));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/metrics", listener.local_addr().unwrap());
            let server = tokio::spawn(async move { axum::serve(listener, router).await });
            let answer = TestApp::answer(reqwest::Client::new().get(url)).await;
            server.abort();
            answer
        }
        ("/api/v1/proposals", "ok") => {
            send(
                path.into(),
                Some(json!({"market": "BTC-EUR", "side": "buy", "amount_quote": "10"})),
            )
            .await
        }
        ("/api/v1/proposals/{proposal_id}", "ok") => {
            send(with_proposal(proposal().await), None).await
        }
        (
            "/api/v1/proposals/{proposal_id}/approve" | "/api/v1/proposals/{proposal_id}/reject",
            "ok",
        ) => send(with_proposal(proposal().await), None).await,
        (
            "/api/v1/proposals/{proposal_id}/approve" | "/api/v1/proposals/{proposal_id}/reject",
            "decided",
        ) => {
            let id = proposal().await;
            let other = if path.ends_with("approve") {
                "reject"
            } else {
                "approve"
            };
            app.post(alice, &format!("/api/v1/proposals/{id}/{other}"), json!({}))
                .await
                .expect(200);
            send(with_proposal(id), None).await
        }
        ("/api/v1/proposals/{proposal_id}/execute", "ok" | "outcome_unknown") => {
            let id = proposal().await;
            app.approve(alice, id).await;
            if name == "outcome_unknown" {
                let fault = FaultKind::AcceptThenError {
                    error_code: 101,
                    http_status: 500,
                };
                sim.handle
                    .set_faults(FaultPlan::single(FaultRule::new("POST /v2/order", fault)))
                    .unwrap();
            }
            let answer = send(with_proposal(id), None).await;
            sim.handle.set_faults(FaultPlan::none()).unwrap();
            answer
        }
        ("/api/v1/executions/{execution_id}", "ok") => {
            let execution = app.claimed_execution(alice, "BTC-EUR").await;
            send(fill_path(path, |_| execution.id.to_string()), None).await
        }
        ("/api/v1/policy", "ok") => send(path.into(), Some(alice_policy("20"))).await,
        ("/api/v1/policy", "unstable") => send(path.into(), Some(alice_policy("25"))).await,
        ("/api/v1/policy", "above_ceiling") => {
            // The caps as they are (the stability window has nothing to say), a budget above
            // the deployment's ceiling: a plain user needs an admin for that.
            let body = json!({"trading_enabled": false, "order_notional_max": "25", "daily_notional_max": "100",
                              "cooldown_minutes": 0, "anti_flip_minutes": 0, "auto_approve": false,
                              "llm_daily_budget": "1000"});
            request(
                app,
                method,
                path,
                Some(&fx.bob.token),
                Some(("application/json", body.to_string())),
            )
            .await
        }
        ("/api/v1/allowlist", "ok") => send(path.into(), Some(json!({"market": "ETH-EUR"}))).await,
        ("/api/v1/allowlist", "again") => {
            send(path.into(), Some(json!({"market": "BTC-EUR"}))).await
        }
        ("/api/v1/allowlist/{market}", "ok") => {
            send(fill_path(path, |_| "XRP-EUR".into()), None).await
        }
        ("/api/v1/kill-switch", "ok") => {
            let body = json!({"on": true}).to_string();
            request(
                app,
                method,
                path,
                Some(&fx.bob.token),
                Some(("application/json", body)),
            )
            .await
        }
        ("/api/v1/kill-switch", "admin_set") => {
            let by =
                vigil_store::Attribution::new("cli:operator", vigil_core::Clock::now(&app.clock));
            app.store
                .kill_switch_set(
                    vigil_store::KillSwitchScope::User(fx.carol.user.id),
                    true,
                    &by,
                    vigil_store::Authority::Admin,
                )
                .await
                .unwrap();
            let body = json!({"on": false}).to_string();
            request(
                app,
                method,
                path,
                Some(&fx.carol.token),
                Some(("application/json", body)),
            )
            .await
        }
        ("/api/v1/jobs", "ok") => send(path.into(), Some(dca_job())).await,
        (
            "/api/v1/jobs/{job_id}/pause"
            | "/api/v1/jobs/{job_id}/resume"
            | "/api/v1/jobs/{job_id}",
            "ok",
        ) => {
            let job = app
                .post(alice, "/api/v1/jobs", dca_job())
                .await
                .expect(201)
                .json();
            send(
                fill_path(path, |_| job["id"].as_str().unwrap().to_owned()),
                None,
            )
            .await
        }
        ("/api/v1/admin/kill-switch", "ok") if method == "PUT" => {
            send(path.into(), Some(json!({"on": false}))).await
        }
        ("/api/v1/admin/users", "ok") if method == "POST" => {
            send(path.into(), Some(json!({"name": "dave"}))).await
        }
        ("/api/v1/admin/users", "taken") => send(path.into(), Some(json!({"name": "bob"}))).await,
        (_, "ok") if method == "GET" => send(path.into(), None).await,
        _ => panic!("no scenario {name} for {method} {path}"),
    }
}

fn dca_job() -> Value {
    json!({"strategy": "dca", "markets": ["BTC-EUR"], "params": {"amount_quote": "10"}, "interval_seconds": 3600})
}

/// Every documented (operation, status) is provoked and answered; nothing else is answered.
async fn every_documented_status_is_answered_and_every_answer_documented(
    app: &TestApp,
    sim: &SpawnedSim,
) {
    let doc = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let (documented, bodies) = documented(&doc);
    let cases = table(&bodies);

    // The table and the document name the same (operation, status) pairs.
    let proven: BTreeSet<(String, String, u16)> = cases
        .iter()
        .map(|c| (c.method.clone(), c.path.clone(), c.status))
        .collect();
    let claimed: BTreeSet<(String, String, u16)> = documented
        .iter()
        .flat_map(|((m, p), s)| s.iter().map(|s| (m.clone(), p.clone(), *s)))
        .collect();
    let unproven: Vec<_> = claimed.difference(&proven).collect();
    let undocumented: Vec<_> = proven.difference(&claimed).collect();
    assert!(
        unproven.is_empty(),
        "documented, provoked by no entry of the table: {unproven:#?}"
    );
    assert!(
        undocumented.is_empty(),
        "provoked, not in the document: {undocumented:#?}"
    );
    // Every documented refusal is one the one error type can answer.
    let error_statuses: BTreeSet<u16> =
        ErrorCode::ALL.iter().map(|c| c.status().as_u16()).collect();
    for (method, path, status) in &claimed {
        assert!(
            *status < 300 || error_statuses.contains(status),
            "{method} {path} documents {status}"
        );
    }

    let fx = fixtures(app).await;
    let phase = |c: &Case| match c.provoke {
        Provoke::BrokenDatabase => 1,
        Provoke::DownDatabase => 2,
        _ => 0,
    };
    let mut wrong = Vec::new();
    for current in 0..3 {
        if current == 1 {
            vigil_testkit::operator::raw_sql(
                &app.store,
                "ALTER TABLE users RENAME COLUMN name TO name_unreadable",
            )
            .await;
        }
        if current == 2 {
            app.store.close().await;
        }
        for case in cases.iter().filter(|c| phase(c) == current) {
            let answer = provoke(app, sim, &fx, case).await;
            if answer.status != case.status {
                wrong.push(format!(
                    "{} {} by {:?}: answered {}, expected {}: {}",
                    case.method, case.path, case.provoke, answer.status, case.status, answer.text
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that differ from the table:\n{}",
        wrong.join("\n")
    );
}

/// Every route of the document refuses a parameter it does not take, naming it (docs/api.md:
/// unknown query parameters are refused with 422), and documents that 422.
async fn every_route_refuses_an_unknown_query_parameter(app: &TestApp) {
    let admin = app.account("root", true).await;
    let doc = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let (documented, _) = documented(&doc);
    assert_eq!(documented.len(), route_table().len());
    for ((method, path), statuses) in &documented {
        let url = format!("{}?colour=red", any_path(path));
        let answer = request(app, method, &url, Some(&admin.token), None).await;
        let body = answer.expect_error(422, "invalid_field");
        assert_eq!(body["field"], "colour", "{method} {path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("colour"),
            "{body}"
        );
        assert!(
            statuses.contains(&422),
            "{method} {path} does not document 422"
        );
    }
}

/// The document's limit on a user name is the server's: a name of that length is taken, one
/// longer is refused naming `name`.
async fn the_documented_name_limit_is_enforced(app: &TestApp) {
    let admin = app.account("root", true).await;
    let doc = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let name = &doc["components"]["schemas"]["CreateUserRequest"]["properties"]["name"];
    let max = usize::try_from(name["maxLength"].as_u64().unwrap()).unwrap();
    app.post(
        &admin,
        "/api/v1/admin/users",
        json!({"name": "n".repeat(max)}),
    )
    .await
    .expect(201);
    let refused = app
        .post(
            &admin,
            "/api/v1/admin/users",
            json!({"name": "m".repeat(max + 1)}),
        )
        .await
        .expect_error(422, "invalid_field");
    assert_eq!(refused["field"], "name", "{refused}");
}

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    crate::app::TestApp::run;

    every_route_refuses_an_unknown_query_parameter,
    the_documented_name_limit_is_enforced
);

mod with_executor {
    use vigil_testkit::backends::BackendKind;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        crate::execute::with_exchange(
            BackendKind::Sqlite,
            super::every_documented_status_is_answered_and_every_answer_documented,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        crate::execute::with_exchange(
            BackendKind::Postgres,
            super::every_documented_status_is_answered_and_every_answer_documented,
        )
        .await;
    }
}
