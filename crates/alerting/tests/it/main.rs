//! Alert delivery's test suite, one binary: webhooks against a local receiver (retries, deadline,
//! de-duplication, rate limit, a full queue) and the watches over `audit_log` and the executions.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions only, not the shared helpers
// and the async bodies they run; in this test-only binary a failed unwrap IS a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vigil_testkit::{engine as support, operator as operator_support};

mod alert_delivery;
