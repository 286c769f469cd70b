//! Connecting: the URL picks the back end, and every failure says what to do.

use vigil_store::{BackendKind, Store, StoreError, StoreOptions};

use crate::fixture::t0;

#[tokio::test]
async fn sqlite_memory_works_for_tests() {
    let store = Store::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    assert_eq!(store.backend(), BackendKind::Sqlite);
    store.migrate().await.unwrap();
    let alice = store.user_create("alice", false, t0()).await.unwrap();
    // One connection holds the whole database: what was written is read back.
    assert_eq!(store.user_get(alice.id).await.unwrap(), alice);
}

#[tokio::test]
async fn unknown_scheme_is_an_invalid_url_without_the_password() {
    let err = Store::connect(
        "mysql://root:hunter2@localhost/vigil",
        StoreOptions::default(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        message.contains("postgres://"),
        "says what is accepted: {message}"
    );
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable_with_a_hint_and_no_password() {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    let err = Store::connect(
        "postgres://vigil:hunter2@127.0.0.1:1/vigil",
        StoreOptions::default(),
    )
    .await
    .unwrap_err();
    match &err {
        StoreError::Unavailable { url, hint, .. } => {
            assert_eq!(url, "postgres://vigil:***@127.0.0.1:1/vigil");
            assert!(hint.contains("running"), "{hint}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    let db = crate::fixture::TestDb::sqlite().await;
    db.store.migrate().await.unwrap();
    assert!(db.store.user_list().await.unwrap().is_empty());
}
