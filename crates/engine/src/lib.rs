//! Vigil's engine: the hardened executor (one approved proposal → AT MOST ONE exchange order, and
//! only when every safety rail agrees) and the reconciler (no execution stays unresolved).
//!
//! Map of the crate:
//! - [`Executor`] (`executor.rs`): the seven steps of DESIGN.md "The executor", in order;
//!   `preflight.rs` (step 4, the [`Preflighted`] witness), `submit.rs` (steps 5 and 6: the
//!   `SUBMITTING` commit and the last check before sending), `record.rs` (step 7's outcome).
//! - [`Reconciler`] (`reconciler.rs`, with `reconciler/resolve.rs` and `reconciler/follow.rs`):
//!   abandoned claims, unknown outcomes by `clientOrderId`, fills.
//! - [`ExecutionOutcome`], [`ExecuteError`] (`outcome.rs`): what an execution ended with.
//! - [`hooks`]: step boundaries, test hooks and the `failpoints` feature.
//! - [`alerts`]: the [`Alerts`] seam (tracing now, webhooks later).
//! - [`config`]: [`ExecutorConfig`], [`ReconcilerConfig`].
//! - `market_data.rs`: the read-only exchange facts the preflight needs, briefly cached.
//! - [`scheduler`]: [`Scheduler`], workers that lease due scan jobs (I9) and run them.
//! - [`strategy`]: the built-in strategies (`dca`, `sma_cross`, `rsi_reversion`).
//! - [`advisor`]: the LLM advisor with its daily spend budget (I8).
//!
//! The engine depends on `vigil-core` (types, guards, the transition table), `vigil-store` (the
//! claim, per-user sections, compare-and-set transitions) and `vigil-bitvavo` (the read-only and
//! trading clients). See `docs/safety.md` for which invariant is enforced where and by which
//! test.

pub mod advisor;
pub mod alerts;
pub mod config;
mod executor;
pub mod hooks;
mod market_data;
mod outcome;
mod preflight;
mod reconciler;
mod record;
pub mod scheduler;
pub mod strategy;
mod submit;

pub use alerts::{Alert, AlertKind, AlertSeverity, Alerts, RecordedAlerts, TracingAlerts};
pub use config::{ExecutorConfig, ReconcilerConfig};
pub use executor::Executor;
pub use hooks::{HookAction, NoHooks, Step, StepHooks, FAILPOINT_VAR};
pub use outcome::{ExecuteError, ExecutionOutcome, ExecutorBuildError};
pub use preflight::Preflighted;
pub use reconciler::{ReconcileProblem, ReconcileReport, Reconciler, ReconcilerBuildError};
pub use scheduler::{JobRunEnd, JobRunSummary, Scheduler, SchedulerConfig, SchedulerError};
