//! Exit codes, as README.md documents them, and the one place errors are mapped to them.

use std::process::ExitCode;

use vigil_store::StoreError;

use vigil_core::ValidationError;

use crate::config::ConfigError;

/// Success.
pub(crate) const SUCCESS: ExitCode = ExitCode::SUCCESS;
/// An unexpected failure.
pub(crate) const FAILURE: u8 = 1;
/// Bad usage or configuration; nothing was written.
pub(crate) const USAGE: u8 = 2;
/// The database is unreachable or cannot be opened.
pub(crate) const DATABASE_UNAVAILABLE: u8 = 3;
/// Something named does not exist.
pub(crate) const NOT_FOUND: u8 = 4;
/// The request conflicts with the current state.
pub(crate) const CONFLICT: u8 = 5;
/// `vigil execute`: the proposal already had an execution (shown); nothing was sent.
pub(crate) const ALREADY_CLAIMED: u8 = 6;
/// `vigil execute`: a safety rail refused; nothing was sent.
pub(crate) const REFUSED: u8 = 7;
/// `vigil execute`: the order's outcome is unknown and left for the reconciler
/// (`vigil reconcile`: something is still unresolved).
pub(crate) const OUTCOME_UNKNOWN: u8 = 8;
/// `vigil execute`: the order was not placed (the exchange refused it, or it could not be sent).
pub(crate) const ORDER_FAILED: u8 = 9;
/// `vigil audit`: at least one finding (each is printed with its evidence).
pub(crate) const AUDIT_FINDINGS: u8 = 10;
/// `vigil signoff`: at least one item failed (each is named in the report).
pub(crate) const SIGNOFF_FAILED: u8 = 11;
/// `vigil alerts test`: the test alert was not delivered.
pub(crate) const ALERT_NOT_DELIVERED: u8 = 12;

/// An error that reached `main`, in one line: its message, then each cause in the chain that
/// the text so far does not already say (a store error quotes its cause in its own message).
pub(crate) fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The exit code for an error that reached `main`, by the first typed cause found in its chain.
pub(crate) fn code_for(error: &anyhow::Error) -> ExitCode {
    ExitCode::from(number_for(error))
}

fn number_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(command) = cause.downcast_ref::<CommandError>() {
            return match command {
                CommandError::Invalid(_) => USAGE,
                CommandError::NotFound(_) => NOT_FOUND,
                CommandError::Conflict(_) => CONFLICT,
            };
        }
        if cause.downcast_ref::<ConfigError>().is_some() {
            return USAGE;
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return match store {
                StoreError::Unavailable { .. } => DATABASE_UNAVAILABLE,
                StoreError::NotFound { .. } => NOT_FOUND,
                StoreError::ExecutionConflict { .. }
                | StoreError::ProposalConflict { .. }
                | StoreError::PolicyConflict { .. }
                | StoreError::ConstraintViolation { .. }
                | StoreError::IllegalTransition(_)
                | StoreError::ProposalTransition(_)
                | StoreError::NotPermitted { .. } => CONFLICT,
                StoreError::InvalidInput(_) | StoreError::InvalidUrl { .. } => USAGE,
                _ => FAILURE,
            };
        }
    }
    FAILURE
}

/// A problem a command found in what it was asked to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// The input is wrong; the message names each field and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
}

impl CommandError {
    /// One error listing every validation problem.
    pub(crate) fn invalid(problems: &[ValidationError]) -> CommandError {
        let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        CommandError::Invalid(format!(
            "the input has {} problem(s); nothing was written:\n{}",
            problems.len(),
            lines.join("\n")
        ))
    }

    /// [`CommandError::invalid`] for problems a library named by its field (`order_notional_max`),
    /// told by the flag a person typed (`--order-notional-max`).
    pub(crate) fn invalid_flags(problems: Vec<ValidationError>) -> CommandError {
        let as_flags: Vec<ValidationError> = problems
            .into_iter()
            .map(|p| {
                let flag = format!("--{}", p.field.replace('_', "-"));
                p.for_field(flag)
            })
            .collect();
        CommandError::invalid(&as_flags)
    }
}
