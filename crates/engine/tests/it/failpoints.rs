//! The `failpoints` feature, end to end (compiled only with `--features failpoints`): a child
//! process (this test binary, re-run with one test selected) executes a proposal with
//! `VIGIL_FAILPOINT=<step>` and must ABORT at that step; the parent then checks what the
//! database and the simulator's order log hold, and that the reconciler resolves it (I2, I3).
//!
//! The simulator and the database live in the parent, so they outlive the child's abort. The
//! parent and the child sign with the wall clock (the simulator checks access windows against
//! it); the parent's reconciler runs on a `ManualClock` set minutes ahead, so windows and
//! abandon ages have passed for it without sleeping.

use std::{os::unix::process::ExitStatusExt, sync::Arc};

use tokio::process::Command;

use chrono::TimeDelta;
use secrecy::SecretString;
use vigil_bitvavo::{BitvavoClients, ReadOnlyKey, TradeKey};
use vigil_core::{
    proposal::{ProposalAction, ProposalDraft},
    Clock, ExecutionState, ManualClock, Notional, OrderSize, OrderType, Proposal, ProposalId,
    ProposalSource, ProposalStatus, Side, SystemClock, UserId,
};
use vigil_engine::{Executor, ExecutorConfig, Reconciler, ReconcilerConfig, FAILPOINT_VAR};
use vigil_store::{Attribution, BackendKind, Store, StoreOptions};
use vigil_testkit::sim::{SimConfig, SpawnedSim};

use crate::support::{btc, careful_policy, SEED};

const CHILD: &str = "VIGIL_ENGINE_FAILPOINT_CHILD";
const CHILD_TEST: &str = "failpoints::failpoint_child_executes_until_it_aborts";

fn clients(sim_url: &str, clock: Arc<dyn Clock>) -> BitvavoClients {
    let read = ReadOnlyKey::new(
        vigil_sim::DEMO_VIEW_KEY,
        SecretString::from(vigil_sim::DEMO_VIEW_SECRET.to_owned()),
    )
    .unwrap();
    let trade = TradeKey::new(
        vigil_sim::DEMO_TRADE_KEY,
        SecretString::from(vigil_sim::DEMO_TRADE_SECRET.to_owned()),
    )
    .unwrap();
    let mut config = vigil_bitvavo::ClientConfig::new(sim_url, crate::support::OPERATOR);
    // A short window, so the parent's reconciler only has to wait out a short one.
    config.access_window = std::time::Duration::from_millis(500);
    config.request_timeout = std::time::Duration::from_secs(5);
    config.connect_timeout = std::time::Duration::from_secs(2);
    BitvavoClients::new(&config, read, trade, clock).unwrap()
}

/// The child: runs only when the parent sets [`CHILD`]; otherwise it passes at once.
#[tokio::test]
async fn failpoint_child_executes_until_it_aborts() {
    let Ok(db_url) = std::env::var(CHILD) else {
        return;
    };
    let sim_url = std::env::var("VIGIL_ENGINE_FAILPOINT_SIM").unwrap();
    let user = UserId::parse(&std::env::var("VIGIL_ENGINE_FAILPOINT_USER").unwrap()).unwrap();
    let proposal =
        ProposalId::parse(&std::env::var("VIGIL_ENGINE_FAILPOINT_PROPOSAL").unwrap()).unwrap();
    let store = Store::connect(&db_url, StoreOptions::default())
        .await
        .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let clients = clients(&sim_url, Arc::clone(&clock));
    let executor = Executor::new(
        store,
        clients.read_only,
        clients.trading,
        clock,
        ExecutorConfig::default(),
    )
    .unwrap();
    let outcome = executor.execute(user, proposal).await;
    panic!("the failpoint was not honoured: execute returned {outcome:?}");
}

/// Keeps the parent's database alive until the checks are done.
#[derive(Debug)]
enum Db {
    Sqlite(#[allow(dead_code)] vigil_testkit::sqlite::SqliteTestDb),
    Postgres(#[allow(dead_code)] vigil_testkit::pg::PgTestDb),
}

/// A migrated database on `backend` (`None`: PostgreSQL is skipped per testkit's policy).
async fn database(backend: BackendKind) -> Option<(String, Db)> {
    match backend {
        BackendKind::Sqlite => {
            let db = vigil_testkit::sqlite::fresh_database();
            let url = db.url();
            let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
            store.migrate().await.unwrap();
            store.close().await;
            Some((url, Db::Sqlite(db)))
        }
        BackendKind::Postgres => {
            let db = vigil_testkit::pg::fresh_database().await?;
            Some((db.url().to_owned(), Db::Postgres(db)))
        }
    }
}

async fn parent(step: &str, db_url: &str) -> (Store, SpawnedSim, ProposalId) {
    let store = Store::connect(db_url, StoreOptions::default())
        .await
        .unwrap();
    let sim = vigil_testkit::sim::spawn_with(SimConfig::demo(SEED).with_flat_prices()).await;
    let now = SystemClock.now();
    let by = Attribution::new("test", now);
    let user = store.user_create("alice", false, now).await.unwrap();
    store
        .policy_set(
            user.id,
            &careful_policy(),
            &by,
            vigil_store::PolicyLimits::Operator,
        )
        .await
        .unwrap();
    store.allowlist_add(user.id, &btc(), &by).await.unwrap();
    let proposal = Proposal::new(
        ProposalDraft {
            user_id: user.id,
            market: btc(),
            side: Side::Buy,
            order_type: OrderType::Market,
            size: OrderSize::Quote(Notional::from_whole(20)),
            limit_price: None,
            source: ProposalSource::Person("test".into()),
            rationale: "failpoint".into(),
            ttl: TimeDelta::hours(1),
        },
        now,
    )
    .unwrap();
    store.proposal_insert(&proposal).await.unwrap();
    store
        .proposal_transition(
            proposal.id,
            ProposalStatus::Pending,
            ProposalAction::Approve,
            now,
            None,
        )
        .await
        .unwrap();

    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, db_url)
        .env("VIGIL_ENGINE_FAILPOINT_SIM", &sim.base_url)
        .env("VIGIL_ENGINE_FAILPOINT_USER", user.id.to_string())
        .env("VIGIL_ENGINE_FAILPOINT_PROPOSAL", proposal.id.to_string())
        .env(FAILPOINT_VAR, step)
        // Asynchronously: the simulator the child talks to runs on this test's runtime.
        .status()
        .await
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(6),
        "the child must abort (SIGABRT) at {step}, got {status:?}"
    );
    (store, sim, proposal.id)
}

/// A reconciler whose clock is six minutes ahead (so the CLAIMED rows are past their abandon age)
/// and whose margin is one second. It measures the exchange's clock each pass, so for access
/// windows it still sees the simulator's real time: the caller waits the short window out first.
async fn reconcile_ahead(store: &Store, sim: &SpawnedSim) -> vigil_engine::ReconcileReport {
    let ahead = ManualClock::new(SystemClock.now() + TimeDelta::minutes(6));
    let clients = clients(&sim.base_url, Arc::new(ahead.clone()));
    let config = ReconcilerConfig {
        window_margin: std::time::Duration::from_secs(1),
        ..ReconcilerConfig::default()
    };
    Reconciler::new(store.clone(), clients.read_only, Arc::new(ahead), config)
        .unwrap()
        .reconcile_once()
        .await
}

#[tokio::test]
async fn i2_the_process_aborts_at_each_failpoint_and_recovers() {
    for backend in [BackendKind::Sqlite, BackendKind::Postgres] {
        aborts_and_recovers(backend).await;
    }
}

async fn aborts_and_recovers(backend: BackendKind) {
    for (step, left, sent) in [
        ("after_claim", ExecutionState::Claimed, false),
        ("after_preflight", ExecutionState::Claimed, false),
        ("after_submitting", ExecutionState::Submitting, false),
        ("after_send", ExecutionState::Submitting, true),
    ] {
        let Some((db_url, _db)) = database(backend).await else {
            return;
        };
        eprintln!("-- back end {backend:?}, step {step}");
        let (store, sim, proposal) = parent(step, &db_url).await;
        let executions = store
            .execution_list(&vigil_store::ExecutionFilter::default())
            .await
            .unwrap();
        assert_eq!(executions.len(), 1, "{step}");
        let execution = &executions[0];
        assert_eq!(execution.proposal_id, proposal);
        assert_eq!(execution.state, left, "{step}");
        let log = sim.handle.order_log();
        assert_eq!(log.len(), usize::from(sent), "{step}: {log:?}");

        if let Some(signed_at) = execution.signed_at {
            // Wait out the 500 ms window and the 1 s margin on the real clock (a bounded wait for
            // time to pass, not an assertion about how long anything took).
            let closes = signed_at + TimeDelta::milliseconds(1_600);
            let left = (closes - SystemClock.now()).to_std().unwrap_or_default();
            tokio::time::sleep(left).await;
        }
        let report = reconcile_ahead(&store, &sim).await;
        let after = store.execution_get(execution.id).await.unwrap();
        let expected = match step {
            "after_send" => ExecutionState::Filled,
            "after_submitting" => ExecutionState::Failed,
            _ => ExecutionState::Rejected,
        };
        assert_eq!(after.state, expected, "{step}: {report:?}");
        assert_eq!(sim.handle.order_log().len(), usize::from(sent), "{step}");
    }
}
