//! Step boundaries of the executor, and the two ways tests stop it there.
//!
//! - [`StepHooks`]: an async hook called at each boundary (after the claim, after preflight,
//!   after the `SUBMITTING` commit, after the order call returned). A test's hook can pause there
//!   (to flip a kill switch or move the clock while an execution waits, T4) or answer
//!   [`HookAction::Crash`], which makes `execute` return at once without writing anything more,
//!   exactly as if the process had died at that point (I2/I3 crash tests). Production uses
//!   [`NoHooks`].
//! - Failpoints: with the crate's `failpoints` cargo feature, `VIGIL_FAILPOINT=<step>` (read
//!   once, when the executor is built) aborts the whole process at that step, for the
//!   multi-process crash tests that run the real `vigil` binary. Without the feature the
//!   variable is never read, so a release build cannot be made to crash by its environment.

use std::{fmt, str::FromStr};

use futures::future::BoxFuture;
use vigil_core::{Execution, ValidationError};

/// A boundary between two executor steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The execution row exists (`CLAIMED`); nothing was asked of the exchange yet.
    AfterClaim,
    /// Every guard passed in the preflight section; `SUBMITTING` is not committed yet.
    AfterPreflight,
    /// `SUBMITTING` is committed (durably) with the signing time; the order is not sent yet.
    AfterSubmitting,
    /// The order call returned (any answer); its outcome is not recorded yet.
    AfterSend,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 4] = [
        Step::AfterClaim,
        Step::AfterPreflight,
        Step::AfterSubmitting,
        Step::AfterSend,
    ];

    /// The name used by `VIGIL_FAILPOINT` and in messages (`after_claim`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::AfterClaim => "after_claim",
            Step::AfterPreflight => "after_preflight",
            Step::AfterSubmitting => "after_submitting",
            Step::AfterSend => "after_send",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == s.trim())
            .ok_or_else(|| {
                ValidationError::new(
                    "VIGIL_FAILPOINT",
                    s,
                    "after_claim, after_preflight, after_submitting or after_send",
                )
            })
    }
}

/// What the executor does after a hook returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    /// Go on with the next step.
    Continue,
    /// Stop here as if the process died: write nothing more and return
    /// `ExecuteError::Interrupted`.
    Crash,
}

/// Called at every step boundary with the execution as the executor last wrote it.
pub trait StepHooks: Send + Sync + fmt::Debug {
    /// The hook; it may wait (pause the execution) before answering.
    fn at<'a>(&'a self, step: Step, execution: &'a Execution) -> BoxFuture<'a, HookAction>;
}

/// The production hooks: always continue, at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl StepHooks for NoHooks {
    fn at<'a>(&'a self, _step: Step, _execution: &'a Execution) -> BoxFuture<'a, HookAction> {
        Box::pin(std::future::ready(HookAction::Continue))
    }
}

/// The name of the environment variable honoured with the `failpoints` feature.
pub const FAILPOINT_VAR: &str = "VIGIL_FAILPOINT";

/// What an armed failpoint does when the executor reaches its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "failpoints"),
    allow(dead_code, reason = "armed only with the failpoints feature")
)]
pub(crate) enum FailpointAction {
    /// `VIGIL_FAILPOINT=<step>`: abort the process there.
    Abort,
    /// `VIGIL_FAILPOINT=<step>:pause`: say so on stderr and stop moving, so that the test can kill
    /// the process from outside with SIGKILL at exactly that point.
    Pause,
}

/// A failpoint: a step and what happens there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failpoint {
    step: Step,
    action: FailpointAction,
}

/// The failpoint configured in the environment, read once when an executor is built. Always
/// `None` without the `failpoints` feature. An unparseable value is logged and ignored rather
/// than crashing somewhere unexpected.
#[must_use]
pub(crate) fn failpoint_from_env() -> Option<Failpoint> {
    #[cfg(feature = "failpoints")]
    {
        let value = std::env::var(FAILPOINT_VAR).ok()?;
        let (step, action) = match value.split_once(':') {
            Some((step, "pause")) => (step, FailpointAction::Pause),
            _ => (value.as_str(), FailpointAction::Abort),
        };
        match step.parse::<Step>() {
            Ok(step) => {
                tracing::warn!(
                    failpoint = step.as_str(),
                    "failpoint armed: the process will stop at this step"
                );
                Some(Failpoint { step, action })
            }
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an invalid failpoint");
                None
            }
        }
    }
    #[cfg(not(feature = "failpoints"))]
    {
        None
    }
}

/// Stops the process when `armed` is this step (only ever `Some` with the `failpoints`
/// feature). `abort` rather than `exit`: no destructor, no flush, no graceful anything, which is
/// what a power cut or `SIGKILL` looks like to the database and the exchange. With `:pause` the
/// process announces the step and blocks its thread for good, waiting for the test's SIGKILL.
pub(crate) fn failpoint(armed: Option<Failpoint>, step: Step) {
    let Some(armed) = armed.filter(|a| a.step == step) else {
        return;
    };
    match armed.action {
        FailpointAction::Abort => {
            eprintln!("VIGIL_FAILPOINT={step}: aborting the process here on purpose");
            std::process::abort();
        }
        FailpointAction::Pause => {
            eprintln!("VIGIL_FAILPOINT={step}:pause: paused here on purpose; waiting to be killed");
            // Blocking the thread (not just this task) keeps anything else of the executor from
            // moving on; the process only ends by a signal.
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3_600));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>().unwrap(), step);
        }
        let err = "after_lunch".parse::<Step>().unwrap_err();
        assert_eq!(err.field, "VIGIL_FAILPOINT");
    }

    #[cfg(not(feature = "failpoints"))]
    #[test]
    fn without_the_feature_the_environment_is_ignored() {
        // Nothing sets the variable here; the point is that the function is a constant `None`
        // without the feature, whatever the environment says.
        assert_eq!(failpoint_from_env(), None);
        failpoint(None, Step::AfterSend);
    }
}
