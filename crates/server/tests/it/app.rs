//! The test application: the REAL server (`vigil_server::run`) on `127.0.0.1:0` over a fresh
//! SQLite file or PostgreSQL database, a reqwest client, and methods named for what a user does
//! (`create_proposal`, `approve`, `allow`, ...). Data is made through the API or the store's own
//! operations, never by writing rows by hand.

use std::{sync::Arc, time::Duration};

use reqwest::{header::HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Clock, Execution, ExecutionEvent, ExecutionState, ManualClock, Market, Notional, OrderSize,
    OrderType, Proposal, ProposalSource, ProposalStatus, Side, SystemClock,
};
use vigil_server::{views::ProposalView, ApiDeps, ApiState, ServerConfig, ServerError};
use vigil_store::{Store, StoreOptions, TokenHash, User};
use vigil_testkit::{backends::BackendKind, pg, sqlite};

/// Keeps the database alive as long as the app.
#[allow(dead_code, reason = "held for its Drop only")]
enum Database {
    Sqlite(sqlite::SqliteTestDb),
    Postgres(pg::PgTestDb),
}

/// A user of the API and their bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) user: User,
    pub(crate) token: String,
    pub(crate) token_id: uuid::Uuid,
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Answer {
    /// The body as JSON (panics with the body when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// The body as `T`.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body does not parse ({e}): {}", self.text))
    }

    /// Asserts a status, showing the body when it differs.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Answer {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an error answer: the status, the stable code, the body's shape, and that the body's
    /// request id is the header's.
    #[track_caller]
    pub(crate) fn expect_error(&self, status: u16, code: &str) -> Value {
        self.expect(status);
        let body = self.json();
        assert_eq!(body["error_code"], code, "body: {}", self.text);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            body.get("field").is_some(),
            "error bodies always carry field: {}",
            self.text
        );
        let header = self.request_id();
        assert_eq!(
            body["request_id"],
            header.as_str(),
            "body and header request ids differ"
        );
        body
    }

    /// The `x-request-id` header (every answer has one).
    #[track_caller]
    pub(crate) fn request_id(&self) -> String {
        self.headers
            .get("x-request-id")
            .expect("every answer carries x-request-id")
            .to_str()
            .unwrap()
            .to_owned()
    }
}

/// The running server and what the tests need around it.
pub(crate) struct TestApp {
    pub(crate) base_url: String,
    pub(crate) store: Store,
    pub(crate) clock: ManualClock,
    pub(crate) state: ApiState,
    client: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    _database: Database,
}

impl TestApp {
    /// Runs one test against a fresh app on `backend`, then stops it: the runner of the API's
    /// `vigil_testkit::backend_tests!` suites. Without a reachable PostgreSQL (outside CI) the
    /// PostgreSQL run is skipped.
    pub(crate) async fn run(backend: BackendKind, test: impl AsyncFnOnce(&TestApp)) {
        let Some(app) = TestApp::on(backend, |deps| deps).await else {
            return;
        };
        test(&app).await;
        app.stop().await;
    }

    /// A fresh app on `backend` with `configure`d dependencies, or None when PostgreSQL is
    /// unreachable outside CI.
    pub(crate) async fn on(
        backend: BackendKind,
        configure: impl FnOnce(ApiDeps) -> ApiDeps,
    ) -> Option<TestApp> {
        match backend {
            BackendKind::Sqlite => Some(TestApp::sqlite_with(configure).await),
            BackendKind::Postgres => TestApp::postgres_with(configure).await,
        }
    }

    pub(crate) async fn sqlite() -> TestApp {
        Self::sqlite_with(|deps| deps).await
    }

    pub(crate) async fn sqlite_with(configure: impl FnOnce(ApiDeps) -> ApiDeps) -> TestApp {
        vigil_testkit::logs::init();
        let db = sqlite::fresh_database();
        let store = Store::connect(&db.url(), StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self::spawn(store, Database::Sqlite(db), configure).await
    }

    async fn postgres_with(configure: impl FnOnce(ApiDeps) -> ApiDeps) -> Option<TestApp> {
        vigil_testkit::logs::init();
        let db = pg::fresh_database().await?;
        let store = db.store(StoreOptions::default()).await;
        Some(Self::spawn(store, Database::Postgres(db), configure).await)
    }

    async fn spawn(
        store: Store,
        database: Database,
        configure: impl FnOnce(ApiDeps) -> ApiDeps,
    ) -> TestApp {
        // A manual clock starting at the real time, so tests move time by hand (expiry,
        // reconciler age) while timestamps still look like today's.
        let start = chrono::DateTime::from_timestamp(SystemClock.now().timestamp(), 0).unwrap();
        let clock = ManualClock::new(start);
        let deps = ApiDeps::new(store.clone(), Arc::new(clock.clone()));
        let deps = configure(ApiDeps {
            config: ServerConfig::default(),
            ..deps
        });
        let state = ApiState::new(deps);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(vigil_server::run(listener, state.clone(), shutdown.clone()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            base_url,
            store,
            clock,
            state,
            client,
            shutdown,
            task: Some(task),
            _database: database,
        }
    }

    /// Stops the server and checks it stopped cleanly.
    pub(crate) async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.store.close().await;
    }

    /// A user with a fresh API token, made as `vigil users create` makes them.
    pub(crate) async fn account(&self, name: &str, admin: bool) -> Account {
        let user = self
            .store
            .user_create(name, admin, self.clock.now())
            .await
            .unwrap();
        let token = format!("vigil_test_{}", uuid::Uuid::new_v4().simple());
        let stored = self
            .store
            .api_token_create(user.id, &TokenHash::of_token(&token), self.clock.now())
            .await
            .unwrap();
        Account {
            user,
            token,
            token_id: stored.id,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request; `body` goes as JSON.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(request).await
    }

    /// Sends a raw body with the given content type.
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        Self::answer(request).await
    }

    pub(crate) async fn answer(request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    pub(crate) async fn get(&self, account: &Account, path: &str) -> Answer {
        self.send(Method::GET, path, Some(&account.token), None)
            .await
    }

    pub(crate) async fn post(&self, account: &Account, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(&account.token), Some(body))
            .await
    }

    pub(crate) async fn put(&self, account: &Account, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(&account.token), Some(body))
            .await
    }

    /// A PENDING market buy of `eur` EUR on `market`, through the API, after putting the market
    /// on the account's allowlist as a user must (a proposal for a market off the allowlist is
    /// refused at creation).
    pub(crate) async fn create_proposal(
        &self,
        account: &Account,
        market: &str,
        eur: &str,
    ) -> ProposalView {
        self.allow(account, market).await;
        self.post(
            account,
            "/api/v1/proposals",
            json!({"market": market, "side": "buy", "amount_quote": eur, "rationale": "test"}),
        )
        .await
        .expect(201)
        .parse()
    }

    /// Approves a proposal through the API.
    pub(crate) async fn approve(&self, account: &Account, id: uuid::Uuid) -> ProposalView {
        self.post(
            account,
            &format!("/api/v1/proposals/{id}/approve"),
            json!({"reason": "looks right"}),
        )
        .await
        .expect(200)
        .parse()
    }

    /// Puts a market on the account's allowlist through the API.
    pub(crate) async fn allow(&self, account: &Account, market: &str) {
        let answer = self
            .post(account, "/api/v1/allowlist", json!({"market": market}))
            .await;
        assert!(
            answer.status == 201 || answer.status == 200,
            "{}",
            answer.text
        );
    }

    /// An approved proposal with a `CLAIMED` execution, made through the store's own
    /// operations (what the executor's claim writes), for tests that need an execution without
    /// an exchange.
    pub(crate) async fn claimed_execution(&self, account: &Account, market: &str) -> Execution {
        let now = self.clock.now();
        let draft = ProposalDraft {
            user_id: account.user.id,
            market: Market::parse(market).unwrap(),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(10)),
            limit_price: None,
            source: ProposalSource::Person(account.user.name.clone()),
            rationale: "fixture".into(),
            ttl: chrono::Duration::hours(1),
        };
        let proposal = Proposal::new(draft, now).unwrap();
        self.store.proposal_insert(&proposal).await.unwrap();
        self.store
            .proposal_transition(
                proposal.id,
                ProposalStatus::Pending,
                ProposalAction::Approve,
                now,
                None,
            )
            .await
            .unwrap();
        let execution = Execution::claimed_for(&proposal, now);
        self.store
            .execution_claim(&execution)
            .await
            .unwrap()
            .execution()
            .clone()
    }

    /// Moves a claimed execution to `SUBMITTING` with an unknown outcome, as the executor does
    /// when the order call times out.
    pub(crate) async fn outcome_unknown(&self, execution: &Execution) -> Execution {
        let now = self.clock.now();
        let submitting = self
            .store
            .execution_transition(
                execution.id,
                ExecutionState::Claimed,
                &ExecutionEvent::SubmitCommitted {
                    signed_at: now,
                    access_window_ms: 5_000,
                    notional: Notional::from_whole(10),
                },
                now,
            )
            .await
            .unwrap();
        self.store
            .execution_transition(
                submitting.id,
                ExecutionState::Submitting,
                &ExecutionEvent::OutcomeUnknown {
                    detail: "timeout (test)".into(),
                },
                now,
            )
            .await
            .unwrap()
    }
}
