//! Proposals: insert, read, list, and status changes by compare-and-set through
//! `vigil_core::ProposalStatus::apply` (the store never writes a status the lifecycle refuses).

use vigil_core::{
    proposal::ProposalAction, Proposal, ProposalId, ProposalStatus, Timestamp, UserId,
};

use crate::{
    audit,
    db::{args, Conn},
    error::StoreError,
    model::{Attribution, AuditEntry, ListedProposal, ProposalFilter},
    rows,
    txn_retry::{run_transaction, TxnMode},
    Store,
};

pub(crate) async fn proposal_read(
    conn: &mut Conn<'_>,
    id: ProposalId,
) -> Result<Proposal, StoreError> {
    let sql = format!(
        "SELECT {} FROM proposals WHERE id = $1",
        rows::PROPOSAL_COLUMNS
    );
    let row = conn
        .fetch_optional("proposal_get", &sql, args![id.as_uuid()])
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "proposal",
            key: id.to_string(),
        })?;
    rows::proposal(&row)
}

/// Inserts a proposal (built by `Proposal::new`) on the caller's connection or transaction.
pub(crate) async fn insert(conn: &mut Conn<'_>, p: &Proposal) -> Result<(), StoreError> {
    let (size_kind, size_value) = rows::size_columns(&p.size);
    let (source_kind, source_name) = rows::source_columns(&p.source);
    conn.execute(
        "proposal_insert",
        "INSERT INTO proposals (id, user_id, market, side, order_type, size_kind, \
         size_value, limit_price, source_kind, source_name, rationale, status, \
         created_at, expires_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13)",
        args![
            p.id.as_uuid(),
            p.user_id.as_uuid(),
            p.market.to_string(),
            p.side.as_str(),
            p.order_type.as_str(),
            size_kind,
            size_value,
            p.limit_price.map(|price| price.value()),
            source_kind,
            source_name,
            p.rationale.as_str(),
            p.status.as_str(),
            p.created_at,
            p.expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// Moves a proposal from `expected` by `action`, by compare-and-set. `owner`, when given, must
/// own the proposal (a proposal of another user answers NotFound, revealing nothing).
pub(crate) async fn proposal_cas(
    conn: &mut Conn<'_>,
    id: ProposalId,
    owner: Option<UserId>,
    expected: ProposalStatus,
    action: ProposalAction,
    at: Timestamp,
) -> Result<(Proposal, Proposal), StoreError> {
    let next = expected.apply(action)?;
    let changed = conn
        .execute(
            "proposal_transition",
            "UPDATE proposals SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
            args![id.as_uuid(), expected.as_str(), next.as_str(), at],
        )
        .await?;
    let current = proposal_read(conn, id).await?;
    if owner.is_some_and(|owner| owner != current.user_id) {
        return Err(StoreError::NotFound {
            what: "proposal",
            key: id.to_string(),
        });
    }
    if changed == 0 {
        return Err(StoreError::ProposalConflict {
            expected,
            current: Box::new(current),
        });
    }
    let before = Proposal {
        status: expected,
        ..current.clone()
    };
    Ok((before, current))
}

impl Store {
    /// Stores a new proposal (built by `Proposal::new`, which validated it).
    ///
    /// # Errors
    /// A foreign-key violation for an unknown user; [`StoreError::ConstraintViolation`]
    /// (`proposals_pkey`) for an id that exists.
    pub async fn proposal_insert(&self, proposal: &Proposal) -> Result<(), StoreError> {
        let p = proposal.clone();
        run_transaction(&self.inner, "proposal_insert", TxnMode::Write, move |txn| {
            let p = p.clone();
            Box::pin(async move { insert(&mut txn.conn(), &p).await })
        })
        .await
    }

    /// The proposal with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn proposal_get(&self, id: ProposalId) -> Result<Proposal, StoreError> {
        let mut pooled = self.acquire().await?;
        proposal_read(&mut pooled.conn(), id)
            .await
            .map_err(|e| self.classify(e))
    }

    /// Proposals matching the filter, newest first.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn proposal_list(
        &self,
        filter: &ProposalFilter,
    ) -> Result<Vec<Proposal>, StoreError> {
        // The same query as the list with outcomes: one filter, one ordering, one limit.
        let listed = self.proposal_list_with_outcomes(filter).await?;
        Ok(listed.into_iter().map(|l| l.proposal).collect())
    }

    /// Proposals matching the filter, newest first, each with the summary of its execution
    /// when it has one (one query: a LEFT JOIN on the execution's unique `(user_id,
    /// proposal_id)`, I1), so a list shows what became of each proposal, not only that it was
    /// handed to the executor.
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn proposal_list_with_outcomes(
        &self,
        filter: &ProposalFilter,
    ) -> Result<Vec<ListedProposal>, StoreError> {
        let sql = format!(
            "SELECT {}, {} FROM proposals p LEFT JOIN trade_executions e \
             ON e.user_id = p.user_id AND e.proposal_id = p.id \
             WHERE ($1 IS NULL OR p.user_id = $1) AND ($2 IS NULL OR p.status = $2) \
             ORDER BY p.created_at DESC, p.id DESC LIMIT $3",
            rows::proposal_columns_of_p(),
            rows::EXECUTION_SUMMARY_COLUMNS
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "proposal_list_with_outcomes",
                &sql,
                args![
                    filter.user.map(|u| u.as_uuid()),
                    filter.status.map(|s| s.as_str().to_owned()),
                    rows::limit(filter.limit),
                ],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found
            .iter()
            .map(|row| {
                Ok(ListedProposal {
                    proposal: rows::proposal(row)?,
                    execution: rows::execution_summary(row)?,
                })
            })
            .collect()
    }

    /// The proposal with this id, with the summary of its execution when it has one.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn proposal_get_with_outcome(
        &self,
        id: ProposalId,
    ) -> Result<ListedProposal, StoreError> {
        let sql = format!(
            "SELECT {}, {} FROM proposals p LEFT JOIN trade_executions e \
             ON e.user_id = p.user_id AND e.proposal_id = p.id WHERE p.id = $1",
            rows::proposal_columns_of_p(),
            rows::EXECUTION_SUMMARY_COLUMNS
        );
        let mut pooled = self.acquire().await?;
        let row = pooled
            .conn()
            .fetch_optional("proposal_get_with_outcome", &sql, args![id.as_uuid()])
            .await
            .map_err(|e| self.classify(e))?
            .ok_or_else(|| StoreError::NotFound {
                what: "proposal",
                key: id.to_string(),
            })?;
        Ok(ListedProposal {
            proposal: rows::proposal(&row)?,
            execution: rows::execution_summary(&row)?,
        })
    }

    /// Approved proposals that have no execution yet and have not expired at `now`, oldest
    /// first, at most `limit` (clamped to `1..=LIST_LIMIT_MAX`): the work `vigil run`'s
    /// executor loop takes at start and at every sweep, so that an approval survives the process
    /// that made it. (The claim moves a proposal to `EXECUTED` in the transaction that writes its
    /// execution; the `NOT EXISTS` says the same thing once more, from the other table.)
    ///
    /// # Errors
    /// [`StoreError::InvalidData`] for a row that does not parse.
    pub async fn proposals_awaiting_execution(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let sql = format!(
            "SELECT {} FROM proposals p WHERE status = 'APPROVED' AND expires_at > $1 \
             AND NOT EXISTS (SELECT 1 FROM trade_executions e \
             WHERE e.user_id = p.user_id AND e.proposal_id = p.id) \
             ORDER BY created_at, id LIMIT $2",
            rows::PROPOSAL_COLUMNS
        );
        let mut pooled = self.acquire().await?;
        let found = pooled
            .conn()
            .fetch_all(
                "proposals_awaiting_execution",
                &sql,
                args![now, rows::limit(limit)],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(rows::proposal).collect()
    }

    /// Changes a proposal's status by compare-and-set: computes the next status with
    /// `ProposalStatus::apply(expected, action)` and writes it only if the proposal is still in
    /// `expected`. When a person does it (`audit` given), the change is recorded in `audit_log`
    /// in the same transaction. Returns the proposal as it now is.
    ///
    /// Expiry is not checked here (a caller approving an expired proposal should `Expire` it);
    /// the executor checks expiry itself before claiming.
    ///
    /// # Errors
    /// [`StoreError::ProposalTransition`] when the lifecycle refuses the move (nothing written);
    /// [`StoreError::ProposalConflict`] with the current proposal when it is no longer in
    /// `expected`; [`StoreError::NotFound`] for an unknown proposal.
    pub async fn proposal_transition(
        &self,
        id: ProposalId,
        expected: ProposalStatus,
        action: ProposalAction,
        at: Timestamp,
        audit: Option<&Attribution>,
    ) -> Result<Proposal, StoreError> {
        // Refuse an illegal move before opening a transaction.
        expected.apply(action)?;
        let audit = audit.cloned();
        run_transaction(
            &self.inner,
            "proposal_transition",
            TxnMode::Write,
            move |txn| {
                let audit = audit.clone();
                Box::pin(async move {
                    let mut conn = txn.conn();
                    let (before, after) =
                        proposal_cas(&mut conn, id, None, expected, action, at).await?;
                    if let Some(by) = audit {
                        let entry = AuditEntry::new(
                            &by,
                            format!("proposal.{}", action_name(action)),
                            format!("proposal:{id}"),
                            Some(serde_json::json!(before.status)),
                            Some(serde_json::json!(after.status)),
                        );
                        audit::append(&mut conn, &entry).await?;
                    }
                    Ok(after)
                })
            },
        )
        .await
    }
}

fn action_name(action: ProposalAction) -> &'static str {
    match action {
        ProposalAction::Approve => "approve",
        ProposalAction::Reject => "reject",
        ProposalAction::Expire => "expire",
        ProposalAction::Cancel => "cancel",
        ProposalAction::MarkExecuted => "mark_executed",
        ProposalAction::Revert => "revert",
    }
}
