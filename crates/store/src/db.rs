//! One SQL layer over both back ends: typed arguments, typed row reads, and a connection handle
//! that is either PostgreSQL or SQLite.
//!
//! The queries themselves are shared text (`$1` placeholders work on both: SQLite reads `$N` as
//! the N-th argument). What differs is how values are stored, and that is decided here only:
//! PostgreSQL gets native UUID, NUMERIC, TIMESTAMPTZ and JSONB; SQLite gets TEXT for all four
//! (the exact decimal string, the hyphenated UUID, a fixed-width UTC time, the JSON text) and
//! 0/1 for booleans. Every read goes through [`Row`], which turns a bad value into
//! [`StoreError::InvalidData`] naming the column instead of panicking or guessing.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use rust_decimal::Decimal;
use sqlx::{
    postgres::{PgArguments, PgRow},
    query::Query,
    sqlite::{SqliteArguments, SqliteRow},
    PgConnection, Postgres, Row as _, Sqlite, SqliteConnection,
};
use uuid::Uuid;
use vigil_core::Timestamp;

use crate::error::StoreError;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// SQLite: the embedded default (one file, WAL, `synchronous=FULL`).
    Sqlite,
    /// PostgreSQL: production, and how several instances coordinate.
    Postgres,
}

/// Times are stored with microsecond precision on both back ends (PostgreSQL's precision), so a
/// value written and read back compares equal.
#[must_use]
pub fn to_stored_precision(at: Timestamp) -> Timestamp {
    at.trunc_subsecs(6)
}

/// The fixed-width text form of a time on SQLite: `2024-01-31T12:00:00.000000Z`. Fixed width
/// and UTC make text comparison equal to time comparison, which the guard queries rely on.
pub(crate) fn sqlite_time(at: Timestamp) -> String {
    to_stored_precision(at).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A value bound to a query parameter. Optional values carry their type so PostgreSQL gets a
/// typed NULL.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Uuid(Option<Uuid>),
    Text(Option<String>),
    Decimal(Option<Decimal>),
    Time(Option<Timestamp>),
    Bool(bool),
    Int(Option<i64>),
    Json(Option<serde_json::Value>),
}

impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Uuid(Some(v))
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Self {
        Arg::Uuid(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Decimal> for Arg {
    fn from(v: Decimal) -> Self {
        Arg::Decimal(Some(v))
    }
}
impl From<Option<Decimal>> for Arg {
    fn from(v: Option<Decimal>) -> Self {
        Arg::Decimal(v)
    }
}
impl From<Timestamp> for Arg {
    fn from(v: Timestamp) -> Self {
        Arg::Time(Some(v))
    }
}
impl From<Option<Timestamp>> for Arg {
    fn from(v: Option<Timestamp>) -> Self {
        Arg::Time(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<serde_json::Value> for Arg {
    fn from(v: serde_json::Value) -> Self {
        Arg::Json(Some(v))
    }
}
impl From<Option<serde_json::Value>> for Arg {
    fn from(v: Option<serde_json::Value>) -> Self {
        Arg::Json(v)
    }
}

/// Builds a `Vec<Arg>` from values of mixed types.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}
pub(crate) use args;

fn bind_pg<'q>(
    query: Query<'q, Postgres, PgArguments>,
    arg: Arg,
) -> Query<'q, Postgres, PgArguments> {
    match arg {
        Arg::Uuid(v) => query.bind(v),
        Arg::Text(v) => query.bind(v),
        Arg::Decimal(v) => query.bind(v),
        Arg::Time(v) => query.bind(v.map(to_stored_precision)),
        Arg::Bool(v) => query.bind(v),
        Arg::Int(v) => query.bind(v),
        Arg::Json(v) => query.bind(v.map(sqlx::types::Json)),
    }
}

fn bind_sqlite<'q>(
    query: Query<'q, Sqlite, SqliteArguments<'q>>,
    arg: Arg,
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    match arg {
        Arg::Uuid(v) => query.bind(v.map(|u| u.hyphenated().to_string())),
        Arg::Text(v) => query.bind(v),
        Arg::Decimal(v) => query.bind(v.map(|d| d.normalize().to_string())),
        Arg::Time(v) => query.bind(v.map(sqlite_time)),
        Arg::Bool(v) => query.bind(v),
        Arg::Int(v) => query.bind(v),
        Arg::Json(v) => query.bind(v.map(|j| j.to_string())),
    }
}

/// A connection (or a transaction's connection) on either back end.
pub(crate) enum Conn<'c> {
    Postgres(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

impl Conn<'_> {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Conn::Postgres(_) => BackendKind::Postgres,
            Conn::Sqlite(_) => BackendKind::Sqlite,
        }
    }

    /// Runs a statement and returns how many rows it changed.
    pub(crate) async fn execute(
        &mut self,
        operation: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<u64, StoreError> {
        match self {
            Conn::Postgres(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_pg);
                let done = query
                    .execute(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(done.rows_affected())
            }
            Conn::Sqlite(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_sqlite);
                let done = query
                    .execute(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(done.rows_affected())
            }
        }
    }

    /// Runs a query and returns every row.
    pub(crate) async fn fetch_all(
        &mut self,
        operation: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Postgres(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_pg);
                let rows = query
                    .fetch_all(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(rows.into_iter().map(Row::Postgres).collect())
            }
            Conn::Sqlite(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_sqlite);
                let rows = query
                    .fetch_all(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(rows.into_iter().map(Row::Sqlite).collect())
            }
        }
    }

    /// Runs a query and returns its first row, if any.
    pub(crate) async fn fetch_optional(
        &mut self,
        operation: &'static str,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<Row>, StoreError> {
        match self {
            Conn::Postgres(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_pg);
                let row = query
                    .fetch_optional(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(row.map(Row::Postgres))
            }
            Conn::Sqlite(conn) => {
                let query = args.into_iter().fold(sqlx::query(sql), bind_sqlite);
                let row = query
                    .fetch_optional(&mut **conn)
                    .await
                    .map_err(StoreError::db(operation))?;
                Ok(row.map(Row::Sqlite))
            }
        }
    }
}

/// A row from either back end, read column by column into Vigil's types.
pub(crate) enum Row {
    Postgres(PgRow),
    Sqlite(SqliteRow),
}

impl Row {
    fn get<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>
            + for<'r> sqlx::Decode<'r, Sqlite>
            + sqlx::Type<Sqlite>,
    {
        match self {
            Row::Postgres(row) => row.try_get(column),
            Row::Sqlite(row) => row.try_get(column),
        }
        .map_err(|e| StoreError::invalid(column, e))
    }

    pub(crate) fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get::<Option<String>>(column)
    }

    pub(crate) fn text(&self, column: &str) -> Result<String, StoreError> {
        self.opt_text(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where a value is required"))
    }

    pub(crate) fn bool(&self, column: &str) -> Result<bool, StoreError> {
        self.get::<bool>(column)
    }

    pub(crate) fn opt_bool(&self, column: &str) -> Result<Option<bool>, StoreError> {
        self.get::<Option<bool>>(column)
    }

    pub(crate) fn opt_i64(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get::<Option<i64>>(column)
    }

    pub(crate) fn i64(&self, column: &str) -> Result<i64, StoreError> {
        self.opt_i64(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where a number is required"))
    }

    pub(crate) fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        match self {
            Row::Postgres(row) => row
                .try_get::<Option<Uuid>, _>(column)
                .map_err(|e| StoreError::invalid(column, e)),
            Row::Sqlite(row) => {
                let text: Option<String> = row
                    .try_get(column)
                    .map_err(|e| StoreError::invalid(column, e))?;
                text.map(|t| {
                    Uuid::parse_str(&t)
                        .map_err(|_| StoreError::invalid(column, format!("{t:?} is not a UUID")))
                })
                .transpose()
            }
        }
    }

    pub(crate) fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        self.opt_uuid(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where an id is required"))
    }

    pub(crate) fn opt_decimal(&self, column: &str) -> Result<Option<Decimal>, StoreError> {
        match self {
            Row::Postgres(row) => row
                .try_get::<Option<Decimal>, _>(column)
                .map_err(|e| StoreError::invalid(column, e)),
            Row::Sqlite(row) => {
                let text: Option<String> = row
                    .try_get(column)
                    .map_err(|e| StoreError::invalid(column, e))?;
                text.map(|t| {
                    Decimal::from_str_exact(&t).map_err(|_| {
                        StoreError::invalid(column, format!("{t:?} is not an exact decimal"))
                    })
                })
                .transpose()
            }
        }
    }

    pub(crate) fn decimal(&self, column: &str) -> Result<Decimal, StoreError> {
        self.opt_decimal(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where an amount is required"))
    }

    pub(crate) fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, StoreError> {
        match self {
            Row::Postgres(row) => row
                .try_get::<Option<DateTime<Utc>>, _>(column)
                .map_err(|e| StoreError::invalid(column, e)),
            Row::Sqlite(row) => {
                let text: Option<String> = row
                    .try_get(column)
                    .map_err(|e| StoreError::invalid(column, e))?;
                text.map(|t| {
                    DateTime::parse_from_rfc3339(&t)
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|_| {
                            StoreError::invalid(
                                column,
                                format!("{t:?} is not an RFC 3339 UTC time"),
                            )
                        })
                })
                .transpose()
            }
        }
    }

    pub(crate) fn time(&self, column: &str) -> Result<Timestamp, StoreError> {
        self.opt_time(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where a time is required"))
    }

    pub(crate) fn opt_json(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
        match self {
            Row::Postgres(row) => row
                .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(column)
                .map(|j| j.map(|sqlx::types::Json(v)| v))
                .map_err(|e| StoreError::invalid(column, e)),
            Row::Sqlite(row) => {
                let text: Option<String> = row
                    .try_get(column)
                    .map_err(|e| StoreError::invalid(column, e))?;
                text.map(|t| {
                    serde_json::from_str(&t)
                        .map_err(|e| StoreError::invalid(column, format!("not JSON: {e}")))
                })
                .transpose()
            }
        }
    }

    pub(crate) fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        self.opt_json(column)?
            .ok_or_else(|| StoreError::invalid(column, "NULL where JSON is required"))
    }

    /// Parses a text column with `FromStr`, naming the column when it fails.
    pub(crate) fn parsed<T>(&self, column: &str) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let text = self.text(column)?;
        text.parse()
            .map_err(|e| StoreError::invalid(column, format!("{text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_time_is_fixed_width_so_text_order_is_time_order() {
        let a = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let b = a + chrono::Duration::nanoseconds(1_500);
        let c = a + chrono::Duration::seconds(1);
        let (ta, tb, tc) = (sqlite_time(a), sqlite_time(b), sqlite_time(c));
        assert_eq!(ta, "2023-11-14T22:13:20.000000Z");
        assert_eq!(ta.len(), tb.len());
        assert!(ta < tb && tb < tc);
        assert_eq!(tb, "2023-11-14T22:13:20.000001Z");
    }
}
