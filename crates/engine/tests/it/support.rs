//! Shared setup for the engine's production tests: a real store (SQLite file or a fresh
//! PostgreSQL database), the simulator over loopback HTTP sharing one `ManualClock` with the
//! clients and the engine, a user with a careful policy, and helpers that count orders in the
//! SIMULATOR's order log (never in our own tables).

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta};
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio::sync::Notify;
use vigil_bitvavo::{BitvavoClients, ClientConfig, ReadOnlyKey, TradeKey};
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    ClientOrderId, Clock, Execution, ExecutionState, ManualClock, Market, Notional, OrderSize,
    OrderType, Policy, Proposal, ProposalId, ProposalSource, ProposalStatus, Side, Timestamp,
    UserId,
};
use vigil_engine::{
    Executor, ExecutorConfig, HookAction, Reconciler, ReconcilerConfig, RecordedAlerts, Step,
    StepHooks,
};
use vigil_sim::OrderLogEntry;
use vigil_store::{Attribution, BackendKind, KillSwitchScope, Store, StoreOptions};
use vigil_testkit::sim::{SimConfig, SpawnedSim};

/// The simulator seed of every test (printed when a test fails, with the back end).
pub(crate) const SEED: u64 = 20_261_128;

/// The operatorId the tests' clients send.
pub(crate) const OPERATOR: i64 = 77;

/// Where every test's clocks start: a Monday morning, UTC.
pub(crate) fn start_time() -> Timestamp {
    DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
        .unwrap()
        .to_utc()
}

pub(crate) fn btc() -> Market {
    Market::parse("BTC-EUR").unwrap()
}

pub(crate) fn eth() -> Market {
    Market::parse("ETH-EUR").unwrap()
}

/// Keeps a test database alive as long as the harness.
#[derive(Debug)]
enum DbGuard {
    Sqlite(#[allow(dead_code)] vigil_testkit::sqlite::SqliteTestDb),
    Postgres(#[allow(dead_code)] vigil_testkit::pg::PgTestDb),
}

/// One test's world.
#[derive(Debug)]
pub(crate) struct Harness {
    pub(crate) store: Store,
    pub(crate) sim: SpawnedSim,
    pub(crate) clock: ManualClock,
    pub(crate) clients: BitvavoClients,
    pub(crate) executor: Executor,
    pub(crate) reconciler: Reconciler,
    pub(crate) alerts: RecordedAlerts,
    pub(crate) user: UserId,
    _db: DbGuard,
}

/// The policy of the test user: trading on, 25 per order, 100 per day, 5 minutes of cooldown,
/// 60 minutes of anti-flip.
pub(crate) fn careful_policy() -> Policy {
    Policy {
        trading_enabled: true,
        ..Policy::default()
    }
}

/// Runs `test` once per back end: SQLite always, PostgreSQL unless testkit skips it.
pub(crate) async fn each_backend<F, Fut>(setup: Setup, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    vigil_testkit::logs::init();
    for backend in [BackendKind::Sqlite, BackendKind::Postgres] {
        let Some(harness) = Harness::new(backend, setup.clone()).await else {
            continue;
        };
        eprintln!("-- back end {backend:?}, sim seed {SEED}");
        test(harness).await;
    }
}

/// What a harness starts with.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) sim: SimConfig,
    pub(crate) policy: Policy,
    pub(crate) allowlist: Vec<Market>,
    pub(crate) client: fn(&SpawnedSim) -> ClientConfig,
    pub(crate) keys: fn(&SpawnedSim) -> (ReadOnlyKey, TradeKey),
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            sim: SimConfig::demo(SEED).with_flat_prices(),
            policy: careful_policy(),
            allowlist: vec![btc()],
            client: client_config,
            keys: demo_keys,
        }
    }
}

impl Setup {
    pub(crate) fn policy(mut self, edit: impl FnOnce(&mut Policy)) -> Setup {
        edit(&mut self.policy);
        self
    }

    pub(crate) fn allowlist(mut self, markets: Vec<Market>) -> Setup {
        self.allowlist = markets;
        self
    }
}

/// Timeouts short enough for tests; the default 10 s access window.
pub(crate) fn client_config(sim: &SpawnedSim) -> ClientConfig {
    let mut config = ClientConfig::new(sim.base_url.clone(), OPERATOR);
    config.request_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// The demo account's view-only key for reading and its trade key for orders.
pub(crate) fn demo_keys(sim: &SpawnedSim) -> (ReadOnlyKey, TradeKey) {
    (
        ReadOnlyKey::new(sim.view_key, SecretString::from(sim.view_secret.to_owned())).unwrap(),
        TradeKey::new(
            sim.trade_key,
            SecretString::from(sim.trade_secret.to_owned()),
        )
        .unwrap(),
    )
}

async fn connect(backend: BackendKind) -> Option<(Store, DbGuard)> {
    match backend {
        BackendKind::Sqlite => {
            let db = vigil_testkit::sqlite::fresh_database();
            let store = Store::connect(&db.url(), StoreOptions::default())
                .await
                .unwrap();
            store.migrate().await.unwrap();
            Some((store, DbGuard::Sqlite(db)))
        }
        BackendKind::Postgres => {
            let db = vigil_testkit::pg::fresh_database().await?;
            let store = db.store(StoreOptions::default()).await;
            Some((store, DbGuard::Postgres(db)))
        }
    }
}

impl Harness {
    pub(crate) async fn new(backend: BackendKind, setup: Setup) -> Option<Harness> {
        let (store, db) = connect(backend).await?;
        let clock = ManualClock::new(start_time());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sim =
            vigil_testkit::sim::spawn_with(setup.sim.clone().with_clock(Arc::clone(&shared))).await;
        let (read, trade) = (setup.keys)(&sim);
        let clients =
            BitvavoClients::new(&(setup.client)(&sim), read, trade, Arc::clone(&shared)).unwrap();
        let alerts = RecordedAlerts::new();
        let executor = Executor::new(
            store.clone(),
            clients.read_only.clone(),
            clients.trading.clone(),
            Arc::clone(&shared),
            ExecutorConfig::default(),
        )
        .unwrap()
        .with_alerts(Arc::new(alerts.clone()));
        let reconciler = Reconciler::new(
            store.clone(),
            clients.read_only.clone(),
            Arc::clone(&shared),
            ReconcilerConfig::default(),
        )
        .unwrap()
        .with_alerts(Arc::new(alerts.clone()));
        let by = Attribution::new("test", clock.now());
        let user = store
            .user_create("alice", false, clock.now())
            .await
            .unwrap();
        store.policy_set(user.id, &setup.policy, &by).await.unwrap();
        for market in &setup.allowlist {
            store.allowlist_add(user.id, market, &by).await.unwrap();
        }
        Some(Harness {
            store,
            sim,
            clock,
            clients,
            executor,
            reconciler,
            alerts,
            user: user.id,
            _db: db,
        })
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(crate) fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
        self.sim.handle.settle();
    }

    /// An approved proposal of this user (through the production constructor).
    pub(crate) async fn approved(&self, spec: Spec) -> ProposalId {
        let proposal = Proposal::new(
            ProposalDraft {
                user_id: spec.user.unwrap_or(self.user),
                market: spec.market,
                side: spec.side,
                order_type: if spec.limit.is_some() {
                    OrderType::Limit
                } else {
                    OrderType::Market
                },
                size: match spec.limit {
                    Some((amount, _)) => {
                        OrderSize::Base(vigil_core::Quantity::positive("amount", amount).unwrap())
                    }
                    None => OrderSize::Quote(Notional::from_whole(spec.eur)),
                },
                limit_price: spec
                    .limit
                    .map(|(_, price)| vigil_core::Price::positive("price", price).unwrap()),
                source: ProposalSource::Person("test".into()),
                rationale: "engine test".into(),
                ttl: spec.ttl,
            },
            self.now(),
        )
        .unwrap();
        self.store.proposal_insert(&proposal).await.unwrap();
        self.store
            .proposal_transition(
                proposal.id,
                ProposalStatus::Pending,
                ProposalAction::Approve,
                self.now(),
                None,
            )
            .await
            .unwrap();
        proposal.id
    }

    /// Every order the simulator accepted, from its admin log.
    pub(crate) fn orders(&self) -> Vec<OrderLogEntry> {
        self.sim.handle.order_log()
    }

    /// How many orders with this clientOrderId the simulator accepted.
    pub(crate) fn orders_for(&self, client_order_id: ClientOrderId) -> usize {
        let wanted = client_order_id.to_string();
        self.orders()
            .iter()
            .filter(|o| o.client_order_id.as_deref() == Some(wanted.as_str()))
            .count()
    }

    pub(crate) async fn execution(&self, proposal: ProposalId) -> Execution {
        self.store
            .execution_get_by_proposal(self.user, proposal)
            .await
            .unwrap()
            .unwrap()
    }

    pub(crate) async fn kill(&self, scope: KillSwitchScope, on: bool) {
        let by = Attribution::new("test", self.now());
        self.store.kill_switch_set(scope, on, &by).await.unwrap();
    }

    /// Executions of this user in `state`.
    pub(crate) async fn in_state(&self, state: ExecutionState) -> Vec<Execution> {
        self.store
            .execution_list(&vigil_store::ExecutionFilter {
                user: Some(self.user),
                state: Some(state),
                ..vigil_store::ExecutionFilter::default()
            })
            .await
            .unwrap()
    }

    /// The same executor with step hooks.
    pub(crate) fn executor_with(&self, hooks: Arc<dyn StepHooks>) -> Executor {
        self.executor.clone().with_hooks(hooks)
    }
}

/// What a test proposal looks like: a quote-sized market order.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) market: Market,
    pub(crate) side: Side,
    pub(crate) eur: u32,
    pub(crate) ttl: TimeDelta,
    pub(crate) user: Option<UserId>,
    /// A limit order of (base amount, price) instead of a quote-sized market order.
    pub(crate) limit: Option<(Decimal, Decimal)>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            market: btc(),
            side: Side::Buy,
            eur: 20,
            ttl: TimeDelta::hours(1),
            user: None,
            limit: None,
        }
    }
}

impl Spec {
    pub(crate) fn eur(mut self, eur: u32) -> Spec {
        self.eur = eur;
        self
    }

    pub(crate) fn side(mut self, side: Side) -> Spec {
        self.side = side;
        self
    }

    pub(crate) fn market(mut self, market: Market) -> Spec {
        self.market = market;
        self
    }

    pub(crate) fn limit(mut self, amount: Decimal, price: Decimal) -> Spec {
        self.limit = Some((amount, price));
        self
    }

    pub(crate) fn ttl(mut self, ttl: TimeDelta) -> Spec {
        self.ttl = ttl;
        self
    }
}

/// A hook that stops at one step until the test says go, so the test can change the world
/// (kill switch, clock) while the execution waits there.
#[derive(Debug)]
pub(crate) struct PauseAt {
    step: Step,
    reached: Notify,
    resume: Notify,
}

impl PauseAt {
    pub(crate) fn new(step: Step) -> Arc<PauseAt> {
        Arc::new(PauseAt {
            step,
            reached: Notify::new(),
            resume: Notify::new(),
        })
    }

    /// Waits until the execution is paused at the step.
    pub(crate) async fn reached(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.reached.notified())
            .await
            .expect("the execution never reached the pause");
    }

    /// Lets the execution go on.
    pub(crate) fn resume(&self) {
        self.resume.notify_one();
    }
}

impl StepHooks for PauseAt {
    fn at<'a>(&'a self, step: Step, _execution: &'a Execution) -> BoxFuture<'a, HookAction> {
        Box::pin(async move {
            if step == self.step {
                self.reached.notify_one();
                self.resume.notified().await;
            }
            HookAction::Continue
        })
    }
}

/// A hook that "crashes" the execution at one step: `execute` returns there and writes
/// nothing more, as if the process had died.
#[derive(Debug)]
pub(crate) struct CrashAt(pub(crate) Step);

impl StepHooks for CrashAt {
    fn at<'a>(&'a self, step: Step, _execution: &'a Execution) -> BoxFuture<'a, HookAction> {
        let action = if step == self.0 {
            HookAction::Crash
        } else {
            HookAction::Continue
        };
        Box::pin(std::future::ready(action))
    }
}

/// Sums the quote notional of orders in the log (amountQuote, or amount × price when known).
pub(crate) fn order_notional(order: &OrderLogEntry) -> Decimal {
    order
        .amount_quote
        .or_else(|| order.amount.zip(order.price).map(|(a, p)| a * p))
        .unwrap_or(order.filled_amount_quote)
}
