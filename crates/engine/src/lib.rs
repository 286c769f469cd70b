//! Vigil's money path: the hardened executor (one approved proposal → AT MOST ONE exchange order,
//! and only when every safety rail agrees), the reconciler (no execution stays unresolved), and
//! the two tools that act on open orders (cancel-open-orders, the dead man's switch).
//!
//! Map of the crate:
//! - [`Executor`] (`executor.rs`): the steps of DESIGN.md "The executor", in order;
//!   `preflight.rs` (the [`Preflighted`] witness), `submit.rs` (the `SUBMITTING` commit and the
//!   last check before sending), `record.rs` (the outcome).
//! - [`Reconciler`] (`reconciler.rs`, with `reconciler/resolve.rs` and `reconciler/follow.rs`):
//!   abandoned claims, unknown outcomes by `clientOrderId`, fills; one pass
//!   ([`Reconciler::reconcile_once`], `vigil reconcile`) or its loop ([`Reconciler::run`],
//!   `vigil run`'s, with an observer of each pass's report).
//! - [`ExecutionOutcome`], [`ExecuteError`] (`outcome.rs`): what an execution ended with.
//! - [`ApprovedProposals`] (`approved.rs`): `vigil run`'s executor loop, which takes its work
//!   (approved, unexpired, unexecuted proposals) from the database, a channel only waking it.
//! - [`hooks`]: step boundaries, test hooks and the `failpoints` feature.
//! - [`config`]: [`ExecutorConfig`], [`ReconcilerConfig`].
//! - `market_data.rs`: the read-only exchange facts the preflight needs, briefly cached.
//! - [`cancel_open_orders`], [`dead_mans_switch`]: cancelling a user's open orders, and the
//!   exchange-side dead man's switch.
//!
//! Alerts are raised through `vigil_core`'s [`Alerts`](vigil_core::Alerts) seam (re-exported
//! here as [`alerts`] for the crates built on this one); delivering them is `vigil-alerting`'s.
//! The proposal sources (scheduler, strategies, advisor) live in `vigil-scan`, the operator tools
//! (audit, rollback, stability window, sign-off) in `vigil-ops`.
//!
//! The engine depends on `vigil-core` (types, guards, the transition table), `vigil-store` (the
//! claim, per-user sections, compare-and-set transitions) and `vigil-bitvavo` (the read-only and
//! trading clients), and on no HTTP client or SQL library of its own. See `docs/safety.md` for
//! which invariant is enforced where and by which test.

mod approved;
pub mod cancel_open_orders;
pub mod config;
pub mod dead_mans_switch;
mod executor;
pub mod hooks;
mod market_data;
mod outcome;
mod preflight;
mod reconciler;
mod record;
mod submit;

/// The alert vocabulary of `vigil_core`, under the name the engine's callers know it by.
pub mod alerts {
    pub use vigil_core::alert::*;
}

pub use alerts::{Alert, AlertKind, AlertSeverity, Alerts, RecordedAlerts, TracingAlerts};
pub use approved::ApprovedProposals;
pub use config::{ExecutorConfig, ReconcilerConfig};
pub use dead_mans_switch::DeadMansSwitch;
pub use executor::Executor;
pub use hooks::{HookAction, NoHooks, Step, StepHooks, FAILPOINT_VAR};
pub use outcome::{ExecuteError, ExecutionOutcome, ExecutorBuildError};
pub use preflight::Preflighted;
pub use reconciler::{ReconcileProblem, ReconcileReport, Reconciler, ReconcilerBuildError};
