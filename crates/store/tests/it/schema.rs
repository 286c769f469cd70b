//! What the schemas themselves guarantee: durability settings, named constraints, append-only
//! history enforced by the database (not only by the absence of code), and exact money.

use std::str::FromStr;

use chrono::Duration;
use rust_decimal::Decimal;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use vigil_core::{
    proposal::ProposalDraft, Asset, ExecutionState, Notional, OrderSize, OrderType, Price,
    Proposal, ProposalSource, Quantity, Side,
};
use vigil_store::{Attribution, DurabilitySettings, Fill, KillSwitchScope, Store};

use crate::fixture::{claimed, market, submit, t0, user, TestDb};

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    money_round_trips_exactly,
    fills_are_recorded_once_per_market_and_fill_id,
);

async fn money_round_trips_exactly(store: Store) {
    let alice = user(&store, "alice").await;
    let point_three = Decimal::from_str("0.1").unwrap() + Decimal::from_str("0.2").unwrap();
    // 28 decimal digits: the most rust_decimal holds; a float would have lost most of them.
    let fine = Decimal::from_str("0.1234567890123456789012345678").unwrap();
    let draft = ProposalDraft {
        user_id: alice.id,
        market: market("BTC-EUR"),
        side: Side::Buy,
        order_type: OrderType::Limit,
        size: OrderSize::Base(Quantity::positive("amount", point_three).unwrap()),
        limit_price: Some(Price::positive("limit_price", fine).unwrap()),
        source: ProposalSource::Person("alice".into()),
        rationale: "exact".into(),
        ttl: Duration::hours(1),
    };
    let proposal = Proposal::new(draft, t0()).unwrap();
    store.proposal_insert(&proposal).await.unwrap();
    let back = store.proposal_get(proposal.id).await.unwrap();
    assert_eq!(back, proposal);
    let OrderSize::Base(quantity) = back.size else {
        panic!("size kind changed");
    };
    assert_eq!(quantity.value().to_string(), "0.3", "0.1 + 0.2 stays 0.3");
    assert_eq!(
        back.limit_price.unwrap().value().to_string(),
        "0.1234567890123456789012345678"
    );

    // And through an execution's notional (set with SUBMITTING).
    let execution = claimed(&store, &alice, "ETH-EUR", Side::Buy, t0()).await;
    let notional = Notional::positive(
        "n",
        Decimal::from_str("24.9999999999999999999999999").unwrap(),
    )
    .unwrap();
    store
        .execution_transition(
            execution.id,
            ExecutionState::Claimed,
            &submit(t0(), notional),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.execution_get(execution.id).await.unwrap().notional,
        notional
    );
}

async fn fills_are_recorded_once_per_market_and_fill_id(store: Store) {
    let alice = user(&store, "alice").await;
    let execution = claimed(&store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    let fill = Fill {
        user_id: alice.id,
        execution_id: Some(execution.id),
        market: market("BTC-EUR"),
        fill_id: "f-1".into(),
        order_id: "o-1".into(),
        client_order_id: Some(execution.client_order_id.to_string()),
        side: Side::Buy,
        amount: Quantity::positive("amount", Decimal::from_str("0.00012345").unwrap()).unwrap(),
        price: Price::positive("price", Decimal::from_str("40123.45").unwrap()).unwrap(),
        fee: Decimal::from_str("0.0123456789").unwrap(),
        fee_currency: Asset::parse("fee_currency", "EUR").unwrap(),
        filled_at: t0(),
    };
    assert!(
        store.fill_record(&fill, t0()).await.unwrap(),
        "first time inserts"
    );
    assert!(
        !store.fill_record(&fill, t0()).await.unwrap(),
        "second time changes nothing"
    );
    // The same fill id on another market is another fill.
    let other = Fill {
        market: market("ETH-EUR"),
        execution_id: None,
        ..fill.clone()
    };
    assert!(store.fill_record(&other, t0()).await.unwrap());
    assert_eq!(
        store.fill_list_for_execution(execution.id).await.unwrap(),
        vec![fill]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_connections_use_wal_and_synchronous_full() {
    let db = TestDb::sqlite().await;
    // Ask several connections at once, so more than one pooled connection answers.
    let answers = futures::future::join_all((0..6).map(|_| db.store.durability_settings())).await;
    for answer in answers {
        assert_eq!(
            answer.unwrap(),
            DurabilitySettings::Sqlite {
                journal_mode: "wal".into(),
                synchronous: "2".into(),
                foreign_keys: true,
            }
        );
    }
    assert!(
        db.sqlite_path().exists(),
        "the file and its directory were created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_refuses_update_and_delete_of_history() {
    let db = TestDb::sqlite().await;
    let alice = user(&db.store, "alice").await;
    claimed(&db.store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    // Row triggers fire per row: make sure both tables have one.
    db.store
        .kill_switch_set(
            KillSwitchScope::Global,
            true,
            &Attribution::new("ops", t0()),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap();
    let mut raw = SqliteConnection::connect(db.store.url()).await.unwrap();
    for sql in [
        "UPDATE execution_events SET event = 'forged'",
        "DELETE FROM execution_events",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let err = raw.execute(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_trigger_refuses_update_and_delete_of_history() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let alice = user(&db.store, "alice").await;
    claimed(&db.store, &alice, "BTC-EUR", Side::Buy, t0()).await;
    // Row triggers fire per row: make sure both tables have one.
    db.store
        .kill_switch_set(
            KillSwitchScope::Global,
            true,
            &Attribution::new("ops", t0()),
            vigil_store::Authority::Admin,
        )
        .await
        .unwrap();
    let mut raw = PgConnection::connect(db.postgres_url()).await.unwrap();
    for sql in [
        "UPDATE execution_events SET event = 'forged'",
        "DELETE FROM execution_events",
        "TRUNCATE execution_events CASCADE",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let err = raw.execute(sql).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only (I11)"),
            "{sql}: {err}"
        );
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM execution_events")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(events, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn i1_postgres_catalog_shows_the_named_unique_constraint() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut raw = PgConnection::connect(db.postgres_url()).await.unwrap();
    let (kind, definition): (String, String) = sqlx::query_as(
        "SELECT contype::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'trade_executions'::regclass AND conname = $1",
    )
    .bind(vigil_store::constraint::EXECUTION_USER_PROPOSAL)
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(kind, "u");
    assert_eq!(definition, "UNIQUE (user_id, proposal_id)");
    let client_order: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'trade_executions'::regclass AND conname = $1",
    )
    .bind(vigil_store::constraint::EXECUTION_CLIENT_ORDER_ID)
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(client_order, "UNIQUE (client_order_id)");
    assert_eq!(
        db.store.durability_settings().await.unwrap(),
        DurabilitySettings::Postgres {
            synchronous_commit: "on".into()
        }
    );
}
