//! Constraint violations, matched by constraint NAME on both back ends.
//!
//! PostgreSQL reports the violated constraint's name. SQLite does not for UNIQUE constraints: it
//! reports the columns (`UNIQUE constraint failed: users.name`). The table below maps those
//! column lists back to the names the schemas give the constraints (they are declared with the
//! same names in both migrations), so callers match one name whatever the back end. CHECK
//! constraints are named in SQLite's message already (`CHECK constraint failed: <name>`).

use sqlx::error::ErrorKind;

use crate::error::StoreError;

/// I1: the unique (user, proposal) constraint of `trade_executions`.
pub const EXECUTION_USER_PROPOSAL: &str = "trade_executions_user_proposal_key";
/// The unique `client_order_id` constraint of `trade_executions`.
pub const EXECUTION_CLIENT_ORDER_ID: &str = "trade_executions_client_order_id_key";
/// The unique user name.
pub const USER_NAME: &str = "users_name_key";
/// The unique token hash.
pub const API_TOKEN_HASH: &str = "api_tokens_token_sha256_key";
/// One fill per (market, fill id).
pub const TRADE_HISTORY_MARKET_FILL: &str = "trade_history_market_fill_key";

/// (constraint name, SQLite's column list in its UNIQUE violation message, what it means).
const UNIQUE: &[(&str, &str, &str)] = &[
    (
        USER_NAME,
        "users.name",
        "a user with that name already exists; choose another name",
    ),
    (
        API_TOKEN_HASH,
        "api_tokens.token_sha256",
        "that token is already registered; generate a new token",
    ),
    (
        "allowlist_user_market_key",
        "allowlist.user_id, allowlist.market",
        "the market is already on the user's allowlist",
    ),
    (
        EXECUTION_USER_PROPOSAL,
        "trade_executions.user_id, trade_executions.proposal_id",
        "the proposal already has an execution (I1)",
    ),
    (
        EXECUTION_CLIENT_ORDER_ID,
        "trade_executions.client_order_id",
        "the client order id is already used by another execution; claim again with a fresh one",
    ),
    (
        "trade_executions_market_order_key",
        "trade_executions.market, trade_executions.exchange_order_id",
        "that exchange order already belongs to another execution",
    ),
    (
        "execution_events_execution_seq_key",
        "execution_events.execution_id, execution_events.seq",
        "an event with that sequence number already exists (a concurrent transition won)",
    ),
    (
        "scan_job_runs_job_due_key",
        "scan_job_runs.job_id, scan_job_runs.due_at",
        "that due run of the scan job is already recorded (I9)",
    ),
    (
        TRADE_HISTORY_MARKET_FILL,
        "trade_history.market, trade_history.fill_id",
        "the fill is already recorded",
    ),
];

/// The name of the constraint a database error violated, if it is a constraint violation.
#[must_use]
pub fn violated_constraint(error: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    if let Some(name) = db.constraint() {
        return Some(name.to_owned());
    }
    let message = db.message();
    match db.kind() {
        ErrorKind::UniqueViolation => {
            let columns = message.strip_prefix("UNIQUE constraint failed: ")?;
            if let Some((name, _, _)) = UNIQUE.iter().find(|(_, cols, _)| *cols == columns) {
                return Some((*name).to_owned());
            }
            // A primary key: `<table>.id`, named `<table>_pkey` on PostgreSQL.
            let table = columns.strip_suffix(".id")?;
            Some(format!("{table}_pkey"))
        }
        ErrorKind::CheckViolation => message
            .strip_prefix("CHECK constraint failed: ")
            .map(str::to_owned),
        ErrorKind::ForeignKeyViolation => Some("foreign_key".to_owned()),
        _ => None,
    }
}

/// Turns a raw constraint violation into [`StoreError::ConstraintViolation`]; other errors pass
/// through unchanged.
pub(crate) fn map_violation(error: StoreError) -> StoreError {
    let StoreError::Database { source, operation } = error else {
        return error;
    };
    match violated_constraint(&source) {
        Some(constraint) => {
            let message = UNIQUE
                .iter()
                .find(|(name, _, _)| *name == constraint)
                .map_or_else(
                    || format!("{operation} was refused by the database"),
                    |(_, _, meaning)| (*meaning).to_owned(),
                );
            StoreError::ConstraintViolation {
                constraint,
                message,
            }
        }
        None => StoreError::Database { operation, source },
    }
}
