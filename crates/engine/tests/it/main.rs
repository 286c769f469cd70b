//! The engine's production test suite, one binary (STYLE rule 8).
//!
//! Goal: prove the executor's and the reconciler's guarantees (DESIGN.md I1–I7, I10, and the
//! edge cases of the brief) against real parts: a real store (every test runs on SQLite and on
//! PostgreSQL, the latter skipped with one line when it is unreachable outside CI) and the
//! simulator over loopback HTTP. Orders are always counted in the SIMULATOR's order log, never in
//! our own tables, so a bug that writes the wrong rows cannot hide a second order. Time is a
//! `ManualClock` shared by the engine, the clients and the simulator, moved by hand instead of
//! sleeping.

// clippy.toml's allow-unwrap-in-tests covers `#[test]` functions only, not the shared helpers
// and the async bodies they run; in this test-only binary a failed unwrap IS a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The shared harness (store + simulator + executor + reconciler) lives in `vigil-testkit`, so the
// crates built on the engine test against the same world.
use vigil_testkit::{engine as support, operator as operator_support};

mod approved;
mod concurrency;
mod crash;
mod dead_mans_switch;
mod executor;
#[cfg(feature = "failpoints")]
mod failpoints;
mod keys;
mod kill_switch;
mod property_tests;
mod reconciler;
mod timeouts;
