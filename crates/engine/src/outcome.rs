//! What an execution ended with ([`ExecutionOutcome`]) and why `execute` could not answer at
//! all ([`ExecuteError`]), shaped by what the caller (CLI, HTTP API) does next.
//!
//! An outcome is an answer about the proposal: placed, already handled, refused for a named
//! reason, waiting for the reconciler, or refused by the exchange. An error means the executor
//! could not find out (unknown proposal, database down, a test hook stopped it); whatever it had
//! already written is consistent and the reconciler finishes it.

use vigil_core::{Execution, ExecutionId, ProposalId, Refusal, UserId};
use vigil_store::StoreError;

use crate::hooks::Step;

/// How one `execute` call ended. Serialises as `{"outcome": "placed", ...the execution}` or
/// `{"outcome": "refused", "refusal": {...}, "execution": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ExecutionOutcome {
    /// The exchange accepted the order: the execution is `SUBMITTED`.
    Placed(Execution),
    /// The proposal already had an execution (a retry, a concurrent caller, or an earlier run):
    /// this is it, whatever its state. Nothing was sent by this call (I1).
    AlreadyClaimed(Execution),
    /// A safety rail said no; nothing was sent. `execution` is the `REJECTED` execution carrying
    /// the refusal, or `None` when the refusal came before any claim (kill switch at entry, a
    /// proposal that is not the caller's, not approved or expired).
    Refused {
        /// The named reason.
        refusal: Refusal,
        /// The rejected execution, when one was claimed.
        execution: Option<Execution>,
    },
    /// The order call ended without a definite answer: the execution stays `SUBMITTING` with
    /// `outcome_unknown` and the market stays blocked for the user until the reconciler finds
    /// the order or, after the request's access window, declares it not placed (I3). The order
    /// is never sent again.
    OutcomeUnknown(Execution),
    /// The order was not placed: the exchange refused it definitively, it could not be sent, or
    /// the last check before sending failed. The execution is `FAILED` with the reason.
    Failed(Execution),
}

impl ExecutionOutcome {
    /// The execution, when there is one.
    #[must_use]
    pub fn execution(&self) -> Option<&Execution> {
        match self {
            ExecutionOutcome::Placed(e)
            | ExecutionOutcome::AlreadyClaimed(e)
            | ExecutionOutcome::OutcomeUnknown(e)
            | ExecutionOutcome::Failed(e) => Some(e),
            ExecutionOutcome::Refused { execution, .. } => execution.as_ref(),
        }
    }

    /// The refusal, for [`ExecutionOutcome::Refused`].
    #[must_use]
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            ExecutionOutcome::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// A stable name of the outcome (`placed`, `already_claimed`, `refused`, `outcome_unknown`,
    /// `failed`) for output and exit-code mapping.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            ExecutionOutcome::Placed(_) => "placed",
            ExecutionOutcome::AlreadyClaimed(_) => "already_claimed",
            ExecutionOutcome::Refused { .. } => "refused",
            ExecutionOutcome::OutcomeUnknown(_) => "outcome_unknown",
            ExecutionOutcome::Failed(_) => "failed",
        }
    }
}

/// Why `execute` could not give an outcome.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// No proposal has this id.
    #[error("proposal {proposal_id} not found; check the id with `vigil proposals list`")]
    ProposalNotFound {
        /// The id asked for.
        proposal_id: ProposalId,
    },
    /// No user has this id.
    #[error("user {user_id} not found; check the id with `vigil users list`")]
    UserNotFound {
        /// The id asked for.
        user_id: UserId,
    },
    /// The database failed (unreachable, busy past every retry, or holding data Vigil cannot
    /// read). What was written before stays consistent: a `CLAIMED` execution is ended by the
    /// reconciler, a `SUBMITTING` one is resolved by it. Nothing is sent after a failed write.
    #[error("the database failed during {during}: {source}; run `vigil reconcile` once it is back (nothing is sent twice)")]
    Store {
        /// The step that needed the database.
        during: &'static str,
        /// What the store said.
        #[source]
        source: StoreError,
    },
    /// A step hook answered `Crash`: the executor stopped at `step` as if the process had died
    /// (tests only; production has no such hook).
    #[error("execution {execution_id} was interrupted at {step} by a step hook (a simulated crash); the reconciler resolves it")]
    Interrupted {
        /// Where it stopped.
        step: Step,
        /// The execution as last written.
        execution_id: ExecutionId,
    },
}

impl ExecuteError {
    pub(crate) fn store(during: &'static str) -> impl FnOnce(StoreError) -> ExecuteError {
        move |source| ExecuteError::Store { during, source }
    }
}

/// Why an [`crate::Executor`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorBuildError {
    /// The read-only client and the trading client use the same API key (I10).
    #[error("the read-only client and the trading client use the same API key; invariant I10 requires a separate View-only key for reading: configure two different keys")]
    SameKey,
    /// A setting is invalid.
    #[error("invalid executor settings: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<vigil_core::ValidationError>),
}

#[cfg(test)]
mod tests {
    use vigil_core::Refusal;

    use super::*;

    #[test]
    fn outcomes_serialise_with_their_name() {
        let refused = ExecutionOutcome::Refused {
            refusal: Refusal::KillSwitchGlobal,
            execution: None,
        };
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["outcome"], refused.name());
        assert_eq!(json["refusal"]["code"], "kill_switch_global");
        assert!(json["execution"].is_null());
    }
}
