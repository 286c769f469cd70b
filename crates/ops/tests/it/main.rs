//! The operator tools' test suite, one binary: the operations both front ends share, the audit
//! against the exchange, rollback, the cap stability window and the sign-off, on both back ends
//! with the simulator over loopback HTTP.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions only, not the shared helpers
// and the async bodies they run; in this test-only binary a failed unwrap IS a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vigil_testkit::{engine as support, operator as operator_support};

mod audit;
mod operations;
mod rollback;
mod signoff;
mod stability_window;
