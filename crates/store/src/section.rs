//! Per-user serialized sections, and the guarded transition the executor builds on.
//!
//! A section is a transaction that first takes the user's lock (PostgreSQL:
//! `SELECT … FROM users WHERE id = $1 FOR UPDATE`; SQLite: `BEGIN IMMEDIATE`, which serializes
//! every writer, so there different users' sections do not run in parallel). Two sections of
//! one user never overlap, on one instance or across many, so facts read inside a section stay
//! true until it commits.
//!
//! [`Store::execution_transition_guarded`] is the high-level operation: inside ONE section it
//! reads the time (after the lock is held, never before) and the user's facts (excluding the execution itself, counting in-flight ones), asks a
//! pure `decide` function what to do, and applies the answer by compare-and-set. That is what
//! makes cooldown, anti-flip and the daily cap hold under concurrency (I6, I7), and what
//! re-reads the kill switch in the very transaction that commits `SUBMITTING` (I4). No
//! exchange call may happen inside a section: `decide` is synchronous for that reason.

use std::sync::Arc;

use vigil_core::{
    Clock, Execution, ExecutionEvent, ExecutionId, ExecutionState, Market, Timestamp, UserId,
};

use crate::{
    error::StoreError,
    executions,
    facts::{self, UserFacts},
    txn_retry::{run_transaction, StoreTxn, TxnBody, TxnMode},
    Store,
};

/// What a guarded transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedTransition {
    /// `decide` returned an event and it was applied; the execution as stored now.
    Applied {
        /// The execution after the transition.
        execution: Execution,
        /// The facts `decide` saw.
        facts: Box<UserFacts>,
    },
    /// `decide` returned `None`; nothing was written.
    Unchanged {
        /// The execution as it is.
        execution: Execution,
        /// The facts `decide` saw.
        facts: Box<UserFacts>,
    },
}

impl GuardedTransition {
    /// The execution, changed or not.
    #[must_use]
    pub fn execution(&self) -> &Execution {
        match self {
            GuardedTransition::Applied { execution, .. }
            | GuardedTransition::Unchanged { execution, .. } => execution,
        }
    }

    /// The facts the decision was made on.
    #[must_use]
    pub fn facts(&self) -> &UserFacts {
        match self {
            GuardedTransition::Applied { facts, .. }
            | GuardedTransition::Unchanged { facts, .. } => facts,
        }
    }
}

impl StoreTxn {
    /// Reads [`UserFacts`] inside the caller's transaction (inside a section they hold until it
    /// commits). `exclude` is the execution being decided on: it is not counted against itself.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user; [`StoreError::InvalidData`] for a row that
    /// does not parse.
    pub async fn user_facts_read_in_txn(
        &mut self,
        user: UserId,
        market: &Market,
        now: Timestamp,
        exclude: Option<ExecutionId>,
    ) -> Result<UserFacts, StoreError> {
        facts::read(&mut self.conn(), user, market, now, exclude).await
    }
}

impl Store {
    /// Runs `body` inside a per-user serialized section (see the module docs) and commits when
    /// it returns `Ok`. The body may be called more than once (transient failures are retried
    /// with a fresh transaction), so it must only act through the transaction it is given.
    ///
    /// ```no_run
    /// # async fn example(
    /// #     store: vigil_store::Store,
    /// #     user: vigil_core::UserId,
    /// #     market: vigil_core::Market,
    /// #     now: vigil_core::Timestamp,
    /// # ) -> Result<(), vigil_store::StoreError> {
    /// let day_used = store
    ///     .user_section(user, move |txn| {
    ///         let market = market.clone();
    ///         Box::pin(async move {
    ///             let facts = txn.user_facts_read_in_txn(user, &market, now, None).await?;
    ///             // ... decide, then txn.execution_transition_in_txn(...) ...
    ///             Ok(facts.day_used)
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = day_used;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user; whatever the body returns; and
    /// [`StoreError::TransientExhausted`] / [`StoreError::Unavailable`].
    pub async fn user_section<T, F>(&self, user: UserId, body: F) -> Result<T, StoreError>
    where
        F: for<'t> FnMut(&'t mut StoreTxn) -> TxnBody<'t, T>,
    {
        run_transaction(
            &self.inner,
            "user_section",
            TxnMode::UserSection(user),
            body,
        )
        .await
    }

    /// [`UserFacts`] without a lock, for display and for the preflight's first look (the
    /// binding check is the guarded transition's).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn user_facts_read(
        &self,
        user: UserId,
        market: &Market,
        now: Timestamp,
        exclude: Option<ExecutionId>,
    ) -> Result<UserFacts, StoreError> {
        let mut pooled = self.acquire().await?;
        facts::read(&mut pooled.conn(), user, market, now, exclude)
            .await
            .map_err(|e| self.classify(e))
    }

    /// The database's plan of each history query the fact read runs (query name, plan lines),
    /// as [`Store::user_facts_read`] would run them for `user` on `market` at `now`: the
    /// benchmark reports them, and a test keeps each on its index. With `prefer_indexes`,
    /// PostgreSQL plans with sequential scans disabled, to show that an index CAN serve each
    /// query even on a table too small for the planner to want it (SQLite ignores it).
    ///
    /// # Errors
    /// A database error.
    pub async fn user_facts_plans(
        &self,
        user: UserId,
        market: &Market,
        now: Timestamp,
        prefer_indexes: bool,
    ) -> Result<Vec<(&'static str, Vec<String>)>, StoreError> {
        let mut pooled = self.acquire().await?;
        facts::plans(&mut pooled.conn(), user, market, now, prefer_indexes)
            .await
            .map_err(|e| self.classify(e))
    }

    /// The guarded transition: inside ONE per-user section, reads the time from `clock` (once
    /// the section is held, so a wait for the lock can never make a decision judge an older
    /// moment: expiry, cooldown and the UTC day are judged at the time the facts are read),
    /// re-reads `execution` (which must be in `expected`) and the user's facts for its market
    /// at that time (excluding the execution, counting in-flight ones), calls `decide`, and
    /// applies the event it returns by compare-and-set (`None`: nothing is written). `decide` must be a pure function of the
    /// facts; it may run more than once if the section is retried. Only the id, user and
    /// market of `execution` are used (they never change); its state is read inside the section.
    ///
    /// # Errors
    /// [`StoreError::ExecutionConflict`] when the execution is not in `expected`;
    /// [`StoreError::IllegalTransition`] when the table refuses the decided event;
    /// [`StoreError::NotFound`] for an unknown execution.
    pub async fn execution_transition_guarded<D>(
        &self,
        execution: &Execution,
        expected: ExecutionState,
        clock: Arc<dyn Clock>,
        decide: D,
    ) -> Result<GuardedTransition, StoreError>
    where
        D: Fn(&UserFacts) -> Option<ExecutionEvent> + Send + Sync + 'static,
    {
        let (id, user, market) = (execution.id, execution.user_id, execution.market.clone());
        let decide = Arc::new(decide);
        self.user_section(user, move |txn| {
            let (decide, market, clock) = (decide.clone(), market.clone(), clock.clone());
            Box::pin(async move {
                let now = clock.now();
                let current = txn.execution_get_in_txn(id).await?;
                if current.state != expected {
                    return Err(StoreError::ExecutionConflict {
                        expected,
                        current: Box::new(current),
                    });
                }
                let facts = txn
                    .user_facts_read_in_txn(user, &market, now, Some(id))
                    .await?;
                match decide(&facts) {
                    None => Ok(GuardedTransition::Unchanged {
                        execution: current,
                        facts: Box::new(facts),
                    }),
                    Some(event) => {
                        let execution =
                            executions::transition(&mut txn.conn(), id, expected, &event, now)
                                .await?;
                        Ok(GuardedTransition::Applied {
                            execution,
                            facts: Box::new(facts),
                        })
                    }
                }
            })
        })
        .await
    }
}
