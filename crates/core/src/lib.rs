//! Vigil's pure domain: everything that decides *whether* an order may exist, and nothing that
//! talks to the outside world.
//!
//! This crate has no IO, no async runtime and no database or HTTP dependency (a `tidy` test in
//! `vigil-testkit` enforces that); its one outward seam is the `tracing` facade, through which
//! [`TracingAlerts`] logs. Everything here is a value or a pure function, so the rules
//! that guard money can be tested exhaustively, including by property tests.
//!
//! Map of the crate:
//! - [`ids`]: typed identifiers (`UserId`, `ProposalId`, `ExecutionId`, `ClientOrderId`, …).
//! - [`money`]: `Decimal` inside named types (`Notional`, `Quantity`, `Price`).
//! - [`market`]: `Market` (`BASE-QUOTE`), `Side`, `OrderType`, `OrderSize`, exchange `MarketRules`.
//! - [`proposal`]: a trade proposal, its status machine and its sources.
//! - [`execution`]: an execution and its state machine, as ONE transition table.
//! - [`policy`]: a user's trading policy (caps, cooldown, anti-flip, budgets).
//! - [`refusal`]: the named reasons an execution is refused.
//! - [`guard`]: the safety rails as pure functions over a facts snapshot.
//! - [`alert`]: what needs a person ([`Alert`]), and the [`Alerts`] seam through which it is raised.
//! - [`clock`]: the one seam through which time enters (`Clock`, `SystemClock`, `ManualClock`).
//! - [`error`]: validation errors that name the field, the value and the expectation.
//! - `fixtures` (feature `fixtures`): the `ExecutionBuilder` that tests build executions with.

pub mod alert;
pub mod clock;
pub mod error;
pub mod execution;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod guard;
pub mod ids;
pub mod market;
pub mod money;
pub mod policy;
pub mod proposal;
pub mod refusal;

pub use alert::{Alert, AlertKind, AlertSeverity, Alerts, RecordedAlerts, TracingAlerts};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::ValidationError;
pub use execution::{Execution, ExecutionEvent, ExecutionState, IllegalTransition, OrderOutcome};
pub use ids::{ClientOrderId, ExecutionId, ProposalId, ScanJobId, UserId};
pub use market::{Asset, Market, MarketRules, MarketStatus, OrderSize, OrderType, Side};
pub use money::{parse_exact_decimal, Notional, Price, Quantity};
pub use policy::{ManualApproval, Policy};
pub use proposal::{Proposal, ProposalSource, ProposalStatus, ProposalTransitionError};
pub use refusal::Refusal;
