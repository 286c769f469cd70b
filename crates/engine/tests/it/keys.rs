//! I10, the two keys: the executor cannot be built with one API key for both clients; orders in
//! the simulator's log carry the trade key only; balances and market data are read with the
//! read-only key. The last point is proven by a simulator whose trade key has ONLY the Trade
//! permission and whose read-only key has only View: a balance read with the trade key would be
//! refused (311) and an order with the read-only key would be refused (310), so an execution that
//! succeeds used each key for its own job.

use std::sync::Arc;

use rust_decimal_macros::dec;
use secrecy::SecretString;
use vigil_bitvavo::{ReadOnlyClient, ReadOnlyKey};
use vigil_core::Clock;
use vigil_engine::{ExecutionOutcome, Executor, ExecutorBuildError, ExecutorConfig};
use vigil_sim::{AccountConfig, KeyConfig, Permission, DEMO_ACCOUNT};
use vigil_testkit::sim::SimConfig;

use crate::support::{client_config, each_backend, Setup, Spec, SEED};

fn split_permission_sim() -> SimConfig {
    let account = AccountConfig::new(DEMO_ACCOUNT)
        .with_balance("EUR", dec!(1000))
        .with_balance("BTC", dec!(0.05))
        .with_key(KeyConfig::new(
            vigil_sim::DEMO_TRADE_KEY,
            vigil_sim::DEMO_TRADE_SECRET,
            &[Permission::Trade],
        ))
        .with_key(KeyConfig::new(
            vigil_sim::DEMO_VIEW_KEY,
            vigil_sim::DEMO_VIEW_SECRET,
            &[Permission::View],
        ));
    SimConfig::demo(SEED)
        .with_flat_prices()
        .with_accounts(vec![account])
}

#[tokio::test]
async fn i10_reads_use_the_read_only_key_and_orders_the_trade_key() {
    let setup = Setup {
        sim: split_permission_sim(),
        ..Setup::default()
    };
    each_backend(setup, |h| async move {
        let proposal = h.approved(Spec::default()).await;
        let outcome = h.executor.execute(h.user, proposal).await.unwrap();
        assert!(
            matches!(outcome, ExecutionOutcome::Placed(_)),
            "{outcome:?}"
        );
        assert!(h.sim.handle.request_count("GET /v2/balance") >= 1);
        let orders = h.orders();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].api_key, vigil_sim::DEMO_TRADE_KEY);
        // The reconciler (read-only key only) follows the order with a View-only key.
        let report = h.reconciler.reconcile_once().await;
        assert!(report.problems.is_empty(), "{report:?}");
        assert_eq!(report.filled.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn i10_the_executor_refuses_one_key_for_both_clients() {
    each_backend(Setup::default(), |h| async move {
        // A read-only client built from the TRADE key's credentials.
        let same = ReadOnlyKey::new(
            h.sim.trade_key,
            SecretString::from(h.sim.trade_secret.to_owned()),
        )
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(h.clock.clone());
        let read_only =
            ReadOnlyClient::new(&client_config(&h.sim), same, Arc::clone(&clock)).unwrap();
        let err = Executor::new(
            h.store.clone(),
            read_only,
            h.clients.trading.clone(),
            clock,
            ExecutorConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err, ExecutorBuildError::SameKey);
        assert!(err.to_string().contains("I10"), "{err}");
    })
    .await;
}
