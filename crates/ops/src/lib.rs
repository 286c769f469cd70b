//! Vigil's operator tools: what a person uses to check, undo and sign off what the engine did.
//!
//! Map of the crate:
//! - [`audit`]: `vigil audit` ([`Auditor`]): the guarantees over a period, checked against the
//!   database and against the exchange by `clientOrderId`.
//! - [`rollback`]: reverting a proposal ([`Rollback`]).
//! - [`operations`]: what a person does through the CLI or the API ([`Operations`]: create,
//!   approve or reject a proposal, replace a policy under the stability window, flip a kill
//!   switch), composed once for both front ends.
//! - [`stability_window`]: the 24-hour window a cap raise needs ([`StabilityWindow`]).
//! - `recent`: the recent executions the audit and the window read.
//! - [`signoff`]: `vigil signoff`, the sign-off checklist automated (its scenarios run the
//!   engine's executor against an in-process simulator and a scratch database).
//!
//! Depends on `vigil-core`, `vigil-store`, `vigil-bitvavo`'s read-only client, `vigil-engine`
//! (the sign-off runs the executor) and `vigil-alerting` (the sign-off checks delivery); no SQL
//! or HTTP library of its own: the sign-off's catalog reads and scratch databases are the store's.

pub mod audit;
pub mod operations;
mod recent;
pub mod rollback;
pub mod signoff;
pub mod stability_window;

pub use audit::{AuditConfig, AuditReport, Auditor};
pub use operations::{Actor, OperationError, Operations, Visibility};
pub use rollback::{RevertTo, Rollback};
pub use stability_window::StabilityWindow;
