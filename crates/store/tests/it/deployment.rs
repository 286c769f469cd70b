//! The deployment's mode (#18 case 11): recorded once, by whichever run comes first; a second
//! record of another mode answers the mode already recorded (the caller refuses), and the row
//! cannot be changed or deleted.

use sqlx::{Connection, Executor};
use vigil_store::{DeploymentMode, Store};

use crate::fixture::t0;

vigil_testkit::backend_tests!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    crate::fixture::TestDb::run;
    the_first_mode_recorded_is_the_database_s_for_good,
    the_recorded_mode_cannot_be_changed_by_hand,
);

async fn the_first_mode_recorded_is_the_database_s_for_good(store: Store) {
    assert_eq!(store.deployment_mode().await.unwrap(), None);
    assert_eq!(
        store
            .deployment_mode_record(DeploymentMode::Paper, t0())
            .await
            .unwrap(),
        DeploymentMode::Paper
    );
    // A live run asking later is told the database is a paper one.
    assert_eq!(
        store
            .deployment_mode_record(DeploymentMode::Live, t0())
            .await
            .unwrap(),
        DeploymentMode::Paper
    );
    assert_eq!(
        store.deployment_mode().await.unwrap(),
        Some(DeploymentMode::Paper)
    );
}

async fn the_recorded_mode_cannot_be_changed_by_hand(store: Store) {
    store
        .deployment_mode_record(DeploymentMode::Live, t0())
        .await
        .unwrap();
    for sql in [
        "UPDATE deployment SET mode = 'paper'",
        "DELETE FROM deployment",
    ] {
        assert!(
            raw(&store, sql).await.is_err(),
            "{sql} must be refused by the schema"
        );
    }
    assert_eq!(
        store.deployment_mode().await.unwrap(),
        Some(DeploymentMode::Live)
    );
}

/// Runs `sql` on its own connection, as a person with a SQL shell would.
async fn raw(store: &Store, sql: &str) -> Result<(), sqlx::Error> {
    let url = store.url().to_owned();
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&url).await?;
        conn.execute(sql).await.map(drop)
    } else {
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        conn.execute(sql).await.map(drop)
    }
}
