//! The deployment's mode, paper or live, recorded once per database (#18 case 11): the first
//! `vigil init` or `vigil run` records it, and every later run compares its own mode with it,
//! so a live run can never pick up a paper user's jobs (or a paper run a live user's). Both
//! schemas refuse to change or delete the row with triggers.

use vigil_core::Timestamp;

use crate::{
    db::{args, Conn},
    error::StoreError,
    model::DeploymentMode,
    txn_retry::{run_transaction, TxnMode},
    Store,
};

async fn read(conn: &mut Conn<'_>) -> Result<Option<DeploymentMode>, StoreError> {
    let row = conn
        .fetch_optional(
            "deployment_mode_read",
            "SELECT mode FROM deployment WHERE id = 1",
            vec![],
        )
        .await?;
    row.map(|row| match row.text("mode")?.as_str() {
        "paper" => Ok(DeploymentMode::Paper),
        "live" => Ok(DeploymentMode::Live),
        other => Err(StoreError::invalid(
            "deployment",
            format!("unknown mode {other:?}; the schema allows only paper and live"),
        )),
    })
    .transpose()
}

impl Store {
    /// The recorded mode, or `None` when no run has recorded one yet.
    ///
    /// # Errors
    /// A [`StoreError`] when the database cannot be read.
    pub async fn deployment_mode(&self) -> Result<Option<DeploymentMode>, StoreError> {
        let mut pooled = self.acquire().await?;
        read(&mut pooled.conn()).await.map_err(|e| self.classify(e))
    }

    /// Records `mode` if no mode is recorded yet, and returns the mode the database holds
    /// (the one just recorded, or the one recorded before, which may differ: the caller
    /// compares). One transaction, so two first runs cannot record different modes.
    ///
    /// # Errors
    /// A [`StoreError`] when the database cannot be written.
    pub async fn deployment_mode_record(
        &self,
        mode: DeploymentMode,
        at: Timestamp,
    ) -> Result<DeploymentMode, StoreError> {
        run_transaction(
            &self.inner,
            "deployment_mode_record",
            TxnMode::Write,
            move |txn| {
                Box::pin(async move {
                    let mut conn = txn.conn();
                    if let Some(recorded) = read(&mut conn).await? {
                        return Ok(recorded);
                    }
                    conn.execute(
                        "deployment_mode_record",
                        "INSERT INTO deployment (id, mode, recorded_at) VALUES (1, $1, $2)",
                        args![mode.as_str(), at],
                    )
                    .await?;
                    Ok(mode)
                })
            },
        )
        .await
    }
}
