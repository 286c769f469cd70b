//! Executions: the I1 claim, compare-and-set transitions computed only by
//! `vigil_core::Execution::apply`, reads and lists, the event history, and fills.
//!
//! Every transition writes the new row AND one `execution_events` row in the same transaction
//! (I11). The compare-and-set token is the row's `event_seq` (its number of events), not only
//! its state: a state may move to itself (`OutcomeUnknown` keeps `SUBMITTING`), and two such
//! moves racing from the same row must still produce one winner.

use serde_json::json;
use uuid::Uuid;
use vigil_core::{
    proposal::ProposalAction, Execution, ExecutionEvent, ExecutionId, ExecutionState, Market,
    ProposalId, ProposalStatus, Timestamp, UserId, ValidationError,
};

use crate::{
    constraint,
    db::{args, Conn},
    error::StoreError,
    model::{ClaimOutcome, ExecutionEventRecord, ExecutionFilter, Fill},
    proposals::proposal_cas,
    rows,
    txn_retry::{run_transaction, StoreTxn, TxnMode},
    Store,
};

/// Times as they will read back (microseconds), so what a write returns equals what a later
/// read returns.
fn stored_times(mut e: Execution) -> Execution {
    e.created_at = crate::to_stored_precision(e.created_at);
    e.updated_at = crate::to_stored_precision(e.updated_at);
    e.signed_at = e.signed_at.map(crate::to_stored_precision);
    e
}

pub(crate) async fn execution_read(
    conn: &mut Conn<'_>,
    id: ExecutionId,
) -> Result<(Execution, i64), StoreError> {
    let sql = format!(
        "SELECT {} FROM trade_executions WHERE id = $1",
        rows::EXECUTION_COLUMNS
    );
    let row = conn
        .fetch_optional("execution_get", &sql, args![id.as_uuid()])
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "execution",
            key: id.to_string(),
        })?;
    rows::execution(&row)
}

#[allow(clippy::too_many_arguments)]
async fn event_append(
    conn: &mut Conn<'_>,
    execution: ExecutionId,
    seq: i64,
    event: &str,
    from: Option<ExecutionState>,
    to: ExecutionState,
    payload: serde_json::Value,
    at: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "execution event append",
        "INSERT INTO execution_events (id, execution_id, seq, event, from_state, to_state, payload, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            Uuid::new_v4(),
            execution.as_uuid(),
            seq,
            event,
            from.map(|s| s.as_str().to_owned()),
            to.as_str(),
            payload,
            at,
        ],
    )
    .await?;
    Ok(())
}

/// The compare-and-set transition, inside a caller's transaction.
pub(crate) async fn transition(
    conn: &mut Conn<'_>,
    id: ExecutionId,
    expected: ExecutionState,
    event: &ExecutionEvent,
    now: Timestamp,
) -> Result<Execution, StoreError> {
    let (current, seq) = execution_read(conn, id).await?;
    if current.state != expected {
        return Err(StoreError::ExecutionConflict {
            expected,
            current: Box::new(current),
        });
    }
    // The ONLY way a new row is computed: the core transition table (STYLE rule 2).
    let next = stored_times(current.apply(event, now)?);
    let mut update = args![id.as_uuid(), seq];
    update.extend(rows::execution_mutable_args(&next)?);
    update.push((seq + 1).into());
    let changed = conn
        .execute(
            "execution_transition",
            "UPDATE trade_executions SET notional = $3, state = $4, outcome_unknown = $5, \
             refusal = $6, failure = $7, exchange_order_id = $8, signed_at = $9, \
             access_window_ms = $10, filled_notional = $11, updated_at = $12, event_seq = $13 \
             WHERE id = $1 AND event_seq = $2",
            update,
        )
        .await?;
    if changed == 0 {
        // Another transition committed between our read and our write; report the truth.
        let (now_current, _) = execution_read(conn, id).await?;
        return Err(StoreError::ExecutionConflict {
            expected,
            current: Box::new(now_current),
        });
    }
    let payload = serde_json::to_value(event)
        .map_err(|e| StoreError::invalid("execution_events.payload", e))?;
    event_append(
        conn,
        id,
        seq + 1,
        event.name(),
        Some(current.state),
        next.state,
        payload,
        now,
    )
    .await?;
    debug_assert_eq!(
        next.state,
        current.state.apply(event).unwrap_or(current.state),
        "Invariant: the stored state is the transition table's answer"
    );
    Ok(next)
}

impl StoreTxn {
    /// The execution with this id, read inside the caller's transaction.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn execution_get_in_txn(&mut self, id: ExecutionId) -> Result<Execution, StoreError> {
        Ok(execution_read(&mut self.conn(), id).await?.0)
    }

    /// [`Store::execution_transition`] inside the caller's transaction (e.g. a per-user
    /// section).
    ///
    /// # Errors
    /// As [`Store::execution_transition`].
    pub async fn execution_transition_in_txn(
        &mut self,
        id: ExecutionId,
        expected: ExecutionState,
        event: &ExecutionEvent,
        now: Timestamp,
    ) -> Result<Execution, StoreError> {
        transition(&mut self.conn(), id, expected, event, now).await
    }
}

impl Store {
    /// The I1 claim. In ONE transaction: inserts the execution (which must be `CLAIMED`, with
    /// its fresh `client_order_id`), its first `execution_events` row (`claimed`), and moves the
    /// proposal `APPROVED → EXECUTED`. When the proposal already has an execution, the unique
    /// constraint `trade_executions_user_proposal_key` refuses the insert and the answer is
    /// [`ClaimOutcome::AlreadyClaimed`] with the existing execution, read back in a fresh
    /// statement: by design, never an error, and never a second order.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] when the execution is not a fresh `CLAIMED` one;
    /// [`StoreError::ProposalConflict`] when the proposal is not `APPROVED` (nothing written);
    /// [`StoreError::NotFound`] when the proposal does not exist or is another user's;
    /// [`StoreError::ConstraintViolation`] (`trade_executions_client_order_id_key`) when the
    /// client order id is already used.
    pub async fn execution_claim(&self, execution: &Execution) -> Result<ClaimOutcome, StoreError> {
        check_fresh_claim(execution)?;
        let execution = stored_times(execution.clone());
        let row = execution.clone();
        let result = run_transaction(&self.inner, "execution_claim", TxnMode::Write, move |txn| {
            let e = row.clone();
            Box::pin(async move {
                let mut conn = txn.conn();
                let (size_kind, size_value) = rows::size_columns(&e.size);
                let mut insert = args![
                    e.id.as_uuid(),
                    e.user_id.as_uuid(),
                    e.proposal_id.as_uuid(),
                    e.client_order_id.as_uuid(),
                    e.market.to_string(),
                    e.side.as_str(),
                    e.order_type.as_str(),
                    size_kind,
                    size_value,
                    e.limit_price.map(|p| p.value()),
                    e.created_at,
                ];
                insert.extend(rows::execution_mutable_args(&e)?);
                conn.execute(
                    "execution_claim",
                    "INSERT INTO trade_executions (id, user_id, proposal_id, client_order_id, market, \
                     side, order_type, size_kind, size_value, limit_price, created_at, notional, \
                     state, outcome_unknown, refusal, failure, exchange_order_id, signed_at, \
                     access_window_ms, filled_notional, updated_at, event_seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                     $16, $17, $18, $19, $20, $21, 1)",
                    insert,
                )
                .await?;
                let payload = json!({
                    "event": "claimed",
                    "proposal_id": e.proposal_id,
                    "client_order_id": e.client_order_id,
                });
                event_append(
                    &mut conn,
                    e.id,
                    1,
                    "claimed",
                    None,
                    ExecutionState::Claimed,
                    payload,
                    e.created_at,
                )
                .await?;
                proposal_cas(
                    &mut conn,
                    e.proposal_id,
                    Some(e.user_id),
                    ProposalStatus::Approved,
                    ProposalAction::MarkExecuted,
                    e.created_at,
                )
                .await?;
                Ok(())
            })
        })
        .await;
        match result {
            Ok(()) => Ok(ClaimOutcome::Claimed(execution)),
            Err(StoreError::ConstraintViolation { constraint, .. })
                if constraint == constraint::EXECUTION_USER_PROPOSAL =>
            {
                // The winner committed before our insert could fail, so this fresh read sees it.
                let existing = self
                    .execution_get_by_proposal(execution.user_id, execution.proposal_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::invalid(
                            "trade_executions",
                            "the unique (user, proposal) constraint fired but no execution reads back",
                        )
                    })?;
                tracing::info!(
                    execution_id = %existing.id,
                    proposal_id = %existing.proposal_id,
                    "proposal already claimed; answering with the existing execution (I1)"
                );
                Ok(ClaimOutcome::AlreadyClaimed(existing))
            }
            Err(other) => Err(other),
        }
    }

    /// Moves an execution from `expected` by `event`, by compare-and-set: the new row is
    /// computed ONLY by `vigil_core::Execution::apply`, and the row and its event are written in
    /// one transaction. Returns the execution as stored.
    ///
    /// # Errors
    /// [`StoreError::ExecutionConflict`] with the current execution when it is no longer in
    /// `expected` or a concurrent transition won; [`StoreError::IllegalTransition`] when the
    /// table refuses the move; [`StoreError::NotFound`] for an unknown execution.
    pub async fn execution_transition(
        &self,
        id: ExecutionId,
        expected: ExecutionState,
        event: &ExecutionEvent,
        now: Timestamp,
    ) -> Result<Execution, StoreError> {
        let event = event.clone();
        run_transaction(
            &self.inner,
            "execution_transition",
            TxnMode::Write,
            move |txn| {
                let event = event.clone();
                Box::pin(async move {
                    txn.execution_transition_in_txn(id, expected, &event, now)
                        .await
                })
            },
        )
        .await
    }

    /// The execution with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn execution_get(&self, id: ExecutionId) -> Result<Execution, StoreError> {
        let mut pooled = self.acquire().await?;
        let found = execution_read(&mut pooled.conn(), id).await;
        found.map(|(e, _)| e).map_err(|e| self.classify(e))
    }

    /// The execution of `user` for `proposal`, if one was claimed (there is at most one, I1).
    ///
    /// # Errors
    /// A database error.
    pub async fn execution_get_by_proposal(
        &self,
        user: UserId,
        proposal: ProposalId,
    ) -> Result<Option<Execution>, StoreError> {
        let sql = format!(
            "SELECT {} FROM trade_executions WHERE user_id = $1 AND proposal_id = $2",
            rows::EXECUTION_COLUMNS
        );
        self.executions_query(
            "execution_get_by_proposal",
            &sql,
            args![user.as_uuid(), proposal.as_uuid()],
        )
        .await
        .map(|mut found| found.pop())
    }

    /// Executions matching the filter, newest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn execution_list(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>, StoreError> {
        let sql = format!(
            "SELECT {} FROM trade_executions WHERE ($1 IS NULL OR user_id = $1) \
             AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR market = $3) \
             ORDER BY created_at DESC, id DESC LIMIT $4",
            rows::EXECUTION_COLUMNS
        );
        let args = args![
            filter.user.map(|u| u.as_uuid()),
            filter.state.map(|s| s.as_str().to_owned()),
            filter.market.as_ref().map(Market::to_string),
            rows::limit(filter.limit),
        ];
        self.executions_query("execution_list", &sql, args).await
    }

    /// `SUBMITTING` executions, oldest first: what the reconciler resolves (I3).
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn execution_list_unresolved(
        &self,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        self.executions_in_state(ExecutionState::Submitting, None, None, limit)
            .await
    }

    /// `CLAIMED` executions created before `before`, oldest first: abandoned by a process that
    /// stopped after the claim (the reconciler ends them as `REJECTED`).
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn execution_list_claimed_before(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        self.executions_in_state(ExecutionState::Claimed, Some(before), None, limit)
            .await
    }

    /// `SUBMITTED` executions in claim order (`created_at`, then id), starting after `after`
    /// (the last one of the previous page; `None`: from the oldest): orders whose fills are
    /// followed. Paging by this key lets a follower get past orders that stay open for long.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn execution_list_submitted(
        &self,
        after: Option<&Execution>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        let after = after.map(|e| (e.created_at, e.id));
        self.executions_in_state(ExecutionState::Submitted, None, after, limit)
            .await
    }

    async fn executions_in_state(
        &self,
        state: ExecutionState,
        before: Option<Timestamp>,
        after: Option<(Timestamp, ExecutionId)>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        // `state IN (...)` repeats the partial index's predicate so both planners may use it.
        let sql = format!(
            "SELECT {} FROM trade_executions \
             WHERE state IN ('CLAIMED', 'SUBMITTING', 'SUBMITTED') AND state = $1 \
             AND ($2 IS NULL OR created_at < $2) \
             AND ($4 IS NULL OR created_at > $4 OR (created_at = $4 AND id > $5)) \
             ORDER BY created_at, id LIMIT $3",
            rows::EXECUTION_COLUMNS
        );
        let (after_at, after_id) = after.unzip();
        let args = args![
            state.as_str(),
            before,
            rows::limit(limit),
            after_at,
            after_id.map(|id| id.as_uuid())
        ];
        self.executions_query("execution list by state", &sql, args)
            .await
    }

    async fn executions_query(
        &self,
        operation: &'static str,
        sql: &str,
        args: Vec<crate::db::Arg>,
    ) -> Result<Vec<Execution>, StoreError> {
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(operation, sql, args)
            .await
            .map_err(|e| self.classify(e))?;
        found
            .iter()
            .map(|row| rows::execution(row).map(|(e, _)| e))
            .collect()
    }

    /// The events of an execution, in order (the claim first).
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn execution_events(
        &self,
        id: ExecutionId,
    ) -> Result<Vec<ExecutionEventRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM execution_events WHERE execution_id = $1 ORDER BY seq LIMIT $2",
            rows::EVENT_COLUMNS
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "execution_events",
                &sql,
                args![id.as_uuid(), rows::limit(crate::LIST_LIMIT_MAX)],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(rows::event_record).collect()
    }

    /// Records a fill in `trade_history`, idempotently: a fill already recorded (same market and
    /// fill id) changes nothing. Returns whether this call inserted it.
    ///
    /// # Errors
    /// A foreign-key violation for an unknown user or execution.
    pub async fn fill_record(
        &self,
        fill: &Fill,
        recorded_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let fill = fill.clone();
        run_transaction(&self.inner, "fill_record", TxnMode::Write, move |txn| {
            let f = fill.clone();
            Box::pin(async move {
                let inserted = txn
                    .conn()
                    .execute(
                        "fill_record",
                        "INSERT INTO trade_history (id, user_id, execution_id, market, fill_id, \
                         order_id, client_order_id, side, amount, price, fee, fee_currency, \
                         filled_at, recorded_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                         ON CONFLICT (market, fill_id) DO NOTHING",
                        args![
                            Uuid::new_v4(),
                            f.user_id.as_uuid(),
                            f.execution_id.map(|e| e.as_uuid()),
                            f.market.to_string(),
                            f.fill_id,
                            f.order_id,
                            f.client_order_id,
                            f.side.as_str(),
                            f.amount.value(),
                            f.price.value(),
                            f.fee,
                            f.fee_currency.to_string(),
                            f.filled_at,
                            recorded_at,
                        ],
                    )
                    .await?;
                Ok(inserted > 0)
            })
        })
        .await
    }

    /// The fills of an execution, oldest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn fill_list_for_execution(&self, id: ExecutionId) -> Result<Vec<Fill>, StoreError> {
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "fill_list_for_execution",
                "SELECT user_id, execution_id, market, fill_id, order_id, client_order_id, side, \
                 amount, price, fee, fee_currency, filled_at FROM trade_history \
                 WHERE execution_id = $1 ORDER BY filled_at, fill_id LIMIT $2",
                args![id.as_uuid(), rows::limit(crate::LIST_LIMIT_MAX)],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(rows::fill).collect()
    }
}

fn check_fresh_claim(e: &Execution) -> Result<(), StoreError> {
    let mut problems = Vec::new();
    if e.state != ExecutionState::Claimed {
        problems.push(ValidationError::new(
            "state",
            e.state,
            "CLAIMED for a new claim",
        ));
    }
    if e.outcome_unknown || e.exchange_order_id.is_some() || e.signed_at.is_some() {
        problems.push(ValidationError::new(
            "execution",
            e.id,
            "a fresh claim: no signing time, no exchange order id, no unknown outcome",
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StoreError::InvalidInput(problems))
    }
}
