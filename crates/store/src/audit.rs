//! The audit log (I11): operator actions with who, what, before, after, why and when. Rows are
//! only ever inserted; there is no update or delete path in code, and both schemas refuse them
//! with triggers.

use crate::{
    db::{args, Conn},
    error::StoreError,
    model::{AuditEntry, AuditFilter},
    rows,
    txn_retry::{run_transaction, StoreTxn, TxnMode},
    Store,
};

pub(crate) async fn append(conn: &mut Conn<'_>, entry: &AuditEntry) -> Result<(), StoreError> {
    conn.execute(
        "audit_log append",
        "INSERT INTO audit_log (id, actor, action, target, before, after, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            entry.id,
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.target.as_str(),
            entry.before.clone(),
            entry.after.clone(),
            entry.reason.clone(),
            entry.at,
        ],
    )
    .await?;
    Ok(())
}

impl StoreTxn {
    /// Appends an audit entry inside the caller's transaction (so the change and its record
    /// commit together or not at all).
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_append_in_txn(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        append(&mut self.conn(), entry).await
    }
}

impl Store {
    /// Appends an audit entry on its own.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::TransientExhausted`] or a database error.
    pub async fn audit_append(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        run_transaction(&self.inner, "audit_append", TxnMode::Write, move |txn| {
            let entry = entry.clone();
            Box::pin(async move { txn.audit_append_in_txn(&entry).await })
        })
        .await
    }

    /// Lists audit entries, newest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], [`StoreError::InvalidData`] or a database error.
    pub async fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut pooled = self.acquire().await?;
        let sql = format!(
            "SELECT {} FROM audit_log \
             WHERE ($1 IS NULL OR target = $1) AND ($2 IS NULL OR actor = $2) \
             ORDER BY at DESC, id DESC LIMIT $3",
            rows::AUDIT_COLUMNS
        );
        let found = pooled
            .conn()
            .fetch_all(
                "audit_list",
                &sql,
                args![
                    filter.target.clone(),
                    filter.actor.clone(),
                    rows::limit(filter.limit)
                ],
            )
            .await
            .map_err(|e| self.classify(e))?;
        found.iter().map(rows::audit_entry).collect()
    }
}
