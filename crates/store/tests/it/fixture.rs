//! Fixtures: a fresh store per test on either back end, and data built through the production
//! constructors (`Proposal::new`, the store's own operations), never by writing rows by hand.

use chrono::{DateTime, Duration};
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Execution, ExecutionEvent, Market, Notional, OrderSize, OrderType, Proposal, ProposalSource,
    ProposalStatus, Side, Timestamp,
};
use vigil_store::{Store, StoreOptions, User};
use vigil_testkit::{backends::BackendKind, pg, sqlite};

/// A store on a database that lives as long as this value.
pub(crate) struct TestDb {
    pub(crate) store: Store,
    sqlite: Option<sqlite::SqliteTestDb>,
    postgres: Option<pg::PgTestDb>,
}

impl TestDb {
    /// Runs one contract test on a fresh store on `backend`, then closes the store: the runner
    /// of the store's `vigil_testkit::backend_tests!` suites. Without a reachable PostgreSQL
    /// (outside CI) the PostgreSQL run is skipped.
    pub(crate) async fn run(backend: BackendKind, test: impl AsyncFnOnce(Store)) {
        let db = match backend {
            BackendKind::Sqlite => TestDb::sqlite().await,
            BackendKind::Postgres => {
                let Some(db) = TestDb::postgres().await else {
                    return;
                };
                db
            }
        };
        test(db.store.clone()).await;
        db.store.close().await;
    }

    pub(crate) async fn sqlite() -> TestDb {
        Self::sqlite_with(StoreOptions::default()).await
    }

    pub(crate) async fn sqlite_with(options: StoreOptions) -> TestDb {
        vigil_testkit::logs::init();
        let db = sqlite::fresh_database();
        let store = Store::connect(&db.url(), options).await.unwrap();
        store.migrate().await.unwrap();
        TestDb {
            store,
            sqlite: Some(db),
            postgres: None,
        }
    }

    /// The SQLite file (SQLite stores only).
    pub(crate) fn sqlite_path(&self) -> &std::path::Path {
        self.sqlite.as_ref().unwrap().path()
    }

    /// The PostgreSQL database URL (PostgreSQL stores only).
    pub(crate) fn postgres_url(&self) -> &str {
        self.postgres.as_ref().unwrap().url()
    }

    pub(crate) async fn postgres() -> Option<TestDb> {
        vigil_testkit::logs::init();
        let db = pg::fresh_database().await?;
        let store = db.store(StoreOptions::default()).await;
        // The template is migrated; migrating again must be a no-op.
        store.migrate().await.unwrap();
        Some(TestDb {
            store,
            sqlite: None,
            postgres: Some(db),
        })
    }
}

/// A fixed start time (whole seconds, so nothing depends on sub-microsecond rounding).
pub(crate) fn t0() -> Timestamp {
    DateTime::from_timestamp(1_705_312_800, 0).unwrap() // 2024-01-15T10:00:00Z
}

pub(crate) fn market(text: &str) -> Market {
    Market::parse(text).unwrap()
}

pub(crate) fn eur(units: u32) -> Notional {
    Notional::from_whole(units)
}

pub(crate) async fn user(store: &Store, name: &str) -> User {
    store.user_create(name, false, t0()).await.unwrap()
}

/// A market-order proposal sized in EUR, stored and approved.
pub(crate) async fn approved_proposal(
    store: &Store,
    user: &User,
    market_text: &str,
    side: Side,
    at: Timestamp,
) -> Proposal {
    let draft = ProposalDraft {
        user_id: user.id,
        market: market(market_text),
        side,
        order_type: OrderType::Market,
        size: OrderSize::Quote(eur(10)),
        limit_price: None,
        source: ProposalSource::Person(user.name.clone()),
        rationale: "fixture".into(),
        ttl: Duration::hours(1),
    };
    let proposal = Proposal::new(draft, at).unwrap();
    store.proposal_insert(&proposal).await.unwrap();
    store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Pending,
            ProposalAction::Approve,
            at,
            None,
        )
        .await
        .unwrap()
}

/// A fresh `CLAIMED` execution for a proposal, as the executor would build it.
pub(crate) fn execution_for(proposal: &Proposal, at: Timestamp) -> Execution {
    Execution::claimed_for(proposal, at)
}

/// Stores an approved proposal and claims it.
pub(crate) async fn claimed(
    store: &Store,
    user: &User,
    market_text: &str,
    side: Side,
    at: Timestamp,
) -> Execution {
    let proposal = approved_proposal(store, user, market_text, side, at).await;
    let execution = execution_for(&proposal, at);
    match store.execution_claim(&execution).await.unwrap() {
        vigil_store::ClaimOutcome::Claimed(e) => e,
        other => panic!("fresh proposal already claimed: {other:?}"),
    }
}

pub(crate) fn submit(at: Timestamp, notional: Notional) -> ExecutionEvent {
    ExecutionEvent::SubmitCommitted {
        signed_at: at,
        access_window_ms: 5_000,
        notional,
    }
}
