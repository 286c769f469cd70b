//! The proposal sources' test suite, one binary: the scheduler's leases (I9) across workers and
//! instances, the strategies' proposals, and the LLM advisor's budget (I8) against a fake model
//! server, on both back ends with the simulator over loopback HTTP.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions only, not the shared helpers
// and the async bodies they run; in this test-only binary a failed unwrap IS a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod advisor;
mod scan_support;
mod scheduler;
