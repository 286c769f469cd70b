//! The transaction wrapper retries transient errors, and gives up within its bounds.
//!
//! Method: a second, raw SQLite connection takes the write lock (`BEGIN IMMEDIATE`) and holds
//! it, so the store's own `BEGIN IMMEDIATE` answers `SQLITE_BUSY` after its (short) busy
//! timeout. The store's retry counter shows the retries happening; releasing the lock lets the
//! operation finish. No assertion depends on how long anything takes.

use std::time::Duration;

use sqlx::{Connection, Executor, SqliteConnection};
use vigil_store::{RetryPolicy, StoreError, StoreOptions};

use crate::fixture::{t0, TestDb};

fn impatient(retry: RetryPolicy) -> StoreOptions {
    StoreOptions {
        sqlite_busy_timeout: Duration::from_millis(5),
        retry,
        ..StoreOptions::default()
    }
}

async fn hold_write_lock(db: &TestDb) -> SqliteConnection {
    let url = db.store.url().to_owned();
    let mut blocker = SqliteConnection::connect(&url).await.unwrap();
    blocker.execute("BEGIN IMMEDIATE").await.unwrap();
    blocker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_retried_until_the_lock_is_released() {
    let db = TestDb::sqlite_with(impatient(RetryPolicy {
        max_attempts: 10_000,
        deadline: Duration::from_secs(120),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    }))
    .await;
    let mut blocker = hold_write_lock(&db).await;

    let store = db.store.clone();
    let create = tokio::spawn(async move { store.user_create("alice", false, t0()).await });
    // Wait (bounded) until the store has demonstrably retried at least twice.
    tokio::time::timeout(Duration::from_secs(60), async {
        while db.store.transient_retries() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the store never retried while the database was locked");
    assert!(
        !create.is_finished(),
        "it cannot finish while the lock is held"
    );

    blocker.execute("ROLLBACK").await.unwrap();
    let alice = create.await.unwrap().unwrap();
    assert_eq!(db.store.user_get_by_name("alice").await.unwrap(), alice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_beyond_the_attempt_budget_is_transient_exhausted() {
    let db = TestDb::sqlite_with(impatient(RetryPolicy {
        max_attempts: 3,
        deadline: Duration::from_secs(120),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
    }))
    .await;
    let mut blocker = hold_write_lock(&db).await;
    let err = db
        .store
        .user_create("alice", false, t0())
        .await
        .unwrap_err();
    match &err {
        StoreError::TransientExhausted {
            attempts,
            operation,
            ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(*operation, "user_create");
        }
        other => panic!("expected TransientExhausted, got {other:?}"),
    }
    assert!(err.is_transient());
    assert_eq!(
        db.store.transient_retries(),
        2,
        "three attempts are two retries"
    );
    blocker.execute("ROLLBACK").await.unwrap();
    assert!(matches!(
        db.store.user_get_by_name("alice").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_transient_errors_are_not_retried() {
    let db = TestDb::sqlite().await;
    db.store.user_create("alice", false, t0()).await.unwrap();
    let err = db
        .store
        .user_create("alice", false, t0())
        .await
        .unwrap_err();
    match err {
        StoreError::ConstraintViolation { constraint, .. } => {
            assert_eq!(constraint, vigil_store::constraint::USER_NAME);
        }
        other => panic!("expected the user name constraint, got {other:?}"),
    }
    assert_eq!(db.store.transient_retries(), 0);
}
