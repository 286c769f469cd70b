//! Per-test PostgreSQL databases, cloned from a migrated template.
//!
//! [`fresh_database`] gives each test its own database, so tests run in parallel without
//! seeing each other's rows:
//! 1. Once per process, under a PostgreSQL advisory lock (so parallel test binaries do not
//!    race), it makes sure a template database `vigil_tpl_<fingerprint>` exists, where the
//!    fingerprint hashes the PostgreSQL migrations: editing a migration makes a new template.
//!    The template is migrated under a temporary name and renamed when complete, so a crash
//!    never leaves a half-migrated template behind. Test databases left by processes that no
//!    longer run are dropped at the same time.
//! 2. Per call, `CREATE DATABASE vigil_t_<pid>_<n> TEMPLATE vigil_tpl_<fingerprint>`, which
//!    copies files instead of replaying migrations.
//! 3. When the [`PgTestDb`] is dropped, its database is dropped (`WITH (FORCE)`, closing any
//!    connection a test left open). When the test failed, it is kept for inspection and its
//!    name printed; the next template check removes it once the process is gone.
//!
//! The server is `VIGIL_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it cannot be reached, outside CI one line says so (once per process) and
//! [`fresh_database`] returns `None`, so the PostgreSQL half of a suite is skipped; with
//! `CI=true` it panics with the same line instead, because CI must never skip silently.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Once,
    },
    time::Duration,
};

use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;
use vigil_store::{BackendKind, Store, StoreOptions};

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_URL_VAR: &str = "VIGIL_TEST_PG_URL";
/// The server used when [`PG_URL_VAR`] is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Serializes template creation across processes (an arbitrary constant).
const TEMPLATE_LOCK_KEY: i64 = 0x7669_6769_6c74_706c; // "vigiltpl"
const TEST_DB_PREFIX: &str = "vigil_t_";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static TEMPLATE: OnceCell<Result<String, String>> = OnceCell::const_new();
static SKIP_NOTICE: Once = Once::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database that exists for one test and is dropped with this value.
#[derive(Debug)]
pub struct PgTestDb {
    url: String,
    name: String,
    admin_url: String,
}

impl PgTestDb {
    /// The database's URL, for `Store::connect`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new store on this database with `options` (already migrated: the template was).
    ///
    /// # Panics
    /// When the database cannot be opened (a test harness failure).
    pub async fn store(&self, options: StoreOptions) -> Store {
        Store::connect(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("connecting to test database {}: {e}", self.name))
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "keeping PostgreSQL test database {} of the failed test for inspection",
                self.name
            );
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop is synchronous and may run inside a runtime, so the drop runs on its own thread
        // with its own small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut admin = admin_connect(&admin_url).await?;
                admin
                    .execute(
                        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(&name)).as_str(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "the drop thread panicked".to_owned()) {
            eprintln!("could not drop PostgreSQL test database {}: {e}", self.name);
        }
    }
}

/// A fresh, migrated database for one test, or `None` (after one printed line) when
/// PostgreSQL is unreachable outside CI.
///
/// # Panics
/// With `CI=true` when PostgreSQL is unreachable; and whenever the template or the database
/// cannot be created on a reachable server (a broken migration must fail the suite).
pub async fn fresh_database() -> Option<PgTestDb> {
    let admin_url = std::env::var(PG_URL_VAR).unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    let template = TEMPLATE
        .get_or_init(|| async { ensure_template(&admin_url).await })
        .await;
    let template = match template {
        Ok(template) => template,
        Err(unreachable) => {
            skip_or_fail(&admin_url, unreachable);
            return None;
        }
    };
    let name = format!(
        "{TEST_DB_PREFIX}{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = admin_connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} stopped answering: {e}"));
    admin
        .execute(
            format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quoted(&name),
                quoted(template)
            )
            .as_str(),
        )
        .await
        .unwrap_or_else(|e| panic!("creating test database {name} from {template}: {e}"));
    if let Err(e) = admin.close().await {
        eprintln!("closing the admin connection failed: {e}");
    }
    Some(PgTestDb {
        url: with_database(&admin_url, &name),
        name,
        admin_url,
    })
}

fn skip_or_fail(admin_url: &str, detail: &str) {
    let line = format!(
        "PostgreSQL not reachable at {}: skipping PostgreSQL tests (set {PG_URL_VAR} or start PostgreSQL)",
        vigil_store::redact_url(admin_url)
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{line} [{detail}]");
    }
    SKIP_NOTICE.call_once(|| eprintln!("{line}"));
}

async fn admin_connect(url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Makes sure the migrated template exists; `Err` only when the server is unreachable.
async fn ensure_template(admin_url: &str) -> Result<String, String> {
    let mut admin = admin_connect(admin_url).await?;
    let template = format!(
        "vigil_tpl_{}",
        Store::schema_fingerprint(BackendKind::Postgres)
    );
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("taking the template lock: {e}"));
    drop_stale_databases(&mut admin).await;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("looking for the template database: {e}"));
    if exists.is_none() {
        build_template(&mut admin, admin_url, &template).await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("releasing the template lock: {e}"));
    if let Err(e) = admin.close().await {
        eprintln!("closing the admin connection failed: {e}");
    }
    Ok(template)
}

async fn build_template(admin: &mut PgConnection, admin_url: &str, template: &str) {
    let building = format!("{template}_building");
    // A `_building` database can only be left by a process that died while holding the lock.
    for sql in [
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(&building)),
        format!("CREATE DATABASE {}", quoted(&building)),
    ] {
        admin
            .execute(sql.as_str())
            .await
            .unwrap_or_else(|e| panic!("preparing the template database ({sql}): {e}"));
    }
    let store = Store::connect(
        &with_database(admin_url, &building),
        StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("connecting to the template database: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating the template database: {e}"));
    store.close().await;
    // A closed connection's server process can linger for a moment after the client is gone,
    // and RENAME refuses a database anybody is connected to ("being accessed by other users"):
    // end such leftovers, and try again briefly.
    let rename = format!(
        "ALTER DATABASE {} RENAME TO {}",
        quoted(&building),
        quoted(template)
    );
    let mut attempts = 0;
    loop {
        let _ended = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&building)
        .execute(&mut *admin)
        .await;
        match admin.execute(rename.as_str()).await {
            Ok(_) => return,
            Err(e) if attempts < 50 => {
                attempts += 1;
                eprintln!("publishing the template database: {e}; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("publishing the template database: {e}"),
        }
    }
}

/// Drops test databases whose process is gone. A database still in use is left alone (a plain
/// DROP refuses it). Templates of other schema versions are kept: another checkout may use them.
async fn drop_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'vigil\\_t\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name
            .strip_prefix(TEST_DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let sql = format!("DROP DATABASE IF EXISTS {}", quoted(&name));
            if let Err(e) = admin.execute(sql.as_str()).await {
                eprintln!("left stale test database {name} in place: {e}");
            }
        }
    }
}

/// A double-quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` with its database (the path) replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
