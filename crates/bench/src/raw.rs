//! Direct SQL on the bench's database, beside the store: the bare baselines (one-row insert
//! commits, a claim loop of the lease's SQL shape), bulk history for the guard benchmark,
//! `EXPLAIN`, and PostgreSQL's transaction counters. Timestamps are bound the way the store
//! stores them (SQLite: fixed-width RFC 3339 text with microseconds; PostgreSQL: timestamptz).

use std::{str::FromStr, time::Duration};

use chrono::SecondsFormat;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, Row, SqlitePool,
};
use vigil_core::Timestamp;

use crate::error::{BenchError, During};

/// A pool on the bench database, with the store's durability settings.
#[derive(Debug, Clone)]
pub(crate) enum RawDb {
    /// PostgreSQL (`synchronous_commit` stays at its default, on).
    Postgres(PgPool),
    /// SQLite in WAL mode with `synchronous=FULL`, like the store.
    Sqlite(SqlitePool),
}

/// A bindable value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A time, bound per back end.
    Time(Timestamp),
    /// A UUID (PostgreSQL `uuid`; SQLite hyphenated text, as the store writes it).
    Uuid(uuid::Uuid),
}

impl RawDb {
    /// Opens a pool of `size` connections on `url`.
    pub(crate) async fn connect(url: &str, size: u32) -> Result<RawDb, BenchError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .during("parsing the SQLite URL")?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await
                .during("opening the bare SQLite pool")?;
            Ok(RawDb::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url).during("parsing the PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await
                .during("opening the bare PostgreSQL pool")?;
            Ok(RawDb::Postgres(pool))
        }
    }

    /// Whether this is SQLite.
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self, RawDb::Sqlite(_))
    }

    /// Closes the pool.
    pub(crate) async fn close(&self) {
        match self {
            RawDb::Postgres(p) => p.close().await,
            RawDb::Sqlite(p) => p.close().await,
        }
    }

    /// Runs one statement (autocommit: a transaction of its own); rows changed.
    pub(crate) async fn execute(&self, sql: &str, values: &[Value]) -> Result<u64, BenchError> {
        match self {
            RawDb::Postgres(pool) => {
                let mut q = sqlx::query(sql);
                for v in values {
                    q = match v {
                        Value::Text(t) => q.bind(t.clone()),
                        Value::Int(i) => q.bind(*i),
                        Value::Time(t) => q.bind(*t),
                        Value::Uuid(u) => q.bind(*u),
                    };
                }
                Ok(q.execute(pool).await.during(sql)?.rows_affected())
            }
            RawDb::Sqlite(pool) => {
                let mut q = sqlx::query(sql);
                for v in values {
                    q = match v {
                        Value::Text(t) => q.bind(t.clone()),
                        Value::Int(i) => q.bind(*i),
                        Value::Time(t) => q.bind(sqlite_time(*t)),
                        Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
                    };
                }
                Ok(q.execute(pool).await.during(sql)?.rows_affected())
            }
        }
    }

    /// Runs statements in ONE transaction on one connection (`BEGIN IMMEDIATE` on SQLite, as
    /// the store's writers do); returns the first column of the rows each returned, as text.
    /// Opened with plain SQL rather than sqlx's `begin`, which the workspace reserves for the
    /// store's retry wrapper; a failed statement rolls back.
    pub(crate) async fn transaction(
        &self,
        statements: &[(&str, Vec<Value>)],
    ) -> Result<Vec<Vec<String>>, BenchError> {
        match self {
            RawDb::Postgres(pool) => {
                let mut conn = pool.acquire().await.during("acquiring a connection")?;
                sqlx::query("BEGIN")
                    .execute(&mut *conn)
                    .await
                    .during("BEGIN")?;
                let mut out = Vec::new();
                for (sql, values) in statements {
                    let mut q = sqlx::query(sql);
                    for v in values {
                        q = match v {
                            Value::Text(t) => q.bind(t.clone()),
                            Value::Int(i) => q.bind(*i),
                            Value::Time(t) => q.bind(*t),
                            Value::Uuid(u) => q.bind(*u),
                        };
                    }
                    match q.fetch_all(&mut *conn).await {
                        Ok(rows) => out.push(
                            rows.iter()
                                .map(|r| r.try_get::<uuid::Uuid, _>(0).map(|u| u.to_string()))
                                .collect::<Result<Vec<_>, _>>()
                                .during("reading a returned id")?,
                        ),
                        Err(e) => {
                            sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
                            return Err(e).during(sql);
                        }
                    }
                }
                sqlx::query("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .during("COMMIT")?;
                Ok(out)
            }
            RawDb::Sqlite(pool) => {
                let mut conn = pool.acquire().await.during("acquiring a connection")?;
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *conn)
                    .await
                    .during("BEGIN IMMEDIATE")?;
                let mut out = Vec::new();
                for (sql, values) in statements {
                    let mut q = sqlx::query(sql);
                    for v in values {
                        q = match v {
                            Value::Text(t) => q.bind(t.clone()),
                            Value::Int(i) => q.bind(*i),
                            Value::Time(t) => q.bind(sqlite_time(*t)),
                            Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
                        };
                    }
                    match q.fetch_all(&mut *conn).await {
                        Ok(rows) => out.push(
                            rows.iter()
                                .map(|r| r.try_get::<String, _>(0))
                                .collect::<Result<Vec<_>, _>>()
                                .during("reading a returned id")?,
                        ),
                        Err(e) => {
                            sqlx::query("ROLLBACK").execute(&mut *conn).await.ok();
                            return Err(e).during(sql);
                        }
                    }
                }
                sqlx::query("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .during("COMMIT")?;
                Ok(out)
            }
        }
    }

    /// PostgreSQL only: (transactions committed in this database, transaction ids assigned so
    /// far). The first counts every transaction, reads included; the second only those that
    /// wrote (a read-only transaction gets no id). Reading the second assigns one id itself.
    ///
    /// Busy backends flush their statistics at most once a second, idle ones up to 10 s
    /// later: `settle` is how long to wait first (11 s for an exact commit count).
    pub(crate) async fn pg_counters(
        &self,
        settle: Duration,
    ) -> Result<Option<(i64, i64)>, BenchError> {
        let RawDb::Postgres(pool) = self else {
            return Ok(None);
        };
        tokio::time::sleep(settle).await;
        let mut conn = pool.acquire().await.during("acquiring a connection")?;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut *conn)
            .await
            .during("clearing the statistics snapshot")?;
        let commits: i64 = sqlx::query_scalar(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut *conn)
        .await
        .during("reading xact_commit")?;
        let xid: i64 = sqlx::query_scalar("SELECT txid_current()")
            .fetch_one(&mut *conn)
            .await
            .during("reading txid_current")?;
        Ok(Some((commits, xid)))
    }
}

/// A time as the store writes it in SQLite (fixed width, so text order is time order).
pub(crate) fn sqlite_time(at: Timestamp) -> String {
    vigil_store::to_stored_precision(at).to_rfc3339_opts(SecondsFormat::Micros, true)
}
