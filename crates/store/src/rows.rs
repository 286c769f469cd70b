//! Turning rows into domain values and domain values into arguments, once for both back ends.
//!
//! Every read goes through a production constructor or parser of `vigil-core` (markets, money,
//! states), so a row that would not pass validation comes back as
//! [`StoreError::InvalidData`] naming the column, never as a silently wrong value.

use rust_decimal::Decimal;
use vigil_core::{
    Asset, Execution, ExecutionId, ExecutionState, Market, Notional, OrderSize, Price, Proposal,
    ProposalId, ProposalSource, Quantity, Refusal, UserId,
};

use crate::{
    db::{Arg, Row},
    error::StoreError,
    model::{ApiToken, AuditEntry, ExecutionEventRecord, ExecutionSummary, Fill, User},
};

pub(crate) const USER_COLUMNS: &str = "id, name, is_admin, kill_switch, created_at";

pub(crate) fn user(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(row.uuid("id")?),
        name: row.text("name")?,
        is_admin: row.bool("is_admin")?,
        kill_switch: row.bool("kill_switch")?,
        created_at: row.time("created_at")?,
    })
}

pub(crate) fn api_token(row: &Row) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: row.uuid("id")?,
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

/// `(size_kind, size_value)` as stored.
pub(crate) fn size_columns(size: &OrderSize) -> (&'static str, Decimal) {
    match size {
        OrderSize::Quote(n) => ("quote", n.value()),
        OrderSize::Base(q) => ("base", q.value()),
    }
}

pub(crate) fn size(row: &Row) -> Result<OrderSize, StoreError> {
    let value = row.decimal("size_value")?;
    match row.text("size_kind")?.as_str() {
        "quote" => Notional::positive("size_value", value)
            .map(OrderSize::Quote)
            .map_err(|e| StoreError::invalid("size_value", e)),
        "base" => Quantity::positive("size_value", value)
            .map(OrderSize::Base)
            .map_err(|e| StoreError::invalid("size_value", e)),
        other => Err(StoreError::invalid(
            "size_kind",
            format!("{other:?} is neither quote nor base"),
        )),
    }
}

pub(crate) fn notional(row: &Row, column: &str) -> Result<Notional, StoreError> {
    Notional::non_negative(column, row.decimal(column)?).map_err(|e| StoreError::invalid(column, e))
}

fn opt_price(row: &Row, column: &str) -> Result<Option<Price>, StoreError> {
    row.opt_decimal(column)?
        .map(|d| Price::positive(column, d).map_err(|e| StoreError::invalid(column, e)))
        .transpose()
}

pub(crate) fn market(row: &Row) -> Result<Market, StoreError> {
    let text = row.text("market")?;
    Market::parse(&text).map_err(|e| StoreError::invalid("market", e))
}

pub(crate) const PROPOSAL_COLUMNS: &str =
    "id, user_id, market, side, order_type, size_kind, size_value, limit_price, \
     source_kind, source_name, rationale, status, created_at, expires_at";

pub(crate) fn proposal(row: &Row) -> Result<Proposal, StoreError> {
    let source_kind = row.text("source_kind")?;
    let source_name = row.text("source_name")?;
    let source: ProposalSource = format!("{source_kind}:{source_name}")
        .parse()
        .map_err(|e| StoreError::invalid("source_kind", e))?;
    Ok(Proposal {
        id: ProposalId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        market: market(row)?,
        side: row.parsed("side")?,
        order_type: row.parsed("order_type")?,
        size: size(row)?,
        limit_price: opt_price(row, "limit_price")?,
        source,
        rationale: row.text("rationale")?,
        status: row.parsed("status")?,
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
    })
}

/// The proposal columns qualified by the alias `p` and named as in [`PROPOSAL_COLUMNS`], for a
/// query that joins proposals with other tables.
pub(crate) fn proposal_columns_of_p() -> String {
    PROPOSAL_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|column| format!("p.{column} AS {column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The execution columns a proposal list shows, from the alias `e` of a LEFT JOIN (NULL when
/// the proposal has no execution); read back by [`execution_summary`].
pub(crate) const EXECUTION_SUMMARY_COLUMNS: &str = "e.id AS execution_id, \
     e.state AS execution_state, e.outcome_unknown AS execution_outcome_unknown, \
     e.refusal AS execution_refusal, e.failure AS execution_failure";

/// The summary of a proposal's execution from [`EXECUTION_SUMMARY_COLUMNS`], or `None` when
/// the join found none.
pub(crate) fn execution_summary(row: &Row) -> Result<Option<ExecutionSummary>, StoreError> {
    let Some(id) = row.opt_uuid("execution_id")? else {
        return Ok(None);
    };
    let refusal = row
        .opt_json("execution_refusal")?
        .map(serde_json::from_value::<Refusal>)
        .transpose()
        .map_err(|e| StoreError::invalid("trade_executions.refusal", e))?;
    let outcome_unknown = row.opt_bool("execution_outcome_unknown")?.ok_or_else(|| {
        StoreError::invalid("trade_executions.outcome_unknown", "NULL for an execution")
    })?;
    Ok(Some(ExecutionSummary {
        id: ExecutionId::from_uuid(id),
        state: row.parsed("execution_state")?,
        outcome_unknown,
        refusal,
        failure: row.opt_text("execution_failure")?,
    }))
}

/// `(source_kind, source_name)` as stored.
pub(crate) fn source_columns(source: &ProposalSource) -> (&'static str, String) {
    match source {
        ProposalSource::Strategy(n) => ("strategy", n.clone()),
        ProposalSource::Advisor(n) => ("advisor", n.clone()),
        ProposalSource::Person(n) => ("person", n.clone()),
    }
}

pub(crate) const EXECUTION_COLUMNS: &str = "id, user_id, proposal_id, client_order_id, market, side, order_type, \
     size_kind, size_value, limit_price, notional, state, outcome_unknown, refusal, failure, \
     exchange_order_id, signed_at, access_window_ms, filled_notional, event_seq, created_at, updated_at";

/// An execution row and its compare-and-set token (the number of its events).
pub(crate) fn execution(row: &Row) -> Result<(Execution, i64), StoreError> {
    let refusal = row
        .opt_json("refusal")?
        .map(serde_json::from_value::<Refusal>)
        .transpose()
        .map_err(|e| StoreError::invalid("trade_executions.refusal", e))?;
    let access_window_ms = row
        .opt_i64("access_window_ms")?
        .map(u32::try_from)
        .transpose()
        .map_err(|e| StoreError::invalid("trade_executions.access_window_ms", e))?;
    let execution = Execution {
        id: ExecutionId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        proposal_id: ProposalId::from_uuid(row.uuid("proposal_id")?),
        client_order_id: vigil_core::ClientOrderId::from_uuid(row.uuid("client_order_id")?),
        market: market(row)?,
        side: row.parsed("side")?,
        order_type: row.parsed("order_type")?,
        size: size(row)?,
        limit_price: opt_price(row, "limit_price")?,
        notional: notional(row, "notional")?,
        state: row.parsed("state")?,
        outcome_unknown: row.bool("outcome_unknown")?,
        refusal,
        failure: row.opt_text("failure")?,
        exchange_order_id: row.opt_text("exchange_order_id")?,
        signed_at: row.opt_time("signed_at")?,
        access_window_ms,
        filled_notional: notional(row, "filled_notional")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    };
    // Pair assertion (STYLE rule 12): the invariants checked where rows are written hold where
    // they are read back. The schema's CHECK constraints enforce the same on every write.
    if execution.state == ExecutionState::Submitting && execution.signed_at.is_none() {
        return Err(StoreError::invalid(
            "trade_executions.signed_at",
            format!(
                "execution {} is SUBMITTING without a signing time (I2)",
                execution.id
            ),
        ));
    }
    Ok((execution, row.i64("event_seq")?))
}

/// The arguments for the mutable execution columns, in the order of `EXECUTION_SET`.
pub(crate) fn execution_mutable_args(e: &Execution) -> Result<Vec<Arg>, StoreError> {
    let refusal = e
        .refusal
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|err| StoreError::invalid("trade_executions.refusal", err))?;
    Ok(vec![
        Arg::from(e.notional.value()),
        Arg::from(e.state.as_str()),
        Arg::from(e.outcome_unknown),
        Arg::from(refusal),
        Arg::from(e.failure.clone()),
        Arg::from(e.exchange_order_id.clone()),
        Arg::from(e.signed_at),
        Arg::from(e.access_window_ms.map(i64::from)),
        Arg::from(e.filled_notional.value()),
        Arg::from(e.updated_at),
    ])
}

pub(crate) const EVENT_COLUMNS: &str =
    "execution_id, seq, event, from_state, to_state, payload, at";

pub(crate) fn event_record(row: &Row) -> Result<ExecutionEventRecord, StoreError> {
    let from_state = row
        .opt_text("from_state")?
        .map(|s| s.parse::<ExecutionState>())
        .transpose()
        .map_err(|e| StoreError::invalid("execution_events.from_state", e))?;
    Ok(ExecutionEventRecord {
        execution_id: ExecutionId::from_uuid(row.uuid("execution_id")?),
        seq: u32::try_from(row.i64("seq")?)
            .map_err(|e| StoreError::invalid("execution_events.seq", e))?,
        event: row.text("event")?,
        from_state,
        to_state: row.parsed("to_state")?,
        payload: row.json("payload")?,
        at: row.time("at")?,
    })
}

pub(crate) const AUDIT_COLUMNS: &str = "id, actor, action, target, before, after, reason, at";

pub(crate) fn audit_entry(row: &Row) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.uuid("id")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        target: row.text("target")?,
        before: row.opt_json("before")?,
        after: row.opt_json("after")?,
        reason: row.opt_text("reason")?,
        at: row.time("at")?,
    })
}

/// A list limit between 1 and [`crate::LIST_LIMIT_MAX`].
pub(crate) fn limit(requested: u32) -> i64 {
    i64::from(requested.clamp(1, crate::LIST_LIMIT_MAX))
}

pub(crate) fn fill(row: &Row) -> Result<Fill, StoreError> {
    let positive = |column: &str| -> Result<Decimal, StoreError> {
        let value = row.decimal(column)?;
        if value <= Decimal::ZERO {
            return Err(StoreError::invalid(
                column,
                format!("{value} is not positive"),
            ));
        }
        Ok(value)
    };
    let fee_currency = row.text("fee_currency")?;
    Ok(Fill {
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        execution_id: row.opt_uuid("execution_id")?.map(ExecutionId::from_uuid),
        market: market(row)?,
        fill_id: row.text("fill_id")?,
        order_id: row.text("order_id")?,
        client_order_id: row.opt_text("client_order_id")?,
        side: row.parsed("side")?,
        amount: Quantity::positive("amount", positive("amount")?)
            .map_err(|e| StoreError::invalid("trade_history.amount", e))?,
        price: Price::positive("price", positive("price")?)
            .map_err(|e| StoreError::invalid("trade_history.price", e))?,
        fee: row.decimal("fee")?,
        fee_currency: Asset::parse("fee_currency", &fee_currency)
            .map_err(|e| StoreError::invalid("trade_history.fee_currency", e))?,
        filled_at: row.time("filled_at")?,
    })
}
