//! The store's error, shaped by what the caller does next.
//!
//! - [`StoreError::NotFound`]: nothing to act on; tell the person what was missing.
//! - [`StoreError::ExecutionConflict`] / [`StoreError::ProposalConflict`]: a compare-and-set
//!   lost a race; the current row comes with it, so the caller decides from the truth, not
//!   from its stale copy.
//! - [`StoreError::IllegalTransition`] / [`StoreError::ProposalTransition`]: the state machine
//!   in `vigil-core` refused the move; nothing was written.
//! - [`StoreError::ConstraintViolation`]: a named database constraint refused a write (mapped
//!   by constraint name, never by message text alone).
//! - [`StoreError::TransientExhausted`]: serialization or busy errors persisted past the retry
//!   budget; the operation did not happen and may be tried again later.
//! - [`StoreError::Unavailable`]: the database cannot be reached; an operator has to act.
//! - [`StoreError::InvalidData`]: a row read back does not parse; the database holds something
//!   Vigil did not write, so stop rather than guess.
//! - [`StoreError::InvalidInput`]: the caller passed a value the store refuses to write.
//! - [`StoreError::Database`] / [`StoreError::Migration`]: anything else, with the operation.

use std::time::Duration;

use vigil_core::{
    Execution, ExecutionState, IllegalTransition, Proposal, ProposalStatus,
    ProposalTransitionError, UserId, ValidationError,
};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing (`user`, `execution`, …).
        what: &'static str,
        /// The key that was looked up.
        key: String,
    },

    /// An execution compare-and-set lost: the execution is no longer in the expected state (or
    /// another transition from that state won).
    #[error(
        "execution {} changed underneath: expected state {expected}, it is now {}; re-read it and decide again",
        current.id,
        current.state
    )]
    ExecutionConflict {
        /// The state the caller expected.
        expected: ExecutionState,
        /// The execution as it is now.
        current: Box<Execution>,
    },

    /// A proposal compare-and-set lost: the proposal is no longer in the expected status.
    #[error(
        "proposal {} changed underneath: expected status {expected}, it is now {}",
        current.id,
        current.status
    )]
    ProposalConflict {
        /// The status the caller expected.
        expected: ProposalStatus,
        /// The proposal as it is now.
        current: Box<Proposal>,
    },

    /// A policy change decided against one policy found another in force when it was written
    /// (a concurrent change); nothing was written.
    #[error(
        "the policy of user {user} changed while this change was being decided; nothing was \
         written: read the policy again and decide again"
    )]
    PolicyConflict {
        /// The user whose policy changed.
        user: UserId,
    },

    /// The execution state machine refused the move; nothing was written.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),

    /// The proposal status machine refused the move; nothing was written.
    #[error(transparent)]
    ProposalTransition(#[from] ProposalTransitionError),

    /// A named constraint refused the write.
    #[error("{message} (constraint {constraint})")]
    ConstraintViolation {
        /// The constraint's name, identical on both back ends (e.g. `users_name_key`).
        constraint: String,
        /// What it means, for a person.
        message: String,
    },

    /// Serialization failures or busy errors persisted through every retry.
    #[error(
        "the database stayed busy through {attempts} attempts over {elapsed:?} ({operation}); nothing was written, try again"
    )]
    TransientExhausted {
        /// The operation that was tried.
        operation: &'static str,
        /// How many attempts were made.
        attempts: u32,
        /// How long they took in total.
        elapsed: Duration,
        /// The last transient error.
        #[source]
        source: sqlx::Error,
    },

    /// A value read back from the database does not parse.
    #[error("invalid data in column {column}: {detail}; the database holds a value Vigil did not write, investigate before continuing")]
    InvalidData {
        /// The column (`table.column`).
        column: String,
        /// What was wrong.
        detail: String,
    },

    /// The caller's authority does not allow the change (checked in the same transaction as
    /// the write, so a concurrent change cannot slip past it); nothing was written.
    #[error("not permitted: {detail}")]
    NotPermitted {
        /// What was refused and what to do instead.
        detail: String,
    },

    /// The caller passed values the store refuses to write.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidInput(Vec<ValidationError>),

    /// The database URL is not one the store understands.
    #[error("invalid database URL {url:?}: expected {expected}")]
    InvalidUrl {
        /// The URL as given, password removed.
        url: String,
        /// What would have been accepted.
        expected: &'static str,
    },

    /// The database cannot be reached.
    #[error("database at {url} is unavailable ({detail}); {hint}")]
    Unavailable {
        /// The URL with any password removed.
        url: String,
        /// What failed.
        detail: String,
        /// What to do about it.
        hint: &'static str,
        /// The underlying error, when there is one (a missing SQLite file or an unanswered
        /// connection attempt has none beyond `detail`).
        #[source]
        source: Option<sqlx::Error>,
    },

    /// Applying the migrations failed.
    #[error("applying database migrations failed: {source}; check that the database is not newer than this vigil binary")]
    Migration {
        /// The underlying error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// Any other database error.
    #[error("database error during {operation}: {source}")]
    Database {
        /// The operation that failed.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Wraps a raw database error with the operation it interrupted. Connection-level errors are
    /// turned into [`StoreError::Unavailable`] later, where the URL is known.
    pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { operation, source }
    }

    pub(crate) fn invalid(column: &str, detail: impl std::fmt::Display) -> StoreError {
        StoreError::InvalidData {
            column: column.to_owned(),
            detail: detail.to_string(),
        }
    }

    /// Whether retrying the whole operation later may succeed (busy, serialization failure).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::TransientExhausted { .. } => true,
            StoreError::Database { source, .. } => crate::txn_retry::is_transient(source),
            _ => false,
        }
    }
}
