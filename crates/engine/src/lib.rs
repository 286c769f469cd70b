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
//! - [`alert_delivery`]: the production [`Alerts`] (the log, and a webhook through a bounded
//!   queue), and the watches over `audit_log` and the executions that raise operator alerts.
//! - [`audit`]: `vigil audit` ([`Auditor`]): the guarantees over a period, and the exchange by
//!   `clientOrderId`.
//! - [`rollback`], [`stability_window`], [`cancel_open_orders`], [`dead_mans_switch`]: the
//!   operator's tools (proposal rollback, the cap stability window, cancelling open orders, the
//!   exchange-side dead man's switch).
//! - [`signoff`]: `vigil signoff`, the sign-off checklist automated.
//!
//! The engine depends on `vigil-core` (types, guards, the transition table), `vigil-store` (the
//! claim, per-user sections, compare-and-set transitions) and `vigil-bitvavo` (the read-only and
//! trading clients). See `docs/safety.md` for which invariant is enforced where and by which
//! test.

pub mod advisor;
pub mod alert_delivery;
pub mod alerts;
pub mod audit;
pub mod cancel_open_orders;
pub mod config;
pub mod dead_mans_switch;
mod executor;
pub mod hooks;
mod market_data;
mod outcome;
mod preflight;
mod recent;
mod reconciler;
mod record;
pub mod rollback;
pub mod scheduler;
pub mod signoff;
pub mod stability_window;
pub mod strategy;
mod submit;

pub use alert_delivery::{
    AlertDelivery, AlertDeliveryConfig, AlertDispatcher, ExecutionWatch, OperatorActionWatch,
};
pub use alerts::{Alert, AlertKind, AlertSeverity, Alerts, RecordedAlerts, TracingAlerts};
pub use audit::{AuditConfig, AuditReport, Auditor};
pub use config::{ExecutorConfig, ReconcilerConfig};
pub use dead_mans_switch::DeadMansSwitch;
pub use executor::Executor;
pub use hooks::{HookAction, NoHooks, Step, StepHooks, FAILPOINT_VAR};
pub use outcome::{ExecuteError, ExecutionOutcome, ExecutorBuildError};
pub use preflight::Preflighted;
pub use reconciler::{ReconcileProblem, ReconcileReport, Reconciler, ReconcilerBuildError};
pub use rollback::{RevertTo, Rollback};
pub use scheduler::{JobRunEnd, JobRunSummary, Scheduler, SchedulerConfig, SchedulerError};
pub use stability_window::StabilityWindow;
