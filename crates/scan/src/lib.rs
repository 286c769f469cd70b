//! Vigil's proposal sources: everything that turns market data into trade proposals, none of
//! which can place an order (proposals go to the engine's executor through the store).
//!
//! Map of the crate:
//! - [`scheduler`]: [`Scheduler`], workers that lease due scan jobs (I9) and run them, turning
//!   each job's signals into proposals.
//! - [`strategy`]: the built-in strategies (`dca`, `sma_cross`, `rsi_reversion`), their
//!   parameters and the market snapshot they read with the read-only client (I10).
//! - [`advisor`]: the LLM advisor with its daily spend budget (I8).
//!
//! Depends on `vigil-core`, `vigil-store` and `vigil-bitvavo`'s read-only client; alerts (a lost
//! lease, a spent LLM budget) go through `vigil_core`'s `Alerts` seam.

pub mod advisor;
pub mod scheduler;
pub mod strategy;

pub use scheduler::{JobRunEnd, JobRunSummary, Scheduler, SchedulerConfig, SchedulerError};
