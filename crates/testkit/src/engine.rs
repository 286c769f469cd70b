//! Shared setup for the engine's production tests: a real store (SQLite file or a fresh
//! PostgreSQL database), the simulator over loopback HTTP sharing one `ManualClock` with the
//! clients and the engine, a user with a careful policy, and helpers that count orders in the
//! SIMULATOR's order log (never in our own tables).

// Test-only harness: a failed unwrap here IS a failed assertion of the test that called it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{future::Future, sync::Arc, time::Duration};

use crate::sim::{SimConfig, SpawnedSim};
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

/// The simulator seed of every test (printed when a test fails, with the back end).
pub const SEED: u64 = 20_261_128;

/// The operatorId the tests' clients send.
pub const OPERATOR: i64 = 77;

/// Where every test's clocks start: a Monday morning, UTC.
pub fn start_time() -> Timestamp {
    DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
        .unwrap()
        .to_utc()
}

/// The market most tests trade.
pub fn btc() -> Market {
    Market::parse("BTC-EUR").unwrap()
}

/// A second market, for tests that need two.
pub fn eth() -> Market {
    Market::parse("ETH-EUR").unwrap()
}

/// Keeps a test database alive as long as the harness.
#[derive(Debug)]
enum DbGuard {
    Sqlite(#[allow(dead_code)] crate::sqlite::SqliteTestDb),
    Postgres(#[allow(dead_code)] crate::pg::PgTestDb),
}

/// One test's world.
#[derive(Debug)]
pub struct Harness {
    /// The store under test (SQLite file or fresh PostgreSQL database).
    pub store: Store,
    /// The simulator, over loopback HTTP.
    pub sim: SpawnedSim,
    /// The clock shared by the engine, the clients and the simulator.
    pub clock: ManualClock,
    /// The read-only and trading clients, with the demo keys.
    pub clients: BitvavoClients,
    /// The executor under test.
    pub executor: Executor,
    /// The reconciler under test.
    pub reconciler: Reconciler,
    /// Every alert the executor and the reconciler raised.
    pub alerts: RecordedAlerts,
    /// The test user (trading on, the careful policy, the allowlist of the setup).
    pub user: UserId,
    _db: DbGuard,
}

/// The policy of the test user: trading on, 25 per order, 100 per day, 5 minutes of cooldown,
/// 60 minutes of anti-flip.
pub fn careful_policy() -> Policy {
    Policy {
        trading_enabled: true,
        ..Policy::default()
    }
}

/// Runs `test` once per back end: SQLite always, PostgreSQL unless testkit skips it.
pub async fn each_backend<F, Fut>(setup: Setup, test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    crate::logs::init();
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
pub struct Setup {
    /// The simulator's configuration.
    pub sim: SimConfig,
    /// The test user's policy.
    pub policy: Policy,
    /// The test user's allowlist.
    pub allowlist: Vec<Market>,
    /// How the clients reach the simulator.
    pub client: fn(&SpawnedSim) -> ClientConfig,
    /// The read-only and trade keys.
    pub keys: fn(&SpawnedSim) -> (ReadOnlyKey, TradeKey),
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
    /// The setup with its policy edited by `edit`.
    pub fn policy(mut self, edit: impl FnOnce(&mut Policy)) -> Setup {
        edit(&mut self.policy);
        self
    }

    /// The setup with `markets` as the allowlist.
    pub fn allowlist(mut self, markets: Vec<Market>) -> Setup {
        self.allowlist = markets;
        self
    }
}

/// Timeouts short enough for tests; the default 10 s access window.
pub fn client_config(sim: &SpawnedSim) -> ClientConfig {
    let mut config = ClientConfig::new(sim.base_url.clone(), OPERATOR);
    config.request_timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config
}

/// The demo account's view-only key for reading and its trade key for orders.
pub fn demo_keys(sim: &SpawnedSim) -> (ReadOnlyKey, TradeKey) {
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
            let db = crate::sqlite::fresh_database();
            let store = Store::connect(&db.url(), StoreOptions::default())
                .await
                .unwrap();
            store.migrate().await.unwrap();
            Some((store, DbGuard::Sqlite(db)))
        }
        BackendKind::Postgres => {
            let db = crate::pg::fresh_database().await?;
            let store = db.store(StoreOptions::default()).await;
            Some((store, DbGuard::Postgres(db)))
        }
    }
}

impl Harness {
    /// A new world on `backend`; `None` when that back end is skipped (PostgreSQL unreachable
    /// outside CI).
    pub async fn new(backend: BackendKind, setup: Setup) -> Option<Harness> {
        let (store, db) = connect(backend).await?;
        let clock = ManualClock::new(start_time());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let sim = crate::sim::spawn_with(setup.sim.clone().with_clock(Arc::clone(&shared))).await;
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
        store
            .policy_set(
                user.id,
                &setup.policy,
                &by,
                vigil_store::PolicyLimits::Operator,
            )
            .await
            .unwrap();
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

    /// The shared clock's time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the shared clock (engine, clients and simulator) by `by`.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
        self.sim.handle.settle();
    }

    /// An approved proposal of this user (through the production constructor).
    pub async fn approved(&self, spec: Spec) -> ProposalId {
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
    pub fn orders(&self) -> Vec<OrderLogEntry> {
        self.sim.handle.order_log()
    }

    /// How many orders with this clientOrderId the simulator accepted.
    pub fn orders_for(&self, client_order_id: ClientOrderId) -> usize {
        let wanted = client_order_id.to_string();
        self.orders()
            .iter()
            .filter(|o| o.client_order_id.as_deref() == Some(wanted.as_str()))
            .count()
    }

    /// The execution of `proposal` (panics when there is none).
    pub async fn execution(&self, proposal: ProposalId) -> Execution {
        self.store
            .execution_get_by_proposal(self.user, proposal)
            .await
            .unwrap()
            .unwrap()
    }

    /// Turns a kill switch on or off as the operator.
    pub async fn kill(&self, scope: KillSwitchScope, on: bool) {
        let by = Attribution::new("test", self.now());
        self.store
            .kill_switch_set(scope, on, &by, vigil_store::Authority::Admin)
            .await
            .unwrap();
    }

    /// Executions of this user in `state`.
    pub async fn in_state(&self, state: ExecutionState) -> Vec<Execution> {
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
    pub fn executor_with(&self, hooks: Arc<dyn StepHooks>) -> Executor {
        self.executor.clone().with_hooks(hooks)
    }
}

/// What a test proposal looks like: a quote-sized market order.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The market.
    pub market: Market,
    /// Buy or sell.
    pub side: Side,
    /// The order's notional, in whole EUR.
    pub eur: u32,
    /// How long the proposal stays valid.
    pub ttl: TimeDelta,
    /// Whose proposal (the harness user when `None`).
    pub user: Option<UserId>,
    /// A limit order of (base amount, price) instead of a quote-sized market order.
    pub limit: Option<(Decimal, Decimal)>,
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
    /// The proposal with `eur` EUR of notional.
    pub fn eur(mut self, eur: u32) -> Spec {
        self.eur = eur;
        self
    }

    /// The proposal on `side`.
    pub fn side(mut self, side: Side) -> Spec {
        self.side = side;
        self
    }

    /// The proposal on `market`.
    pub fn market(mut self, market: Market) -> Spec {
        self.market = market;
        self
    }

    /// A limit order of `amount` at `price` instead of a market order.
    pub fn limit(mut self, amount: Decimal, price: Decimal) -> Spec {
        self.limit = Some((amount, price));
        self
    }

    /// The proposal valid for `ttl`.
    pub fn ttl(mut self, ttl: TimeDelta) -> Spec {
        self.ttl = ttl;
        self
    }
}

/// A hook that stops at one step until the test says go, so the test can change the world
/// (kill switch, clock) while the execution waits there.
#[derive(Debug)]
pub struct PauseAt {
    step: Step,
    reached: Notify,
    resume: Notify,
}

impl PauseAt {
    /// A pause at `step`, to be released by the test.
    pub fn new(step: Step) -> Arc<PauseAt> {
        Arc::new(PauseAt {
            step,
            reached: Notify::new(),
            resume: Notify::new(),
        })
    }

    /// Waits until the execution is paused at the step.
    pub async fn reached(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.reached.notified())
            .await
            .expect("the execution never reached the pause");
    }

    /// Lets the execution go on.
    pub fn resume(&self) {
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
pub struct CrashAt(pub Step);

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
pub fn order_notional(order: &OrderLogEntry) -> Decimal {
    order
        .amount_quote
        .or_else(|| order.amount.zip(order.price).map(|(a, p)| a * p))
        .unwrap_or(order.filled_amount_quote)
}
