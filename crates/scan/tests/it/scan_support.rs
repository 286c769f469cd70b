//! Shared setup for the scheduler, strategy and advisor tests: a real store (SQLite file or a
//! fresh PostgreSQL database), the simulator over loopback HTTP sharing one `ManualClock` with
//! the read-only client and the engine, a user, and a small fake OpenAI-compatible server on
//! `127.0.0.1:0` whose replies the test chooses and whose served calls it counts.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, response::IntoResponse, routing::post, Json, Router};
use chrono::DateTime;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use vigil_bitvavo::{ClientConfig, ReadOnlyClient, ReadOnlyKey};
use vigil_core::RecordedAlerts;
use vigil_core::{Clock, ManualClock, Market, Policy, Timestamp, UserId};
use vigil_scan::{
    advisor::{Advisor, AdvisorConfig, ModelPrice, PriceTable},
    Scheduler, SchedulerConfig,
};
use vigil_store::{Attribution, BackendKind, NewScanJob, ScanJob, Store, StoreOptions};
use vigil_testkit::sim::{SimConfig, SpawnedSim};

/// The simulator seed (printed with the back end when a test runs).
pub(crate) const SEED: u64 = 20_261_129;

/// The model name the fake server answers for, and its price.
pub(crate) const MODEL: &str = "fake-gpt";

/// Where the clocks start: a Monday morning, UTC, on a whole minute.
pub(crate) fn start_time() -> Timestamp {
    DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
        .unwrap()
        .to_utc()
}

pub(crate) fn market(text: &str) -> Market {
    Market::parse(text).unwrap()
}

pub(crate) fn usd(text: &str) -> Decimal {
    text.parse().unwrap()
}

enum DbGuard {
    Sqlite(#[allow(dead_code)] vigil_testkit::sqlite::SqliteTestDb),
    Postgres(#[allow(dead_code)] vigil_testkit::pg::PgTestDb),
}

/// One test's world.
pub(crate) struct ScanWorld {
    pub(crate) store: Store,
    /// Kept alive for the test; dropping it stops the simulator.
    _sim: SpawnedSim,
    pub(crate) clock: ManualClock,
    pub(crate) read_only: ReadOnlyClient,
    pub(crate) user: UserId,
    _db: DbGuard,
}

/// Runs `test` on SQLite, then on PostgreSQL unless testkit skips it.
pub(crate) async fn each_backend<F, Fut>(sim: fn() -> SimConfig, test: F)
where
    F: Fn(ScanWorld) -> Fut,
    Fut: Future<Output = ()>,
{
    vigil_testkit::logs::init();
    for backend in [BackendKind::Sqlite, BackendKind::Postgres] {
        let Some(world) = ScanWorld::new(backend, sim()).await else {
            continue;
        };
        eprintln!("-- back end {backend:?}, sim seed {SEED}");
        test(world).await;
    }
}

/// The demo exchange with flat prices.
pub(crate) fn flat_sim() -> SimConfig {
    SimConfig::demo(SEED).with_flat_prices()
}

impl ScanWorld {
    async fn new(backend: BackendKind, sim: SimConfig) -> Option<ScanWorld> {
        let (store, db) = match backend {
            BackendKind::Sqlite => {
                let db = vigil_testkit::sqlite::fresh_database();
                let store = Store::connect(&db.url(), StoreOptions::default())
                    .await
                    .unwrap();
                store.migrate().await.unwrap();
                (store, DbGuard::Sqlite(db))
            }
            BackendKind::Postgres => {
                let db = vigil_testkit::pg::fresh_database().await?;
                let store = db.store(StoreOptions::default()).await;
                (store, DbGuard::Postgres(db))
            }
        };
        let clock = ManualClock::new(start_time());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sim = vigil_testkit::sim::spawn_with(sim.with_clock(Arc::clone(&shared))).await;
        let mut config = ClientConfig::new(sim.base_url.clone(), 78);
        config.request_timeout = Duration::from_secs(5);
        config.connect_timeout = Duration::from_secs(2);
        let key =
            ReadOnlyKey::new(sim.view_key, SecretString::from(sim.view_secret.to_owned())).unwrap();
        let read_only = ReadOnlyClient::new(&config, key, shared).unwrap();
        let user = store
            .user_create("alice", false, start_time())
            .await
            .unwrap();
        Some(ScanWorld {
            store,
            _sim: sim,
            clock,
            read_only,
            user: user.id,
            _db: db,
        })
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::new(self.clock.clone())
    }

    pub(crate) fn ops(&self) -> Attribution {
        Attribution::new("test:ops", self.clock.now())
    }

    pub(crate) async fn set_policy(&self, edit: impl FnOnce(&mut Policy)) {
        let mut policy = Policy {
            trading_enabled: true,
            ..Policy::default()
        };
        edit(&mut policy);
        self.store
            .policy_set(
                self.user,
                &policy,
                &self.ops(),
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
    }

    pub(crate) async fn allow(&self, markets: &[&str]) {
        for m in markets {
            self.store
                .allowlist_add(self.user, &market(m), &self.ops())
                .await
                .unwrap();
        }
    }

    /// A job of this user, due now, validated like `vigil jobs add` does.
    pub(crate) async fn job(
        &self,
        strategy: &str,
        markets: &[&str],
        params: Value,
        interval_seconds: u32,
    ) -> ScanJob {
        let new = NewScanJob {
            user_id: self.user,
            strategy: strategy.into(),
            markets: markets.iter().map(|m| market(m)).collect(),
            params,
            interval_seconds,
            first_run_at: self.clock.now(),
        };
        vigil_scan::strategy::validate_new_job(&new).unwrap();
        self.store.scan_job_create(&new, &self.ops()).await.unwrap()
    }

    /// Test settings: short leases and polls (real tokio time drives them; the ManualClock
    /// drives every lease time, so nothing here depends on how fast the machine is).
    pub(crate) fn scheduler_config(&self, instance: &str) -> SchedulerConfig {
        let mut config = SchedulerConfig::new(instance);
        config.lease_ttl = Duration::from_secs(60);
        config.poll_interval = Duration::from_millis(20);
        config.run_timeout = Duration::from_secs(30);
        config.shutdown_grace = Duration::from_secs(5);
        config
    }

    pub(crate) fn scheduler(&self, instance: &str) -> Scheduler {
        Scheduler::new(
            self.store.clone(),
            self.read_only.clone(),
            self.clock(),
            self.scheduler_config(instance),
        )
        .unwrap()
    }

    /// An advisor asking `llm`, with prompt and completion at `price` USD per 1M tokens each,
    /// `max_tokens` completion tokens, and a 20 s request timeout.
    pub(crate) fn advisor(
        &self,
        llm: &FakeLlm,
        price: &str,
        max_tokens: u32,
        alerts: &RecordedAlerts,
    ) -> Advisor {
        self.advisor_with_timeout(llm, price, max_tokens, alerts, Duration::from_secs(20))
    }

    /// [`ScanWorld::advisor`] with another request timeout.
    pub(crate) fn advisor_with_timeout(
        &self,
        llm: &FakeLlm,
        price: &str,
        max_tokens: u32,
        alerts: &RecordedAlerts,
        request_timeout: Duration,
    ) -> Advisor {
        let prices = PriceTable::new().with(
            MODEL,
            ModelPrice {
                prompt_usd_per_million: usd(price),
                completion_usd_per_million: usd(price),
            },
        );
        let mut config = AdvisorConfig::new(
            llm.base_url.clone(),
            MODEL,
            SecretString::from("sk-test-not-a-secret".to_owned()),
            prices,
        );
        config.max_tokens = max_tokens;
        config.request_timeout = request_timeout;
        config.connect_timeout = request_timeout.min(Duration::from_secs(2));
        Advisor::new(
            self.store.clone(),
            self.read_only.clone(),
            self.clock(),
            &config,
        )
        .unwrap()
        .with_alerts(Arc::new(alerts.clone()))
    }
}

/// How the fake LLM answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A completion whose content is this text, with this usage.
    Content {
        content: String,
        prompt_tokens: u32,
        completion_tokens: u32,
    },
    /// A refusal (OpenAI's `message.refusal`), with usage.
    Refusal(String),
    /// An error status with an error body.
    Status(u16),
    /// A success status with this body as it is (e.g. not a chat completion).
    Body(String),
    /// Never answers (the client's timeout ends the call).
    Hang,
}

impl Reply {
    /// A completion proposing these items (`{"proposals": items}`), 400 + 60 tokens.
    pub(crate) fn proposals(items: Value) -> Reply {
        Reply::Content {
            content: json!({ "proposals": items }).to_string(),
            prompt_tokens: 400,
            completion_tokens: 60,
        }
    }
}

struct FakeState {
    reply: Mutex<Reply>,
    received: AtomicU64,
    served: AtomicU64,
    /// Answers are sent while this is true (the gate is open).
    gate: watch::Sender<bool>,
    arrived: Notify,
    last_request: Mutex<Option<(Value, Option<String>)>>,
}

/// A fake OpenAI-compatible chat-completions server on `127.0.0.1:0`.
pub(crate) struct FakeLlm {
    /// `http://127.0.0.1:PORT/v1`.
    pub(crate) base_url: String,
    state: Arc<FakeState>,
    shutdown: CancellationToken,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn completions(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    state.received.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    *state.last_request.lock().unwrap() = Some((body, auth));
    state.arrived.notify_waiters();
    let mut gate = state.gate.subscribe();
    // Waits while the gate is closed (the state owns the sender, so it cannot close).
    let opened = gate.wait_for(|open| *open).await.is_ok();
    assert!(opened, "the fake LLM's gate closed");
    let reply = state.reply.lock().unwrap().clone();
    let answer = match reply {
        Reply::Content {
            content,
            prompt_tokens,
            completion_tokens,
        } => Json(json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }))
        .into_response(),
        Reply::Refusal(text) => Json(json!({
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": null, "refusal": text}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 12},
        }))
        .into_response(),
        Reply::Status(code) => (
            axum::http::StatusCode::from_u16(code).unwrap(),
            Json(json!({"error": {"message": "the fake says no", "type": "server_error"}})),
        )
            .into_response(),
        Reply::Body(text) => text.into_response(),
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!("pending never completes")
        }
    };
    state.served.fetch_add(1, Ordering::SeqCst);
    answer
}

impl FakeLlm {
    pub(crate) async fn spawn(reply: Reply) -> FakeLlm {
        let state = Arc::new(FakeState {
            reply: Mutex::new(reply),
            received: AtomicU64::new(0),
            served: AtomicU64::new(0),
            gate: watch::channel(true).0,
            arrived: Notify::new(),
            last_request: Mutex::new(None),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .unwrap();
        });
        FakeLlm {
            base_url,
            state,
            shutdown,
        }
    }

    pub(crate) fn set_reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    /// Requests received (answered or not).
    pub(crate) fn received(&self) -> u64 {
        self.state.received.load(Ordering::SeqCst)
    }

    /// Requests answered.
    pub(crate) fn served(&self) -> u64 {
        self.state.served.load(Ordering::SeqCst)
    }

    /// The last request's body and `Authorization` header.
    pub(crate) fn last_request(&self) -> Option<(Value, Option<String>)> {
        self.state.last_request.lock().unwrap().clone()
    }

    /// From now on answers wait for [`FakeLlm::release`].
    pub(crate) fn hold_answers(&self) {
        self.state.gate.send_replace(false);
    }

    /// Lets every waiting answer go (and stops holding new ones).
    pub(crate) fn release(&self) {
        self.state.gate.send_replace(true);
    }

    /// Waits until at least `n` requests have arrived.
    pub(crate) async fn wait_received(&self, n: u64) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while self.received() < n {
                let arrived = self.state.arrived.notified();
                if self.received() >= n {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), arrived).await;
            }
        })
        .await
        .expect("the fake LLM did not receive the expected requests within 30 s");
    }
}

/// Polls `check` until it holds (a generous deadline only guards against a hang; the test
/// asserts the state, never the time it took).
pub(crate) async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
