//! A scratch database of the same back end as the live one, for the sign-off's scenarios: the
//! checks that execute proposals run there, so the live database keeps no trace of them.
//!
//! SQLite: a fresh file in a temporary directory, removed afterwards. PostgreSQL: a fresh
//! database on the live server (`CREATE DATABASE vigil_signoff_<random>`), migrated, and dropped
//! afterwards; the live role needs the CREATEDB privilege, and the sign-off says so when it is
//! missing.

use std::str::FromStr;

use crate::{Store, StoreOptions};
use sqlx::{postgres::PgConnectOptions, Connection, Executor, PgConnection};

/// A migrated scratch database; call [`ScratchDatabase::remove`] when done.
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The scratch database, migrated, as a store.
    pub store: Store,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { live_url: String, name: String },
}

impl ScratchDatabase {
    /// Creates and migrates a scratch database next to the one at `live_url`.
    pub async fn create(live_url: &str) -> Result<ScratchDatabase, String> {
        let options = StoreOptions {
            max_connections: 4,
            ..StoreOptions::default()
        };
        if live_url.starts_with("sqlite:") {
            let dir = tempfile::Builder::new()
                .prefix("vigil-signoff-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            let url = format!("sqlite://{}", dir.path().join("scratch.db").display());
            let store = Store::connect(&url, options)
                .await
                .map_err(|e| format!("cannot open the scratch SQLite database: {e}"))?;
            store
                .migrate()
                .await
                .map_err(|e| format!("cannot migrate the scratch database: {e}"))?;
            return Ok(ScratchDatabase {
                store,
                cleanup: Cleanup::Sqlite(dir),
            });
        }
        let name = format!("vigil_signoff_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(live_url)
            .await
            .map_err(|e| format!("cannot connect to create a scratch database: {e}"))?;
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .map_err(|e| {
                format!(
                    "cannot create a scratch database ({e}); the sign-off needs the CREATEDB \
                     privilege for its scenarios (or run it against a staging copy)"
                )
            })?;
        if let Err(e) = admin.close().await {
            tracing::debug!(error = %e, "closing the admin connection failed");
        }
        let url = scratch_url(live_url, &name)?;
        let scratch = ScratchDatabase {
            store: Store::connect(&url, options)
                .await
                .map_err(|e| format!("cannot connect to the scratch database: {e}"))?,
            cleanup: Cleanup::Postgres {
                live_url: live_url.to_owned(),
                name,
            },
        };
        if let Err(e) = scratch.store.migrate().await {
            scratch.remove().await;
            return Err(format!("cannot migrate the scratch database: {e}"));
        }
        Ok(scratch)
    }

    /// Closes and removes the scratch database.
    pub async fn remove(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => {
                if let Err(e) = dir.close() {
                    tracing::warn!(error = %e, "could not remove the scratch SQLite directory");
                }
            }
            Cleanup::Postgres { live_url, name } => {
                let dropped = async {
                    let mut admin = PgConnection::connect(&live_url).await?;
                    admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await?;
                    admin.close().await
                };
                if let Err(e) = dropped.await {
                    tracing::warn!(database = %name, error = %e, "could not drop the scratch database; drop it by hand");
                }
            }
        }
    }
}

/// The live URL with its database replaced by `name`.
fn scratch_url(live_url: &str, name: &str) -> Result<String, String> {
    // Validate with sqlx's own parser first, so a URL it accepts is the only kind we rewrite.
    PgConnectOptions::from_str(live_url).map_err(|e| format!("invalid database URL: {e}"))?;
    let mut url = url::Url::parse(live_url).map_err(|e| format!("invalid database URL: {e}"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_url_keeps_everything_but_the_database() {
        assert_eq!(
            scratch_url(
                "postgres://vigil:pw@db.local:5432/vigil?sslmode=disable",
                "s1"
            )
            .unwrap(),
            "postgres://vigil:pw@db.local:5432/s1?sslmode=disable"
        );
        assert_eq!(
            scratch_url("postgres://postgres@127.0.0.1:5432/postgres", "s2").unwrap(),
            "postgres://postgres@127.0.0.1:5432/s2"
        );
    }
}
