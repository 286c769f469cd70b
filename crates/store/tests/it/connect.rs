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

/// With `sqlite_create_if_missing` off a missing file is `Unavailable`, naming its path, and
/// nothing is created (neither the file nor its directory); with it on (the default) both are.
#[tokio::test]
async fn a_missing_sqlite_file_is_created_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/dir/vigil.db");
    let url = format!("sqlite://{}", path.display());
    let refuse = StoreOptions {
        sqlite_create_if_missing: false,
        ..StoreOptions::default()
    };
    let err = Store::connect(&url, refuse.clone()).await.unwrap_err();
    match &err {
        StoreError::Unavailable { detail, .. } => {
            assert!(detail.contains(&path.display().to_string()), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(err.to_string().contains("vigil init"), "{err}");
    assert!(!dir.path().join("new").exists(), "a directory was created");
    let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    assert!(path.exists());
    // Once it exists, it opens without creating.
    let store = Store::connect(&url, refuse).await.unwrap();
    assert!(store.user_list().await.is_ok());
    store.close().await;
}

/// `sqlite://` without a path would open a private temporary database per connection (the
/// migrations in one, the queries in another): it is an invalid URL.
#[tokio::test]
async fn a_sqlite_url_without_a_path_is_invalid() {
    for url in ["sqlite://", "sqlite:", "sqlite://?mode=rwc"] {
        let err = Store::connect(url, StoreOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
    }
}
