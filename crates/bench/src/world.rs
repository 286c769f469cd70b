//! One benchmark world per back end: a fresh database (testkit: a PostgreSQL template clone or
//! a SQLite temp file), the simulator in-process on loopback with flat prices, zero added
//! latency, a funded demo account and a rate limit out of the way, the two Bitvavo clients,
//! and an executor on the wall clock. Users get a permissive policy (cooldown 0, anti-flip 0,
//! large caps) and BTC-EUR on their allowlist, so every execution is meant to place an order.

use std::{sync::Arc, time::Duration};

use chrono::TimeDelta;
use rust_decimal::Decimal;
use secrecy::SecretString;
use vigil_bitvavo::{BitvavoClients, ClientConfig, ReadOnlyKey, TradeKey};
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Clock, Market, Notional, OrderSize, OrderType, Policy, Proposal, ProposalId, ProposalSource,
    ProposalStatus, Side, SystemClock, Timestamp, UserId,
};
use vigil_engine::{Executor, ExecutorConfig, Reconciler, ReconcilerConfig};
use vigil_store::{Attribution, BackendKind, Store, StoreOptions};
use vigil_testkit::sim::{SimConfig, SpawnedSim};

use crate::error::{BenchError, During};

/// The simulator's seed (the bench's only randomness is the simulator's).
pub(crate) const SEED: u64 = 7;
/// The operatorId the bench's clients send.
const OPERATOR: i64 = 7;
/// Connections in the store's pool (the largest concurrency the bench drives).
pub(crate) const POOL_SIZE: u32 = 32;
/// Each order's size in EUR (above the demo markets' minimum).
pub(crate) const ORDER_EUR: u32 = 10;

/// Keeps a database alive as long as the world.
#[derive(Debug)]
enum DbGuard {
    Sqlite(#[allow(dead_code)] vigil_testkit::sqlite::SqliteTestDb),
    Postgres(#[allow(dead_code)] vigil_testkit::pg::PgTestDb),
}

/// Everything one back end's benchmarks run against.
#[derive(Debug)]
pub(crate) struct World {
    /// The store under test.
    pub(crate) store: Store,
    /// The database URL (for the bare pools).
    pub(crate) url: String,
    /// The simulator.
    pub(crate) sim: SpawnedSim,
    /// The clients, sharing the wall clock.
    pub(crate) clients: BitvavoClients,
    /// The executor under test.
    pub(crate) executor: Executor,
    /// A reconciler, as `vigil run` has beside its executor (it moves filled orders on from
    /// `SUBMITTED`, which keeps the in-flight list the guards read short).
    pub(crate) reconciler: Reconciler,
    /// The wall clock.
    pub(crate) clock: Arc<dyn Clock>,
    _db: DbGuard,
}

/// BTC-EUR, the market every execution trades.
pub(crate) fn btc() -> Market {
    // A constant that parses; the fallback never runs but keeps `expect` out.
    Market::parse("BTC-EUR").unwrap_or_else(|_| unreachable!("BTC-EUR is a market"))
}

/// The permissive policy of bench users.
fn policy() -> Policy {
    Policy {
        trading_enabled: true,
        order_notional_max: Notional::from_whole(1_000_000),
        daily_notional_max: Notional::from_whole(1_000_000_000),
        cooldown_minutes: 0,
        anti_flip_minutes: 0,
        ..Policy::default()
    }
}

impl World {
    /// A world on `backend`, or `None` when PostgreSQL is unreachable (testkit prints why).
    ///
    /// # Errors
    /// When the store, simulator or clients cannot be set up.
    pub(crate) async fn new(backend: BackendKind) -> Result<Option<World>, BenchError> {
        let options = StoreOptions {
            max_connections: POOL_SIZE,
            acquire_timeout: Duration::from_secs(120),
            sqlite_busy_timeout: Duration::from_secs(30),
            ..StoreOptions::default()
        };
        let (store, url, db) = match backend {
            BackendKind::Sqlite => {
                let db = vigil_testkit::sqlite::fresh_database();
                let url = db.url();
                let store = Store::connect(&url, options)
                    .await
                    .during("opening SQLite")?;
                store.migrate().await.during("migrating SQLite")?;
                (store, url, DbGuard::Sqlite(db))
            }
            BackendKind::Postgres => {
                let Some(db) = vigil_testkit::pg::fresh_database().await else {
                    return Ok(None);
                };
                let url = db.url().to_owned();
                let store = db.store(options).await;
                (store, url, DbGuard::Postgres(db))
            }
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut config = SimConfig::demo(SEED)
            .with_flat_prices()
            .with_rate_limit(1_000_000_000)
            .with_clock(Arc::clone(&clock));
        for account in &mut config.accounts {
            account
                .balances
                .insert("EUR".into(), Decimal::new(1_000_000_000_000, 0));
        }
        let sim = vigil_testkit::sim::spawn_with(config).await;
        let mut client = ClientConfig::new(sim.base_url.clone(), OPERATOR);
        client.request_timeout = Duration::from_secs(30);
        let read = ReadOnlyKey::new(sim.view_key, SecretString::from(sim.view_secret.to_owned()))
            .during("the simulator's view key")?;
        let trade = TradeKey::new(
            sim.trade_key,
            SecretString::from(sim.trade_secret.to_owned()),
        )
        .during("the simulator's trade key")?;
        let clients =
            BitvavoClients::new(&client, read, trade, Arc::clone(&clock)).during("the clients")?;
        let executor = Executor::new(
            store.clone(),
            clients.read_only.clone(),
            clients.trading.clone(),
            Arc::clone(&clock),
            ExecutorConfig::default(),
        )
        .during("building the executor")?;
        let reconciler = Reconciler::new(
            store.clone(),
            clients.read_only.clone(),
            Arc::clone(&clock),
            ReconcilerConfig::default(),
        )
        .during("building the reconciler")?;
        Ok(Some(World {
            reconciler,
            store,
            url,
            sim,
            clients,
            executor,
            clock,
            _db: db,
        }))
    }

    /// Now, on the wall clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A user with the permissive policy and BTC-EUR allowlisted.
    ///
    /// # Errors
    /// A store error.
    pub(crate) async fn user(&self, name: &str) -> Result<UserId, BenchError> {
        let by = Attribution::new("bench", self.now());
        let user = self
            .store
            .user_create(name, false, self.now())
            .await
            .during("creating a user")?;
        self.store
            .policy_set(user.id, &policy(), &by, vigil_store::PolicyLimits::Operator)
            .await
            .during("setting the policy")?;
        self.store
            .allowlist_add(user.id, &btc(), &by)
            .await
            .during("allowlisting BTC-EUR")?;
        Ok(user.id)
    }

    /// An approved BTC-EUR market buy of [`ORDER_EUR`] for `user`, through the production
    /// constructor and the store's own transitions.
    ///
    /// # Errors
    /// A store or validation error.
    pub(crate) async fn approved(&self, user: UserId) -> Result<ProposalId, BenchError> {
        let proposal = Proposal::new(
            ProposalDraft {
                user_id: user,
                market: btc(),
                side: Side::Buy,
                order_type: OrderType::Market,
                size: OrderSize::Quote(Notional::from_whole(ORDER_EUR)),
                limit_price: None,
                source: ProposalSource::Person("bench".into()),
                rationale: "benchmark".into(),
                ttl: TimeDelta::hours(1),
            },
            self.now(),
        )
        .map_err(|problems| BenchError::Step {
            during: "building a proposal".into(),
            detail: format!("{problems:?}"),
        })?;
        self.store
            .proposal_insert(&proposal)
            .await
            .during("inserting a proposal")?;
        self.store
            .proposal_transition(
                proposal.id,
                ProposalStatus::Pending,
                ProposalAction::Approve,
                self.now(),
                None,
            )
            .await
            .during("approving a proposal")?;
        Ok(proposal.id)
    }
}
