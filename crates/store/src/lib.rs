//! Vigil's durable store: ONE [`Store`] interface over two back ends.
//!
//! - SQLite (`sqlite://path/to/vigil.db`): the embedded default. WAL journal,
//!   `synchronous=FULL` on every connection (a committed `SUBMITTING` must survive a power cut,
//!   or I1–I3 break after the order was sent), a busy timeout, foreign keys on; the file and its
//!   parent directory are created on first use unless [`StoreOptions::sqlite_create_if_missing`]
//!   is off (the `vigil` binary turns it off except for `vigil init` and the paper run). A URL
//!   without a path is refused. `sqlite::memory:` exists for tests only.
//! - PostgreSQL (`postgres://…`): production, and how several Vigil instances on several
//!   machines coordinate. `synchronous_commit` is on for every session.
//!
//! The engine and the CLI use [`Store`]'s inherent async methods and never learn which back end
//! they talk to. Methods are named resource first (`execution_claim`, `kill_switch_read`); the
//! ones that work inside a caller's transaction end in `_in_txn` and live on [`StoreTxn`].
//!
//! Map of the crate:
//! - [`txn_retry`]: the one transaction wrapper (retries, back-off, per-user sections).
//! - [`error`]: [`StoreError`], shaped by the caller's next decision.
//! - [`model`]: the store's record types (users, tokens, audit entries, fills, filters).
//! - [`facts`]: [`UserFacts`], what the guards need, read in one place.
//! - `users`, `proposals`, `executions`, `section`, `scan_jobs` (jobs, leases, runs; I9),
//!   `llm_usage` (the LLM budget guard; I8), `audit`, `deployment` (paper or live, recorded
//!   once): the operations, by resource.
//! - [`secrets`]: exchange secrets sealed at rest (a master key wraps the data key that seals
//!   each secret, bound to its row).
//! - [`constraint`]: constraint names and their mapping on both back ends.
//! - `db`: the shared SQL layer (typed arguments and rows on either back end).

pub mod constraint;
pub mod error;
pub mod facts;
pub mod model;
pub mod schema;
pub mod scratch;
pub mod secrets;
pub mod txn_retry;

mod audit;
mod db;
mod deployment;
mod executions;
mod llm_usage;
mod policy;
mod proposals;
mod rows;
mod scan_jobs;
mod section;
mod users;

use std::{
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use rand::{rngs::StdRng, SeedableRng};
use sha2::{Digest, Sha256};
use sqlx::{
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Connection, PgConnection, PgPool, Postgres, Sqlite, SqlitePool,
};

pub(crate) use db::Row;
pub use db::{to_stored_precision, BackendKind};
pub use error::StoreError;
pub use facts::{InFlightOrder, UserFacts};
pub use llm_usage::{
    BudgetExhausted, LlmBudgetError, LlmUsage, LlmUsageFilter, LlmUsageStatus, Reservation,
    TokenUsage,
};
pub use model::{
    ApiToken, Attribution, AuditEntry, AuditFilter, ClaimOutcome, ExecutionEventRecord,
    ExecutionFilter, ExecutionSummary, Fill, KillSwitchScope, KillSwitches, ListedProposal,
    ProposalFilter, TokenHash, User, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX,
};
pub use model::{
    Authority, DeploymentMode, KillSwitchSetter, PolicyCeilings, PolicyLimits,
    CAPS_IN_FORCE_BEFORE_A_RAISE, STABILITY_OVERRIDE_ACTION,
};
pub use scan_jobs::{
    LeasePlan, LeasedJob, NewScanJob, RunFinish, RunReport, ScanJob, ScanJobFilter, ScanJobRun,
    ScanRunOutcome, SCAN_JOB_INTERVAL_SECONDS_MAX, SCAN_JOB_MARKETS_MAX,
};
pub use section::GuardedTransition;
pub use txn_retry::{RetryPolicy, StoreTxn, TxnBody};

use crate::db::Conn;

/// How a [`Store`] connects and retries. Every bound is explicit (STYLE rule 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most pooled connections (SQLite `:memory:` always uses exactly one).
    pub max_connections: u32,
    /// How long to wait for a pooled connection before reporting the database unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a lock before answering "busy" (which is then retried).
    pub sqlite_busy_timeout: Duration,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// Seeds the back-off jitter. Give each process its own seed (e.g. from the process id and
    /// start time): instances with equal seeds would back off in lock-step.
    pub jitter_seed: u64,
    /// SQLite only: create a missing database file (and its parent directories). When false, a
    /// missing file is [`StoreError::Unavailable`] naming its path, and nothing is created: the
    /// `vigil` binary creates a database only when asked to (`vigil init`, a paper run).
    pub sqlite_create_if_missing: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            jitter_seed: 0x5eed_0ff1_911a,
            sqlite_create_if_missing: true,
        }
    }
}

/// What the database says about durability on one of the store's connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurabilitySettings {
    /// SQLite pragmas.
    Sqlite {
        /// `wal` is required.
        journal_mode: String,
        /// `2` (FULL) is required; `1` (NORMAL) could lose a committed `SUBMITTING`.
        synchronous: String,
        /// Whether foreign keys are enforced.
        foreign_keys: bool,
    },
    /// PostgreSQL settings.
    Postgres {
        /// `on` is required for execution transactions.
        synchronous_commit: String,
    },
}

/// The two connection pools a store may hold.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A pooled connection on either back end.
pub(crate) enum Pooled {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Pooled {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Pooled::Postgres(c) => Conn::Postgres(c),
            Pooled::Sqlite(c) => Conn::Sqlite(c),
        }
    }
}

pub(crate) struct StoreInner {
    pool: Pool,
    /// The URL with any password removed, for messages.
    url: String,
    options: StoreOptions,
    jitter: Mutex<StdRng>,
    transient_retries: AtomicU64,
    /// SQLite only: this process's write transactions queue here (first come, first served)
    /// before `BEGIN IMMEDIATE`, instead of polling SQLite's lock in its busy handler, whose
    /// growing sleeps leave the lock idle while writers wait (see `txn_retry.rs`).
    sqlite_writers: tokio::sync::Mutex<()>,
}

impl StoreInner {
    /// Turns connection-level failures into [`StoreError::Unavailable`] and constraint
    /// violations into [`StoreError::ConstraintViolation`]; everything else passes through.
    pub(crate) fn classify(&self, error: StoreError) -> StoreError {
        let StoreError::Database { operation, source } = error else {
            return error;
        };
        if let Some((detail, hint)) = unavailable(&source) {
            return StoreError::Unavailable {
                url: self.url.clone(),
                detail,
                hint,
                source: Some(source),
            };
        }
        constraint::map_violation(StoreError::Database { operation, source })
    }
}

/// The durable store. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

const URL_EXPECTED: &str =
    "sqlite://PATH, sqlite::memory: (tests only), or postgres://USER@HOST:PORT/DATABASE";

impl Store {
    /// Connects to the database named by `url`, choosing the back end from its scheme:
    /// `sqlite://path` (the file and its parent directory are created when missing, unless
    /// [`StoreOptions::sqlite_create_if_missing`] is false),
    /// `sqlite::memory:` (tests only: one connection, gone when the store is dropped), or
    /// `postgres://…` / `postgresql://…`. Does not migrate: call [`Store::migrate`].
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] for an unknown scheme or a malformed URL (a SQLite URL
    /// without a path, too); [`StoreError::Unavailable`] when the database cannot be reached,
    /// the SQLite file cannot be created, or it is missing and may not be created.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let redacted = redact_url(url);
        let pool = if url.starts_with("sqlite:") {
            Pool::Sqlite(connect_sqlite(url, &redacted, &options).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(connect_postgres(url, &redacted, &options).await?)
        } else {
            return Err(StoreError::InvalidUrl {
                url: redacted,
                expected: URL_EXPECTED,
            });
        };
        tracing::info!(url = %redacted, "connected to the database");
        Ok(Store {
            inner: Arc::new(StoreInner {
                pool,
                url: redacted,
                jitter: Mutex::new(StdRng::seed_from_u64(options.jitter_seed)),
                options,
                transient_retries: AtomicU64::new(0),
                sqlite_writers: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Applies the back end's migrations that are not applied yet (on start and by
    /// `vigil migrate`). Safe to run from several instances at once: on PostgreSQL sqlx holds
    /// an advisory lock while migrating.
    ///
    /// # Errors
    /// [`StoreError::Migration`] when a migration fails or the database was migrated by a newer
    /// (or different) schema.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &self.inner.pool {
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        };
        result.map_err(|source| StoreError::Migration { source })
    }

    /// Which back end this store talks to.
    #[must_use]
    pub fn backend(&self) -> BackendKind {
        match self.inner.pool {
            Pool::Postgres(_) => BackendKind::Postgres,
            Pool::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// The database URL with any password removed (safe to print).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// How many transaction attempts were retried after a transient error since connecting
    /// (for metrics, and for tests that prove retries happen).
    #[must_use]
    pub fn transient_retries(&self) -> u64 {
        self.inner.transient_retries.load(Ordering::Relaxed)
    }

    /// Closes every pooled connection and waits for them to close.
    pub async fn close(&self) {
        match &self.inner.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    /// A fingerprint of a back end's migrations (versions and checksums): changes whenever a
    /// migration is added or edited. The test harness names its template databases by it.
    #[must_use]
    pub fn schema_fingerprint(backend: BackendKind) -> String {
        let migrator = match backend {
            BackendKind::Postgres => &POSTGRES_MIGRATIONS,
            BackendKind::Sqlite => &SQLITE_MIGRATIONS,
        };
        let mut hasher = Sha256::new();
        for migration in migrator.iter() {
            hasher.update(migration.version.to_le_bytes());
            hasher.update(&migration.checksum);
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// Refreshes the query planner's statistics (`ANALYZE`), e.g. after a bulk import, so
    /// plans such as the scan-job lease's follow the data.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or a database error.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        let mut pooled = self.acquire().await?;
        pooled
            .conn()
            .execute("analyze", "ANALYZE", vec![])
            .await
            .map_err(|e| self.classify(e))?;
        Ok(())
    }

    /// The durability settings of one pooled connection, as the database reports them (for
    /// `vigil` to show at start and for tests to prove): SQLite's `journal_mode`,
    /// `synchronous` (2 = FULL) and `foreign_keys`; PostgreSQL's `synchronous_commit`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or a database error.
    pub async fn durability_settings(&self) -> Result<DurabilitySettings, StoreError> {
        let mut pooled = self.acquire().await?;
        let mut conn = pooled.conn();
        let text = |row: Option<Row>, column: &str| -> Result<String, StoreError> {
            let row = row.ok_or_else(|| StoreError::invalid(column, "no answer"))?;
            match row.opt_text(column) {
                Ok(Some(v)) => Ok(v),
                _ => row.i64(column).map(|n| n.to_string()),
            }
        };
        let settings = match conn.kind() {
            BackendKind::Sqlite => {
                let mut values = Vec::new();
                for pragma in ["journal_mode", "synchronous", "foreign_keys"] {
                    let sql = format!("PRAGMA {pragma}");
                    let row = conn
                        .fetch_optional("durability_settings", &sql, vec![])
                        .await;
                    values.push(text(row.map_err(|e| self.classify(e))?, pragma)?);
                }
                DurabilitySettings::Sqlite {
                    journal_mode: values[0].clone(),
                    synchronous: values[1].clone(),
                    foreign_keys: values[2] == "1",
                }
            }
            BackendKind::Postgres => {
                let row = conn
                    .fetch_optional(
                        "durability_settings",
                        "SELECT current_setting('synchronous_commit') AS synchronous_commit",
                        vec![],
                    )
                    .await
                    .map_err(|e| self.classify(e))?;
                DurabilitySettings::Postgres {
                    synchronous_commit: text(row, "synchronous_commit")?,
                }
            }
        };
        Ok(settings)
    }

    pub(crate) async fn acquire(&self) -> Result<Pooled, StoreError> {
        let result = match &self.inner.pool {
            Pool::Postgres(pool) => pool.acquire().await.map(Pooled::Postgres),
            Pool::Sqlite(pool) => pool.acquire().await.map(Pooled::Sqlite),
        };
        result.map_err(|e| {
            self.inner
                .classify(StoreError::db("acquire a connection")(e))
        })
    }

    pub(crate) fn classify(&self, error: StoreError) -> StoreError {
        self.inner.classify(error)
    }
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

async fn connect_sqlite(
    url: &str,
    redacted: &str,
    options: &StoreOptions,
) -> Result<SqlitePool, StoreError> {
    let in_memory = url.trim_start_matches("sqlite:").trim_start_matches("//") == ":memory:";
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::InvalidUrl {
            url: redacted.to_owned(),
            expected: URL_EXPECTED,
        })?
        .create_if_missing(options.sqlite_create_if_missing)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, never NORMAL: with NORMAL a WAL commit can be lost on power failure.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.sqlite_busy_timeout)
        .foreign_keys(true);
    if !in_memory {
        let path = connect.get_filename();
        // `sqlite://` with no path would open a private temporary database per connection:
        // the migrations would land in one and the queries in another.
        if path.as_os_str().is_empty() {
            return Err(StoreError::InvalidUrl {
                url: redacted.to_owned(),
                expected: URL_EXPECTED,
            });
        }
        if !options.sqlite_create_if_missing && !path.exists() {
            return Err(StoreError::Unavailable {
                url: redacted.to_owned(),
                detail: format!("no database file at {}", path.display()),
                hint: "a database is created only on request: create it with `vigil init` (`vigil init --paper` for paper trading), or check the path in the database URL",
                source: None,
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable {
                url: redacted.to_owned(),
                detail: format!("cannot create directory {}: {e}", parent.display()),
                hint: "check the path in the database URL and the permissions of its directory",
                source: Some(sqlx::Error::Io(e)),
            })?;
        }
    }
    // An in-memory database lives in its one connection: a second connection would be a
    // second, empty database, and recycling the connection would lose the data.
    let pool_options = if in_memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
    };
    pool_options
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|source| unavailable_error(redacted, source))
}

async fn connect_postgres(
    url: &str,
    redacted: &str,
    options: &StoreOptions,
) -> Result<PgPool, StoreError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::InvalidUrl {
            url: redacted.to_owned(),
            expected: URL_EXPECTED,
        })?
        // A committed SUBMITTING must be durable before the order is sent (I2), whatever the
        // server's default says.
        .options([("synchronous_commit", "on")]);
    // One direct connection first: the pool would retry until its acquire timeout and then
    // report only "timed out", hiding the real cause (refused, unknown database, bad password).
    let probe = tokio::time::timeout(
        options.acquire_timeout,
        PgConnection::connect_with(&connect),
    )
    .await
    .map_err(|_| StoreError::Unavailable {
        url: redacted.to_owned(),
        detail: format!("no answer within {:?}", options.acquire_timeout),
        hint: "check that PostgreSQL is running and reachable at that address",
        source: None,
    })?
    .map_err(|source| unavailable_error(redacted, source))?;
    if let Err(e) = probe.close().await {
        tracing::debug!(error = %e, "closing the probe connection failed");
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|source| unavailable_error(redacted, source))
}

fn unavailable_error(redacted: &str, source: sqlx::Error) -> StoreError {
    let (detail, hint) = unavailable(&source).unwrap_or_else(|| {
        (
            source.to_string(),
            "check the database URL, that the database is running, and its credentials",
        )
    });
    StoreError::Unavailable {
        url: redacted.to_owned(),
        detail,
        hint,
        source: Some(source),
    }
}

/// Whether an error means the database cannot be reached (rather than refusing a statement).
fn unavailable(error: &sqlx::Error) -> Option<(String, &'static str)> {
    match error {
        sqlx::Error::Io(e) => Some((
            format!("connection failed: {e}"),
            "check that the database is running and reachable at that address",
        )),
        sqlx::Error::Tls(e) => Some((
            format!("TLS failed: {e}"),
            "check the database's TLS settings and the URL's sslmode",
        )),
        sqlx::Error::PoolTimedOut => Some((
            "no connection became free in time".to_owned(),
            "the database is overloaded or unreachable; check it, or raise the pool size",
        )),
        sqlx::Error::PoolClosed => Some((
            "the connection pool is closed".to_owned(),
            "the store was shut down; restart vigil",
        )),
        sqlx::Error::WorkerCrashed => Some((
            "the SQLite worker thread stopped".to_owned(),
            "restart vigil; check the disk holding the database file",
        )),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Class 08: connection exception; 57P0x: shutdown; 53300: too many connections;
            // 3D000: no such database; 28xxx: authentication.
            let postgres_down = code.starts_with("08")
                || code.starts_with("57P0")
                || code == "53300"
                || code == "3D000"
                || code.starts_with("28");
            postgres_down.then(|| {
                (
                    db.message().to_owned(),
                    "check that PostgreSQL is running, the database exists and the credentials are right",
                )
            })
        }
        _ => None,
    }
}

/// The URL with its password (if any) replaced by `***`, so it can be printed and logged.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = redact_query_password(tail);
    format!("{scheme}://{authority}{tail}")
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://vigil:s3cret@db.local:5432/vigil"),
            "postgres://vigil:***@db.local:5432/vigil"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=p&sslmode=disable"),
            "postgres://h/db?user=u&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("sqlite://data/vigil.db"),
            "sqlite://data/vigil.db"
        );
    }

    #[test]
    fn fingerprints_differ_per_backend_and_are_stable() {
        let pg = Store::schema_fingerprint(BackendKind::Postgres);
        assert_eq!(pg, Store::schema_fingerprint(BackendKind::Postgres));
        assert_ne!(pg, Store::schema_fingerprint(BackendKind::Sqlite));
        assert_eq!(pg.len(), 16);
    }
}
