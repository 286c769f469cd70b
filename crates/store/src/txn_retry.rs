//! The one transaction wrapper: every transaction the store opens goes through
//! [`run_transaction`], which retries transient failures with jittered exponential back-off.
//!
//! Transient means "the database refused this attempt but the same attempt may succeed a moment
//! later": PostgreSQL serialization failures (`40001`) and deadlocks (`40P01`), and SQLite's
//! `SQLITE_BUSY` / `SQLITE_LOCKED` (including their extended codes). Those are retried, bounded
//! by BOTH a maximum attempt count and a total deadline (STYLE rule 12); anything else comes back
//! at once. A retried attempt starts from scratch: the body is called again with a new
//! transaction, which is why bodies are `FnMut` and must not keep state between attempts.
//!
//! How a transaction starts differs per back end, and is decided only here:
//! - SQLite: `BEGIN IMMEDIATE`. It takes the write lock up front, so two writers never both read
//!   and then both try to upgrade (the case SQLite answers with an immediate `SQLITE_BUSY` that
//!   its busy timeout cannot help). SQLite has one writer at a time, so every write transaction,
//!   and every per-user section, is serialized with every other one: different users' sections
//!   do NOT run in parallel there. That is correct, only slower; PostgreSQL is the back end for
//!   parallelism. Within one process, write transactions first queue on the store's own async
//!   lock (FIFO) and only then `BEGIN IMMEDIATE`: waiting in SQLite's busy handler instead means
//!   sleeping in growing steps (up to 100 ms) while the lock may already be free, which cost
//!   many concurrent writers (scheduler workers, users) up to half their throughput
//!   (BENCHMARKS.md). Other processes on the same file (a `vigil` command beside `vigil run`)
//!   still meet the busy timeout, as before.
//! - PostgreSQL: `BEGIN` (READ COMMITTED); a per-user section then takes
//!   `SELECT ... FROM users WHERE id = $1 FOR UPDATE` as its first statement, which serializes
//!   sections of one user across every Vigil instance sharing the database while leaving other
//!   users free. `synchronous_commit` is on for every session (set at connect, see `lib.rs`).
//!
//! Why not `backon`, which alert delivery uses for its retries: this loop's budget is a deadline
//! on the whole (every attempt's own time included, not only the sleeps, which is what
//! `backon`'s total delay counts), its waits are "full jitter" (uniform in zero to the
//! exponential ceiling, so contending writers spread out; `backon` adds jitter on top of the
//! delay instead), and the jitter comes from the store's seeded RNG so that a test replays the
//! same waits. Those three are the point of the loop; the loop itself is the few lines below.
//!
//! `clippy.toml` disallows sqlx's ways of opening a transaction; this module holds the one
//! `#[expect(clippy::disallowed_methods)]`.

use std::{sync::atomic::Ordering, time::Duration};

use futures::future::BoxFuture;
use rand::Rng;
use sqlx::{postgres::PgDatabaseError, sqlite::SqliteError, Postgres, Sqlite, Transaction};
use tokio::time::Instant;
use vigil_core::UserId;

use crate::{
    db::{args, Conn},
    error::StoreError,
    Pool, StoreInner,
};

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most attempts in total (the first one included); at least 1.
    pub max_attempts: u32,
    /// The most time all attempts and waits may take together.
    pub deadline: Duration,
    /// The back-off ceiling of the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// The largest back-off ceiling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            deadline: Duration::from_secs(30),
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry): "full jitter", a uniform
    /// draw between zero and the exponential ceiling, so colliding writers spread out instead of
    /// colliding again in lock-step.
    pub(crate) fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        let ceiling = self
            .base_delay
            .saturating_mul(factor)
            .min(self.max_delay)
            .as_micros();
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_micros(rng.gen_range(0..=ceiling))
    }
}

/// Whether a raw database error is worth retrying: serialization failure or deadlock on
/// PostgreSQL, busy or locked on SQLite.
#[must_use]
pub fn is_transient(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        return matches!(pg.code(), "40001" | "40P01");
    }
    if db.try_downcast_ref::<SqliteError>().is_some() {
        // sqlx reports SQLite's extended result code; the primary code is its low byte.
        let code = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or_default();
        const SQLITE_BUSY: i32 = 5;
        const SQLITE_LOCKED: i32 = 6;
        return matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED);
    }
    false
}

/// An open transaction, handed to a transaction body. It commits when the body returns `Ok` and
/// rolls back when it returns `Err` (or is dropped); the body never commits itself.
pub struct StoreTxn {
    inner: TxnInner,
}

enum TxnInner {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

impl std::fmt::Debug for StoreTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            TxnInner::Postgres(_) => "postgres",
            TxnInner::Sqlite(_) => "sqlite",
        };
        f.debug_struct("StoreTxn").field("backend", &kind).finish()
    }
}

impl StoreTxn {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxnInner::Postgres(txn) => Conn::Postgres(txn),
            TxnInner::Sqlite(txn) => Conn::Sqlite(txn),
        }
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxnInner::Postgres(txn) => txn.commit().await,
            TxnInner::Sqlite(txn) => txn.commit().await,
        }
    }

    async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TxnInner::Postgres(txn) => txn.rollback().await,
            TxnInner::Sqlite(txn) => txn.rollback().await,
        }
    }
}

/// What a transaction is for, which decides how it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TxnMode {
    /// An ordinary write transaction.
    Write,
    /// A per-user serialized section (see the module docs).
    UserSection(UserId),
}

/// The body of a transaction: called once per attempt with a fresh transaction.
pub type TxnBody<'t, T> = BoxFuture<'t, Result<T, StoreError>>;

#[expect(
    clippy::disallowed_methods,
    reason = "txn_retry is the one place that opens transactions; it retries serialization failures"
)]
async fn begin(pool: &Pool) -> Result<StoreTxn, sqlx::Error> {
    let inner = match pool {
        Pool::Postgres(pool) => TxnInner::Postgres(pool.begin().await?),
        // IMMEDIATE takes the write lock now; see the module docs for why.
        Pool::Sqlite(pool) => TxnInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
    };
    Ok(StoreTxn { inner })
}

async fn lock_user(txn: &mut StoreTxn, user: UserId) -> Result<(), StoreError> {
    let mut conn = txn.conn();
    // On PostgreSQL the row lock is the per-user mutex, held until commit or rollback. On
    // SQLite BEGIN IMMEDIATE already excludes every other writer; the read only checks the
    // user exists, so both back ends answer a missing user the same way.
    let sql = match conn.kind() {
        crate::BackendKind::Postgres => "SELECT id FROM users WHERE id = $1 FOR UPDATE",
        crate::BackendKind::Sqlite => "SELECT id FROM users WHERE id = $1",
    };
    let row = conn
        .fetch_optional("user section lock", sql, args![user.as_uuid()])
        .await?;
    match row {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound {
            what: "user",
            key: user.to_string(),
        }),
    }
}

/// One attempt: (queue for SQLite's write lock), begin, (lock), body, commit; rollback on every
/// error path.
async fn attempt<T, F>(store: &StoreInner, mode: TxnMode, body: &mut F) -> Result<T, StoreError>
where
    F: for<'t> FnMut(&'t mut StoreTxn) -> TxnBody<'t, T>,
{
    let pool = &store.pool;
    // Held until this attempt has committed or rolled back (dropped at the end of the scope).
    // The wait is bounded like SQLite's own: after the busy timeout the attempt goes on to
    // `BEGIN IMMEDIATE` unqueued, where SQLite answers busy and the retry policy takes over.
    let _queued = match pool {
        Pool::Sqlite(_) => tokio::time::timeout(
            store.options.sqlite_busy_timeout,
            store.sqlite_writers.lock(),
        )
        .await
        .ok(),
        Pool::Postgres(_) => None,
    };
    let mut txn = begin(pool)
        .await
        .map_err(StoreError::db("begin transaction"))?;
    let outcome = match mode {
        TxnMode::Write => body(&mut txn).await,
        TxnMode::UserSection(user) => match lock_user(&mut txn, user).await {
            Ok(()) => body(&mut txn).await,
            Err(e) => Err(e),
        },
    };
    match outcome {
        Ok(value) => {
            txn.commit()
                .await
                .map_err(StoreError::db("commit transaction"))?;
            Ok(value)
        }
        Err(error) => {
            // A failed rollback leaves nothing committed either (the connection is discarded
            // by the pool), so the body's error is the one worth reporting.
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rollback after a failed transaction body failed");
            }
            Err(error)
        }
    }
}

/// Runs `body` in a transaction, retrying transient failures per the store's [`RetryPolicy`].
pub(crate) async fn run_transaction<T, F>(
    store: &StoreInner,
    operation: &'static str,
    mode: TxnMode,
    mut body: F,
) -> Result<T, StoreError>
where
    F: for<'t> FnMut(&'t mut StoreTxn) -> TxnBody<'t, T>,
{
    let policy = store.options.retry;
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let error = match attempt(store, mode, &mut body).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let source = match error {
            StoreError::Database { source, .. } if is_transient(&source) => source,
            other => return Err(store.classify(other)),
        };
        let delay = {
            let mut rng = store
                .jitter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            policy.delay(attempts, &mut *rng)
        };
        let elapsed = started.elapsed();
        if attempts >= policy.max_attempts.max(1) || elapsed + delay > policy.deadline {
            tracing::warn!(operation, attempts, ?elapsed, error = %source, "transient database errors outlasted the retry budget");
            return Err(StoreError::TransientExhausted {
                operation,
                attempts,
                elapsed,
                source,
            });
        }
        store.transient_retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(operation, attempts, ?delay, error = %source, "transient database error; retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn delay_stays_under_the_exponential_ceiling_and_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            deadline: Duration::from_secs(10),
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            assert!(policy.delay(1, &mut rng) <= Duration::from_millis(10));
            assert!(policy.delay(3, &mut rng) <= Duration::from_millis(40));
            assert!(policy.delay(30, &mut rng) <= Duration::from_millis(100));
        }
    }

    #[test]
    fn delay_is_jittered_and_replays_from_its_seed() {
        let policy = RetryPolicy::default();
        let draw = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (1..8)
                .map(|n| policy.delay(n, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn only_database_errors_can_be_transient() {
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::PoolTimedOut));
    }
}
