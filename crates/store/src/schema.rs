//! The live schema, read from the database's catalog by constraint and trigger NAME: the
//! guarantees rely on these objects, and a migration that was edited, skipped or undone by hand
//! would remove them silently.
//!
//! PostgreSQL: `pg_constraint` (with `pg_get_constraintdef`) and `pg_trigger` (enabled ones
//! only) in the current schema. SQLite keeps constraint names only in the table's DDL, so a
//! unique constraint counts as present when the DDL names it AND a unique index on exactly its
//! columns exists (`pragma_index_list` / `pragma_index_info`); triggers come from
//! `sqlite_master`. The connection is opened read-only and never writes.

use std::str::FromStr;

use sqlx::{sqlite::SqliteConnectOptions, Connection, PgConnection, Row, SqliteConnection};

/// The I1 constraint, by name.
pub const I1_UNIQUE: (&str, &str, &[&str]) = (
    "trade_executions_user_proposal_key",
    "trade_executions",
    &["user_id", "proposal_id"],
);

/// Other unique constraints the guarantees rely on: (name, table, columns).
pub const OTHER_UNIQUE: &[(&str, &str, &[&str])] = &[
    (
        "trade_executions_client_order_id_key",
        "trade_executions",
        &["client_order_id"],
    ),
    (
        "trade_executions_market_order_key",
        "trade_executions",
        &["market", "exchange_order_id"],
    ),
    (
        "execution_events_execution_seq_key",
        "execution_events",
        &["execution_id", "seq"],
    ),
    (
        "trade_history_market_fill_key",
        "trade_history",
        &["market", "fill_id"],
    ),
];

/// Named CHECK constraints the guarantees rely on: (name, table).
pub const CHECKS: &[(&str, &str)] = &[
    ("trade_executions_signed_check", "trade_executions"),
    ("trade_executions_order_id_check", "trade_executions"),
    ("trade_executions_unknown_check", "trade_executions"),
];

/// The append-only triggers (I11), per back end.
const PG_TRIGGERS: &[&str] = &[
    "execution_events_append_only",
    "execution_events_no_truncate",
    "audit_log_append_only",
    "audit_log_no_truncate",
];
const SQLITE_TRIGGERS: &[&str] = &[
    "execution_events_no_update",
    "execution_events_no_delete",
    "audit_log_no_update",
    "audit_log_no_delete",
];

/// What the catalog holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaFacts {
    /// Unique constraints present with exactly their columns: (name, columns).
    pub unique: Vec<(String, Vec<String>)>,
    /// Named CHECK constraints present.
    pub checks: Vec<String>,
    /// Enabled triggers present.
    pub triggers: Vec<String>,
    /// The trigger names this back end uses.
    pub expected_triggers: &'static [&'static str],
}

impl SchemaFacts {
    /// Whether unique constraint `name` exists on exactly `columns`.
    pub fn has_unique(&self, name: &str, columns: &[&str]) -> bool {
        self.unique.iter().any(|(n, cols)| {
            n == name && cols.iter().map(String::as_str).eq(columns.iter().copied())
        })
    }
}

/// Reads the catalog of the database at `url`.
pub async fn read(url: &str) -> Result<SchemaFacts, String> {
    if url.starts_with("sqlite:") {
        read_sqlite(url).await
    } else {
        read_postgres(url).await
    }
}

async fn read_postgres(url: &str) -> Result<SchemaFacts, String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| format!("cannot connect to read the catalog: {e}"))?;
    let rows = sqlx::query(
        "SELECT c.conname AS name, c.contype::text AS kind, t.relname AS tab, \
         pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND c.contype IN ('u', 'c')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| format!("cannot read pg_constraint: {e}"))?;
    let mut facts = SchemaFacts {
        expected_triggers: PG_TRIGGERS,
        ..SchemaFacts::default()
    };
    for row in rows {
        let name: String = row.try_get("name").map_err(|e| e.to_string())?;
        let kind: String = row.try_get("kind").map_err(|e| e.to_string())?;
        let def: String = row.try_get("def").map_err(|e| e.to_string())?;
        if kind == "u" {
            let columns = def
                .trim()
                .strip_prefix("UNIQUE (")
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|cols| cols.split(',').map(|c| c.trim().to_owned()).collect())
                .unwrap_or_default();
            facts.unique.push((name, columns));
        } else {
            facts.checks.push(name);
        }
    }
    let triggers = sqlx::query(
        "SELECT tg.tgname AS name FROM pg_trigger tg JOIN pg_class t ON t.oid = tg.tgrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = current_schema() AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| format!("cannot read pg_trigger: {e}"))?;
    for row in triggers {
        facts
            .triggers
            .push(row.try_get("name").map_err(|e| e.to_string())?);
    }
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the catalog connection failed");
    }
    Ok(facts)
}

async fn read_sqlite(url: &str) -> Result<SchemaFacts, String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("invalid SQLite URL: {e}"))?
        .read_only(true)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("cannot open the database to read its schema: {e}"))?;
    let mut facts = SchemaFacts {
        expected_triggers: SQLITE_TRIGGERS,
        ..SchemaFacts::default()
    };
    let tables: Vec<(String, String)> =
        sqlx::query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| format!("cannot read sqlite_master: {e}"))?
            .iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("sql")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| e.to_string())?;
    let wanted: Vec<(&str, &str, &[&str])> = std::iter::once(I1_UNIQUE)
        .chain(OTHER_UNIQUE.iter().copied())
        .collect();
    for (name, table, columns) in wanted {
        let Some((_, ddl)) = tables.iter().find(|(t, _)| t == table) else {
            continue;
        };
        let declared = normalise(ddl).contains(&format!(
            "constraint {name} unique ({})",
            columns.join(", ")
        ));
        if declared && has_unique_index(&mut conn, table, columns).await? {
            facts.unique.push((
                name.to_owned(),
                columns.iter().map(|c| (*c).to_owned()).collect(),
            ));
        }
    }
    for (name, table) in CHECKS {
        if let Some((_, ddl)) = tables.iter().find(|(t, _)| t == table) {
            if normalise(ddl).contains(&format!("constraint {name} check")) {
                facts.checks.push((*name).to_owned());
            }
        }
    }
    let triggers = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("cannot read the triggers: {e}"))?;
    for row in triggers {
        facts
            .triggers
            .push(row.try_get("name").map_err(|e| e.to_string())?);
    }
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %e, "closing the catalog connection failed");
    }
    Ok(facts)
}

/// Lower case, whitespace collapsed to single spaces.
fn normalise(ddl: &str) -> String {
    ddl.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

async fn has_unique_index(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &[&str],
) -> Result<bool, String> {
    let indexes = sqlx::query("SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1")
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("cannot list the indexes of {table}: {e}"))?;
    for index in indexes {
        let name: String = index.try_get("name").map_err(|e| e.to_string())?;
        let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| format!("cannot read index {name}: {e}"))?
            .iter()
            .map(|r| r.try_get::<String, _>("name"))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        if cols.iter().map(String::as_str).eq(columns.iter().copied()) {
            return Ok(true);
        }
    }
    Ok(false)
}
